"""Text detection metrics: the ICDAR 2015 Task 4.1 (incidental scene text) IoU protocol.

Per image, the protocol of the RRC's official script (and PaddleOCR's ``DetectionIoUEvaluator``):

1. A detection is "do not care" when its intersection with some do-not-care GT polygon covers
   more than ``ignore_thresh`` (0.5) of the detection's own area.
2. GT and detections are matched one to one, greedily: the pairs ``(gt, det)`` are visited in
   order (GT index outer, detection index inner); a pair matches when neither is matched yet,
   neither is do-not-care and their IoU is more than ``iou_thresh`` (0.5).

Over a set of images: precision = matched / cared detections, recall = matched / cared GT,
hmean = 2PR / (P + R), each 0 when its denominator is 0 (these are global sums, not means of
per-image values).

Invalid polygons (self-intersecting, e.g. a quad with two corners swapped) are repaired with
``shapely.make_valid`` and keep their polygonal parts, so a "bow tie" counts with the area of
its two triangles, close to what the official script's ``Polygon`` library does. They are never
dropped: PaddleOCR's evaluator skips invalid polygons, which silently removes them from the
counts. Polygons with fewer than 3 points or non-finite coordinates are empty (area 0): such a
detection matches nothing and is a false positive, such a GT box is a miss unless it is do not
care.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

PolyLike = np.ndarray | Sequence[Sequence[float]]


def to_polygon(points: PolyLike) -> BaseGeometry:
    """Turn ``(K, 2)`` points into a valid shapely (multi)polygon; empty when unusable.

    >>> to_polygon([[0, 0], [2, 0], [2, 2], [0, 2]]).area
    4.0
    >>> round(to_polygon([[0, 0], [2, 2], [2, 0], [0, 2]]).area, 6)  # a bow tie: 2 triangles
    2.0
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3 or not np.isfinite(pts).all():
        return Polygon()
    poly = Polygon(pts)
    if poly.is_valid:
        return poly
    fixed = shapely.make_valid(poly)
    if isinstance(fixed, Polygon | MultiPolygon):
        return fixed
    parts = [g for g in getattr(fixed, "geoms", []) if isinstance(g, Polygon | MultiPolygon)]
    return shapely.union_all(parts) if parts else Polygon()


def polygon_iou(a: PolyLike, b: PolyLike) -> float:
    """Intersection over union of two polygons (0 when the union is empty).

    >>> round(polygon_iou([[0, 0], [2, 0], [2, 2], [0, 2]], [[1, 0], [3, 0], [3, 2], [1, 2]]), 6)
    0.333333
    """
    pa, pb = to_polygon(a), to_polygon(b)
    union = pa.union(pb).area
    return float(pa.intersection(pb).area / union) if union > 0 else 0.0


@dataclass
class ImageMatch:
    """The outcome of matching one image.

    Attributes:
        n_gt_care: GT boxes that are not do-not-care.
        n_det_care: detections that are not do-not-care.
        n_matched: matched pairs (true positives).
        pairs: the matched ``(gt_index, det_index)`` pairs.
        det_dontcare: indices of the do-not-care detections.
    """

    n_gt_care: int
    n_det_care: int
    n_matched: int
    pairs: list[tuple[int, int]] = field(default_factory=list)
    det_dontcare: list[int] = field(default_factory=list)


def _bounds(polys: list[BaseGeometry]) -> np.ndarray:
    b = shapely.bounds(np.array(polys, dtype=object)).reshape(-1, 4)
    return np.nan_to_num(b, nan=0.0)


def evaluate_image(
    gt_polys: Sequence[PolyLike],
    gt_ignore: Sequence[bool],
    det_polys: Sequence[PolyLike] | np.ndarray,
    iou_thresh: float = 0.5,
    ignore_thresh: float = 0.5,
) -> ImageMatch:
    """Match the detections of one image against its GT (see the module doc for the rules).

    Args:
        gt_polys: GT polygons, each ``(K, 2)``.
        gt_ignore: ``True`` for do-not-care GT boxes (``###``), one per GT polygon.
        det_polys: detected polygons, each ``(K, 2)``, e.g. an ``(N, 4, 2)`` array.
        iou_thresh: a pair matches when its IoU is strictly more than this.
        ignore_thresh: a detection is do-not-care when more than this share of its area lies
            inside one do-not-care GT polygon.

    Returns:
        The :class:`ImageMatch`.

    >>> sq = [[0, 0], [10, 0], [10, 10], [0, 10]]
    >>> evaluate_image([sq], [False], [sq, sq])
    ImageMatch(n_gt_care=1, n_det_care=2, n_matched=1, pairs=[(0, 0)], det_dontcare=[])
    """
    if len(gt_polys) != len(gt_ignore):
        raise ValueError(f"{len(gt_polys)} GT polygons but {len(gt_ignore)} ignore flags")
    gts = [to_polygon(p) for p in gt_polys]
    dets = [to_polygon(p) for p in det_polys]
    ignore = np.asarray(gt_ignore, dtype=bool).reshape(-1)
    n_gt, n_det = len(gts), len(dets)
    if n_gt == 0 or n_det == 0:
        return ImageMatch(int(n_gt - ignore.sum()), n_det, 0)

    gt_arr, det_arr = np.array(gts, dtype=object), np.array(dets, dtype=object)
    gb, db = _bounds(gts), _bounds(dets)
    # Only pairs whose bounding boxes overlap can intersect.
    overlap = (
        (gb[:, None, 0] <= db[None, :, 2])
        & (db[None, :, 0] <= gb[:, None, 2])
        & (gb[:, None, 1] <= db[None, :, 3])
        & (db[None, :, 1] <= gb[:, None, 3])
    )
    gi, di = np.nonzero(overlap)
    inter = np.zeros((n_gt, n_det))
    union = np.zeros((n_gt, n_det))
    if len(gi):
        inter[gi, di] = shapely.area(shapely.intersection(gt_arr[gi], det_arr[di]))
        union[gi, di] = shapely.area(shapely.union(gt_arr[gi], det_arr[di]))

    det_area = shapely.area(det_arr).astype(np.float64)
    det_dontcare = np.zeros(n_det, dtype=bool)
    for ig in np.nonzero(ignore)[0]:
        share = np.divide(inter[ig], det_area, out=np.zeros(n_det), where=det_area > 0)
        det_dontcare |= share > ignore_thresh

    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    gt_used = ignore.copy()  # do-not-care GT never match
    det_used = det_dontcare.copy()
    pairs: list[tuple[int, int]] = []
    for g in range(n_gt):
        if gt_used[g]:
            continue
        for d in np.nonzero(iou[g] > iou_thresh)[0]:
            if not det_used[d]:
                gt_used[g] = det_used[d] = True
                pairs.append((g, int(d)))
                break
    return ImageMatch(
        n_gt_care=int(n_gt - ignore.sum()),
        n_det_care=int(n_det - det_dontcare.sum()),
        n_matched=len(pairs),
        pairs=pairs,
        det_dontcare=[int(i) for i in np.nonzero(det_dontcare)[0]],
    )


@dataclass
class DetMetrics:
    """Global detection metrics.

    Attributes:
        precision: matched / n_det.
        recall: matched / n_gt.
        hmean: harmonic mean of precision and recall (0 when both are 0).
        n_gt: cared GT boxes over all images.
        n_det: cared detections over all images.
        n_matched: matched pairs over all images.
    """

    precision: float
    recall: float
    hmean: float
    n_gt: int
    n_det: int
    n_matched: int

    def to_dict(self) -> dict[str, float | int]:
        """The metrics as a JSON-friendly dict."""
        return asdict(self)


class DetEvaluator:
    """Accumulates :func:`evaluate_image` over images and computes the global metrics.

    >>> ev = DetEvaluator()
    >>> sq = [[0, 0], [10, 0], [10, 10], [0, 10]]
    >>> _ = ev.add([sq], [False], [sq])
    >>> _ = ev.add([sq], [False], [])
    >>> ev.result().recall
    0.5
    """

    def __init__(self, iou_thresh: float = 0.5, ignore_thresh: float = 0.5) -> None:
        self.iou_thresh = iou_thresh
        self.ignore_thresh = ignore_thresh
        self.reset()

    def reset(self) -> None:
        """Forget all images added so far."""
        self.n_gt = self.n_det = self.n_matched = self.n_images = 0

    def add(
        self,
        gt_polys: Sequence[PolyLike],
        gt_ignore: Sequence[bool],
        det_polys: Sequence[PolyLike] | np.ndarray,
    ) -> ImageMatch:
        """Evaluate one image, add it to the totals and return its :class:`ImageMatch`."""
        m = evaluate_image(gt_polys, gt_ignore, det_polys, self.iou_thresh, self.ignore_thresh)
        self.n_gt += m.n_gt_care
        self.n_det += m.n_det_care
        self.n_matched += m.n_matched
        self.n_images += 1
        return m

    def result(self) -> DetMetrics:
        """Global precision, recall and hmean over the images added so far."""
        p = self.n_matched / self.n_det if self.n_det else 0.0
        r = self.n_matched / self.n_gt if self.n_gt else 0.0
        h = 2 * p * r / (p + r) if p + r > 0 else 0.0
        return DetMetrics(p, r, h, self.n_gt, self.n_det, self.n_matched)
