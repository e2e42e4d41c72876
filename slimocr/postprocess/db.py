"""Post-processing of a DB (Differentiable Binarization) text detector's probability map.

The steps, and their numeric details, follow PaddleOCR's inference path (``DBPostProcess`` in
``quad`` mode followed by ``TextDetector.filter_tag_det_res``) so that the same map gives the same
boxes:

1. binarize ``prob > thresh`` (optionally dilated with a 2×2 kernel);
2. find the outer and inner contours (``RETR_LIST``, ``CHAIN_APPROX_SIMPLE``), at most
   ``max_candidates`` of them;
3. fit the minimum-area rectangle of each, drop it when its short side is below ``min_size``;
4. score it ("fast": mean probability inside the rectangle, rasterised in its bounding box;
   "slow": inside the contour polygon) and drop it below ``box_thresh``;
5. grow the rectangle by ``area * unclip_ratio / perimeter`` (pyclipper, round joins), fit the
   minimum-area rectangle again, drop it when its short side is below ``min_size + 2``;
6. scale the corners to the source image (rounded to whole pixels, clipped to ``[0, size]``);
7. order the corners clockwise from the top-left, clip them to ``[0, size - 1]`` and drop boxes
   whose first edge or second edge is at most 3 pixels long.

One deliberate difference: for a box at exactly 45°, PaddleOCR's current corner ordering ties
and returns a repeated or self-crossing corner list; :func:`order_points_clockwise` then falls
back to the ordering of earlier PaddleOCR versions. Every other box is ordered identically.

Only numpy, OpenCV, pyclipper and shapely are used.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pyclipper
from shapely.geometry import Polygon

from slimocr.errors import OptionError
from slimocr.inputs import check_bool, check_choice, check_float, check_int

_SCORE_MODES = ("fast", "slow")


def get_mini_box(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Minimum-area rectangle of a point set, corners ordered as PaddleOCR's ``get_mini_boxes``.

    The four corners are sorted by x (stable); of the two left ones the lower y is the top-left,
    of the two right ones the lower y is the top-right (on equal y the later one of each pair).

    Args:
        points: contour or polygon points, shape (K, 1, 2) or (K, 2), int32 or float32.

    Returns:
        ``(box, short_side)``: a (4, 2) float32 array ``[tl, tr, br, bl]`` and the rectangle's
        shorter side length.
    """
    rect = cv2.minAreaRect(points)
    corners = cv2.boxPoints(rect)
    by_x = sorted(range(4), key=lambda i: corners[i, 0])
    p0, p1, p2, p3 = (corners[i] for i in by_x)
    top_left, bottom_left = (p0, p1) if p1[1] > p0[1] else (p1, p0)
    top_right, bottom_right = (p2, p3) if p3[1] > p2[1] else (p3, p2)
    box = np.stack([top_left, top_right, bottom_right, bottom_left]).astype(np.float32)
    return box, float(min(rect[1]))


def box_score_fast(prob: np.ndarray, box: np.ndarray) -> float:
    """Mean of ``prob`` over the quadrilateral ``box`` (rasterised with truncated corners).

    Args:
        prob: (H, W) float32 probability map.
        box: (4, 2) float corners in map pixels.
    """
    h, w = prob.shape[:2]
    x0 = int(np.clip(np.floor(box[:, 0].min()), 0, w - 1))
    x1 = int(np.clip(np.ceil(box[:, 0].max()), 0, w - 1))
    y0 = int(np.clip(np.floor(box[:, 1].min()), 0, h - 1))
    y1 = int(np.clip(np.ceil(box[:, 1].max()), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    shifted = box.astype(np.float32) - np.array([x0, y0], dtype=np.float32)
    cv2.fillPoly(mask, [shifted.reshape(-1, 2).astype(np.int32)], 1)
    return float(cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def box_score_slow(prob: np.ndarray, contour: np.ndarray) -> float:
    """Mean of ``prob`` over the contour polygon itself (slower, tighter than the fast score)."""
    h, w = prob.shape[:2]
    pts = contour.reshape(-1, 2).astype(np.int32)
    x0 = int(np.clip(pts[:, 0].min(), 0, w - 1))
    x1 = int(np.clip(pts[:, 0].max(), 0, w - 1))
    y0 = int(np.clip(pts[:, 1].min(), 0, h - 1))
    y1 = int(np.clip(pts[:, 1].max(), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    shifted = pts - np.array([x0, y0], dtype=np.int32)
    cv2.fillPoly(mask, [shifted.reshape(-1, 2)], 1)
    return float(cv2.mean(prob[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def unclip(box: np.ndarray, unclip_ratio: float) -> list[np.ndarray]:
    """Grow a polygon outwards by ``area * unclip_ratio / perimeter`` (DB's inverse shrink).

    pyclipper works on integers: float corners are truncated, as in PaddleOCR.

    Returns:
        The offset polygons as (K, 2) int arrays (normally exactly one).
    """
    poly = Polygon(box)
    if poly.length == 0:
        return []
    distance = poly.area * unclip_ratio / poly.length
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(box, pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    return [np.asarray(path, dtype=np.int64) for path in offset.Execute(distance)]


def _order_by_x_then_y(pts: np.ndarray) -> np.ndarray:
    """Earlier PaddleOCR ordering: the 2 leftmost points by y give tl/bl, the 2 others tr/br."""
    by_x = pts[np.argsort(pts[:, 0], kind="stable")]
    left = by_x[:2][np.argsort(by_x[:2, 1], kind="stable")]
    right = by_x[2:][np.argsort(by_x[2:, 1], kind="stable")]
    return np.stack([left[0], right[0], right[1], left[1]]).astype(np.float32)


def _is_proper_cycle(quad: np.ndarray, pts: np.ndarray) -> bool:
    """True when ``quad`` uses each input corner once and does not cross itself."""
    if sorted(map(tuple, quad.tolist())) != sorted(map(tuple, pts.tolist())):
        return False
    edges = np.roll(quad, -1, axis=0) - quad
    following = np.roll(edges, -1, axis=0)
    turns = edges[:, 0] * following[:, 1] - edges[:, 1] * following[:, 0]
    return bool((turns >= 0).all() or (turns <= 0).all())


def order_points_clockwise(pts: np.ndarray) -> np.ndarray:
    """Order 4 corners as [top-left, top-right, bottom-right, bottom-left].

    Top-left has the smallest x + y, bottom-right the largest; of the two others, top-right has
    the smaller y - x (PaddleOCR's current ``order_points_clockwise``). For a box at exactly 45°
    those sums and differences tie and that rule repeats a corner or crosses itself; then the
    corners are ordered as earlier PaddleOCR versions did (two leftmost points by y give
    top-left / bottom-left, the two others top-right / bottom-right), which is always a proper
    clockwise cycle for a rectangle.
    """
    pts = np.asarray(pts, dtype=np.float32).reshape(4, 2)
    sums = pts.sum(axis=1)
    i_tl, i_br = int(np.argmin(sums)), int(np.argmax(sums))
    rest = np.delete(pts, (i_tl, i_br), axis=0)
    diffs = np.diff(rest, axis=1).reshape(-1)
    out = np.empty((4, 2), dtype=np.float32)
    out[0] = pts[i_tl]
    out[2] = pts[i_br]
    out[1] = rest[int(np.argmin(diffs))]
    out[3] = rest[int(np.argmax(diffs))]
    if not _is_proper_cycle(out, pts):
        return _order_by_x_then_y(pts)
    return out


def filter_boxes(
    boxes: np.ndarray, scores: np.ndarray, img_h: int, img_w: int
) -> tuple[np.ndarray, np.ndarray]:
    """PaddleOCR's ``filter_tag_det_res``: order, clip to the image, drop tiny boxes.

    Args:
        boxes: (N, 4, 2) corners in image pixels.
        scores: (N,) scores, filtered alongside.
        img_h: image height.
        img_w: image width.

    Returns:
        ``(boxes, scores)``: (M, 4, 2) float32 and (M,) float32.
    """
    kept_boxes: list[np.ndarray] = []
    kept_scores: list[float] = []
    for box, score in zip(boxes, scores, strict=True):
        quad = order_points_clockwise(box)
        quad[:, 0] = np.trunc(np.clip(quad[:, 0], 0, img_w - 1))
        quad[:, 1] = np.trunc(np.clip(quad[:, 1], 0, img_h - 1))
        width = int(np.linalg.norm(quad[0] - quad[1]))
        height = int(np.linalg.norm(quad[0] - quad[3]))
        if width <= 3 or height <= 3:
            continue
        kept_boxes.append(quad)
        kept_scores.append(float(score))
    if not kept_boxes:
        return np.zeros((0, 4, 2), dtype=np.float32), np.zeros((0,), dtype=np.float32)
    return np.stack(kept_boxes).astype(np.float32), np.asarray(kept_scores, dtype=np.float32)


class DBPostProcess:
    """Turn a DB probability map into text quadrilaterals in source-image pixels.

    Args:
        thresh: binarization threshold of the probability map.
        box_thresh: minimum box score to keep a box.
        max_candidates: at most this many contours are examined (in OpenCV's order).
        unclip_ratio: how far the shrunk text kernels are grown back.
        use_dilation: dilate the binary map with a 2×2 kernel first.
        score_mode: ``"fast"`` (mean inside the rectangle) or ``"slow"`` (inside the contour).
        min_size: minimum short side (map pixels) before unclipping; ``min_size + 2`` after.
    """

    def __init__(
        self,
        thresh: float = 0.3,
        box_thresh: float = 0.6,
        max_candidates: int = 1000,
        unclip_ratio: float = 1.5,
        use_dilation: bool = False,
        score_mode: str = "fast",
        min_size: int = 3,
    ) -> None:
        check_choice("score_mode", score_mode, _SCORE_MODES)
        for name, value in (("thresh", thresh), ("box_thresh", box_thresh)):
            check_float(name, value, 0.0, 1.0)
        check_float("unclip_ratio", unclip_ratio)
        if not unclip_ratio > 0.0 or math.isinf(unclip_ratio):
            raise OptionError(f"unclip_ratio must be a positive number, got {unclip_ratio}")
        check_int("max_candidates", max_candidates)
        check_int("min_size", min_size)
        check_bool("use_dilation", use_dilation)
        if max_candidates < 0 or min_size < 0:
            raise OptionError(
                f"max_candidates and min_size must be >= 0, got {max_candidates}, {min_size}"
            )
        self.thresh = thresh
        self.box_thresh = box_thresh
        self.max_candidates = max_candidates
        self.unclip_ratio = unclip_ratio
        self.use_dilation = use_dilation
        self.score_mode = score_mode
        self.min_size = min_size

    def binarize(self, prob: np.ndarray) -> np.ndarray:
        """The binary text mask (uint8 0/1) of a probability map."""
        mask: np.ndarray = (prob > self.thresh).astype(np.uint8)
        if self.use_dilation:
            mask = cv2.dilate(mask, np.ones((2, 2), dtype=np.uint8))
        return mask

    def boxes_from_bitmap(
        self, prob: np.ndarray, mask: np.ndarray, src_h: int, src_w: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (scaled to ``src_w`` × ``src_h``, before ordering/filtering) and their scores."""
        height, width = mask.shape
        contours, _ = cv2.findContours(mask * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        boxes: list[np.ndarray] = []
        scores: list[float] = []
        for contour in contours[: self.max_candidates]:
            quad, short_side = get_mini_box(contour)
            if short_side < self.min_size:
                continue
            if self.score_mode == "fast":
                score = box_score_fast(prob, quad)
            else:
                score = box_score_slow(prob, contour)
            if score < self.box_thresh:
                continue
            grown = unclip(quad, self.unclip_ratio)
            if len(grown) != 1:
                continue
            quad, short_side = get_mini_box(grown[0].reshape(-1, 1, 2).astype(np.int32))
            if short_side < self.min_size + 2:
                continue
            # Map → source scale: float32 division by the map size, then float64 product,
            # rounded half-to-even (as PaddleOCR computes it with NumPy 2).
            xs = (quad[:, 0] / np.float32(width)).astype(np.float64) * float(src_w)
            ys = (quad[:, 1] / np.float32(height)).astype(np.float64) * float(src_h)
            scaled = np.stack(
                [np.clip(np.round(xs), 0, src_w), np.clip(np.round(ys), 0, src_h)], axis=1
            )
            boxes.append(scaled.astype(np.int32))
            scores.append(score)
        if not boxes:
            return np.zeros((0, 4, 2), dtype=np.int32), np.zeros((0,), dtype=np.float32)
        return np.stack(boxes), np.asarray(scores, dtype=np.float32)

    def __call__(self, prob: np.ndarray, src_h: int, src_w: int) -> tuple[np.ndarray, np.ndarray]:
        """Find the text boxes of one probability map.

        Args:
            prob: (H, W) probability map (a leading 1×1 or 1 is squeezed away).
            src_h: height of the source image the boxes are scaled to.
            src_w: width of the source image.

        Returns:
            ``(boxes, scores)``: (N, 4, 2) float32 corners ``[tl, tr, br, bl]`` in source pixels
            (whole numbers, clipped to the image) and (N,) float32 box scores.
        """
        prob = np.asarray(prob, dtype=np.float32)
        while prob.ndim > 2 and prob.shape[0] == 1:
            prob = prob[0]
        if prob.ndim != 2:
            raise ValueError(f"expected an (H, W) probability map, got shape {prob.shape}")
        mask = self.binarize(prob)
        boxes, scores = self.boxes_from_bitmap(prob, mask, int(src_h), int(src_w))
        return filter_boxes(boxes, scores, int(src_h), int(src_w))
