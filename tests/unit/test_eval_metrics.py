"""Detection and recognition metrics on tiny hand-computed cases, plus the eval runners."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from slimocr.errors import ImageReadError
from slimocr.eval.det_metrics import DetEvaluator, evaluate_image, polygon_iou, to_polygon
from slimocr.eval.readers import DetSample, RecSample
from slimocr.eval.rec_metrics import (
    RecMetrics,
    alnum_lower,
    levenshtein,
    normalized_edit_distance,
)
from slimocr.eval.runner import run_det_eval, run_rec_eval


def rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


# ---------------------------------------------------------------- detection


def test_two_squares_iou_exact():
    # 2x2 squares shifted by 1: intersection 2, union 6.
    assert polygon_iou(rect(0, 0, 2, 2), rect(1, 0, 3, 2)) == pytest.approx(1 / 3)
    assert polygon_iou(rect(0, 0, 2, 2), rect(0, 0, 2, 2)) == pytest.approx(1.0)
    assert polygon_iou(rect(0, 0, 1, 1), rect(5, 5, 6, 6)) == 0.0


@pytest.mark.parametrize(
    ("det", "matched"),
    [
        (rect(0, 0, 10, 6), 1),  # IoU 60/100 = 0.6 -> match
        (rect(0, 0, 10, 4), 0),  # IoU 0.4 -> no match
        (rect(0, 0, 10, 5), 0),  # IoU exactly 0.5 -> no match (strictly greater needed)
    ],
)
def test_iou_threshold(det, matched):
    m = evaluate_image([rect(0, 0, 10, 10)], [False], [det])
    assert (m.n_gt_care, m.n_det_care, m.n_matched) == (1, 1, matched)


def test_det_inside_dont_care_is_ignored():
    # det area 60, 48 of it inside the ### box -> 0.8 > 0.5: do not care, not a false positive.
    gts = [rect(0, 0, 10, 10), rect(50, 50, 60, 60)]
    m = evaluate_image(gts, [True, False], [rect(2, 2, 12, 8)])
    assert (m.n_gt_care, m.n_det_care, m.n_matched) == (1, 0, 0)
    assert m.det_dontcare == [0]
    # Only 40% inside the ### box: a cared detection and a false positive.
    m = evaluate_image(gts, [True, False], [rect(6, 0, 16, 10)])
    assert (m.n_gt_care, m.n_det_care, m.n_matched) == (1, 1, 0)


def test_dont_care_gt_never_matches():
    m = evaluate_image([rect(0, 0, 10, 10)], [True], [rect(0, 0, 10, 10)])
    assert (m.n_gt_care, m.n_det_care, m.n_matched) == (0, 0, 0)


def test_one_to_one_matching():
    # Two detections on one GT: 1 TP + 1 FP.
    m = evaluate_image([rect(0, 0, 10, 10)], [False], [rect(0, 0, 10, 10), rect(0, 0, 10, 9)])
    assert (m.n_gt_care, m.n_det_care, m.n_matched) == (1, 2, 1)
    assert m.pairs == [(0, 0)]
    # Greedy in GT order: gt0 takes det0 (its first det over 0.5), gt1 gets det1.
    m = evaluate_image(
        [rect(0, 0, 10, 10), rect(0, 0, 10, 9)],
        [False, False],
        [rect(0, 0, 10, 9.5), rect(0, 0, 10, 9)],
    )
    assert m.pairs == [(0, 0), (1, 1)]


def test_global_aggregation_two_images():
    ev = DetEvaluator()
    # Image 1: one cared GT + one ###; a match and a false positive.
    ev.add(
        [rect(0, 0, 10, 10), rect(100, 100, 110, 110)],
        [False, True],
        [rect(0, 0, 10, 10), rect(30, 30, 40, 40)],
    )
    # Image 2: three cared GT, one matched detection.
    ev.add(
        [rect(0, 0, 10, 10), rect(20, 0, 30, 10), rect(40, 0, 50, 10)],
        [False] * 3,
        np.stack([rect(20, 0, 30, 10)]),
    )
    r = ev.result()
    assert (r.n_gt, r.n_det, r.n_matched) == (4, 3, 2)
    assert r.precision == pytest.approx(2 / 3)
    assert r.recall == pytest.approx(1 / 2)
    assert r.hmean == pytest.approx(4 / 7)  # 2 * (2/3) * (1/2) / (2/3 + 1/2)
    assert r.to_dict()["hmean"] == pytest.approx(4 / 7)


def test_empty_cases():
    assert DetEvaluator().result().hmean == 0.0
    m = evaluate_image([], [], [rect(0, 0, 1, 1)])
    assert (m.n_gt_care, m.n_det_care, m.n_matched) == (0, 1, 0)
    m = evaluate_image([rect(0, 0, 1, 1)], [False], np.zeros((0, 4, 2)))
    assert (m.n_gt_care, m.n_det_care, m.n_matched) == (1, 0, 0)
    with pytest.raises(ValueError):
        evaluate_image([rect(0, 0, 1, 1)], [], [])


def test_invalid_and_degenerate_polygons():
    bowtie = np.array([[0, 0], [2, 2], [2, 0], [0, 2]], dtype=np.float64)
    assert to_polygon(bowtie).area == pytest.approx(2.0)  # two triangles of area 1
    assert polygon_iou(bowtie, bowtie) == pytest.approx(1.0)
    assert to_polygon([[0, 0], [1, 1]]).area == 0.0
    assert to_polygon([[0, 0], [1, math.nan], [1, 1]]).area == 0.0
    # A zero-area detection is a false positive, not a crash.
    m = evaluate_image([rect(0, 0, 10, 10)], [False], [np.array([[0, 0], [5, 5], [10, 10]])])
    assert (m.n_det_care, m.n_matched) == (1, 0)


def test_polygon_with_many_points():
    octagon = np.array([[3, 0], [7, 0], [10, 3], [10, 7], [7, 10], [3, 10], [0, 7], [0, 3]], float)
    m = evaluate_image([octagon], [False], [rect(0, 0, 10, 10)])
    assert m.n_matched == 1  # IoU = 82 / 100


# ---------------------------------------------------------------- recognition


def test_levenshtein():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert levenshtein("abc", "") == 3
    assert levenshtein("", "") == 0
    assert levenshtein("flaw", "lawn") == 2
    assert normalized_edit_distance("kitten", "sitting") == pytest.approx(3 / 7)
    assert normalized_edit_distance("", "") == 0.0


def test_rec_exact_after_space_removal():
    m = RecMetrics()
    assert m.add("ab c", "abc") is True
    r = m.result()
    assert (r["acc"], r["acc_alnum_ci"], r["norm_edit_dis"], r["n"]) == (1.0, 1.0, 1.0, 1)


def test_rec_case_insensitive_alnum():
    assert alnum_lower("Hello!") == "hello"
    m = RecMetrics()
    assert m.add("Hello!", "hello") is False
    r = m.result()
    assert r["acc"] == 0.0
    assert r["acc_alnum_ci"] == 1.0
    assert r["norm_edit_dis"] == pytest.approx(1 - 2 / 6)  # H->h and the "!": 2 edits over 6


def test_rec_ned_mean():
    m = RecMetrics()
    m.update(["kitten", "abc"], ["sitting", "abc"])
    r = m.result()
    assert r["norm_edit_dis"] == pytest.approx(1 - (3 / 7 + 0) / 2)
    assert r["acc"] == 0.5
    assert r["n"] == 2
    with pytest.raises(ValueError):
        m.update(["a"], [])
    m.reset()
    assert m.result() == {"acc": 0.0, "acc_alnum_ci": 0.0, "norm_edit_dis": 0.0, "n": 0}


# ---------------------------------------------------------------- runners


def test_run_det_eval(tmp_path):
    img = tmp_path / "img_1.png"
    cv2.imwrite(str(img), np.zeros((40, 60, 3), np.uint8))
    gt = [rect(0, 0, 10, 10), rect(20, 0, 30, 10)]
    samples = [
        DetSample(img, gt, ["a", "b"], [False, False]),
        DetSample(tmp_path / "missing.png", [rect(0, 0, 5, 5)], ["c"], [False]),
    ]
    seen = []

    def detect(image):
        seen.append(image.shape)
        return np.stack([rect(0, 0, 10, 10), rect(40, 0, 50, 10)]), np.array([0.9, 0.5])

    out = tmp_path / "sub" / "det.json"
    report = run_det_eval(samples, detect, out=out, progress=False)
    assert seen == [(40, 60, 3)]
    assert report["metrics"]["n_matched"] == 1
    assert report["metrics"]["n_gt"] == 3  # the unreadable image's GT still counts
    assert report["metrics"]["n_det"] == 2
    assert report["metrics"]["precision"] == pytest.approx(0.5)
    assert report["metrics"]["recall"] == pytest.approx(1 / 3)
    assert len(report["errors"]) == 1 and "missing.png" in report["errors"][0]["image"]
    assert report["timing"]["n_images_timed"] == 1
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert saved["per_image"][0]["scores"] == [0.9, 0.5]
    assert saved["per_image"][0]["n_matched"] == 1
    assert saved["per_image"][1]["boxes"] == []


def test_run_rec_eval(tmp_path):
    paths = []
    for i in range(5):
        p = tmp_path / f"word_{i}.png"
        cv2.imwrite(str(p), np.full((8, 8 + i, 3), 255, np.uint8))
        paths.append(p)
    samples = [RecSample(p, t) for p, t in zip(paths, ["a", "B", "c d", "x", "y"], strict=True)]
    samples.append(RecSample(tmp_path / "nope.png", "z"))
    preds = {8: "a", 9: "b", 10: "cd", 11: "x", 12: "q"}
    calls = []

    def recognize(crops):
        calls.append(len(crops))
        for c in crops:
            if c.shape[1] == 12:
                raise ImageReadError("too odd")
        return [(preds[c.shape[1]], 0.5) for c in crops]

    out = tmp_path / "rec.json"
    report = run_rec_eval(samples, recognize, out=out, batch=2, progress=False)
    assert calls == [2, 2, 1]
    m = report["metrics"]
    assert m["n"] == 6
    assert m["acc"] == pytest.approx(3 / 6)  # a, cd, x
    assert m["acc_alnum_ci"] == pytest.approx(4 / 6)  # plus b/B
    assert {e["image"].rsplit("/", 1)[-1] for e in report["errors"]} == {"word_4.png", "nope.png"}
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert [s["pred"] for s in saved["per_sample"]] == ["a", "b", "cd", "x", "", ""]
    assert saved["per_sample"][2]["correct"] is True
    with pytest.raises(ValueError):
        run_rec_eval(samples, recognize, batch=0, progress=False)
