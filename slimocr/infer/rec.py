"""Text-line recognition with a CRNN + CTC model in ONNX Runtime (PaddleOCR's recognizer)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import cv2
import numpy as np

from slimocr.charset import charset_from_json
from slimocr.errors import LabelError, ModelFileError
from slimocr.infer.results import RecResult
from slimocr.infer.session import OnnxSession, check_model_kind
from slimocr.inputs import MAX_BATCH_RATIO, MAX_CROP_RATIO, check_int
from slimocr.postprocess.ctc import ctc_greedy_decode


def charset_from_metadata(session: OnnxSession) -> list[str]:
    """The charset stored in a model's ``charset`` metadata entry (a JSON list).

    Raises:
        ModelFileError: the entry is absent or not a JSON list of strings.
    """
    text = session.metadata.get("charset")
    if text is None:
        raise ModelFileError(
            f"{session.path}: model has no 'charset' metadata; pass the charset explicitly "
            "(e.g. charset=load_charset('ppocr_keys_v1.txt'))"
        )
    try:
        return charset_from_json(text)
    except (LabelError, ValueError) as exc:
        raise ModelFileError(f"{session.path}: invalid 'charset' metadata ({exc})") from None


MAX_REC_BATCH = 1024
"""The most crops a recognizer call batches together."""
MAX_REC_HEIGHT = 256
"""The largest recognizer input height accepted (PP-OCR recognizers use 32 or 48)."""


def _static_dim(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def resize_norm_img(img: np.ndarray, image_height: int, batch_width: int) -> tuple[np.ndarray, int]:
    """Resize a crop to ``image_height`` keeping its aspect ratio, normalize, pad right with 0.

    The width is ``ceil(image_height * w / h)``, capped at ``batch_width``; pixels become
    ``(x / 255 - 0.5) / 0.5`` (channel order kept: BGR, as PaddleOCR feeds it).

    Returns:
        ``(tensor, resized_width)``: a 3×image_height×batch_width float32 array and the width
        of the image part.
    """
    h, w = img.shape[:2]
    wanted = math.ceil(image_height * (w / float(h)))
    resized_w = batch_width if wanted > batch_width else int(wanted)
    resized = cv2.resize(img, (resized_w, image_height)).astype(np.float32)
    resized = resized.transpose(2, 0, 1) / 255
    resized -= 0.5
    resized /= 0.5
    out = np.zeros((3, image_height, batch_width), dtype=np.float32)
    out[:, :, :resized_w] = resized
    return out, resized_w


class TextRecognizer:
    """Read the text of cropped line images with a CTC recognizer ONNX model.

    Args:
        model: path of the ONNX file, or an open :class:`OnnxSession`.
        charset: the characters after the blank; None reads the model's ``charset`` metadata.
        threads: onnxruntime intra-op threads (None: onnxruntime's default).
        batch_size: crops per model call.
        image_height: input height of the model.
        image_width: base input width; a batch is at least
            ``int(image_height * image_width / image_height)`` wide, wider when a crop in it is
            longer. A model with a fixed input width always gets that width.

    Attributes:
        charset: the characters decoded for classes 1..C-1.
        last_elapsed_ms: timings of the last call: ``rec_pre``, ``rec_infer``, ``rec_post``.

    Raises:
        ModelFileError: the model is missing/invalid, has no charset metadata while none is
            given, or its number of classes does not match the charset.
    """

    def __init__(
        self,
        model: str | Path | OnnxSession,
        charset: list[str] | None = None,
        threads: int | None = None,
        batch_size: int = 6,
        image_height: int = 32,
        image_width: int = 320,
    ) -> None:
        check_int("batch_size", batch_size, 1, MAX_REC_BATCH)
        check_int("image_height", image_height, 8, MAX_REC_HEIGHT)
        check_int("image_width", image_width, 1, MAX_REC_HEIGHT * int(MAX_CROP_RATIO))
        self.session = model if isinstance(model, OnnxSession) else OnnxSession(model, threads)
        check_model_kind(self.session, "rec")
        self.charset: list[str] = (
            list(charset) if charset is not None else charset_from_metadata(self.session)
        )
        self.batch_size = batch_size
        self.image_height = image_height
        self.image_width = image_width
        shape = self.session.input_shape
        model_h = _static_dim(shape[2]) if len(shape) == 4 else None
        if model_h is not None and model_h != image_height:
            raise ModelFileError(
                f"{self.session.path}: model input height is {model_h}, not {image_height}"
            )
        self.fixed_width = _static_dim(shape[3]) if len(shape) == 4 else None
        out_shape = self.session.output_shape
        n_classes = _static_dim(out_shape[-1]) if out_shape else None
        if n_classes is not None:
            self._check_classes(n_classes)
        self.last_elapsed_ms: dict[str, float] = {}

    def _check_classes(self, n_classes: int) -> None:
        if n_classes != len(self.charset) + 1:
            raise ModelFileError(
                f"{self.session.path}: model outputs {n_classes} classes but the charset has "
                f"{len(self.charset)} characters (+1 blank); wrong charset for this model"
            )

    def __call__(self, crops: list[np.ndarray], with_chars: bool = False) -> list[RecResult]:
        """Recognise crops (H×W×3 uint8 BGR); results come back in the input order.

        With ``with_chars``, each result also holds its characters' centres in the crop
        (:attr:`RecResult.chars`, from the CTC frames: :func:`slimocr.infer.words.char_positions`).

        Crops are sorted by aspect ratio and batched ``batch_size`` at a time; each batch is
        as wide as ``int(image_height * max_wh_ratio)`` where ``max_wh_ratio`` is the largest
        of ``image_width / image_height`` and the batch's width/height ratios. A ratio is
        capped at :data:`~slimocr.inputs.MAX_CROP_RATIO` (a longer crop is squeezed to it), so
        no batch is wider than ``image_height * MAX_CROP_RATIO`` pixels however thin a crop; a
        batch of wide crops holds fewer than ``batch_size`` when their padded widths would add
        up to more than :data:`~slimocr.inputs.MAX_BATCH_RATIO` times the height (never with
        the default 6 crops a batch).
        """
        pre = infer = post = 0.0
        results: list[RecResult | None] = [None] * len(crops)
        ratios = np.array([min(c.shape[1] / float(c.shape[0]), MAX_CROP_RATIO) for c in crops])
        for idx in self._batches(np.argsort(ratios), ratios):
            t0 = time.perf_counter()
            width = self._width(float(ratios[idx[-1]]))
            packed = [resize_norm_img(crops[i], self.image_height, width) for i in idx]
            batch = np.stack([tensor for tensor, _ in packed])
            resized_widths = [w for _, w in packed]
            del packed  # the per-crop tensors: only the batch stays alive during the run
            t1 = time.perf_counter()
            probs = self.session.run(batch)
            t2 = time.perf_counter()
            if probs.ndim != 3 or probs.shape[0] != len(idx):
                raise ModelFileError(
                    f"{self.session.path}: gave shape {probs.shape} for {len(idx)} crops; a "
                    "text recognizer gives N×T×classes"
                )
            self._check_classes(probs.shape[2])
            for i, (text, score) in zip(idx, ctc_greedy_decode(probs, self.charset), strict=True):
                results[int(i)] = RecResult(text=text, score=score)
            if with_chars:
                self._add_chars(probs, idx, batch.shape[3], resized_widths, crops, results)
            t3 = time.perf_counter()
            pre, infer, post = pre + t1 - t0, infer + t2 - t1, post + t3 - t2
        self.last_elapsed_ms = {
            "rec_pre": pre * 1000.0,
            "rec_infer": infer * 1000.0,
            "rec_post": post * 1000.0,
        }
        return [r if r is not None else RecResult("", 0.0) for r in results]

    def _width(self, max_ratio: float) -> int:
        """The input width of a batch whose widest crop has ``max_ratio``."""
        max_wh_ratio = max(self.image_width / self.image_height, max_ratio)
        return self.fixed_width or int(self.image_height * max_wh_ratio)

    def _batches(self, order: np.ndarray, ratios: np.ndarray) -> list[np.ndarray]:
        """Split crops sorted by ratio into batches of at most ``batch_size``, each at most
        ``MAX_BATCH_RATIO * image_height`` columns in all."""
        limit = MAX_BATCH_RATIO * self.image_height
        batches, start = [], 0
        while start < len(order):
            end = min(start + self.batch_size, len(order))
            while end - start > 1 and (end - start) * self._width(ratios[order[end - 1]]) > limit:
                end -= 1
            batches.append(order[start:end])
            start = end
        return batches

    def _add_chars(
        self,
        probs: np.ndarray,
        idx: np.ndarray,
        width: int,
        resized_widths: list[int],
        crops: list[np.ndarray],
        results: list[RecResult | None],
    ) -> None:
        from slimocr.infer.words import char_positions

        best = probs.argmax(axis=2)
        for row, i, resized_w in zip(best, idx, resized_widths, strict=True):
            result = results[int(i)]
            if result is not None:
                crop_w = crops[int(i)].shape[1]
                result.chars = char_positions(row, self.charset, width, resized_w, crop_w)
