"""``slimocr eval det --reference``: a detector scored against what another one finds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from slimocr.cli.main import app

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample.png"


def _eval_det(*args: str):  # noqa: ANN202
    return CliRunner().invoke(app, ["eval", "det", "--threads", "1", *args])


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "unlabelled"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / "a.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_a_detector_against_itself_agrees_fully_on_unlabelled_images(tmp_path: Path) -> None:
    out = tmp_path / "self.json"
    same = ("--model", "ppocrv3-det-float", "--reference", "ppocrv3-det-float")
    result = _eval_det("--data", str(_folder(tmp_path)), *same, "--out", str(out))
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    [image] = report["per_image"]
    assert image["n_gt_care"] == image["n_det_care"] == image["n_matched"] >= 3
    assert report["metrics"]["hmean"] == 1.0
    assert report["settings"]["reference"] == "ppocrv3-det-float"


def test_a_compressed_detector_is_scored_against_its_parent(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    runs = {}
    for model in ("ppocrv3-det-prune-w8", "ppocrv3-det-float"):
        out = tmp_path / f"{model}.json"
        result = _eval_det(
            "--data", str(folder), "--model", model, "--reference", "ppocrv3-det-float",
            "--out", str(out),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        runs[model] = json.loads(out.read_text())
    [image] = runs["ppocrv3-det-prune-w8"]["per_image"]
    [parent] = runs["ppocrv3-det-float"]["per_image"]
    # the ground truth is the parent's boxes, the detections the pruned model's own
    assert image["n_gt_care"] == len(parent["boxes"]) and image["n_det_care"] == len(image["boxes"])
    assert 0.0 < runs["ppocrv3-det-prune-w8"]["metrics"]["hmean"] <= 1.0


def test_a_folder_without_labels_or_images_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = _eval_det("--data", str(tmp_path / "empty"), "--reference", "ppocrv3-det-float")
    assert result.exit_code != 0
    assert f"{tmp_path / 'empty'}: no labels and no images" in result.output
    # without a reference the labels are required, as before
    result = _eval_det("--data", str(_folder(tmp_path)))
    assert result.exit_code != 0 and "no ICDAR GT folder" in result.output
