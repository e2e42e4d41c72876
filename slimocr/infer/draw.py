"""Drawing OCR results on images (OpenCV only, no fonts)."""

from __future__ import annotations

import sys

import cv2
import numpy as np

from slimocr.infer.image import ImageSource, load_image
from slimocr.infer.results import DetResult, OCRResult

_BOX_COLOR = (0, 200, 0)
_TEXT_COLOR = (0, 0, 255)


def bgr_canvas(image: ImageSource) -> np.ndarray:
    """A writable H×W×3 uint8 BGR copy of an image as :class:`~slimocr.infer.pipeline.OCR`
    reads it: an array in any form it takes (gray, BGRA, gray + alpha, uint16, bool; of any
    size), or a path or encoded bytes.

    Raises:
        ImageReadError: the image cannot be read (a float array: its range is not known).
    """
    if isinstance(image, np.ndarray):
        img = load_image(image, max_pixels=sys.maxsize, min_side=1)
        return img.copy() if np.may_share_memory(img, image) else img
    return load_image(image, min_side=1)


def draw_result(img_bgr: ImageSource, result: OCRResult | DetResult) -> np.ndarray:
    """Draw each box as a closed polygon with its index (0-based, reading order) at its corner.

    The recognised text itself is not drawn (that would need a font covering every script);
    the index refers to ``result.lines[i]`` (or ``result.boxes[i]``).

    Args:
        img_bgr: the image read, as the OCR took it (:func:`bgr_canvas`; not modified).
        result: an :class:`OCRResult` or a :class:`DetResult`.

    Returns:
        A drawn H×W×3 uint8 BGR copy of the image.

    Raises:
        ImageReadError: the image cannot be read.
    """
    canvas = bgr_canvas(img_bgr)
    if isinstance(result, OCRResult):
        boxes = [np.asarray(line.box, dtype=np.float32) for line in result.lines]
    else:
        boxes = list(np.asarray(result.boxes, dtype=np.float32))
    scale = max(0.4, min(canvas.shape[:2]) / 1000.0)
    thickness = max(1, round(scale * 2))
    for i, box in enumerate(boxes):
        pts = np.round(box).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [pts], isClosed=True, color=_BOX_COLOR, thickness=thickness)
        x, y = int(pts[0, 0, 0]), int(pts[0, 0, 1])
        cv2.putText(
            canvas,
            str(i),
            (x, max(y - 3, int(12 * scale))),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            _TEXT_COLOR,
            thickness,
            cv2.LINE_AA,
        )
    return canvas
