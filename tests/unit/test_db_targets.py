"""DB training targets: shrink map/mask and threshold map/mask on hand-made polygons."""

from __future__ import annotations

import math

import numpy as np
import pytest

from slimocr.toolkit.data.db_targets import (
    edge_distances,
    make_shrink_map,
    make_threshold_map,
    shrink_offset,
)

# 100×40 rectangle at (50, 60) in a 200×200 canvas.
RECT = np.array([[50, 60], [150, 60], [150, 100], [50, 100]], dtype=np.float64)
H = W = 200


def test_shrink_offset_by_hand() -> None:
    area, perimeter, r = 100 * 40, 2 * (100 + 40), 0.4
    assert area * (1 - r**2) / perimeter == pytest.approx(12.0)
    assert shrink_offset(RECT, 0.4) == pytest.approx(12.0)


def test_shrink_map_is_rectangle_shrunk_by_12() -> None:
    gt, mask = make_shrink_map([RECT], [False], H, W)
    assert gt.dtype == np.float32 and mask.dtype == np.float32
    assert gt.shape == mask.shape == (H, W)
    # Shrunk rectangle: x in [62, 138], y in [72, 88] (inclusive pixels).
    ys, xs = np.nonzero(gt)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (62, 138, 72, 88)
    assert gt.sum() == (138 - 62 + 1) * (88 - 72 + 1)
    for y, x in [(72, 62), (88, 138), (80, 100), (72, 138)]:
        assert gt[y, x] == 1.0
    for y, x in [(71, 62), (72, 61), (89, 100), (80, 139), (60, 50), (80, 55)]:
        assert gt[y, x] == 0.0
    assert np.all(mask == 1.0)  # nothing ignored


def test_threshold_map_values_and_mask() -> None:
    tmap, tmask = make_threshold_map([RECT], [False], H, W)
    assert tmap.dtype == np.float32 and tmap.shape == (H, W)
    # On the polygon edge: thresh_max.
    for y, x in [(60, 100), (100, 75), (80, 50), (80, 150), (60, 50)]:
        assert tmap[y, x] == pytest.approx(0.7, abs=1e-6)
    # D = 12 away from every edge (inside or outside): thresh_min; halfway: the midpoint.
    assert tmap[48, 100] == pytest.approx(0.3, abs=1e-6)  # outside, at the dilated edge
    assert tmap[80, 100] == pytest.approx(0.3, abs=1e-6)  # inside, 20 px from the edges
    assert tmap[54, 100] == pytest.approx(0.5, abs=1e-6)  # 6 px = D/2 outside
    assert tmap[66, 100] == pytest.approx(0.5, abs=1e-6)  # 6 px inside
    assert tmap[5, 5] == pytest.approx(0.3)  # no text anywhere near
    # Mask = the rectangle dilated by 12 px with round corners.
    assert tmask[48, 100] == 1.0 and tmask[112, 100] == 1.0
    assert tmask[80, 38] == 1.0 and tmask[80, 162] == 1.0
    assert tmask[46, 100] == 0.0 and tmask[80, 36] == 0.0
    assert tmask[48, 38] == 0.0  # the corner is rounded
    assert tmask[80, 100] == 1.0
    dilated_area = 100 * 40 + 2 * 12 * (100 + 40) + math.pi * 12**2
    assert tmask.sum() == pytest.approx(dilated_area, rel=0.03)


def test_threshold_map_clipped_to_canvas() -> None:
    poly = RECT + np.array([-60.0, -70.0])  # sticks out on the left and top
    tmap, tmask = make_threshold_map([poly], [False], H, W)
    assert tmap[0, 40] == pytest.approx(0.3 + 0.4 * (1 - 10 / 12), abs=1e-5)  # 10 px outside
    assert tmap[30, 0] == pytest.approx(0.7, abs=1e-6)  # on the bottom edge y = 30
    off = RECT + np.array([500.0, 500.0])  # wholly off the canvas: nothing drawn, no error
    tmap, tmask = make_threshold_map([off], [False], H, W)
    assert np.all(tmap == np.float32(0.3)) and not tmask.any()


def _reference_distance(px: float, py: float, a: np.ndarray, b: np.ndarray) -> float:
    """Point-to-edge distance with the law of cosines, one point at a time."""
    d1 = (px - a[0]) ** 2 + (py - a[1]) ** 2
    d2 = (px - b[0]) ** 2 + (py - b[1]) ** 2
    c = float(np.sum((a - b) ** 2))
    if d1 == 0 or d2 == 0:
        return 0.0
    cos_apb = (d1 + d2 - c) / (2 * math.sqrt(d1 * d2))
    if cos_apb > 0:  # acute angle at P: nearer endpoint
        return math.sqrt(min(d1, d2))
    return math.sqrt(d1 * d2 * max(0.0, 1 - cos_apb**2) / c)


def test_edge_distance_matches_pointwise_rule() -> None:
    quad = np.array([[10, 12], [40, 8], [44, 30], [8, 26]], dtype=np.float64)
    ys, xs = np.mgrid[0:40, 0:50].astype(np.float64)
    got = edge_distances(xs, ys, quad)
    rng = np.random.default_rng(0)
    for y, x in rng.integers(0, 40, size=(200, 2)):
        for k in range(4):
            want = _reference_distance(x, y, quad[k], quad[(k + 1) % 4])
            assert got[k, y, x] == pytest.approx(want, abs=1e-6)
    # Beside a short edge the rule gives the endpoint distance, not the line's.
    seg = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 0.0]])
    far = edge_distances(np.array([[1.0]]), np.array([[5.0]]), seg)
    assert far[0, 0, 0] == pytest.approx(math.hypot(1, 5))


def test_threshold_value_follows_distance_formula() -> None:
    quad = np.array([[10, 12], [40, 8], [44, 30], [8, 26]], dtype=np.float64)
    d = shrink_offset(quad)
    tmap, tmask = make_threshold_map([quad], [False], 45, 50, thresh_min=0.0, thresh_max=1.0)
    ys, xs = np.mgrid[0:45, 0:50].astype(np.float64)
    want = 1 - np.clip(edge_distances(xs, ys, quad).min(axis=0) / d, 0, 1)
    assert np.abs(tmap - want).max() < 1e-5


def test_ignored_polygon_zeroes_shrink_mask() -> None:
    other = RECT + np.array([0.0, 80.0])
    gt, mask = make_shrink_map([RECT, other], [True, False], H, W)
    assert np.all(mask[60:101, 50:151] == 0.0)  # ignored: its whole polygon
    assert np.all(gt[60:101, 50:151] == 0.0)
    assert mask[30, 30] == 1.0 and mask[160, 100] == 1.0  # the other one is learned
    assert gt[160, 100] == 1.0
    tmap, tmask = make_threshold_map([RECT, other], [True, False], H, W)
    assert tmask[60, 100] == 0.0 and tmap[60, 100] == pytest.approx(0.3)
    assert tmask[140, 100] == 1.0


def test_too_small_polygon_is_masked() -> None:
    thin = np.array([[20, 20], [120, 20], [120, 26], [20, 26]], dtype=np.float64)  # 6 px high
    gt, mask = make_shrink_map([thin], [False], H, W)
    assert not gt.any()
    assert np.all(mask[20:27, 20:121] == 0.0)
    assert mask[30, 70] == 1.0 and mask[19, 70] == 1.0


def test_degenerate_and_vanishing_polygons_are_masked() -> None:
    line = np.array([[10, 10], [60, 10], [60, 10], [10, 10]], dtype=np.float64)  # area 0
    gt, mask = make_shrink_map([line], [False], H, W, min_text_size=0)
    assert not gt.any() and mask[10, 30] == 0.0
    tmap, tmask = make_threshold_map([line], [False], H, W)
    assert not tmask.any()


def test_shrink_map_clips_polygon_to_canvas() -> None:
    poly = np.array([[-50, 20], [100, 20], [100, 80], [-50, 80]], dtype=np.float64)
    gt, mask = make_shrink_map([poly], [False], H, W)
    ys, xs = np.nonzero(gt)
    # clipped to x in [0, 100]: 100×60, D = 6000·0.84/320 = 15.75; pyclipper rounds to 16
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (16, 84, 36, 64)


def test_mismatched_flags_raise() -> None:
    with pytest.raises(ValueError):
        make_shrink_map([RECT], [], H, W)
    with pytest.raises(ValueError):
        make_threshold_map([RECT], [False], H, W, shrink_ratio=1.0)
