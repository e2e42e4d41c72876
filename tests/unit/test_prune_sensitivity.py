"""Sensitivity tables: resume after a kill, shards + merge, refusal of a foreign table, plot."""

from __future__ import annotations

import json

import pytest

from tests.conftest import needs_torch

pytestmark = [needs_torch, pytest.mark.usefixtures("one_torch_thread")]

RATIOS = (0.25, 0.5)


def _tiny(fixed_c3: bool = False):
    import torch
    from torch import nn

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fixed_c3 = fixed_c3  # forward assumes c3 keeps its 4 channels
            self.c1 = nn.Conv2d(3, 8, 3, padding=1)
            self.bn1 = nn.BatchNorm2d(8)
            self.c2 = nn.Conv2d(8, 8, 3, padding=1)
            self.c3 = nn.Conv2d(8, 4, 1)
            self.out = nn.Conv2d(4, 2, 1)

        def forward(self, x):
            y = torch.relu(self.bn1(self.c1(x)))
            y = y + self.c2(y)
            z = torch.relu(self.c3(y))
            if self.fixed_c3:
                z = z.view(z.shape[0], 4, z.shape[2], z.shape[3])
            return self.out(z)

    torch.manual_seed(0)
    return Tiny().eval()


class Killed(Exception):
    pass


def _evaluator(kill_after=None):
    import torch

    x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    calls = []

    def evaluate(model):
        if kill_after is not None and len(calls) >= kill_after:
            raise Killed
        calls.append(1)
        with torch.no_grad():
            return float(model(x).abs().mean())

    return evaluate, calls


def _run(out, evaluate, fixed_c3: bool = False, **kw):
    import torch

    from slimocr.toolkit.compress.prune.sensitivity import analyze_sensitivity

    kw.setdefault("pruner_kwargs", {"ignored_layers": []})
    model = _tiny(fixed_c3)
    return analyze_sensitivity(
        model, evaluate, out, torch.zeros(1, 3, 8, 8), RATIOS, arch="tiny", metric="m", **kw
    )


def test_table_content(tmp_path):
    from slimocr.toolkit.compress.prune.sensitivity import is_complete, load_table, relative_loss

    evaluate, calls = _evaluator()
    table = _run(tmp_path / "t.json", evaluate)
    assert table == load_table(tmp_path / "t.json")
    assert table["groups_planned"] == ["c1", "c3"]  # the output conv is never a candidate
    assert len(calls) == 1 + 2 * len(RATIOS) and is_complete(table)
    for group in table["groups"].values():
        assert [p["ratio"] for p in group["points"]] == list(RATIOS)
        for p in group["points"]:
            assert p["loss"] == pytest.approx(relative_loss(table["base"], p["metric"]))
            assert p["macs"] < table["base_macs"]
    assert table["groups"]["c1"]["channels"] == 8
    assert table["groups"]["c1"]["producers"] == ["c1", "c2"]  # coupled by the residual add


def test_killed_run_resumes_without_recomputing(tmp_path):
    out = tmp_path / "t.json"
    evaluate, _ = _evaluator(kill_after=3)  # base + 2 points, then "killed"
    with pytest.raises(Killed):
        _run(out, evaluate)
    partial = json.loads(out.read_text())
    done = sum(len(g["points"]) for g in partial["groups"].values())
    assert partial["base"] is not None and done == 2
    evaluate, calls = _evaluator()
    resumed = _run(out, evaluate)
    assert len(calls) == 2 * len(RATIOS) - done  # neither the base nor finished points again
    fresh_eval, _ = _evaluator()
    assert resumed == _run(tmp_path / "fresh.json", fresh_eval)


def test_shards_merged_equal_a_single_run(tmp_path):
    from slimocr.toolkit.compress.prune.sensitivity import is_complete, merge_tables

    single = _run(tmp_path / "single.json", _evaluator()[0])
    shards = [_run(tmp_path / f"s{i}.json", _evaluator()[0], shard=(i, 2)) for i in range(2)]
    assert [list(s["groups"]) for s in shards] == [["c1"], ["c3"]]
    assert not is_complete(shards[0])
    merged = merge_tables(shards[::-1])
    assert merged == single and is_complete(merged)


def test_foreign_table_is_refused(tmp_path):
    from slimocr.toolkit.compress.prune.sensitivity import SensitivityMismatch, merge_tables

    out = tmp_path / "t.json"
    _run(out, _evaluator()[0], setup={"data": "a"})
    with pytest.raises(SensitivityMismatch, match="setup"):
        _run(out, _evaluator()[0], setup={"data": "b"})
    other = _run(tmp_path / "o.json", _evaluator()[0], setup={"data": "b"})
    with pytest.raises(SensitivityMismatch):
        merge_tables([json.loads(out.read_text()), other])


def test_foreign_table_is_a_clear_error():
    from slimocr.errors import SlimOCRError
    from slimocr.toolkit.compress.prune.sensitivity import SensitivityMismatch

    assert issubclass(SensitivityMismatch, SlimOCRError)  # one error line from the CLI


def test_a_group_whose_pruned_model_fails_is_named(tmp_path):
    from slimocr.errors import ConfigError

    out = tmp_path / "t.json"  # the unpruned model runs; a pruned c3 breaks the later view
    with pytest.raises(ConfigError, match="group c3 pruned at ratio 0.25 no longer runs"):
        _run(out, _evaluator()[0], fixed_c3=True)
    saved = json.loads(out.read_text())
    assert [p["ratio"] for p in saved["groups"]["c1"]["points"]] == list(RATIOS)  # kept


def test_an_evaluation_error_is_not_blamed_on_a_group(tmp_path):
    def evaluate(model):  # e.g. a data or runtime problem inside the evaluation itself
        if model.c1.out_channels != 8:
            raise RuntimeError("evaluation failed")
        return 1.0

    with pytest.raises(RuntimeError, match="evaluation failed"):
        _run(tmp_path / "t.json", evaluate)


def test_heat_map_is_written(tmp_path):
    from slimocr.toolkit.compress.prune.sensitivity import plot_sensitivity

    table = _run(None, _evaluator()[0])
    png = plot_sensitivity(table, tmp_path / "sens.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_groups_unused_at_inference_are_not_measured():

    from slimocr.toolkit.compress.prune.sensitivity import inference_groups
    from slimocr.toolkit.compress.prune.structural import StructuralPruner, example_input
    from slimocr.toolkit.models import create_model

    model = create_model("dbnet_mv3_ppocrv3")
    pruner = StructuralPruner(model, example_input("dbnet_mv3_ppocrv3"))
    used = inference_groups(pruner, example_input("dbnet_mv3_ppocrv3"))
    assert "head.thresh.conv" in pruner.prunable and "head.thresh.conv" not in used
    assert "head.binarize.conv" in used and model.training


def test_ignored_layers_are_honoured_on_every_deep_copy():
    import torch

    from slimocr.toolkit.compress.prune.sensitivity import analyze_sensitivity

    model = _tiny()
    evaluate, calls = _evaluator()
    example = torch.zeros(1, 3, 8, 8)
    kwargs = {"ignored_layers": [model.c3]}
    table = analyze_sensitivity(model, evaluate, None, example, RATIOS, pruner_kwargs=kwargs)
    assert table["groups_planned"] == ["c1"] and len(calls) == 1 + len(RATIOS)
