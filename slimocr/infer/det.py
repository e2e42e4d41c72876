"""Text detection with a DB model in ONNX Runtime (PaddleOCR's ``TextDetector`` path)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from slimocr.errors import ModelFileError, OptionError
from slimocr.infer.results import DetResult
from slimocr.infer.session import OnnxSession, check_model_kind
from slimocr.inputs import check_choice, check_int
from slimocr.postprocess.db import DBPostProcess

DET_LIMIT_TYPES = ("max", "min", "resize_long")
MAX_INPUT_PIXELS = 8192 * 8192  # a larger detector input needs tens of GB of activations
# the longest side a detector input is scaled to: a "min" limit would otherwise blow a long
# text-line image (3000×24) up to 92000×736
MAX_SIDE_LIMIT = 4000
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(1, 1, 3)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 1, 3)
_SCALE = np.float32(1.0 / 255.0)
# _NORM_LUT[c][v] = (v/255 - mean[c]) / std[c], computed in float32 as the direct formula is
_NORM_LUT = [
    np.ascontiguousarray(
        ((np.arange(256, dtype=np.float32) * _SCALE - _MEAN[0, 0, c]) / _STD[0, 0, c]).reshape(
            256, 1
        )
    )
    for c in range(3)
]


def _round32(x: int) -> int:
    # Python's round() (half to even), as PaddleOCR's DetResizeForTest uses it.
    return max(int(round(x / 32) * 32), 32)


class DetPreprocess:
    """Resize (sides multiple of 32) and normalize an image for a DB detector.

    This is PaddleOCR's ``DetResizeForTest`` (resize type 0) + ``NormalizeImage`` +
    ``ToCHWImage``: the scale ratio comes from the limit, lowered where needed so that the
    longer side stays within ``max_side_limit`` (4000, as PaddleOCR 3 caps it; a larger
    ``limit_side_len`` raises the cap to itself), each scaled side
    is truncated to an int, then rounded to a multiple of 32 (at least 32). Images whose
    ``h + w < 64`` are first zero-padded at the bottom/right to at least 32×32, as PaddleOCR
    does. The BGR pixels are normalized as they are (``/255``, ImageNet mean/std), which is
    what the PP-OCR models expect.

    Args:
        limit_side_len: the side limit in pixels.
        limit_type: ``"max"`` (shrink so the longer side is at most the limit), ``"min"``
            (enlarge so the shorter side is at least the limit) or ``"resize_long"`` (scale the
            longer side to exactly the limit).
        max_side_limit: the cap on the resized longer side (RapidOCR's pipelines: 2000).
    """

    def __init__(
        self,
        limit_side_len: int = 960,
        limit_type: str = "max",
        max_side_limit: int = MAX_SIDE_LIMIT,
    ) -> None:
        check_choice("limit_type", limit_type, DET_LIMIT_TYPES)
        for name, value in (("limit_side_len", limit_side_len), ("max_side_limit", max_side_limit)):
            check_int(name, value)
            if value <= 0:
                raise OptionError(f"{name} must be positive, got {value}")
        self.limit_side_len = limit_side_len
        self.limit_type = limit_type
        self.max_side_limit = max_side_limit

    def target_size(self, h: int, w: int) -> tuple[int, int]:
        """The (height, width) an h×w image is resized to."""
        limit = float(self.limit_side_len)
        if self.limit_type == "max":
            ratio = limit / (h if h > w else w) if max(h, w) > limit else 1.0
        elif self.limit_type == "min":
            ratio = limit / (h if h < w else w) if min(h, w) < limit else 1.0
        else:
            ratio = limit / max(h, w)
        # a limit above the cap is the caller's own choice and wins
        cap = max(self.max_side_limit, self.limit_side_len)
        ratio = min(ratio, cap / max(h, w))
        return _round32(int(h * ratio)), _round32(int(w * ratio))

    def resize(self, img: np.ndarray) -> np.ndarray:
        """Pad tiny images, then resize to :meth:`target_size` (bilinear)."""
        h, w = img.shape[:2]
        if h + w < 64:
            padded = np.zeros((max(32, h), max(32, w), img.shape[2]), dtype=np.uint8)
            padded[:h, :w] = img
            img = padded
            h, w = img.shape[:2]
        new_h, new_w = self.target_size(h, w)
        if new_h * new_w > MAX_INPUT_PIXELS:
            raise OptionError(
                f"limit_side_len {self.limit_side_len} ({self.limit_type}) resizes a {w}x{h} "
                f"image to {new_w}x{new_h}, over {MAX_INPUT_PIXELS} pixels"
            )
        return cv2.resize(img, (new_w, new_h))

    @staticmethod
    def normalize(img: np.ndarray) -> np.ndarray:
        """uint8 H×W×3 → float32 1×3×H×W, ``(x/255 - mean) / std``.

        A uint8 image goes through a per-channel 256-entry table holding exactly those float32
        values (one lookup per pixel instead of four float passes and a transpose: about 10×
        faster at 544×960); other dtypes are computed directly.
        """
        if img.dtype != np.uint8:
            out = (img.astype(np.float32) * _SCALE - _MEAN) / _STD
            return np.ascontiguousarray(out.transpose(2, 0, 1)[None])
        h, w = img.shape[:2]
        out = np.empty((1, 3, h, w), dtype=np.float32)
        for c, plane in enumerate(cv2.split(img)):
            out[0, c] = cv2.LUT(plane, _NORM_LUT[c])
        return out

    def __call__(self, img_bgr: np.ndarray) -> np.ndarray:
        """Preprocess one H×W×3 uint8 BGR image into the detector's 1×3×H'×W' input."""
        return self.normalize(self.resize(img_bgr))


class TextDetector:
    """Find text boxes in an image with a DB detector ONNX model.

    Args:
        model: path of the ONNX file, or an already open :class:`OnnxSession`.
        threads: onnxruntime intra-op threads (None: onnxruntime's default).
        limit_side_len: see :class:`DetPreprocess`.
        limit_type: see :class:`DetPreprocess`.
        max_side_limit: see :class:`DetPreprocess`.
        rewrite_layout: see :class:`OnnxSession` (when ``model`` is a path).
        providers: see :class:`OnnxSession` (when ``model`` is a path).
        **db_kwargs: options of :class:`~slimocr.postprocess.db.DBPostProcess` (``thresh``,
            ``box_thresh``, ``max_candidates``, ``unclip_ratio``, ``use_dilation``,
            ``score_mode``, ``min_size``).

    Raises:
        ModelFileError: the model file is missing or invalid.
    """

    def __init__(
        self,
        model: str | Path | OnnxSession,
        threads: int | None = None,
        limit_side_len: int = 960,
        limit_type: str = "max",
        max_side_limit: int = MAX_SIDE_LIMIT,
        rewrite_layout: bool = True,
        providers: list[str] | None = None,
        **db_kwargs: Any,
    ) -> None:
        self.preprocess = DetPreprocess(limit_side_len, limit_type, max_side_limit)
        self.session = (
            model
            if isinstance(model, OnnxSession)
            else OnnxSession(model, threads, rewrite_layout=rewrite_layout, providers=providers)
        )
        check_model_kind(self.session, "det")
        self.postprocess = DBPostProcess(**db_kwargs)

    def probability_map(self, img_bgr: np.ndarray) -> np.ndarray:
        """The model's (H', W') text probability map for an image (for inspection)."""
        return self.session.run(self.preprocess(img_bgr))[0, 0]

    def __call__(self, img_bgr: np.ndarray) -> DetResult:
        """Detect the text boxes of one H×W×3 uint8 BGR image.

        Returns:
            A :class:`DetResult`: boxes in image pixels (``[tl, tr, br, bl]``), scores, and
            ``det_pre`` / ``det_infer`` / ``det_post`` timings in milliseconds.
        """
        if img_bgr.ndim != 3 or img_bgr.shape[2] != 3 or img_bgr.dtype != np.uint8:
            raise ValueError(
                f"expected an H×W×3 uint8 BGR image, got {img_bgr.dtype} {img_bgr.shape}"
            )
        # Boxes are scaled back to the original size even when a tiny image was padded
        # (PaddleOCR does the same).
        src_h, src_w = img_bgr.shape[:2]
        t0 = time.perf_counter()
        x = self.preprocess(img_bgr)
        t1 = time.perf_counter()
        out = self.session.run(x)
        t2 = time.perf_counter()
        out = np.asarray(out)
        if out.ndim != 4 or out.shape[:2] != (1, 1) or not np.issubdtype(out.dtype, np.floating):
            raise ModelFileError(
                f"{self.session.path}: gave {out.dtype} {out.shape} for a {x.shape} image; a "
                "text detector gives a float 1×1×H×W probability map"
            )
        prob = out[0, 0]
        boxes, scores = self.postprocess(prob, src_h, src_w)
        t3 = time.perf_counter()
        elapsed = {
            "det_pre": (t1 - t0) * 1000.0,
            "det_infer": (t2 - t1) * 1000.0,
            "det_post": (t3 - t2) * 1000.0,
        }
        return DetResult(boxes=boxes, scores=scores, elapsed_ms=elapsed)
