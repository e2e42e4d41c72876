"""Engine-agnostic evaluation loops: give them samples and a callable, get metrics and timings.

The callables hide the model: ``detect(image_bgr) -> (boxes (N, K, 2), scores (N,))`` and
``recognize([crop_bgr, ...]) -> [(text, score), ...]``. Images are decoded as ``cv2.imread``
does (BGR, EXIF orientation applied), under the input policy of :mod:`slimocr.inputs`.
An image that cannot be read, or whose callable raises a :class:`~slimocr.errors.SlimOCRError`,
is listed under ``"errors"`` and counted as no detections / an empty prediction; the loop goes on.
Other exceptions are bugs and propagate.

Timings cover the callable only (not image reading), measured with ``time.perf_counter``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from slimocr.errors import SlimOCRError
from slimocr.eval.det_metrics import DetEvaluator
from slimocr.eval.readers import DetSample, RecSample
from slimocr.eval.rec_metrics import RecMetrics

DetectFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
RecognizeFn = Callable[[list[np.ndarray]], list[tuple[str, float]]]


def read_bgr(path: Path) -> np.ndarray | None:
    """``cv2.imread(path, IMREAD_COLOR)`` under the input policy: only a regular file of at
    most :data:`~slimocr.inputs.MAX_IMAGE_BYTES` is read (None otherwise, as for a file that
    does not decode), and the decoder's own lines on stderr are taken (the error that
    :func:`read_error` gives names the file instead)."""
    from slimocr.infer.image import check_image_header, decoder_says_truncated
    from slimocr.inputs import MAX_IMAGE_BYTES, c_stderr_captured, read_regular_file

    try:
        data = read_regular_file(path, "image", MAX_IMAGE_BYTES, SlimOCRError)
        check_image_header(str(path), data, min_side=1)  # a decompression bomb is refused undecoded
    except SlimOCRError:
        return None
    with c_stderr_captured() as said:
        img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if decoder_says_truncated(said.text):
        return None
    return img if img is not None and img.size else None


def read_error(path: Path) -> str:
    """Why an image :func:`read_bgr` returned None for cannot be read (the pipeline loader's
    message: missing, empty, a folder, not an image, ...)."""
    from slimocr.infer.image import load_image

    try:
        load_image(path)
    except SlimOCRError as exc:
        return str(exc)
    return f"{path}: cannot read image"


def _timing(ms: list[float], unit: str, wall_s: float) -> dict[str, float | int]:
    return {
        f"median_ms_per_{unit}": statistics.median(ms) if ms else 0.0,
        f"mean_ms_per_{unit}": statistics.fmean(ms) if ms else 0.0,
        f"n_{unit}s_timed": len(ms),
        "wall_s": wall_s,
    }


def _write_json(out: Path | str | None, report: dict[str, Any]) -> None:
    if out is None:
        return
    from slimocr.files import atomic_write
    from slimocr.inputs import json_text

    text = json_text(report, indent=1)

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)

    atomic_write(out, write)


def _as_polys(boxes: Any) -> list[np.ndarray]:
    """Turn the detector's boxes (an ``(N, K, 2)`` array or a list of ``(K, 2)``) into a list."""
    if boxes is None:
        return []
    return [np.asarray(b, dtype=np.float64).reshape(-1, 2) for b in boxes]


def run_det_eval(
    samples: Sequence[DetSample],
    detect: DetectFn,
    out: Path | str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run ``detect`` on every image and score it with the ICDAR 2015 protocol.

    Args:
        samples: the test set, e.g. from :func:`slimocr.eval.readers.load_det_dataset`.
        detect: ``image (H, W, 3) uint8 BGR -> (boxes (N, K, 2), scores (N,))``.
        out: when given, the report is also written there as JSON (folders created).
        progress: show a tqdm progress bar.

    Returns:
        ``{"metrics": DetMetrics.to_dict(), "timing": {...}, "per_image": [{"image", "boxes",
        "scores", "n_gt_care", "n_det_care", "n_matched"}], "errors": [{"image", "error"}]}``.

    >>> import tempfile, pathlib, cv2, numpy as np
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.png"
    >>> _ = cv2.imwrite(str(p), np.zeros((20, 20, 3), np.uint8))
    >>> box = np.array([[2, 2], [12, 2], [12, 8], [2, 8]], np.float64)
    >>> s = DetSample(p, [box], ["hi"], [False])
    >>> run_det_eval([s], lambda im: (box[None], np.ones(1)), progress=False)["metrics"]["hmean"]
    1.0
    """
    evaluator = DetEvaluator()
    per_image: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    ms: list[float] = []
    t_start = time.perf_counter()
    for sample in tqdm(samples, desc="det eval", unit="img", disable=not progress):
        polys: list[np.ndarray] = []
        scores: list[float] = []
        img = read_bgr(sample.image)
        if img is None:
            errors.append({"image": str(sample.image), "error": read_error(sample.image)})
        else:
            try:
                t0 = time.perf_counter()
                boxes, raw_scores = detect(img)
                ms.append((time.perf_counter() - t0) * 1000.0)
            except SlimOCRError as exc:
                errors.append({"image": str(sample.image), "error": str(exc)})
            else:
                polys = _as_polys(boxes)
                scores = [float(s) for s in np.asarray(raw_scores, dtype=np.float64).reshape(-1)]
                if len(scores) != len(polys):
                    raise ValueError(
                        f"detect returned {len(polys)} boxes but {len(scores)} scores "
                        f"for {sample.image}"
                    )
        match = evaluator.add(sample.polys, sample.ignore, polys)
        per_image.append(
            {
                "image": str(sample.image),
                "boxes": [p.tolist() for p in polys],
                "scores": scores,
                "n_gt_care": match.n_gt_care,
                "n_det_care": match.n_det_care,
                "n_matched": match.n_matched,
            }
        )
    report = {
        "metrics": evaluator.result().to_dict(),
        "timing": _timing(ms, "image", time.perf_counter() - t_start),
        "per_image": per_image,
        "errors": errors,
    }
    _write_json(out, report)
    return report


def label_with_reference(
    images: Sequence[Path], detect: DetectFn, progress: bool = True
) -> list[DetSample]:
    """Samples whose ground truth is what a reference detector finds (all boxes "care").

    Scoring a compressed detector against these with :func:`run_det_eval` measures how closely
    it reproduces its parent — without labels, and on as many images as one has, so with much
    less sampling noise than a labelled test set's hmean. An image the reference cannot read or
    process gets no boxes (:func:`run_det_eval` then lists it under ``"errors"`` for the
    candidate as well).

    >>> import tempfile, pathlib, cv2, numpy as np
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.png"
    >>> _ = cv2.imwrite(str(p), np.zeros((20, 20, 3), np.uint8))
    >>> box = np.array([[2, 2], [12, 2], [12, 8], [2, 8]], np.float64)
    >>> [s] = label_with_reference([p], lambda im: (box[None], np.ones(1)), progress=False)
    >>> len(s.polys), s.ignore
    (1, [False])
    """
    samples = []
    for image in tqdm(images, desc="reference", unit="img", disable=not progress):
        img = read_bgr(Path(image))
        polys: list[np.ndarray] = []
        if img is not None:
            try:
                polys = _as_polys(detect(img)[0])
            except SlimOCRError:
                polys = []
        samples.append(DetSample(Path(image), polys, [""] * len(polys), [False] * len(polys)))
    return samples


def run_rec_eval(
    samples: Sequence[RecSample],
    recognize: RecognizeFn,
    out: Path | str | None = None,
    batch: int = 64,
    progress: bool = True,
) -> dict[str, Any]:
    """Run ``recognize`` on the crops in batches and score it with :class:`RecMetrics`.

    Args:
        samples: the test set, e.g. from :func:`slimocr.eval.readers.load_rec_dataset`.
        recognize: ``[crop (H, W, 3) uint8 BGR, ...] -> [(text, score), ...]``, same length.
        out: when given, the report is also written there as JSON (folders created).
        batch: crops per call.
        progress: show a tqdm progress bar.

    Returns:
        ``{"metrics": RecMetrics.result(), "timing": {...}, "per_sample": [{"image", "gt",
        "pred", "score", "correct"}], "errors": [{"image", "error"}]}``. ``timing`` gives the
        per-crop milliseconds of each batch (call time / batch size), their median and mean.
    """
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    metrics = RecMetrics()
    per_sample: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    ms: list[float] = []
    t_start = time.perf_counter()
    bar = tqdm(total=len(samples), desc="rec eval", unit="crop", disable=not progress)
    for start in range(0, len(samples), batch):
        chunk = samples[start : start + batch]
        preds: dict[int, tuple[str, float]] = {}
        loaded: list[tuple[int, np.ndarray]] = []
        for i, sample in enumerate(chunk):
            img = read_bgr(sample.image)
            if img is None:
                errors.append({"image": str(sample.image), "error": read_error(sample.image)})
            else:
                loaded.append((i, img))
        if loaded:
            try:
                t0 = time.perf_counter()
                results = recognize([img for _, img in loaded])
                ms.append((time.perf_counter() - t0) * 1000.0 / len(loaded))
            except SlimOCRError as exc:
                errors.extend({"image": str(chunk[i].image), "error": str(exc)} for i, _ in loaded)
            else:
                if len(results) != len(loaded):
                    raise ValueError(f"recognize returned {len(results)} results for {len(loaded)}")
                for (i, _), (text, score) in zip(loaded, results, strict=True):
                    preds[i] = (str(text), float(score))
        for i, sample in enumerate(chunk):
            text, score = preds.get(i, ("", 0.0))
            correct = metrics.add(text, sample.text)
            per_sample.append(
                {
                    "image": str(sample.image),
                    "gt": sample.text,
                    "pred": text,
                    "score": score,
                    "correct": correct,
                }
            )
        bar.update(len(chunk))
    bar.close()
    report = {
        "metrics": metrics.result(),
        "timing": _timing(ms, "crop", time.perf_counter() - t_start),
        "per_sample": per_sample,
        "errors": errors,
    }
    _write_json(out, report)
    return report
