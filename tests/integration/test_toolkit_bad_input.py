"""Bad input to the toolkit commands: one ``error:`` line naming the input, exit 2 for a bad
option and 1 otherwise, never a traceback, a hang or work done for nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slimocr.cli.main import app
from slimocr.errors import ConfigError, ModelFileError
from tests.conftest import needs_official, needs_torch

pytestmark = needs_torch

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "recipes"
DET = "kind: det\nmodel: dbnet_mv3_ppocrv3\npretrained: false\n"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    output = result.output  # standard output and error together
    assert "Traceback" not in output, output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), repr(result.exception)
    return result.exit_code, output


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _never(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("the work started despite the bad input")


# ---------------------------------------------------------------- recipe files
def test_recipe_that_is_a_fifo_is_refused_not_read(tmp_path: Path):
    fifo = tmp_path / "r.yaml"
    os.mkfifo(fifo)  # opening it would block until a writer comes
    code, output = _run("train", "det", "--recipe", str(fifo))
    assert code == 1 and "r.yaml: cannot read recipe (a FIFO" in output


def test_base_that_is_a_fifo_is_refused_not_read(tmp_path: Path):
    from slimocr.toolkit.recipes import read_recipe

    os.mkfifo(tmp_path / "base.yaml")
    leaf = _write(tmp_path / "leaf.yaml", "base: base.yaml\nmethod: train\n")
    with pytest.raises(ConfigError, match=r"base\.yaml: cannot read recipe \(a FIFO"):
        read_recipe(leaf)


def test_empty_recipe_names_the_missing_keys(tmp_path: Path):
    empty = _write(tmp_path / "empty.yaml", "")
    code, output = _run("train", "det", "--recipe", str(empty))
    assert code == 1
    assert "empty.yaml: missing key(s) ['kind', 'model', 'data']" in output


def test_parent_recipe_loop_is_an_error_naming_the_chain(tmp_path: Path):
    from slimocr.toolkit.recipes import load_recipe

    body = f"method: train\n{DET}data:\n  train: nowhere\n"
    _write(tmp_path / "a.yaml", body + "parent_recipe: b.yaml\n")
    _write(tmp_path / "b.yaml", body + "parent_recipe: a.yaml\n")
    with pytest.raises(ConfigError, match=r"parent_recipe: the parents loop \(a\.yaml -> b\.yaml"):
        load_recipe(tmp_path / "a.yaml")


def test_unknown_parent_name_is_an_error(tmp_path: Path):
    recipe = _write(
        tmp_path / "t.yaml", f"method: train\n{DET}data:\n  train: x\nparent: no-such-model\n"
    )
    code, output = _run("train", "det", "--recipe", str(recipe))
    assert code == 1 and "t.yaml.parent: unknown model 'no-such-model'" in output


def test_a_parent_name_that_only_labels_the_lineage_is_kept(tmp_path: Path):
    from slimocr.toolkit.recipes import load_recipe

    # a training run with its own init weights, and a quantization recipe: the name is a label
    train = f"method: train\n{DET}data:\n  train: x\ninit: my.pt\nparent: my-finetuned-det\n"
    assert load_recipe(_write(tmp_path / "t.yaml", train)).head.parent == "my-finetuned-det"
    quant = load_recipe(RECIPES / "quant_det_v6s_ptq.yaml", ["parent=my-finetuned-det"])
    assert quant.head.parent == "my-finetuned-det"


def test_a_parent_recipe_not_yet_run_names_the_command_to_run_first(tmp_path: Path):
    body = f"method: train\n{DET}data:\n  train: x\n"
    _write(tmp_path / "stage1.yaml", body + f"out_dir: {tmp_path / 'runs' / 'stage1'}\n")
    child = _write(tmp_path / "stage2.yaml", body + "parent_recipe: stage1.yaml\n")
    code, output = _run("train", "det", "--recipe", str(child))
    final = tmp_path / "runs" / "stage1" / "final.pt"
    assert code == 1
    assert f"stage2.yaml: starts from {final}, which its parent recipe has not written" in output
    assert f"run `slimocr train det --recipe {tmp_path / 'stage1.yaml'}` first" in output


def test_known_parent_names_still_load():
    from slimocr.toolkit.recipes import load_recipe

    load_recipe(RECIPES / "quant_det_ptq.yaml")  # a zoo name
    load_recipe(RECIPES / "quant_det_v6s_ptq.yaml")  # a peer name


# ---------------------------------------------------------------- training runs
def _train_cfg(tmp_path: Path, **fields: object):  # noqa: ANN202
    from slimocr.toolkit.train.config import config_from_dict

    values = {
        "kind": "det",
        "model": "dbnet_mv3_ppocrv3",
        "pretrained": False,
        "steps": 1,
        "threads": 1,
        "out_dir": str(tmp_path / "run"),
        "data": {"train": str(tmp_path / "no-data")},
        **fields,
    }
    return config_from_dict(values)


def test_resume_from_another_models_checkpoint_is_one_error(tmp_path: Path):
    import torch

    from slimocr.toolkit.models import create_model
    from slimocr.toolkit.train.trainer import Trainer

    cfg = _train_cfg(tmp_path)
    last = tmp_path / "run" / "last.pt"
    last.parent.mkdir()
    torch.save({"model": create_model("crnn_ppocrv2", pretrained=False).state_dict()}, last)
    with pytest.raises(ModelFileError, match=r"last\.pt: not a checkpoint of this run") as info:
        Trainer(cfg).fit()
    assert len(str(info.value)) < 500  # not torch's list of every mismatched tensor
    torch.save({"weights": {}}, last)
    with pytest.raises(ModelFileError, match=r"this run \(no 'model' entry\)"):
        Trainer(cfg).fit()
    assert last.exists()  # left for the user to look at


def test_trainable_matching_nothing_is_a_config_error(tmp_path: Path):
    from slimocr.toolkit.train.trainer import Trainer

    with pytest.raises(ConfigError, match=r"trainable: no parameter of dbnet_mv3_ppocrv3"):
        Trainer(_train_cfg(tmp_path, trainable=["no.such.layer"]))


def test_fewer_samples_than_a_batch_is_a_config_error(tmp_path: Path):
    import cv2
    import numpy as np

    from slimocr.toolkit.train.trainer import Trainer

    cv2.imwrite(str(tmp_path / "a.png"), np.full((64, 64, 3), 255, np.uint8))
    box = '[{"transcription": "A", "points": [[1, 1], [20, 1], [20, 10], [1, 10]]}]'
    labels = _write(tmp_path / "label.txt", f"a.png\t{box}\n")
    cfg = _train_cfg(
        tmp_path,
        data={"train": str(labels), "batch_size": 4, "val_fraction": 0.0, "image_size": 64},
    )
    with pytest.raises(ConfigError, match=r"1 training samples .* fewer than one batch of 4"):
        Trainer(cfg).fit()


def test_init_weights_of_another_model_give_a_short_line(tmp_path: Path):
    import torch

    from slimocr.toolkit.models import create_model
    from slimocr.toolkit.train.checkpoint import load_model_weights

    path = tmp_path / "rec.pt"
    torch.save(create_model("crnn_ppocrv2", pretrained=False).state_dict(), path)
    model = create_model("dbnet_mv3_ppocrv3", pretrained=False)
    with pytest.raises(ModelFileError, match=r"rec\.pt: weights do not fit the model") as info:
        load_model_weights(model, path)
    assert "Missing key(s)" in str(info.value) and len(str(info.value)) < 500
    with pytest.raises(ModelFileError, match=r"is a directory, not a weights file"):
        load_model_weights(model, tmp_path)


# ---------------------------------------------------------------- options
@pytest.mark.parametrize(
    "args",
    [
        ("train", "xx", "--recipe", "r.yaml"),
        ("quant", "xx", "--recipe", "r.yaml", "--out", "x.onnx"),
        ("prune", "xx", "--recipe", "r.yaml"),
        ("sensitivity", "det", "--recipe", "r.yaml", "--shard", "2/2"),
        ("sensitivity", "det", "--recipe", "r.yaml", "--shard", "x"),
        ("quant", "det", "--recipe", "r.yaml", "--out", "x.onnx", "--method", "qat"),
        ("quant", "det", "--recipe", "r.yaml", "--out", "x.onnx", "--check-limit", "0"),
    ],
)
def test_bad_option_exits_2(args: tuple[str, ...]):
    code, output = _run(*args)
    assert code == 2 and output.startswith("error: "), output


def test_quant_out_is_checked_before_the_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from slimocr.toolkit.compress.quant import recipe as quant_recipe

    monkeypatch.setattr(quant_recipe, "_parent_model", _never)
    blocker = _write(tmp_path / "file", "x")
    recipe = str(RECIPES / "quant_det_ptq.yaml")
    for out in (tmp_path, blocker / "x.onnx"):
        code, output = _run("quant", "det", "--recipe", recipe, "--out", str(out))
        assert code == 2 and output.startswith(f"error: {out}: "), output


def test_quant_check_data_is_read_before_the_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from slimocr.toolkit.compress.quant import recipe as quant_recipe

    monkeypatch.setattr(quant_recipe, "_parent_model", _never)
    missing = tmp_path / "no-test-set"
    code, output = _run(
        "quant", "det", "--recipe", str(RECIPES / "quant_det_ptq.yaml"),
        "--out", str(tmp_path / "x.onnx"), "--check-data", str(missing),
    )  # fmt: skip
    assert code == 1 and f"error: {missing}: no such file or folder" in output


@needs_official
def test_import_out_onto_a_folder_is_refused(tmp_path: Path):
    code, output = _run("import", "dbnet_mv3_ppocrv3", "--out", str(tmp_path))
    assert code == 2 and f"error: {tmp_path}: is a folder" in output


@needs_official
def test_export_checks_out_and_weights(tmp_path: Path):
    import torch

    from slimocr.toolkit.models import create_model

    blocker = _write(tmp_path / "file", "x")
    code, output = _run("export", "dbnet_mv3_ppocrv3", "--out", str(blocker / "x.onnx"))
    assert code == 2 and "is a file, not a folder" in output
    weights = tmp_path / "rec.pt"
    torch.save(create_model("crnn_ppocrv2", pretrained=False).state_dict(), weights)
    out = tmp_path / "x.onnx"
    code, output = _run("export", "dbnet_mv3_ppocrv3", "--out", str(out), "--weights", str(weights))
    assert code == 1 and "rec.pt: weights do not fit the model" in output
    assert len(output) < 600 and not out.exists()


def test_quant_weights_out_is_checked_first(tmp_path: Path):
    code, output = _run("quant-weights", "det", "no-such-model", "--out", str(tmp_path))
    assert code == 2 and f"error: {tmp_path}: is a folder" in output


def test_prune_out_below_a_file_is_refused_before_the_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from slimocr.toolkit.compress.prune import recipe as prune_recipe

    monkeypatch.setattr(prune_recipe, "run_prune", _never)
    blocker = _write(tmp_path / "file", "x")
    recipe = str(RECIPES / "prune_det.yaml")
    code, output = _run("prune", "det", "--recipe", recipe, "--out", str(blocker / "run"))
    assert code == 2 and f"{blocker} is a file, not a folder" in output
    code, output = _run("prune", "det", "--recipe", recipe, "--set", f"out_dir={blocker}")
    assert code == 1 and f"prune_det.yaml.out_dir: {blocker} is a file" in output


def test_zoo_build_work_below_a_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from slimocr.toolkit.zoo import build as zoo_build

    monkeypatch.setattr(zoo_build, "build", _never)  # never rebuild the package's zoo here
    blocker = _write(tmp_path / "file", "x")
    code, output = _run("zoo", "build", "ppocrv3-det-ptq-int8", "--work", str(blocker))
    assert code == 2 and f"--work {blocker}: {blocker} is a file, not a folder" in output


def test_prune_ratios_and_a_uniform_ratio_together_are_refused():
    # the recipe's explicit (empty) ratios would otherwise win and nothing would be cut
    from slimocr.toolkit.recipes import load_recipe

    with pytest.raises(ConfigError, match=r"select\.ratios: give ratios or uniform_ratio, not"):
        load_recipe(RECIPES / "prune_det_v6t.yaml", ["select.uniform_ratio=0.25"])
    chosen = load_recipe(
        RECIPES / "prune_det_v6t.yaml", ["select.ratios=null", "select.uniform_ratio=0.25"]
    )
    assert chosen.config.select.uniform_ratio == 0.25
