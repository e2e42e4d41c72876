"""A drawn result that shows the text: the image with its boxes on the left, and on the right
each line's text written into its box on white (PaddleOCR's ``draw_ocr_box_txt`` layout).

The text is drawn with PIL: a TrueType font given by path (one that covers the script read,
e.g. a CJK font for Chinese), else PIL's built-in scalable font, which covers Latin text only.

>>> panel = draw_with_text(img, ocr(img))              # doctest: +SKIP
>>> cv2.imwrite("page_ocr.png", panel)                  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from slimocr.errors import OptionError
from slimocr.infer.draw import draw_result
from slimocr.infer.image import ImageSource
from slimocr.infer.results import OCRResult


def _font(path: str | Path | None, size: int):  # noqa: ANN202
    from PIL import ImageFont

    if path is None:
        return ImageFont.load_default(size=size)
    try:
        return ImageFont.truetype(str(path), size=size)
    except OSError as exc:
        raise OptionError(f"{path}: cannot load the font ({exc})") from None


def draw_with_text(
    img_bgr: ImageSource, result: OCRResult, font: str | Path | None = None
) -> np.ndarray:
    """The boxes drawn on the image, side by side with a white panel holding each line's
    text in its box (H×2W×3 uint8 BGR).

    Args:
        img_bgr: the image read, as the OCR took it (an array in any form it takes, a path or
            bytes: :func:`~slimocr.infer.draw.bgr_canvas`; not modified).
        result: its OCR result.
        font: a TrueType/OpenType font file; None: PIL's built-in font (Latin only).

    Raises:
        OptionError: the font file cannot be loaded.
        ImageReadError: the image cannot be read.
    """
    from PIL import Image, ImageDraw

    left = draw_result(img_bgr, result)
    h, w = left.shape[:2]
    panel = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(panel)
    for line in result.lines:
        box = np.asarray(line.box, dtype=np.float64)
        draw.polygon([tuple(p) for p in box], outline=(0, 160, 0))
        height = max(8, int(min(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2]))))
        width = max(8.0, float(np.linalg.norm(box[0] - box[1])))
        size = max(6, int(height * 0.8))
        face = _font(font, size)
        if line.text and draw.textlength(line.text, font=face) > width:  # fit the box width
            size = max(6, int(size * width / draw.textlength(line.text, font=face)))
            face = _font(font, size)
        x, y = box[0]
        draw.text((x, y + (height - size) / 2), line.text, fill=(0, 0, 0), font=face)
    right = np.asarray(panel)[:, :, ::-1]
    return np.ascontiguousarray(np.concatenate([left, right], axis=1))
