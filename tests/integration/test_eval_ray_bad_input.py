"""Bad input to the Ray Data stage and to ``slimocr eval``: one line naming the input, the rest
of the job processed, never a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from slimocr.cli.main import app

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample.png"
BOX = [[10, 10], [100, 10], [100, 50], [10, 50]]


def _invoke(*args: str):  # noqa: ANN202
    return CliRunner().invoke(app, list(args))


def _det_label(tmp_path: Path, *boxes_per_line: tuple[str, object]) -> Path:
    shutil.copy(SAMPLE, tmp_path / "a.png")
    lines = [f"{name}\t{json.dumps(boxes)}" for name, boxes in boxes_per_line]
    label = tmp_path / "det.txt"
    label.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return label


# ---- Ray Data: RayOCR on batches as map_batches gives them ---------------------------------


@pytest.fixture(scope="module")
def ray_ocr():  # noqa: ANN201
    pytest.importorskip("ray", reason="needs the ray extra")
    from slimocr.runtime.ray_data import RayOCR

    return RayOCR(threads=1)


def test_ray_row_errors_name_the_path_and_the_other_rows_are_read(ray_ocr) -> None:
    png = SAMPLE.read_bytes()
    batch = {
        "bytes": np.array([b"junk", None, "text", b"%PDF-1.7\n...", png], dtype=object),
        "path": np.array(["s3://b/bad.png", "none.png", "str.png", "doc.pdf", "ok.png"]),
    }
    out = ray_ocr(batch)
    errors = dict(zip(out["source"], out["error"], strict=True))
    # the path, not <bytes>; a cell that is not bytes is that row's error, not the batch's
    assert errors["s3://b/bad.png"].startswith("s3://b/bad.png: unsupported or corrupt")
    assert errors["none.png"] == "none.png: expected the bytes of a file, got NoneType"
    assert errors["str.png"] == "str.png: expected the bytes of a file, got str"
    assert errors["doc.pdf"].startswith("doc.pdf: a PDF file, not an image")
    assert errors["ok.png"] == ""
    assert json.loads(out["result"][-1])["source"] == "ok.png" and out["n_lines"][-1] > 0


def test_ray_array_rows_name_the_path_and_a_bytes_path_is_text(ray_ocr) -> None:
    batch = {
        "image": np.array([np.zeros((40, 40, 3), np.float32), None], dtype=object),
        "path": np.array([b"f.tif", b"n.png"], dtype=object),
    }
    out = ray_ocr(batch)
    assert list(out["source"]) == ["f.tif", "n.png"]
    assert out["error"][0].startswith("f.tif: float pixels need their range declared")
    assert out["error"][1].startswith("n.png: unsupported array shape")


def test_ray_pipeline_with_model_names_is_an_option_error() -> None:
    pytest.importorskip("ray", reason="needs the ray extra")
    from slimocr.errors import OptionError
    from slimocr.runtime.ray_data import RayOCR

    with pytest.raises(OptionError, match="give a pipeline or det_model, not both"):
        RayOCR(pipeline="slimocr-v6t-ptq", det_model="ppocrv6t-det-ptq-int8")


def test_ray_unknown_option_is_an_option_error_not_a_type_error() -> None:
    pytest.importorskip("ray", reason="needs the ray extra")
    from slimocr.errors import OptionError
    from slimocr.runtime.ray_data import RayOCR

    with pytest.raises(OptionError, match=r"unknown OCR option\(s\): orientaton"):
        RayOCR(orientaton=True)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"pipeline": "nope"}, "ModelFileError", "nope: unknown pipeline"),
        ({"det_model": "nope"}, "ModelFileError", "nope: unknown model name"),
        ({"providers": "cuda,gpu"}, "OptionError", "unknown execution provider 'gpu'"),
        ({"providers": 5}, "OptionError", "providers must be a name"),
        ({"threads": -1}, "OptionError", "threads must be"),
        ({"det_thresh": 2}, "OptionError", "det_thresh must be in"),
        ({"word_boxes": "yes"}, "OptionError", "word_boxes must be True or False"),
        ({"reuse_memory": 1}, "OptionError", "reuse_memory must be True or False"),
        ({"bogus": 1}, "OptionError", r"unknown OCR option\(s\): bogus"),
    ],
)
def test_ray_checked_kwargs_refuse_a_bad_option_in_the_driver(options, error, message) -> None:
    # without the check, each actor dies of it in Ray's ActorDiedError traceback
    pytest.importorskip("ray", reason="needs the ray extra")
    from slimocr import errors
    from slimocr.runtime.ray_data import RayOCR

    with pytest.raises(getattr(errors, error), match=message):
        RayOCR.checked_kwargs(**options)


def test_ray_checked_kwargs_are_the_constructor_kwargs(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray", reason="needs the ray extra")
    from slimocr.runtime.ray_data import RayOCR

    # a provider this ONNX Runtime lacks may be on the actors' nodes: checked by name only
    kwargs = RayOCR.checked_kwargs("slimocr-v6t-ptq", threads=1, providers="cuda")
    assert kwargs == {"pipeline": "slimocr-v6t-ptq", "threads": 1, "providers": "cuda"}
    # the actors' malloc policy, not the driver's
    monkeypatch.setattr("slimocr.infer.pipeline.keep_freed_memory", pytest.fail)
    assert RayOCR.checked_kwargs(reuse_memory=True) == {"threads": 1, "reuse_memory": True}


# ---- eval label files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([[int("9" * 400), 1], [2, 3], [4, 5]], "box 0: coordinate 99999999999999999999... is out"),
        ([[1e308, 1], [1e308, 1e308], [4, 1e308]], "box 0: coordinate 1e+308 is out of range"),
    ],
)
def test_huge_coordinates_are_one_error_line(tmp_path: Path, points, message) -> None:
    label = _det_label(tmp_path, ("a.png", [{"transcription": "a", "points": points}]))
    result = _invoke("eval", "det", "--threads", "1", "--data", str(label))
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"error: {label}:1: {message}" in result.output
    assert "warning" not in result.output


def test_a_null_transcription_is_a_bad_box_not_the_text_none(tmp_path: Path) -> None:
    from slimocr.eval.readers import read_paddle_det_labels

    label = _det_label(
        tmp_path,
        ("a.png", [{"transcription": None, "points": BOX}, {"transcription": 7, "points": BOX}]),
    )
    samples = read_paddle_det_labels(label, on_error="skip")
    assert samples[0].texts == ["7"]
    assert samples.warnings == [f"{label}:1: box 0: expected 'transcription' as a string, got None"]


def test_an_image_listed_twice_is_kept_twice(tmp_path: Path) -> None:
    # the readers also feed training and calibration, where repeating a line oversamples it
    from slimocr.eval.readers import read_paddle_det_labels, read_paddle_rec_labels

    box = [{"transcription": "a", "points": BOX}]
    label = _det_label(tmp_path, ("a.png", box), ("./a.png", box))
    assert len(read_paddle_det_labels(label)) == 2
    rec = tmp_path / "rec.txt"
    rec.write_text("a.png\tword\na.png\tword\n", encoding="utf-8")
    assert len(read_paddle_rec_labels(rec)) == 2


# ---- eval suite and agree --------------------------------------------------------------------


def test_suite_skips_a_domain_whose_data_is_missing_and_measures_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "data"
    (root / "ic15_det_test").mkdir(parents=True)
    _det_label(root / "ic15_det_test", ("a.png", [{"transcription": "a", "points": BOX}]))
    monkeypatch.setenv("SLIMOCR_DATA", str(root))  # no td500_train
    model = "ppocrv6t-det-ptq-int8"
    out = tmp_path / "suite.json"
    result = _invoke(
        "eval", "suite", model, "--parent", model, "--threads", "1", "--domain", "ic15",
        "--domain", "td500", "--cache", str(tmp_path / "cache"), "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "ok   ic15" in result.output
    assert f"error: td500: {root / 'td500_train' / 'det_gt.txt'}: label file not found" in (
        result.output
    )
    assert "misses the bar against ppocrv6t-det-ptq-int8 on: td500 (not measured)" in (
        result.output
    )
    report = json.loads(out.read_text())
    assert [d["domain"] for d in report["domains"]] == ["ic15"]


def test_agree_shows_no_progress_bar_off_a_terminal(tmp_path: Path) -> None:
    shutil.copy(SAMPLE, tmp_path / "a.png")
    (tmp_path / "bad.png").write_bytes(b"junk")
    pair = "ppocrv6t-det-ptq-int8,ppocrv6t-rec-w8"
    result = CliRunner().invoke(
        app,
        ["eval", "agree", str(tmp_path), "--pipeline", pair, "--parent", pair, "--threads", "1"],
    )
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {tmp_path / 'bad.png'}: unsupported or corrupt image data "
        "(format not recognised)\n"
    )
    assert json.loads(result.stdout)["n_images"] == 1
