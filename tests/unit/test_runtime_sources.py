"""Input collection (folders, recursion, lists, PDF pages) and the resumable results file."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from slimocr.errors import ConfigError, OptionError
from slimocr.runtime.jsonl import ResultsFile, recover
from slimocr.runtime.sources import collect_sources, load_source


def _png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((20, 30, 3), 255, np.uint8))
    return path


def test_folders_lists_and_recursion(tmp_path: Path) -> None:
    a, b = _png(tmp_path / "d" / "a.png"), _png(tmp_path / "d" / "sub" / "b.jpg")
    (tmp_path / "d" / "notes.txt").write_text("x")
    assert collect_sources([tmp_path / "d"]) == ([str(a)], [])
    assert collect_sources([tmp_path / "d"], recursive=True) == ([str(a), str(b)], [])
    listing = tmp_path / "list.txt"
    listing.write_text(f"# images\n{b}\n\n{a}\n")
    # given twice (folder and list): read once
    assert collect_sources([a], list_file=listing) == ([str(a), str(b)], [])
    empty = tmp_path / "empty"
    empty.mkdir()
    sources, problems = collect_sources([empty])
    assert sources == [] and "folder holds no image" in problems[0]


def test_pdf_pages_are_sources_rendered_on_demand(tmp_path: Path) -> None:
    pytest.importorskip("pypdfium2", reason="needs the pdf extra")
    from PIL import Image

    pages = [Image.new("RGB", (200, 100), c) for c in ("white", "black")]
    pdf = tmp_path / "doc.pdf"
    pages[0].save(pdf, save_all=True, append_images=pages[1:], resolution=72)
    sources, problems = collect_sources([pdf])
    assert sources == [f"{pdf}#page=1", f"{pdf}#page=2"] and problems == []
    first, second = load_source(sources[0]), load_source(sources[1])
    assert first.shape[2] == 3 and first.dtype == np.uint8
    assert first.shape[:2] == pytest.approx((208, 417), abs=2)  # 150 dpi from 72
    assert first.mean() > 250 and second.mean() < 5
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"not a pdf")
    sources, problems = collect_sources([bad])
    assert sources == [] and "not a readable PDF" in problems[0]


def test_a_partial_last_line_is_cut_and_held_sources_are_skipped(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    with ResultsFile(out) as results:
        results.write({"source": "a.png", "lines": []})
        results.write({"source": "b.png", "lines": []})
    whole = out.read_bytes()
    with open(out, "ab") as fh:  # what a run killed mid-write leaves
        fh.write(b'{"source": "c.png", "li')
    with pytest.raises(OptionError, match="--resume"):
        ResultsFile(out)
    with ResultsFile(out, resume=True) as results:
        assert results.done == {"a.png", "b.png"}
        assert out.read_bytes() == whole
        results.write({"source": "c.png", "lines": []})
    assert [json.loads(x)["source"] for x in out.read_text().splitlines()] == [
        "a.png",
        "b.png",
        "c.png",
    ]


def test_a_foreign_file_is_not_resumed_into(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    out.write_text('{"source": "a.png"}\nhello\n')
    with pytest.raises(ConfigError, match=r"r.jsonl:2: not a SlimOCR result line"):
        recover(out)


def test_ray_rows_in_rgb_rgba_or_gray_reach_the_pipeline_in_opencv_order() -> None:
    from slimocr.runtime.ray_data import _rgb_to_bgr

    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[..., 0] = 255  # red
    assert (_rgb_to_bgr(rgb)[..., 2] == 255).all() and (_rgb_to_bgr(rgb)[..., 0] == 0).all()
    rgba = np.dstack([rgb, np.full((2, 3), 7, np.uint8)])
    assert (_rgb_to_bgr(rgba)[..., 3] == 7).all() and (_rgb_to_bgr(rgba)[..., 2] == 255).all()
    gray = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert (_rgb_to_bgr(gray) == gray).all()
