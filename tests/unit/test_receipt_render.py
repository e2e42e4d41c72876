"""bench/receipt_det_check.py draws the same receipt for the same index, with one box per drawn
run, inside the photo and over ink."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from slimocr.eval.render import FONTS, find_fonts

ROOT = Path(__file__).resolve().parents[2]


def _module():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location(
        "bench_receipt", ROOT / "bench" / "receipt_det_check.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_receipt_is_deterministic_and_its_boxes_cover_text():
    fonts = find_fonts(FONTS["en"])
    if not fonts:
        pytest.skip("no Latin font installed")
    mod = _module()
    lines = ["TOTAL 12.50", "Thank you!", "MILK 2L 1.99", "Store #42"]
    img, quads = mod.render_receipt(3, lines, fonts)
    again, quads2 = mod.render_receipt(3, lines, fonts)
    assert np.array_equal(img, again) and all(
        np.allclose(a, b) for a, b in zip(quads, quads2, strict=True)
    )
    other, _ = mod.render_receipt(4, lines, fonts)
    assert other.shape != img.shape or not np.array_equal(other, img)
    h, w = img.shape[:2]
    gray = img.mean(axis=2)
    assert len(quads) >= 14  # at least one run on each of its 14+ lines
    for q in quads:
        assert q.shape == (4, 2)
        assert (q[:, 0] >= 0).all() and (q[:, 0] <= w).all()
        assert (q[:, 1] >= 0).all() and (q[:, 1] <= h).all()
        x0, y0 = np.floor(q.min(axis=0)).astype(int)
        x1, y1 = np.ceil(q.max(axis=0)).astype(int)
        inside = gray[y0:y1, x0:x1]
        # ink darker than the paper around it: the box lies on text, not on blank paper
        assert inside.min() < np.median(inside) - 20
