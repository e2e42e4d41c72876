"""Does the int8 file score what the fake-quant model scores? Both on a labelled set.

The PyTorch fake-quant model and the exported file in ONNX Runtime see identical inputs (the
inference preprocessing, one image or crop at a time) and share the post-processing and metrics
of ``slimocr eval``; the report gives both metric sets and how many images / crops got a
different result.

>>> check_parity(model, "det.onnx", "det", "../shared/data/ic15_det_test", 200)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from slimocr.eval.det_metrics import DetEvaluator
from slimocr.eval.readers import load_det_dataset, load_rec_dataset
from slimocr.eval.rec_metrics import RecMetrics
from slimocr.infer.det import DetPreprocess
from slimocr.infer.pipeline import model_input_height
from slimocr.infer.rec import charset_from_metadata, resize_norm_img
from slimocr.infer.session import OnnxSession
from slimocr.postprocess.ctc import ctc_greedy_decode
from slimocr.postprocess.db import DBPostProcess


@torch.no_grad()
def check_parity(
    model: nn.Module,
    path: str | Path,
    kind: str,
    data: str | Path,
    limit: int | None = None,
    charset: list[str] | None = None,
    threads: int = 2,
) -> dict[str, Any]:
    """Metrics of ``model`` (PyTorch) and of ``path`` (ONNX Runtime) on the same inputs.

    Args:
        model: the fake-quant model the file was exported from.
        path: the exported file.
        kind: ``det`` (IC15 hmean at limit_side_len 960) or ``rec`` (accuracy).
        data: a labelled detection or recognition set.
        limit: the first N samples only.
        charset: recognizer characters (default: the file's metadata).
        threads: ONNX Runtime threads.

    Returns:
        ``{"n", "torch": metrics, "ort": metrics, "differ": n}`` where ``differ`` counts images
        with different boxes (det) or crops with different strings (rec).
    """
    model.eval()
    sess = OnnxSession(path, threads)
    if kind == "det":
        return _check_det(model, sess.run, data, limit)
    if charset is None:
        charset = charset_from_metadata(sess)
    height = model_input_height(sess, 32)  # PP-OCRv6 files fix 48
    return _check_rec(model, sess.run, data, limit, charset, height)


def _check_det(model: nn.Module, run: Any, data: str | Path, limit: int | None) -> dict[str, Any]:
    samples = load_det_dataset(data)[:limit]
    pre, post = DetPreprocess(960, "max"), DBPostProcess()
    evals = {"torch": DetEvaluator(), "ort": DetEvaluator()}
    differ = 0
    for sample in samples:
        img = cv2.imread(str(sample.image), cv2.IMREAD_COLOR)
        if img is None:
            continue
        x = pre(img)
        boxes = {}
        for key, prob in (("torch", model(torch.from_numpy(x)).numpy()), ("ort", run(x))):
            boxes[key], _ = post(prob[0, 0], img.shape[0], img.shape[1])
            evals[key].add(sample.polys, sample.ignore, list(boxes[key]))
        a, b = (np.asarray(boxes[k], dtype=np.float32) for k in ("torch", "ort"))
        differ += a.shape != b.shape or not np.array_equal(a, b)
    out: dict[str, Any] = {k: e.result().to_dict() for k, e in evals.items()}
    return {"n": len(samples), **out, "differ": differ}


def _check_rec(
    model: nn.Module,
    run: Any,
    data: str | Path,
    limit: int | None,
    charset: list[str],
    height: int = 32,
) -> dict[str, Any]:
    samples = load_rec_dataset(data)[:limit]
    metrics = {"torch": RecMetrics(), "ort": RecMetrics()}
    differ = 0
    for sample in samples:
        img = cv2.imread(str(sample.image), cv2.IMREAD_COLOR)
        if img is None:
            continue
        width = max(320, int(np.ceil(height * img.shape[1] / img.shape[0])))
        x = resize_norm_img(img, height, width)[0][None]
        texts = {}
        for key, probs in (("torch", model(torch.from_numpy(x)).numpy()), ("ort", run(x))):
            texts[key] = ctc_greedy_decode(probs, charset)[0][0]
            metrics[key].add(texts[key], sample.text)
        differ += texts["torch"] != texts["ort"]
    out: dict[str, Any] = {k: m.result() for k, m in metrics.items()}
    return {"n": len(samples), **out, "differ": differ}
