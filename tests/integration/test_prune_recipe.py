"""The prune recipe end to end on rendered data: sensitivity → ratios → prune → finetune →
ONNX (+ channel spec, lineage) → evaluation; resuming; the CLI's checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import needs_official, needs_torch

pytestmark = [needs_torch, pytest.mark.usefixtures("one_torch_thread")]


def _det_recipe(data: Path, out: Path, **select):
    from slimocr.toolkit.compress.prune.config import recipe_from_dict

    return recipe_from_dict(
        {
            "out_dir": str(out),
            "macs_input": [1, 3, 128, 128],
            "latency_input": [1, 3, 64, 64],
            "latency_runs": 2,
            "sensitivity": {"ratios": [0.3, 0.6], "images": 2, "min_macs_share": 0.3},
            "select": select or {"flops_reduction": 0.2},
            "finetune": {
                "kind": "det",
                "model": "dbnet_mv3_ppocrv3",
                "teacher": "pretrained",
                "steps": 2,
                "ckpt_every": 1,
                "log_every": 1,
                "threads": 1,
                "data": {
                    "train": str(data),
                    "image_size": 64,
                    "batch_size": 2,
                    "val_fraction": 0.2,
                },
                "loss": {"label": 0.2, "distill": 1.0},
            },
            "export": {"eval_data": str(data)},
        }
    )


@pytest.mark.slow
@needs_official
def test_det_recipe_end_to_end_and_resume(tmp_path):
    import numpy as np
    import onnxruntime as ort
    import torch

    from slimocr.toolkit.compress.prune.recipe import run_prune
    from slimocr.toolkit.compress.prune.spec import load_pruned
    from slimocr.toolkit.data.synth import SynthConfig, write_det_dataset

    data = write_det_dataset(tmp_path / "data", 10, SynthConfig(seed=3, det_size=(256, 192)))
    out = tmp_path / "run"
    lines: list[str] = []
    result = run_prune(_det_recipe(data, out), "prune_test.yaml", log=lines.append)

    table = json.loads((out / "sensitivity.json").read_text())
    assert table["setup"]["held_out"] and (out / "sensitivity.png").exists()
    measured = [line for line in lines if " @ " in line]
    assert len(measured) == 2 * len(table["groups_planned"])
    summary = json.loads((out / "ratios.json").read_text())
    assert summary["macs"]["reduction"] >= 0.2 and set(summary["ratios"]) <= set(table["groups"])
    assert result["finetune"]["step"] == 2 and "hmean" in result["eval"]
    lat = result["latency"]
    assert lat["input"] == [1, 3, 64, 64] and lat["speedup"] > 0 and lat["runs"] == 2

    onnx_path = out / "model" / "model.onnx"
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["parent"] == "official:ppocrv3_det" and meta["compression"] == "prune:fpgm"
    assert (
        meta["recipe"] == "prune_test.yaml" and "neck.levels.0.output.conv" in meta["channel_spec"]
    )
    x = np.random.default_rng(0).standard_normal((1, 3, 96, 128)).astype(np.float32)
    model = load_pruned(out / "model")
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(session.run(None, {"x": x})[0], expected, atol=1e-4)

    lines.clear()  # a second run resumes every stage: nothing is measured or trained again
    again = run_prune(_det_recipe(data, out), "prune_test.yaml", log=lines.append)
    assert not [line for line in lines if " @ " in line]
    assert any("rebuilding the pruned model" in line for line in lines)
    assert any("already finished" in line for line in lines)
    assert again["prune"]["ratios"] == result["prune"]["ratios"]


@pytest.mark.slow
@needs_official
def test_rec_recipe_keeps_the_lstm_width(tmp_path):
    from slimocr.charset import load_charset
    from slimocr.official import official_path
    from slimocr.toolkit.compress.prune.config import recipe_from_dict
    from slimocr.toolkit.compress.prune.recipe import run_prune
    from slimocr.toolkit.compress.prune.spec import read_spec
    from slimocr.toolkit.data.synth import SynthConfig, write_rec_dataset

    charset = load_charset(official_path("ppocr_keys_v1"))
    data = write_rec_dataset(
        tmp_path / "data", 12, SynthConfig(seed=4, max_chars=6, charset=charset)
    )
    recipe = recipe_from_dict(
        {
            "out_dir": str(tmp_path / "run"),
            "select": {"uniform_ratio": 0.3},
            "latency_runs": 0,
            "finetune": {
                "kind": "rec",
                "model": "crnn_ppocrv2",
                "teacher": "pretrained",
                "steps": 1,
                "threads": 1,
                "data": {"train": str(data), "batch_size": 4, "val_fraction": 0.25},
                "loss": {"label": 0.0, "distill": 1.0},
            },
        }
    )
    result = run_prune(recipe, log=lambda line: None)
    spec = read_spec(tmp_path / "run" / "model")["modules"]
    assert spec["backbone.blocks.12.pointwise.0"]["out"] == 512
    assert spec["backbone.blocks.11.pointwise.0"]["out"] == 512 - int(0.3 * 512)
    assert spec["head.fc2"]["out"] == 6625
    assert result["prune"]["mode"] == "uniform" and Path(result["model"]).suffix == ".onnx"


def test_cli_refuses_bad_kind_and_shard(tmp_path):
    import typer
    from typer.testing import CliRunner

    from slimocr.toolkit.cli.prune import prune_cmd, sensitivity_cmd

    app = typer.Typer()
    app.command("sensitivity")(sensitivity_cmd)
    app.command("prune")(prune_cmd)
    recipe = Path(__file__).parents[2] / "recipes" / "prune_rec.yaml"
    runner = CliRunner()
    res = runner.invoke(app, ["prune", "det", "--recipe", str(recipe)])
    assert res.exit_code == 1 and "is a rec recipe, not det" in res.output
    res = runner.invoke(app, ["sensitivity", "rec", "--recipe", str(recipe), "--shard", "2/2"])
    assert res.exit_code == 2 and "need 0 <= i < n" in res.output
    res = runner.invoke(app, ["prune", "rec", "--recipe", str(recipe), "--set", "select.bogus=1"])
    assert res.exit_code == 1 and "unknown key(s) ['bogus']" in res.output


def _hand_table(names):
    points = [
        {"ratio": r, "loss": loss, "macs": 0}
        for r, loss in ((0.25, 0.01), (0.5, 0.05), (0.75, 0.2))
    ]
    return {"groups": {n: {"points": points} for n in names}, "base_macs": 1}


def test_latency_speedup_target_is_relative_to_the_parent_timed_in_the_same_run(monkeypatch):
    import slimocr.toolkit.compress.prune.recipe as pr
    from slimocr.errors import ConfigError
    from slimocr.toolkit.compress.prune.config import recipe_from_dict
    from slimocr.toolkit.compress.prune.measure import count_macs
    from slimocr.toolkit.models import create_model

    shape = (1, 3, 64, 64)
    calls = []

    def fake_latency(model, kind, input_shape, threads=2, runs=20, warmup=3):
        calls.append(input_shape)
        return {"median_ms": count_macs(model, shape) / 1e6}  # "latency" = MACs, no noise

    monkeypatch.setattr(pr, "model_latency_ms", fake_latency)
    model = create_model("dbnet_mv3_ppocrv3").eval()
    names = ["neck.levels.0.output.conv", "head.binarize.conv"]

    def recipe(speedup):
        return recipe_from_dict(
            {
                "latency_input": list(shape),
                "select": {"loss_budget": None, "latency_speedup": speedup, "round_to": 8},
                "finetune": {"kind": "det", "model": "dbnet_mv3_ppocrv3", "data": {"train": "x"}},
            }
        )

    ratios, info = pr.choose_ratios(recipe(1.1), model, _hand_table(names), log=lambda s: None)
    parent = count_macs(model, shape)
    pruned = count_macs(pr.pruned_copy(recipe(1.1), model, ratios), shape)
    assert info["mode"] == "latency" and info["target_speedup"] == 1.1
    assert info["target_ms"] == pytest.approx(parent / 1e6 / 1.1)
    assert parent / pruned >= 1.1 and any(r > 0 for r in ratios.values())
    assert calls[0] == shape  # the parent is timed first, on the recipe's latency input
    with pytest.raises(ConfigError, match="out of reach"):
        pr.choose_ratios(recipe(50.0), model, _hand_table(names), log=lambda s: None)


@pytest.mark.parametrize(("use_best", "expected"), [(True, 1.0), (False, 2.0)])
def test_finished_finetune_loads_best_or_final_weights(tmp_path, use_best, expected):
    import torch

    from slimocr.toolkit.compress.prune.config import recipe_from_dict
    from slimocr.toolkit.compress.prune.recipe import finetune_stage
    from slimocr.toolkit.train.checkpoint import save_checkpoint

    recipe = recipe_from_dict(
        {
            "out_dir": str(tmp_path),
            "finetune": {"kind": "det", "model": "dbnet_mv3_ppocrv3", "data": {"train": "x"}},
            "export": {"use_best": use_best},
        }
    )
    run = tmp_path / "finetune"
    run.mkdir()
    model = torch.nn.Linear(2, 2)
    for name, value in (("best.pt", 1.0), ("final.pt", 2.0)):
        weights = {k: torch.full_like(v, value) for k, v in model.state_dict().items()}
        save_checkpoint(run / name, model=weights)
    lines: list[str] = []
    result = finetune_stage(recipe, model, log=lines.append)
    assert lines == [f"finetuning already finished in {run}"]
    assert result["weights"].endswith("best.pt" if use_best else "final.pt")
    assert torch.equal(model.weight, torch.full((2, 2), expected))


def _explicit_ratio_recipes() -> list[Path]:
    try:
        from slimocr.toolkit.train.config import read_recipe
    except ImportError:  # without the train extra the whole module is skipped (needs_torch)
        return []

    paths = sorted((Path(__file__).parents[2] / "recipes").glob("prune_*.yaml"))
    return [p for p in paths if (read_recipe(p).get("select") or {}).get("ratios")]


RATIO_RECIPES = _explicit_ratio_recipes()


def test_some_shipped_recipes_have_explicit_ratios():
    assert {p.stem for p in RATIO_RECIPES} >= {"prune_det", "prune_det_l50", "prune_det_lat"}


@pytest.mark.parametrize("path", RATIO_RECIPES, ids=[p.stem for p in RATIO_RECIPES])
def test_shipped_prune_recipes_name_prunable_groups(path: Path):
    """Every shipped prune recipe with explicit ratios loads, and they name groups that exist."""
    from slimocr.toolkit.compress.prune.config import load_recipe
    from slimocr.toolkit.compress.prune.recipe import choose_ratios, pruned_copy
    from slimocr.toolkit.compress.prune.spec import channel_spec
    from slimocr.toolkit.models import create_model

    recipe = load_recipe(path)
    model = create_model(recipe.arch, pretrained=False)
    ratios, info = choose_ratios(recipe, model, None, log=lambda _: None)
    assert info == {"mode": "explicit"} and set(recipe.select.ratios) <= set(ratios)
    spec = channel_spec(pruned_copy(recipe, model, ratios))
    before = channel_spec(model)
    cut = [name for name in recipe.select.ratios if recipe.select.ratios[name] > 0]
    for name in cut:  # every listed group really shrinks, to a multiple of round_to
        assert spec[name]["out"] < before[name]["out"], name
        assert spec[name]["out"] % recipe.select.round_to == 0, name
