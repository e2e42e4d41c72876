"""End-to-end evaluation: the whole pipeline (detect → crop → recognize) on a detection set.

A detected line counts for end-to-end when it matches a cared GT box one-to-one (the ICDAR 2015
detection protocol, IoU > 0.5) and its text equals the GT transcription after lower-casing and
keeping only letters and digits. Reported: detection P/R/H of the pipeline's kept lines,
end-to-end P/R/H, and per-stage milliseconds per image.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from slimocr.errors import SlimOCRError
from slimocr.eval.det_metrics import DetEvaluator
from slimocr.eval.readers import DetSample
from slimocr.eval.rec_metrics import alnum_lower
from slimocr.eval.runner import _write_json, read_bgr, read_error

# image -> (lines [(box (K,2), text, score)], per-stage ms)
PipelineFn = Callable[[np.ndarray], tuple[list[tuple[np.ndarray, str, float]], dict[str, float]]]


def _prf(matched: int, n_det: int, n_gt: int) -> dict[str, float]:
    p = matched / n_det if n_det else 0.0
    r = matched / n_gt if n_gt else 0.0
    h = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "hmean": h}


def run_e2e_eval(
    samples: Sequence[DetSample],
    pipeline: PipelineFn,
    out: Path | str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run ``pipeline`` on every image; score detection and end-to-end recognition.

    Args:
        samples: a detection test set with transcriptions.
        pipeline: ``image -> (lines, elapsed_ms)`` where lines are ``(box, text, score)``.
        out: optional JSON report path.
        progress: show a progress bar.

    Returns:
        ``{"metrics": {"det": {...}, "e2e": {...}}, "timing": {...}, "per_image": [...],
        "errors": [...]}``.
    """
    det_eval = DetEvaluator()
    e2e_matched = 0
    per_image: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    stage_ms: dict[str, list[float]] = {}
    t_start = time.perf_counter()
    for sample in tqdm(samples, desc="e2e eval", unit="img", disable=not progress):
        lines: list[tuple[np.ndarray, str, float]] = []
        img = read_bgr(sample.image)
        if img is None:
            errors.append({"image": str(sample.image), "error": read_error(sample.image)})
        else:
            try:
                lines, ms = pipeline(img)
            except SlimOCRError as exc:
                errors.append({"image": str(sample.image), "error": str(exc)})
            else:
                for key, value in ms.items():
                    stage_ms.setdefault(key, []).append(value)
        polys = [np.asarray(b, dtype=np.float64).reshape(-1, 2) for b, _, _ in lines]
        match = det_eval.add(sample.polys, sample.ignore, polys)
        correct = sum(
            alnum_lower(lines[d][1]) == alnum_lower(sample.texts[g]) for g, d in match.pairs
        )
        e2e_matched += correct
        per_image.append(
            {
                "image": str(sample.image),
                "lines": [
                    {"box": p.tolist(), "text": t, "score": float(s)}
                    for p, (_, t, s) in zip(polys, lines, strict=True)
                ],
                "n_gt_care": match.n_gt_care,
                "n_det_care": match.n_det_care,
                "n_matched": match.n_matched,
                "n_e2e_correct": int(correct),
            }
        )
    det = det_eval.result()
    report = {
        "metrics": {
            "det": det.to_dict(),
            "e2e": {**_prf(e2e_matched, det.n_det, det.n_gt), "n_correct": e2e_matched},
        },
        "timing": {
            **{f"median_ms_{k}": statistics.median(v) for k, v in stage_ms.items()},
            "n_images_timed": len(stage_ms.get("total", [])),
            "wall_s": time.perf_counter() - t_start,
        },
        "per_image": per_image,
        "errors": errors,
    }
    _write_json(out, report)
    return report
