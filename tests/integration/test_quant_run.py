"""End to end on rendered data: PACT QAT (3 steps, resumable) and PTQ through the recipe runner
and the CLI; the int8 files load in the torch-free inference classes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import needs_official, needs_torch

pytestmark = [needs_torch, needs_official, pytest.mark.slow]

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def det_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from slimocr.toolkit.data.synth import SynthConfig, write_det_dataset

    out = tmp_path_factory.mktemp("quant_det")
    return write_det_dataset(out, 8, SynthConfig(seed=3, det_size=(256, 192), max_lines=3))


@pytest.fixture(scope="module")
def rec_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from slimocr.toolkit.data.synth import SynthConfig, write_rec_dataset

    out = tmp_path_factory.mktemp("quant_rec")
    return write_rec_dataset(out, 6, SynthConfig(seed=4, max_chars=8))


def _pact_det_recipe(data: Path, tmp: Path):  # noqa: ANN202
    from slimocr.toolkit.compress.quant import CalibConfig, QuantConfig, QuantRecipe

    return QuantRecipe(
        kind="det",
        model="dbnet_mv3_ppocrv3",
        parent="ppocrv3-det-float",
        threads=1,
        work_dir=str(tmp / "work"),
        quant=QuantConfig(pact=True, pact_decay=1e-4),
        calib=CalibConfig(data=str(data), images=2, limit_side_len=128),
        train={
            "teacher": "pretrained",
            "steps": 3,
            "ckpt_every": 1,
            "log_every": 1,
            "out_dir": str(tmp / "run"),
            "threads": 1,
            "data": {
                "train": str(data),
                "image_size": 128,
                "batch_size": 2,
                "labels": False,
                "val_fraction": 0.25,
                "val_max": 1,
            },
            "loss": {"label": 0.0, "distill": 1.0},
            "optim": {"lr": 1e-4},
        },
    )


def test_pact_det_three_steps_end_to_end_and_resume(det_data: Path, tmp_path: Path):
    import cv2
    import onnx

    from slimocr.infer.det import TextDetector
    from slimocr.toolkit.compress.quant import run_quant

    recipe = _pact_det_recipe(det_data, tmp_path)
    out = tmp_path / "det_int8.onnx"
    report = run_quant(recipe, method="pact", out=out, check_data=det_data, check_limit=2)
    check = report["check"]
    assert check["n"] == 2 and check["torch"] == check["ort"] and check["differ"] == 0
    assert report["train"]["step"] == 3 and "hmean" in report["train"]["final_metrics"]
    assert report["int8_kernels"]["QLinearConv"] == 72
    log = [json.loads(ln) for ln in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert all("loss_distill" in e for e in log if "loss" in e)
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    groups = ckpt["optimizer"]["param_groups"]
    assert [g["weight_decay"] for g in groups] == [0.0, 1e-4]  # α in its own group
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    quant = json.loads(meta["quant"])
    assert meta["parent"] == "ppocrv3-det-float" and meta["precision"] == "int8"
    assert quant["method"] == "pact" and quant["pact"] and quant["weight_range"] == [-63, 63]
    assert quant["act_dtype"] == "uint8" and quant["train_steps"] == 3
    img = cv2.imread(str(next((det_data.parent / "images").iterdir())), cv2.IMREAD_COLOR)
    TextDetector(out, threads=1, limit_side_len=256)(img)  # the int8 file opens and runs
    # a second call resumes the finished run: no calibration, no extra steps
    again = run_quant(recipe, method="pact", out=tmp_path / "again.onnx")
    assert again["train"]["resumed"] and again["train"]["step"] == 3


def test_ptq_rec_cli_end_to_end(rec_data: Path, tmp_path: Path):
    import typer
    from typer.testing import CliRunner

    from slimocr.infer.rec import TextRecognizer
    from slimocr.toolkit.cli.quant import quant_cmd

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "kind: rec\nmodel: crnn_ppocrv2\nparent: ppocrv2-rec-float\nthreads: 1\n"
        f"work_dir: {tmp_path / 'work'}\ncalib:\n  data: {rec_data}\n  images: 4\n"
        "export:\n  lstm: dynamic_int8\n",
        encoding="utf-8",
    )
    app = typer.Typer()
    app.command()(quant_cmd)
    out = tmp_path / "rec_int8.onnx"
    res = CliRunner().invoke(
        app,
        ["rec", "--method", "ptq", "--recipe", str(recipe), "--out", str(out)]
        + ["--check-data", str(rec_data)],
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.output[res.output.index("{") :])
    assert report["int8_kernels"]["QLinearConv"] == 31
    check = report["check"]  # fake-quant (PyTorch) and file (ONNX Runtime, before LSTM int8)
    assert check["n"] == 6 and check["torch"]["acc"] == check["ort"]["acc"]
    assert report["int8_kernels"]["DynamicQuantizeLSTM"] == 2
    import cv2

    crops = [
        cv2.imread(str(p), cv2.IMREAD_COLOR) for p in sorted((rec_data.parent).rglob("*.png"))[:3]
    ]
    results = TextRecognizer(out)(crops)  # charset from the file's metadata
    assert len(results) == 3
    bad = CliRunner().invoke(
        app, ["det", "--method", "ptq", "--recipe", str(recipe), "--out", str(out)]
    )
    assert bad.exit_code != 0 and "rec recipe" in bad.output
