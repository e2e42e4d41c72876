"""Training targets of the DB (differentiable binarization) text detector.

Two pairs of H×W float32 maps are made from the ground-truth polygons of one image, with the
semantics of PaddleOCR's ``MakeShrinkMap`` and ``MakeBorderMap``:

* :func:`make_shrink_map` — the *probability* target: 1 inside each text polygon shrunk by
  ``D``, 0 elsewhere; its mask is 0 over the polygons that must not be learned from
  (``###``/ignored, too small, or vanishing when shrunk) and 1 everywhere else.
* :func:`make_threshold_map` — the *threshold* target: high (``thresh_max``) on the polygon
  edges, falling linearly to ``thresh_min`` at distance ``D`` from them; its mask is 1 inside the
  polygons dilated by ``D``.

The offset of both is the one of the DB paper, for a polygon of area ``A`` and perimeter ``L``
and shrink ratio ``r``::

    D = A * (1 - r**2) / L

(a 100×40 rectangle with ``r = 0.4``: ``D = 4000 * 0.84 / 280 = 12`` pixels). Polygons are
offset with pyclipper (round joins), and coordinates are pixel indices: the point ``(x, y)`` is
the centre of pixel ``[y, x]``, the convention of ``cv2.fillPoly``.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import pyclipper

__all__ = ["shrink_offset", "make_shrink_map", "make_threshold_map", "edge_distances"]


def _area_and_perimeter(poly: np.ndarray) -> tuple[float, float]:
    """Absolute shoelace area and perimeter of a closed polygon given as (K, 2) points."""
    nxt = np.roll(poly, -1, axis=0)
    area = 0.5 * abs(float(np.sum(poly[:, 0] * nxt[:, 1] - nxt[:, 0] * poly[:, 1])))
    perimeter = float(np.sum(np.hypot(*(nxt - poly).T)))
    return area, perimeter


def shrink_offset(poly: np.ndarray, shrink_ratio: float = 0.4) -> float:
    """The DB offset ``D = A (1 - r²) / L`` of a polygon (``A`` area, ``L`` perimeter).

    Args:
        poly: (K, 2) points.
        shrink_ratio: ``r``; the shrunk polygon has roughly ``r²`` of the original area.

    Returns:
        ``D`` in pixels, or 0.0 for a polygon with no perimeter.
    """
    area, perimeter = _area_and_perimeter(np.asarray(poly, dtype=np.float64))
    return area * (1.0 - shrink_ratio**2) / perimeter if perimeter > 0 else 0.0


def _offset(poly: np.ndarray, delta: float) -> list[np.ndarray]:
    """Offset a closed polygon by ``delta`` pixels (negative shrinks) with round joins."""
    pco = pyclipper.PyclipperOffset()
    pco.AddPath([tuple(p) for p in poly.tolist()], pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    return [np.asarray(path, dtype=np.float64).reshape(-1, 2) for path in pco.Execute(delta)]


def _fill(canvas: np.ndarray, poly: np.ndarray, value: float) -> None:
    # int32 truncation, as PaddleOCR (``polygon.astype(np.int32)``).
    cv2.fillPoly(canvas, [np.asarray(poly).astype(np.int32).reshape(-1, 1, 2)], value)


def _check(polys: Sequence[np.ndarray], ignore: Sequence[bool], shrink_ratio: float) -> None:
    if len(polys) != len(ignore):
        raise ValueError(f"{len(polys)} polygons but {len(ignore)} ignore flags")
    if not 0.0 < shrink_ratio < 1.0:
        raise ValueError(f"shrink_ratio must be in (0, 1), got {shrink_ratio}")


def make_shrink_map(
    polys: Sequence[np.ndarray],
    ignore: Sequence[bool],
    h: int,
    w: int,
    shrink_ratio: float = 0.4,
    min_text_size: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
    """The probability target (shrunk text kernels) and its mask.

    For each polygon, clipped first to the canvas (``0 <= x <= w-1``, ``0 <= y <= h-1``):

    * it is *masked out* (``mask = 0`` over the polygon, nothing drawn in the map) when it is
      flagged ignore, when ``|area| < 1``, when ``min(height, width) < min_text_size`` (of its
      bounding box) or when shrinking makes it vanish;
    * otherwise it is shrunk by ``D = A (1 - r²) / L`` and the shrunk polygon is filled with 1.
      When shrinking splits it into several pieces (a thin waist), the shrink is retried with
      the ratios ``r, 2r, 3r, ... < 1`` (smaller offsets); if it still splits, all pieces are
      drawn — PaddleOCR's rule.

    Args:
        polys: one (K, 2) array of (x, y) points per text instance, image pixel coordinates.
        ignore: one flag per polygon; ``True`` for "do not care" (``###``) instances.
        h: canvas height.
        w: canvas width.
        shrink_ratio: ``r`` in (0, 1).
        min_text_size: polygons whose bounding box is thinner than this are masked out.

    Returns:
        ``(shrink_map, shrink_mask)``, both H×W float32 with values 0 or 1.
    """
    _check(polys, ignore, shrink_ratio)
    gt = np.zeros((h, w), dtype=np.float32)
    mask = np.ones((h, w), dtype=np.float32)
    ratios = np.arange(shrink_ratio, 1.0, shrink_ratio)
    for poly, ign in zip(polys, ignore, strict=True):
        poly = np.asarray(poly, dtype=np.float64).reshape(-1, 2).copy()
        poly[:, 0] = np.clip(poly[:, 0], 0, w - 1)
        poly[:, 1] = np.clip(poly[:, 1], 0, h - 1)
        area, perimeter = _area_and_perimeter(poly)
        extent = poly.max(axis=0) - poly.min(axis=0)
        if ign or area < 1.0 or float(extent.min()) < min_text_size:
            _fill(mask, poly, 0.0)
            continue
        pieces: list[np.ndarray] = []
        for ratio in ratios:
            pieces = _offset(poly, -area * (1.0 - ratio**2) / perimeter)
            if len(pieces) == 1:
                break
        if not pieces:
            _fill(mask, poly, 0.0)
            continue
        for piece in pieces:
            _fill(gt, piece, 1.0)
    return gt, mask


def edge_distances(xs: np.ndarray, ys: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Distance of each grid point to each edge of a closed polygon, PaddleOCR's rule.

    For a point ``P`` and an edge ``AB`` with ``a = |PA|²``, ``b = |PB|²``, ``c = |AB|²``:

    * if ``a + b <= c`` (the angle APB is >= 90°, i.e. ``P`` lies in the disc whose diameter is
      ``AB``), the distance is the one to the line ``AB``: ``|cross(A - P, B - P)| / |AB|``;
    * otherwise it is the distance to the nearer endpoint, ``sqrt(min(a, b))``.

    This is the law-of-cosines formula of PaddleOCR's ``MakeBorderMap._distance``, written
    without its division by zero. It equals the exact point-to-segment distance near the edge
    (all that matters once divided by ``D`` and clipped to 1), and can exceed it further away.
    A zero-length edge gives the distance to its point.

    Args:
        xs: (H', W') x coordinates of the grid points.
        ys: (H', W') y coordinates.
        poly: (K, 2) polygon points; edge ``k`` joins point ``k`` to point ``(k + 1) % K``.

    Returns:
        (K, H', W') float64 distances.
    """
    a_pts = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
    b_pts = np.roll(a_pts, -1, axis=0)
    ax, ay = a_pts[:, 0, None, None], a_pts[:, 1, None, None]
    bx, by = b_pts[:, 0, None, None], b_pts[:, 1, None, None]
    pax, pay = ax - xs, ay - ys  # P -> A
    pbx, pby = bx - xs, by - ys  # P -> B
    a = pax * pax + pay * pay
    b = pbx * pbx + pby * pby
    c = (bx - ax) ** 2 + (by - ay) ** 2
    endpoint = np.sqrt(np.minimum(a, b))
    with np.errstate(divide="ignore", invalid="ignore"):
        line = np.abs(pax * pby - pay * pbx) / np.sqrt(c)
    use_line = (a + b <= c) & (c > 0)
    return np.where(use_line, line, endpoint)


def make_threshold_map(
    polys: Sequence[np.ndarray],
    ignore: Sequence[bool],
    h: int,
    w: int,
    shrink_ratio: float = 0.4,
    thresh_min: float = 0.3,
    thresh_max: float = 0.7,
) -> tuple[np.ndarray, np.ndarray]:
    """The threshold (border) target and its mask.

    For each polygon not flagged ignore and of positive area, with ``D = A (1 - r²) / L``:

    * the polygon dilated by ``D`` (pyclipper, round joins) is filled with 1 in the mask;
    * over the dilated polygon's bounding box, clipped to the canvas, each pixel gets
      ``v = 1 - min(1, d / D)`` with ``d`` the distance to the nearest polygon edge
      (:func:`edge_distances`, inside and outside alike), and the canvas keeps the maximum of
      ``v`` over the polygons.

    Finally ``threshold_map = thresh_min + (thresh_max - thresh_min) * v``: ``thresh_max`` on
    the edges, ``thresh_min`` at ``D`` or more from any edge (and wherever there is no text).
    Unlike :func:`make_shrink_map`, polygons are neither clipped to the canvas nor checked for
    size, as in PaddleOCR (it runs before the shrink map).

    Args:
        polys: one (K, 2) array of (x, y) points per text instance.
        ignore: one flag per polygon; ignored polygons are skipped.
        h: canvas height.
        w: canvas width.
        shrink_ratio: ``r`` in (0, 1).
        thresh_min: value far from the edges.
        thresh_max: value on the edges.

    Returns:
        ``(threshold_map, threshold_mask)``, both H×W float32.
    """
    _check(polys, ignore, shrink_ratio)
    canvas = np.zeros((h, w), dtype=np.float32)
    mask = np.zeros((h, w), dtype=np.float32)
    for poly, ign in zip(polys, ignore, strict=True):
        if ign:
            continue
        poly = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
        area, perimeter = _area_and_perimeter(poly)
        if area <= 0 or perimeter <= 0:
            continue
        dist = area * (1.0 - shrink_ratio**2) / perimeter
        dilated = _offset(poly, dist)
        if not dilated:
            continue
        padded = dilated[0]
        _fill(mask, padded, 1.0)
        x0, y0 = np.maximum(padded.min(axis=0).astype(int), 0)
        x1 = min(int(padded[:, 0].max()), w - 1)
        y1 = min(int(padded[:, 1].max()), h - 1)
        if x0 > x1 or y0 > y1:  # dilated box entirely off the canvas
            continue
        ys, xs = np.mgrid[y0 : y1 + 1, x0 : x1 + 1].astype(np.float64)
        nearest = edge_distances(xs, ys, poly).min(axis=0)
        value = 1.0 - np.clip(nearest / dist, 0.0, 1.0)
        region = canvas[y0 : y1 + 1, x0 : x1 + 1]
        np.fmax(region, value.astype(np.float32), out=region)
    return canvas * np.float32(thresh_max - thresh_min) + np.float32(thresh_min), mask
