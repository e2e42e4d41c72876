"""Agreement metrics on hand-computed cases, the split bookkeeping and the per-domain bar."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from slimocr.eval.agreement import det_agreement, e2e_agreement, rec_agreement
from slimocr.eval.domains import DOMAINS, Domain
from slimocr.eval.splits import selection_images, td500_names, td500_split
from slimocr.eval.suite import compare


def _sq(x: float, y: float, s: float = 10.0) -> np.ndarray:
    return np.array([[x, y], [x + s, y], [x + s, y + s], [x, y + s]], float)


def test_det_agreement_counts_matches_over_images():
    parent = [[_sq(0, 0), _sq(50, 0)], [_sq(0, 0)]]
    cand = [[_sq(0, 0)], [_sq(0, 0), _sq(80, 80), _sq(200, 200)]]
    r = det_agreement(parent, cand)
    # 2 matched of 3 parent boxes and of 4 candidate boxes
    assert r["recall"] == pytest.approx(2 / 3)
    assert r["precision"] == pytest.approx(2 / 4)
    assert r["hmean"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_det_agreement_identical_boxes_is_one_and_shifted_boxes_are_not_matched():
    boxes = [[_sq(0, 0), _sq(30, 30)]]
    assert det_agreement(boxes, boxes)["hmean"] == 1.0
    shifted = [[_sq(7, 7), _sq(37, 37)]]  # IoU 9/191 < 0.5
    assert det_agreement(boxes, shifted)["hmean"] == 0.0


def test_rec_agreement_rate_and_cer():
    r = rec_agreement(["TOTAL QTY", "abc", "x"], ["TotalQty", "abc", "y"])
    assert r["agreement"] == pytest.approx(1 / 3)
    # "TOTAL QTY" -> "TotalQty": 7 substitutions/deletions: T,O->o,T->t,A->a,L->l,' ' del,
    # Q,T->t,Y->y: lev = 7; "x" -> "y": 1; parent characters 9 + 3 + 1 = 13
    assert r["cer"] == pytest.approx(8 / 13)
    with pytest.raises(ValueError):
        rec_agreement(["a"], [])


def test_rec_agreement_empty_parent_reading_counts_insertions():
    r = rec_agreement([""], ["abc"])
    assert r["agreement"] == 0.0 and r["cer"] == pytest.approx(3.0)


def test_e2e_agreement_needs_box_and_text():
    parent = [[(_sq(0, 0), "a"), (_sq(40, 0), "b"), (_sq(80, 0), "c")]]
    cand = [[(_sq(0, 0), "a"), (_sq(40, 0), "B"), (_sq(300, 0), "c")]]
    r = e2e_agreement(parent, cand)
    assert r["precision"] == pytest.approx(1 / 3) and r["recall"] == pytest.approx(1 / 3)
    assert e2e_agreement([[]], [[]])["hmean"] == 1.0


def test_td500_split_is_every_third_sorted_name_and_disjoint():
    names = [f"IMG_{i:04d}.JPG" for i in (5, 1, 3, 2, 4, 0, 9, 7, 8, 6)]
    sel, rep = td500_names("selection", names), td500_names("report", names)
    assert sel == ["IMG_0000.JPG", "IMG_0003.JPG", "IMG_0006.JPG", "IMG_0009.JPG"]
    assert set(sel).isdisjoint(rep) and len(sel) + len(rep) == len(names)
    assert td500_split("x/IMG_0003.JPG", names) == "selection"
    with pytest.raises(KeyError):
        td500_split("IMG_9999.JPG", names)


def test_selection_images_reads_only_selection_folders(tmp_path: Path):
    (tmp_path / "td500_train" / "images").mkdir(parents=True)
    for i in range(6):
        (tmp_path / "td500_train" / "images" / f"IMG_{i}.jpg").write_bytes(b"x")
    (tmp_path / "funsd" / "train" / "images").mkdir(parents=True)
    (tmp_path / "funsd" / "train" / "images" / "a.png").write_bytes(b"x")
    (tmp_path / "funsd" / "val" / "images").mkdir(parents=True)
    (tmp_path / "funsd" / "val" / "images" / "b.png").write_bytes(b"x")
    pool = selection_images(tmp_path)
    assert [p.name for p in pool["td500"]] == ["IMG_0.jpg", "IMG_3.jpg"]
    assert [p.name for p in pool["funsd"]] == ["a.png"]  # never val
    assert pool["ic15"] == []


def test_rendered_corpus_selection_and_report_share_no_line():
    from slimocr.eval.render import corpus_lines

    for lang in ("en", "zh"):
        rep, sel = set(corpus_lines(lang, "report")), set(corpus_lines(lang, "selection"))
        assert rep and sel and rep.isdisjoint(sel)


def test_bar_is_per_domain_and_one_sided():
    det = Domain("x", "det", "")
    parent = {"metrics": {"hmean": 0.50}, "boxes": [[_sq(0, 0)]]}
    ok = compare("det", det, {"metrics": {"hmean": 0.496}, "boxes": [[_sq(0, 0)]]}, parent)
    miss = compare("det", det, {"metrics": {"hmean": 0.494}, "boxes": [[_sq(0, 0)]]}, parent)
    assert ok["meets_bar"] and not miss["meets_bar"]
    assert miss["delta_hmean"] == pytest.approx(-0.6)
    rec = Domain("y", "rec", "")
    pm = {"metrics": {"acc": 0.80, "acc_alnum_ci": 0.90}, "texts": ["a"]}
    alnum_drop = {"metrics": {"acc": 0.80, "acc_alnum_ci": 0.885}, "texts": ["a"]}
    assert not compare("rec", rec, alnum_drop, pm)["meets_bar"]
    unl = Domain("z", "rec", "", labelled=False)
    texts = ["a"] * 97 + ["b"] * 3
    assert compare("rec", unl, {"texts": texts}, {"texts": ["a"] * 100})["meets_bar"]
    texts = ["a"] * 96 + ["b"] * 4
    assert not compare("rec", unl, {"texts": texts}, {"texts": ["a"] * 100})["meets_bar"]


def test_every_domain_has_a_report_loader():
    names = {(d.name, d.kind) for d in DOMAINS}
    assert ("td500", "det") in names and ("funsd", "rec") in names
    assert [d.labelled for d in DOMAINS if d.name == "td500" and d.kind == "rec"] == [False]


def test_rendered_set_is_deterministic_and_published_once(tmp_path: Path, monkeypatch):
    from slimocr.eval import render
    from slimocr.eval.render import FONTS, find_fonts, render_line, rendered_set

    lines = render.corpus_lines("en", "report")[:5]
    monkeypatch.setattr(render, "corpus_lines", lambda lang, split: lines)

    fonts = find_fonts(FONTS["en"])
    if not fonts:
        pytest.skip("no Latin font of the rendered domain is installed")
    a, b = (
        render_line("TOTAL QTY 2 $3.50", fonts[0], 7),
        render_line("TOTAL QTY 2 $3.50", fonts[0], 7),
    )
    assert a.dtype == np.uint8 and a.ndim == 3 and np.array_equal(a, b)
    s1 = rendered_set("en", "report", tmp_path)
    s2 = rendered_set("en", "report", tmp_path)
    assert s1.folder == s2.folder and s1.n == 5
    assert len((s1.folder / "gt.txt").read_text(encoding="utf-8").splitlines()) == 5
    assert [p.name for p in tmp_path.iterdir()] == [s1.folder.name]  # no leftover temp folder


def test_unlabelled_rec_bar_is_character_agreement_not_whole_strings():
    unl = Domain("z", "rec", "", labelled=False)
    parent = {"texts": ["abcdefghijklmnopqrst"] * 10}
    # every line differs by one character of 20: no whole string agrees, 95% of characters do
    one_off = {"texts": ["abcdefghijklmnopqrsX"] * 10}
    r = compare("rec", unl, one_off, parent)
    assert r["agreement"] == 0.0 and r["char_agreement"] == pytest.approx(0.95)
    assert not r["meets_bar"]
    # one character in 2 lines of 20: 99.5% of characters agree
    few = {"texts": ["abcdefghijklmnopqrsX"] * 2 + ["abcdefghijklmnopqrst"] * 8}
    r = compare("rec", unl, few, parent)
    assert r["agreement"] == pytest.approx(0.8) and r["meets_bar"]
