"""Detector network latency: float vs int8 with the ReLU kept as a float op vs fused into the
quantizer (``QuantConfig.fuse_relu``), timed interleaved in one process.

Both int8 files are built here the same way (PTQ: BN folded, 8-bit per-channel weights,
99.99th-percentile calibration on ``--calib`` IC15 train images), so they differ only in where
the ReLU sits. ONNX Runtime, CPU provider, ``--threads`` threads, spinning off; medians.

    python bench/int8_latency.py --data ../shared/data/ic15_train \
        --out docs/results/int8_latency.json
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="IC15 train set (calibration)")
    ap.add_argument("--out", type=Path, default=None, help="JSON file for the results")
    ap.add_argument("--calib", type=int, default=16, help="calibration images")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=30, help="timed runs per model")
    ap.add_argument("--shape", default="1,3,544,960", help="input N,C,H,W")
    args = ap.parse_args()

    import numpy as np
    import torch

    from slimocr.bench.latency import emit_report, machine_info, session_runner, time_rows
    from slimocr.infer.session import OnnxSession
    from slimocr.toolkit.compress.quant import QuantConfig, calibrate, export_qdq, prepare_qat
    from slimocr.toolkit.compress.quant.export import optimized_op_counts
    from slimocr.toolkit.compress.quant.ptq import det_calibration_batches
    from slimocr.toolkit.export.onnx_export import build_metadata, export_onnx
    from slimocr.toolkit.models import create_model

    torch.set_num_threads(args.threads)
    shape = tuple(int(v) for v in args.shape.split(","))
    batches = list(det_calibration_batches(args.data, args.calib))
    meta = build_metadata("det", "dbnet_mv3_ppocrv3", extra={"note": "latency benchmark"})
    with tempfile.TemporaryDirectory() as tmp:
        files = {"float": Path(tmp) / "float.onnx"}
        export_onnx(create_model("dbnet_mv3_ppocrv3", pretrained=True), files["float"], "det", meta)
        for fuse in (False, True):
            cfg = QuantConfig(reduce_range=False, pact=False, fuse_relu=fuse)
            model = prepare_qat(create_model("dbnet_mv3_ppocrv3", pretrained=True).eval(), cfg)
            calibrate(model, batches, "percentile", 99.99, cfg)
            name = "int8 fused ReLU" if fuse else "int8 ReLU as float op"
            files[name] = export_qdq(model.eval(), Path(tmp) / f"fuse{fuse}.onnx", "det", meta)
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        sessions = {n: OnnxSession(p, threads=args.threads) for n, p in files.items()}
        timers = time_rows(
            {n: session_runner(s, x) for n, s in sessions.items()},
            args.runs,
            repeats=1,
            warmup=3,
        )
        ops = {n: dict(optimized_op_counts(p)) for n, p in files.items()}
    base = timers["float"].median()
    result = {
        "machine": machine_info(),
        "threads": args.threads,
        "input": list(shape),
        "runs": args.runs,
        "median_ms": {n: round(t.median(), 2) for n, t in timers.items()},
        "speedup_vs_float": {n: round(base / t.median(), 3) for n, t in timers.items()},
        "optimized_ops": {
            n: {
                k: v
                for k, v in c.items()
                if k in ("QLinearConv", "Conv", "Relu", "QuantizeLinear", "DequantizeLinear")
            }
            for n, c in ops.items()
        },
    }
    emit_report(result, args.out)


if __name__ == "__main__":
    main()
