"""Geometric and photometric augmentation of detection samples (image + text polygons).

Every function takes an H×W×3 uint8 image and the polygons of its text instances (one (K, 2)
float array of (x, y) pixel coordinates each) and returns the transformed image with polygons
moved by exactly the same mapping. Randomness comes only from the ``np.random.Generator``
passed in, so a sample is reproduced by re-seeding the generator.

Coordinate convention: the point ``(x, y)`` is the centre of pixel ``[y, x]``. Affine warps map
points with the same 2×3 matrix as the pixels; resizes map ``x -> (x + 0.5) * sx - 0.5``, the
pixel-centre rule of ``cv2.resize``.

:class:`DetAugment` reproduces PaddleOCR's detection training pipeline (``IaaAugment`` with
rotation ±10° and scale 0.5–3, then ``EastRandomCropData``), with the horizontal flip off by
default (mirrored glyphs are not text) and colour jitter off by default (PP-OCR does not use it).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

__all__ = [
    "Polys",
    "random_scale",
    "random_rotate",
    "random_flip",
    "resize_keep_ratio",
    "random_crop_keep_text",
    "color_jitter",
    "DetAugment",
]

Polys = list[np.ndarray]


def _as_polys(polys: Sequence[np.ndarray]) -> Polys:
    return [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in polys]


def _affine_polys(polys: Sequence[np.ndarray], m: np.ndarray) -> Polys:
    return [p @ m[:, :2].T + m[:, 2] for p in _as_polys(polys)]


def _resize_polys(polys: Sequence[np.ndarray], sx: float, sy: float) -> Polys:
    scale = np.array([sx, sy])
    return [(p + 0.5) * scale - 0.5 for p in _as_polys(polys)]


def random_scale(
    img: np.ndarray,
    polys: Sequence[np.ndarray],
    rng: np.random.Generator,
    scales: tuple[float, float] = (0.5, 3.0),
) -> tuple[np.ndarray, Polys]:
    """Resize by one factor ``s ~ U(scales)`` for both sides (imgaug ``Resize((a, b))``).

    Args:
        img: H×W×C image.
        polys: text polygons.
        rng: the random generator.
        scales: ``(low, high)`` range of the factor.

    Returns:
        The resized image (``round(H s)`` × ``round(W s)``, at least 1×1) and the polygons.
    """
    s = float(rng.uniform(*scales))
    h, w = img.shape[:2]
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    out = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out, _resize_polys(polys, nw / w, nh / h)


def random_rotate(
    img: np.ndarray,
    polys: Sequence[np.ndarray],
    rng: np.random.Generator,
    max_deg: float = 10.0,
) -> tuple[np.ndarray, Polys]:
    """Rotate about the image centre by ``θ ~ U(-max_deg, max_deg)`` degrees.

    The canvas keeps its size and is filled with black, as imgaug's ``Affine(rotate=...)``:
    corners are cut off and polygons may leave the image (the crop and the targets handle that).

    Args:
        img: H×W×C image.
        polys: text polygons.
        rng: the random generator.
        max_deg: largest absolute angle.

    Returns:
        The rotated image (same size) and the polygons.
    """
    angle = float(rng.uniform(-max_deg, max_deg))
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle, 1.0)
    out = cv2.warpAffine(
        img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return out, _affine_polys(polys, m)


def random_flip(
    img: np.ndarray,
    polys: Sequence[np.ndarray],
    rng: np.random.Generator,
    p: float = 0.5,
) -> tuple[np.ndarray, Polys]:
    """Mirror left-right with probability ``p`` (``x -> W - 1 - x``).

    PaddleOCR flips half of its detection samples; :class:`DetAugment` does not by default,
    since mirrored glyphs are not text a detector will meet. A draw is taken from ``rng`` even
    when ``p`` is 0 or 1, so that the draws that follow do not depend on ``p``.

    Args:
        img: H×W×C image.
        polys: text polygons.
        rng: the random generator.
        p: probability of flipping.

    Returns:
        The (maybe) flipped image and the polygons.
    """
    polys = _as_polys(polys)
    if float(rng.random()) >= p:
        return img, polys
    w = img.shape[1]
    out = np.ascontiguousarray(img[:, ::-1])
    return out, [np.column_stack([w - 1 - q[:, 0], q[:, 1]]) for q in polys]


def resize_keep_ratio(
    img: np.ndarray,
    polys: Sequence[np.ndarray],
    size: tuple[int, int] = (640, 640),
) -> tuple[np.ndarray, Polys]:
    """Fit the image into ``size`` keeping its aspect ratio, padding right and bottom with 0.

    Args:
        img: H×W×C image.
        polys: text polygons.
        size: output ``(width, height)``.

    Returns:
        The ``height × width × C`` image and the polygons in its coordinates.
    """
    h, w = img.shape[:2]
    out_w, out_h = size
    scale = min(out_w / w, out_h / h)
    nw, nh = max(1, int(w * scale)), max(1, int(h * scale))
    out = np.zeros((out_h, out_w, *img.shape[2:]), dtype=img.dtype)
    out[:nh, :nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR).reshape(
        nh, nw, *img.shape[2:]
    )
    return out, _resize_polys(polys, nw / w, nh / h)


def _free_cuts(extent: int, spans: list[tuple[float, float]]) -> np.ndarray:
    """Cut positions ``0..extent`` outside every ``(lo, hi]`` span.

    A cut ``c`` is the boundary just before pixel ``c``: as a left edge it keeps a box only if
    ``c <= lo``, as a right edge (pixel ``c`` excluded) only if ``c > hi``. Spans are first
    clipped to the pixels ``0..extent-1``: a box already cut by the image border (after a
    rotation) may still be cropped along that border.
    """
    free = np.ones(extent + 1, dtype=bool)
    for lo, hi in spans:
        lo, hi = max(lo, 0.0), min(hi, extent - 1.0)
        a = max(int(np.floor(lo)) + 1, 0)
        b = min(int(np.floor(hi)) + 1, extent + 1)
        if a < b:
            free[a:b] = False
    return np.flatnonzero(free)


def _pick_pair(cuts: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
    """Two cut positions: from two random runs of consecutive free cuts, or from the one run."""
    runs = np.split(cuts, np.flatnonzero(np.diff(cuts) > 1) + 1)
    if len(runs) > 1:
        i, j = rng.integers(len(runs), size=2)
        v = (int(rng.choice(runs[i])), int(rng.choice(runs[j])))
    else:
        a, b = (int(x) for x in rng.choice(cuts, size=2))
        v = (a, b)
    return min(v), max(v)


def random_crop_keep_text(
    img: np.ndarray,
    polys: Sequence[np.ndarray],
    ignore: Sequence[bool],
    rng: np.random.Generator,
    size: tuple[int, int] = (640, 640),
    min_crop_side_ratio: float = 0.1,
    max_tries: int = 50,
) -> tuple[np.ndarray, Polys, list[bool]]:
    """Crop a random window that cuts no text box, then fit it into ``size`` (PaddleOCR's
    ``EastRandomCropData`` with ``keep_ratio=True``).

    The window's left and right edges are drawn among the columns that no cared-for polygon's
    bounding box straddles (likewise rows for top and bottom), so every cared-for box is wholly
    inside or wholly outside the window. When the free positions form several runs, two runs are
    drawn first and an edge in each, which favours windows spanning text lines. A window is
    accepted when both sides are at least ``min_crop_side_ratio`` of the image and it holds at
    least one cared-for polygon; after ``max_tries`` refusals (or with no cared-for text at all)
    the whole image is used. The window is then resized by ``min(W_out / w, H_out / h)`` and
    padded with 0 on the right and bottom.

    Polygons wholly outside the window are dropped; ignored ones may be cut by the window and are
    kept with their flag. (PaddleOCR's ``split_regions`` loses the last run of free positions;
    here every run counts.)

    Args:
        img: H×W×C image.
        polys: text polygons.
        ignore: one "do not care" flag per polygon.
        rng: the random generator.
        size: output ``(width, height)``.
        min_crop_side_ratio: smallest window side, as a fraction of the image side.
        max_tries: windows drawn before falling back to the whole image.

    Returns:
        ``(image, polys, ignore)``: the ``height × width`` image and the kept polygons and flags
        in its coordinates.
    """
    polys = _as_polys(polys)
    if len(polys) != len(ignore):
        raise ValueError(f"{len(polys)} polygons but {len(ignore)} ignore flags")
    h, w = img.shape[:2]
    care = [p for p, ign in zip(polys, ignore, strict=True) if not ign]
    x0, y0, x1, y1 = 0, 0, w, h
    if care:
        xcuts = _free_cuts(w, [(p[:, 0].min(), p[:, 0].max()) for p in care])
        ycuts = _free_cuts(h, [(p[:, 1].min(), p[:, 1].max()) for p in care])
        if len(xcuts) and len(ycuts):
            for _ in range(max_tries):
                cx0, cx1 = _pick_pair(xcuts, rng)
                cy0, cy1 = _pick_pair(ycuts, rng)
                if cx1 - cx0 < max(min_crop_side_ratio * w, 1):
                    continue
                if cy1 - cy0 < max(min_crop_side_ratio * h, 1):
                    continue
                if any(not _outside(p, cx0, cy0, cx1, cy1) for p in care):
                    x0, y0, x1, y1 = cx0, cy0, cx1, cy1
                    break
    kept = [
        (p - (x0, y0), ign)
        for p, ign in zip(polys, ignore, strict=True)
        if not _outside(p, x0, y0, x1, y1)
    ]
    out, moved = resize_keep_ratio(img[y0:y1, x0:x1], [p for p, _ in kept], size)
    return out, moved, [bool(ign) for _, ign in kept]


def _outside(poly: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> bool:
    """True when the polygon lies wholly outside the pixel window ``[x0, x1) × [y0, y1)``."""
    return bool(
        poly[:, 0].max() < x0
        or poly[:, 0].min() >= x1
        or poly[:, 1].max() < y0
        or poly[:, 1].min() >= y1
    )


def color_jitter(
    img: np.ndarray,
    rng: np.random.Generator,
    brightness: float = 0.3,
    contrast: float = 0.3,
    saturation: float = 0.3,
) -> np.ndarray:
    """Random brightness, contrast and saturation, in that order (torchvision's factors).

    With factors ``b, c, s`` drawn from ``U(1 - x, 1 + x)`` for each strength ``x``::

        img = img * b                                  # brightness
        img = (img - mean(gray(img))) * c + mean(...)  # contrast
        img = (img - gray(img)) * s + gray(img)        # saturation

    clipped to [0, 255]. Three draws are always taken, whatever the strengths.

    Args:
        img: H×W×3 uint8 BGR image.
        rng: the random generator.
        brightness: strength of the brightness change (0 = none).
        contrast: strength of the contrast change.
        saturation: strength of the saturation change.

    Returns:
        A new H×W×3 uint8 image.
    """
    b, c, s = (float(rng.uniform(1 - x, 1 + x)) for x in (brightness, contrast, saturation))
    out = img.astype(np.float32) * b
    weights = np.array([0.114, 0.587, 0.299], dtype=np.float32)  # B, G, R luma weights
    gray = np.clip(out, 0, 255) @ weights
    mean = float(gray.mean())
    out = (out - mean) * c + mean
    gray = (np.clip(out, 0, 255) @ weights)[..., None]
    out = (out - gray) * s + gray
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


class DetAugment:
    """The training augmentation of a detection sample: flip, rotate, scale, crop, colour.

    Steps, in order (PaddleOCR's ``IaaAugment`` then ``EastRandomCropData``):
    :func:`random_flip` (``flip_prob``, default 0), :func:`random_rotate`,
    :func:`random_scale`, :func:`random_crop_keep_text` to ``size × size``, then
    :func:`color_jitter` when ``jitter`` is on.

    Args:
        size: side of the square output.
        scales: range of the scale factor.
        max_deg: largest rotation angle in degrees.
        flip_prob: probability of a horizontal flip.
        min_crop_side_ratio: smallest crop side, as a fraction of the image side.
        max_tries: crop windows tried before taking the whole image.
        jitter: apply :func:`color_jitter`.
        jitter_strength: ``(brightness, contrast, saturation)`` strengths.
    """

    def __init__(
        self,
        size: int = 640,
        scales: tuple[float, float] = (0.5, 3.0),
        max_deg: float = 10.0,
        flip_prob: float = 0.0,
        min_crop_side_ratio: float = 0.1,
        max_tries: int = 50,
        jitter: bool = False,
        jitter_strength: tuple[float, float, float] = (0.3, 0.3, 0.3),
    ) -> None:
        self.size = size
        self.scales = scales
        self.max_deg = max_deg
        self.flip_prob = flip_prob
        self.min_crop_side_ratio = min_crop_side_ratio
        self.max_tries = max_tries
        self.jitter = jitter
        self.jitter_strength = jitter_strength

    def __call__(
        self,
        img: np.ndarray,
        polys: Sequence[np.ndarray],
        ignore: Sequence[bool],
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, Polys, list[bool]]:
        """Augment one sample.

        Args:
            img: H×W×3 uint8 BGR image.
            polys: text polygons.
            ignore: one "do not care" flag per polygon.
            rng: the random generator (the only source of randomness).

        Returns:
            ``(image, polys, ignore)`` with a ``size × size`` image.
        """
        img, polys = random_flip(img, polys, rng, self.flip_prob)
        if self.max_deg > 0:
            img, polys = random_rotate(img, polys, rng, self.max_deg)
        img, polys = random_scale(img, polys, rng, self.scales)
        img, polys, ignore = random_crop_keep_text(
            img,
            polys,
            ignore,
            rng,
            (self.size, self.size),
            self.min_crop_side_ratio,
            self.max_tries,
        )
        if self.jitter:
            img = color_jitter(img, rng, *self.jitter_strength)
        return img, polys, ignore
