"""OCR as a Ray Data stage (the ``ray`` extra): a callable class whose actors each build their
ONNX Runtime sessions once, for :meth:`ray.data.Dataset.map_batches`.

>>> import ray                                                     # doctest: +SKIP
>>> from slimocr.runtime.ray_data import RayOCR                    # doctest: +SKIP
>>> ds = ray.data.read_images("scans/", mode="RGB", include_paths=True)  # doctest: +SKIP
>>> ds = ds.map_batches(RayOCR, fn_constructor_kwargs=RayOCR.checked_kwargs(threads=1),
...                     concurrency=4, num_cpus=1, batch_size=8)  # doctest: +SKIP
>>> ds.write_json("ocr_out/")                                      # doctest: +SKIP

Ray builds the class in each actor, where a bad option kills the actor with Ray's traceback:
:meth:`RayOCR.checked_kwargs` refuses it in the driver first, as one :class:`SlimOCRError`
naming the option (a plain ``fn_constructor_kwargs`` dict works too, unchecked).

Input columns: ``image`` (arrays as :func:`ray.data.read_images` gives them, RGB) or ``bytes``
(encoded files, as :func:`ray.data.read_binary_files` gives them; decoded by SlimOCR, EXIF
orientation and all), and ``path`` when the reader was asked for it. Output columns, one row
per image: ``source``, ``text`` (lines joined by newlines), ``n_lines``, ``result`` (the
``slimocr ocr --json`` object as a JSON string) and ``error`` (empty, or the one-line input
error of that image, naming its path: a bad image does not stop the dataset). A row is one image:
a PDF file's row is an error saying so (``slimocr ocr`` reads the pages of PDF files).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from slimocr.errors import ImageReadError, SlimOCRError
from slimocr.inputs import named_after


def _rgb_to_bgr(img: np.ndarray) -> np.ndarray:
    """Ray's readers give RGB (or RGBA, or gray); the pipeline takes OpenCV's order."""
    if img.ndim == 3 and img.shape[2] == 3:
        return np.ascontiguousarray(img[..., ::-1])
    if img.ndim == 3 and img.shape[2] == 4:
        return np.ascontiguousarray(img[..., [2, 1, 0, 3]])
    return img


def _image(value: object, column: str) -> np.ndarray | bytes:
    """One row's image as the pipeline takes it: an ``image`` cell as a BGR array, a ``bytes``
    cell as bytes.

    Raises:
        ImageReadError: the cell is not an image (None, text, a ragged list) or is a PDF file.
    """
    if column == "image":
        try:
            return _rgb_to_bgr(np.asarray(value))
        except (TypeError, ValueError) as exc:
            raise ImageReadError(f"<array>: not an image array ({exc})") from None
    if not isinstance(value, (bytes, bytearray, memoryview, np.ndarray)):
        raise ImageReadError(f"<bytes>: expected the bytes of a file, got {type(value).__name__}")
    data = bytes(value)
    if data.startswith(b"%PDF-"):
        raise ImageReadError(
            "<bytes>: a PDF file, not an image: a row is one image (slimocr ocr reads PDF pages)"
        )
    return data


class RayOCR:
    """A Ray Data batch function with one :class:`~slimocr.infer.pipeline.OCR` per actor.

    Args:
        pipeline: a pipeline name (:meth:`OCR.from_pipeline`), else the models come from
            ``options`` (``det_model``, ``rec_model``; None: the defaults).
        threads: ONNX Runtime threads per model in each actor; match it to the actor's
            ``num_cpus``.
        **options: the other :class:`OCR` options (``orientation``, ``word_boxes``, …).

    Raises:
        OptionError: an unknown option, or one of the wrong type or out of range.
        ModelFileError: an unknown pipeline or model, or a model that cannot be loaded.
        LabelError: the charset file is malformed.
    """

    def __init__(self, pipeline: str | None = None, threads: int = 1, **options: Any) -> None:
        from slimocr.runtime.pool import build_ocr, check_run_options

        check_run_options(1, threads, pipeline, options)
        self.ocr = build_ocr(pipeline, {**options, "threads": threads})

    @classmethod
    def checked_kwargs(
        cls, pipeline: str | None = None, threads: int = 1, **options: Any
    ) -> dict[str, Any]:
        """The ``fn_constructor_kwargs`` for these arguments, checked in the calling process
        (the driver) by building the OCR once here as each actor will, so the models must be
        reachable here too.

        ``providers`` are checked by name only, and the OCR built here runs on the CPU: the
        actors' nodes may have an ONNX Runtime build that this one lacks. ``reuse_memory`` is
        checked, not applied: the driver's malloc policy is left as it is.

        Raises:
            SlimOCRError: what the actors would raise (see the class), naming the option.
        """
        from slimocr.infer.providers import PROVIDERS, resolve_providers
        from slimocr.inputs import check_bool

        providers = options.get("providers")
        resolve_providers(providers, available=[full for full, _ in PROVIDERS.values()])
        check_bool("reuse_memory", options.get("reuse_memory", False))
        cls(pipeline, threads, **{**options, "providers": None, "reuse_memory": False})
        kwargs = {"threads": threads, **options}
        return kwargs if pipeline is None else {"pipeline": pipeline, **kwargs}

    def _one(self, value: object, column: str, source: str) -> dict[str, Any]:
        try:
            result = self.ocr(_image(value, column))
        except SlimOCRError as exc:
            error = named_after(str(exc), source)
            return {"source": source, "text": "", "n_lines": 0, "result": "", "error": error}
        result.source = source
        return {
            "source": source,
            "text": result.text,
            "n_lines": len(result.lines),
            "result": result.to_json(),
            "error": "",
        }

    def __call__(self, batch: dict[str, Any]) -> dict[str, np.ndarray]:
        """OCR each row of a batch (numpy format) into one output row."""
        column = "image" if "image" in batch else "bytes"
        if column not in batch:
            raise SlimOCRError(
                f"batch has columns {sorted(batch)}; expected 'image' (read_images) or 'bytes' "
                "(read_binary_files)"
            )
        images = list(batch[column])
        paths = batch.get("path")
        if paths is None:
            sources = ["<row>"] * len(images)
        else:  # a path column of bytes (not what Ray's readers give) is named as text, not b'..'
            sources = [os.fsdecode(p) if isinstance(p, bytes) else str(p) for p in paths]
        rows = [self._one(im, column, src) for im, src in zip(images, sources, strict=True)]
        return {key: np.array([row[key] for row in rows]) for key in rows[0]} if rows else {}
