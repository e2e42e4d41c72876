"""``slimocr ocr``: folders of images, pipelines named by their benchmark row."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slimocr.cli.main import app
from slimocr.official import official_available

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample.png"


def _ocr(*args: str):  # noqa: ANN202
    return CliRunner().invoke(app, ["ocr", *args])


def test_a_folder_stands_for_its_images(tmp_path: Path) -> None:
    folder = tmp_path / "pages"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / "b.png")
    shutil.copy(SAMPLE, folder / "a.PNG")
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub").mkdir()
    shutil.copy(SAMPLE, folder / "sub" / "c.png")
    result = _ocr(str(folder))
    assert result.exit_code == 0, result.output
    headers = [line for line in result.output.splitlines() if line.startswith("# ")]
    assert [h.split(":")[0] for h in headers] == [f"# {folder / 'a.PNG'}", f"# {folder / 'b.png'}"]


def test_an_empty_folder_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = _ocr(str(tmp_path / "empty"), str(SAMPLE))
    assert result.exit_code == 1
    assert f"{tmp_path / 'empty'}: folder holds no image file" in result.output
    assert f"# {SAMPLE}" in result.output  # the other image is still read


def test_the_default_is_the_default_pipeline_and_model_names_a_pipeline() -> None:
    default = _ocr(str(SAMPLE), "--json")
    from slimocr.zoo.records import DEFAULTS

    named = _ocr(str(SAMPLE), "--model", DEFAULTS["pipeline"], "--json")
    assert named.exit_code == 0, named.output
    assert named.output.count("\n") == 1 and '"text"' in named.output
    strip = [line.split('"elapsed_ms"')[0] for line in (named.output, default.output)]
    assert strip[0] == strip[1]  # the same two models and settings, the same lines
    pair = _ocr(str(SAMPLE), "--model", "ppocrv6t-det-ptq-int8,ppocrv6t-rec-w8", "--json")
    assert pair.exit_code == 0 and '"text"' in pair.output, pair.output
    unknown = _ocr(str(SAMPLE), "--model", "slimocr-nothing")
    assert unknown.exit_code != 0
    assert "slimocr-nothing: unknown pipeline" in unknown.output
    assert "slimocr-v6s-ptq" in unknown.output  # the known names are listed
    both = _ocr(str(SAMPLE), "--model", "slimocr-v6t-ptq", "--det-model", "ppocrv6t-det-ptq-int8")
    assert both.exit_code != 0 and "not both" in both.output
    retired = _ocr(str(SAMPLE), "--det-model", "ppocrv3-det-prune-w8")
    assert retired.exit_code == 1
    assert (
        retired.output.strip()
        .splitlines()[-1]
        .endswith(
            "ppocrv3-det-prune-w8: retired from the zoo (misses the fidelity bar against its float "
            "parent on td500, funsd (docs/results/fidelity/fidelity.md)); rebuild it with "
            "`slimocr zoo build ppocrv3-det-prune-w8`"
        )
    )


@pytest.mark.parametrize(
    ("pipeline", "rec_file"),
    [("rapidocr-ppocrv4-mobile", "ppocrv4_rec"), ("rapidocr-ppocrv6-small", "ppocrv6s_rec")],
)
def test_peer_pipeline_gets_its_recognizer_height(pipeline: str, rec_file: str) -> None:
    from slimocr.infer.pipeline import OCR

    if not official_available(rec_file):
        pytest.skip(f"the package shipping {rec_file} is not installed")
    engine = OCR.from_pipeline(pipeline)
    assert engine.recognizer.image_height == 48  # v4's file does not fix it: the entry does
    result = _ocr(str(SAMPLE), "--model", pipeline)
    assert result.exit_code == 0, result.output
    assert "16:55" in result.output


def test_draw_targets_that_cannot_be_written_are_refused_or_reported(tmp_path: Path) -> None:
    result = _ocr(str(SAMPLE), "--draw", str(tmp_path / "boxes.xyz"))
    assert result.exit_code == 2 and "not an image file name" in result.output
    blocker = tmp_path / "taken.png"
    blocker.write_bytes(b"x")
    # two images: --draw is a folder, and this one is a file
    result = _ocr(str(SAMPLE), str(SAMPLE), "--draw", str(blocker))
    assert result.exit_code == 2 and f"{blocker} is a file, not a folder" in result.output
    (tmp_path / "folder.png").mkdir()  # an existing folder stays a folder, whatever its name
    result = _ocr(str(SAMPLE), "--draw", str(tmp_path / "folder.png"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "folder.png" / "sample_ocr.png").is_file()
    result = _ocr(str(SAMPLE), "--draw", str(tmp_path / "one.png"))
    assert result.exit_code == 0 and (tmp_path / "one.png").is_file()


def test_a_recognizer_file_as_detector_is_one_error_line() -> None:
    from slimocr.zoo.records import FILES_DIR

    result = _ocr(str(SAMPLE), "--det-model", str(FILES_DIR / "ppocrv6t-rec-w8.onnx"))
    assert result.exit_code == 1
    assert (
        result.output.strip()
        .splitlines()[-1]
        .endswith("is a text recognizer, expected a text detector")
    )


@pytest.mark.parametrize(
    ("option", "value"),
    [("--threads", "-1"), ("--limit-side-len", "0"), ("--limit-type", "foo"),
     ("--box-thresh", "nan"), ("--drop-score", "2"), ("--unclip-ratio", "-1")],
)  # fmt: skip
def test_out_of_range_options_are_one_error_line(option: str, value: str) -> None:
    result = _ocr(str(SAMPLE), option, value)
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1


def test_max_side_caps_the_detector_input() -> None:
    import json

    from slimocr.infer.pipeline import OCR

    capped = _ocr(str(SAMPLE), "--json", "--max-side", "128")
    assert capped.exit_code == 0, capped.output
    expected = OCR(det_max_side=128, threads=1)(str(SAMPLE)).to_dict()["lines"]
    assert json.loads(capped.output)["lines"] == expected
    assert expected != OCR(threads=1)(str(SAMPLE)).to_dict()["lines"]  # the cap changed it
    bad = _ocr(str(SAMPLE), "--max-side", "0")
    assert bad.exit_code != 0 and "det_max_side must be" in bad.output
