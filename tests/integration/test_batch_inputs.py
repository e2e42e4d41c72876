"""Batch inputs that used to stop a run, lose work or be skipped: foreign results files, PDF
pages pdfium cannot load or that are too large, folders of PDFs, unreadable folders, and
options that only failed inside the workers."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from slimocr.cli.main import app
from slimocr.errors import ConfigError, ImageReadError, OptionError
from slimocr.infer.results import OCRResult
from slimocr.runtime.jsonl import ResultsFile
from slimocr.runtime.pool import build_ocr, ocr_many, ocr_to_jsonl, read_one
from slimocr.runtime.sources import collect_sources, load_source

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample.png"


def _ocr(*args: str):  # noqa: ANN202
    return CliRunner().invoke(app, ["ocr", *args])


def _raw_pdf(*objects: bytes) -> bytes:
    """A PDF written byte by byte (object 1 is the catalog), for pages no writer would make."""
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return out


def _pdf(path: Path, *page_sizes: str, kids: str | None = None) -> Path:
    """A PDF of blank pages (``"W H"`` in points); ``kids`` replaces the page tree's /Kids."""
    pages = [
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %s] >>" % size.encode() for size in page_sizes
    ]
    refs = kids or " ".join(f"{n + 3} 0 R" for n in range(len(pages)))
    count = len(re.findall(r"\d+ 0 R|\d+", refs))
    tree = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (refs.encode(), count)
    path.write_bytes(_raw_pdf(b"<< /Type /Catalog /Pages 2 0 R >>", tree, *pages))
    return path


@pytest.fixture(scope="module")
def ocr():  # noqa: ANN201
    return build_ocr(None, {"threads": 1})


def test_resume_into_a_foreign_file_leaves_it_untouched(tmp_path: Path) -> None:
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"hello\nworld")  # a "partial last line" that is not a result
    with pytest.raises(ConfigError, match="victim.png:1: not a SlimOCR result line"):
        ResultsFile(victim, resume=True)
    assert victim.read_bytes() == b"hello\nworld"
    victim.write_bytes(b"hello")  # no newline at all: nothing may be cut either
    with pytest.raises(ConfigError, match="not the start of a SlimOCR result line"):
        ResultsFile(victim, resume=True)
    assert victim.read_bytes() == b"hello"
    result = _ocr(str(SAMPLE), "--out", str(victim), "--resume")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert victim.read_bytes() == b"hello"


@pytest.mark.parametrize(
    "tail",
    [b'{"source":"b.p', b"  ", b'{ "source": "b.png", "lin'],
    ids=["compact", "blank", "spaced"],
)
def test_resume_cuts_any_partial_json_object_or_blank_tail(tmp_path: Path, tail: bytes) -> None:
    results = tmp_path / "r.jsonl"
    results.write_bytes(b'{"source":"a.png","lines":[]}\n' + tail)
    with ResultsFile(results, resume=True) as file:
        assert file.done == {"a.png"}
    assert results.read_bytes() == b'{"source":"a.png","lines":[]}\n'


def test_model_names_given_as_none_beside_a_pipeline_are_not_given() -> None:
    from slimocr.runtime.pool import check_run_options

    check_run_options(1, 1, "slimocr-v6t-w8", {"det_model": None, "rec_model": None})
    with pytest.raises(OptionError, match="give a pipeline or det_model, not both"):
        check_run_options(1, 1, "slimocr-v6t-w8", {"det_model": "x.onnx", "rec_model": None})


def test_a_page_pdfium_cannot_load_is_one_error_and_the_rest_are_read(tmp_path: Path) -> None:
    pytest.importorskip("pypdfium2", reason="needs the pdf extra")
    pdf = _pdf(tmp_path / "doc.pdf", "200 100", kids="3 0 R 42")  # the 2nd kid is no page
    out = tmp_path / "r.jsonl"
    result = _ocr(str(pdf), str(SAMPLE), "--out", str(out))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"error: {pdf}#page=2: cannot load the page" in result.output
    sources = [json.loads(x)["source"] for x in out.read_text().splitlines()]
    assert sorted(sources) == sorted([f"{pdf}#page=1", str(SAMPLE)])
    again = _ocr(str(pdf), str(SAMPLE), "--out", str(out), "--resume")
    assert again.exit_code == 1 and "0 written, 2 already there, 1 failed" in again.output


def test_a_pdf_page_too_large_is_refused_before_rendering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ocr
) -> None:  # noqa: ANN001
    pdfium = pytest.importorskip("pypdfium2", reason="needs the pdf extra")

    def no_render(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("rendered a page over the pixel limit")

    # 553 bytes of PDF, 14400 pt square: 30001x30001 pixels (2.8 GB) at 150 dpi
    huge = _pdf(tmp_path / "huge.pdf", "14400 14400")
    with monkeypatch.context() as patch:
        patch.setattr(pdfium.PdfPage, "render", no_render)
        with pytest.raises(ImageReadError, match=r"huge.pdf#page=1: page too large"):
            load_source(f"{huge}#page=1")
    # a page that renders to one pixel: the image check names the page, not <array>
    tiny = _pdf(tmp_path / "tiny.pdf", "0.3 0.3")
    error = read_one(ocr, f"{tiny}#page=1")
    assert isinstance(error, ImageReadError)
    assert str(error).startswith(f"{tiny}#page=1: image too small")


def test_a_folder_of_pdfs_and_images_stands_for_both(tmp_path: Path) -> None:
    pytest.importorskip("pypdfium2", reason="needs the pdf extra")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(SAMPLE, mixed / "a.png")
    _pdf(mixed / "doc.pdf", "200 100")
    result = _ocr(str(mixed))
    assert result.exit_code == 0, result.output
    headers = [line.split(":")[0] for line in result.output.splitlines() if line[:1] == "#"]
    assert headers == [f"# {mixed / 'a.png'}", f"# {mixed / 'doc.pdf'}#page=1"]
    only = tmp_path / "only"
    only.mkdir()
    _pdf(only / "doc.pdf", "200 100")
    result = _ocr(str(only))
    assert result.exit_code == 0, result.output
    assert f"# {only / 'doc.pdf'}#page=1" in result.output


def _unreadable(monkeypatch: pytest.MonkeyPatch, *folders: Path) -> None:
    """Listing ``folders`` fails as it does for a folder without read permission (the tests
    may run as root, who reads any folder)."""
    denied = {str(f) for f in folders}
    real_scandir, real_listdir = os.scandir, os.listdir

    def check(path: str) -> str:
        if path in denied:
            raise PermissionError(13, "Permission denied", path)
        return path

    def scandir(path: str = ".") -> Any:
        return real_scandir(check(os.fspath(path)))

    def listdir(path: str = ".") -> list[str]:
        return real_listdir(check(os.fspath(path)))

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "listdir", listdir)


def test_an_unreadable_folder_is_one_problem_and_the_rest_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shut, tree = tmp_path / "shut", tmp_path / "tree"
    for folder in (shut, tree / "sub"):
        folder.mkdir(parents=True)
        shutil.copy(SAMPLE, folder / "a.png")
    shutil.copy(SAMPLE, tree / "b.png")
    _unreadable(monkeypatch, shut, tree / "sub")
    sources, problems = collect_sources([shut, SAMPLE])
    assert sources == [str(SAMPLE)]
    assert problems == [f"{shut}: cannot list folder (Permission denied)"]
    sources, problems = collect_sources([tree], recursive=True)  # not skipped silently
    assert sources == [str(tree / "b.png")]
    assert problems == [f"{tree / 'sub'}: cannot list folder (Permission denied)"]
    out = tmp_path / "r.jsonl"
    result = _ocr(str(shut), str(SAMPLE), "--out", str(out))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"error: {shut}: cannot list folder (Permission denied)" in result.output
    assert [json.loads(x)["source"] for x in out.read_text().splitlines()] == [str(SAMPLE)]


def test_bad_worker_counts_are_one_line_before_the_results_file(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    for workers in ("2147483647", "0"):
        result = _ocr(str(SAMPLE), "--workers", workers, "--out", str(out))
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert result.output.strip().splitlines() == [
            f"error: workers must be in [1, 1024], got {workers}"
        ]
        assert not out.exists()


def test_unknown_options_are_refused_before_workers_start(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="unknown OCR option.*bogus_option"):
        list(ocr_many([str(SAMPLE)], workers=2, threads=1, bogus_option=1))
    with pytest.raises(OptionError, match="bogus_option"):
        ocr_to_jsonl([SAMPLE], tmp_path / "r.jsonl", workers=2, bogus_option=1)
    assert not (tmp_path / "r.jsonl").exists()


def test_path_sources_and_one_input_alone(tmp_path: Path) -> None:
    ((source, result),) = list(ocr_many([SAMPLE], threads=1))
    assert isinstance(result, OCRResult) and result.lines
    assert source == result.source == str(SAMPLE)
    folder = tmp_path / "imgs"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / "a.png")
    for inputs in (str(folder), folder):  # one folder, not the characters of its name
        out = tmp_path / f"r{type(inputs).__name__}.jsonl"
        summary = ocr_to_jsonl(inputs, out, threads=1)
        assert (summary.total, summary.done, summary.failed) == (1, 1, [])


def test_a_list_file_with_a_byte_order_mark(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(f"{SAMPLE}\n", encoding="utf-8-sig")
    assert collect_sources([], list_file=listing) == ([str(SAMPLE)], [])


def test_a_list_of_only_comments_is_a_problem_not_a_silent_success(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("# scans of monday\n\n   \n")
    sources, problems = collect_sources([], list_file=listing)
    assert sources == [] and problems == [
        f"{listing}: the list names no file (only blank lines and comments)"
    ]
    result = _ocr("--list", str(listing))
    assert result.exit_code == 1


def test_out_below_a_file_is_refused_before_any_work(tmp_path: Path) -> None:
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"x")
    result = _ocr(str(SAMPLE), "--out", str(victim / "r.jsonl"))
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {victim / 'r.jsonl'}: {victim} is a file, not a folder"
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        ResultsFile(victim / "r.jsonl")


def test_draw_with_a_pdf_says_what_draw_reads(tmp_path: Path) -> None:
    pdf = _pdf(tmp_path / "doc.pdf", "200 100")
    result = _ocr(str(pdf), "--draw", str(tmp_path / "d.png"))
    assert result.exit_code == 2
    assert "not PDF pages" in result.output and "--out" not in result.output
    result = _ocr(str(SAMPLE), "--draw", str(tmp_path / "d.png"), "--workers", "2")
    assert result.exit_code == 2 and "leave out --workers" in result.output
