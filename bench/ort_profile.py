"""Where ONNX Runtime spends a network's time: per-operator and per-node kernel times.

One ONNX file (zoo name, official name or path), one fixed random input (``--shape``), ONNX
Runtime's CPU provider with ``--threads`` threads and spinning off (as the pipeline runs),
``--warmup`` calls, then ``--runs`` profiled calls. Prints the kernel time per call by operator
type, the convolutions' time by the height of the map they write, and the ``--top`` slowest
nodes with their output shapes. The shapes are the ones the
kernels really produce after ONNX Runtime's graph rewrites: a blocked (NCHWc) float conv's
output channels are rounded up to the CPU's block (16 with AVX-512, 8 with AVX2), and int8
convolutions run channels-last (NHWC).

    python bench/ort_profile.py ppocrv3-det-prune-w8 --top 15 --out docs/results/x.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from slimocr.bench.script import (
    check_counts,
    check_out_file,
    check_threads_arg,
    fail,
    parse_shape,
    random_input,
)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="zoo/official name or .onnx path")
    ap.add_argument("--kind", choices=("det", "rec"), default="det")
    ap.add_argument("--shape", default=None, help="input N,C,H,W (det 1,3,544,960; rec 6,3,32,320)")
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads (0: ORT's default)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--top", type=int, default=20, help="slowest nodes to print")
    ap.add_argument("--out", type=Path, default=None, help="JSON file for the results")
    ap.add_argument(
        "--plain",
        action="store_true",
        help="profile the file as it is, without the layout rewrite the pipeline applies",
    )
    args = ap.parse_args(argv)

    # every argument is checked before the model is loaded
    check_counts((("--runs", args.runs, 1), ("--warmup", args.warmup, 0), ("--top", args.top, 0)))
    check_threads_arg(args.threads)
    shape_text = args.shape or ("1,3,544,960" if args.kind == "det" else "6,3,32,320")
    shape = parse_shape(shape_text)
    check_out_file(args.out)

    import onnxruntime as ort

    from slimocr.bench.latency import machine_info
    from slimocr.bench.profile import by_height, kernel_times
    from slimocr.errors import SlimOCRError
    from slimocr.infer.session import cpu_flags, layout_rewritten, nchwc_block, session_options
    from slimocr.zoo.registry import resolve_model

    try:
        path = resolve_model(args.model, args.kind)
    except SlimOCRError as exc:
        fail(str(exc))
    x = random_input(shape, shape_text)

    with tempfile.TemporaryDirectory() as tmp:
        opts = session_options(args.threads)  # as the pipeline's sessions, plus profiling
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(tmp, "profile")
        # the model the pipeline's sessions run: thin maps widened where that helps this CPU
        rewritten = None if args.plain else layout_rewritten(path, nchwc_block(cpu_flags()))
        try:
            source = rewritten if rewritten is not None else str(path)
            session = ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
            feed = {session.get_inputs()[0].name: x}
            for _ in range(args.warmup + args.runs):
                session.run(None, feed)
        except Exception as exc:  # ONNX Runtime's own errors: bad file, wrong input shape
            fail(f"{path} at input {list(shape)}: {' '.join(str(exc).split())[:300]}")
        trace = json.loads(Path(session.end_profiling()).read_text())
    by_op, nodes = kernel_times(trace, skip_calls=args.warmup)
    total = sum(by_op.values())

    print(f"{args.model}: {path}")
    threads = f"{args.threads} threads" if args.threads else "ONNX Runtime's default threads"
    layout = "layout-rewritten model" if rewritten is not None else "the file as it is"
    print(f"input {shape}, {threads}, {args.runs} profiled calls, {layout}")
    print(f"kernel time per call: {total:.2f} ms")
    for op, ms in sorted(by_op.items(), key=lambda kv: -kv[1]):
        print(f"  {op:<28} {ms:7.2f} ms  {100 * ms / total:5.1f}%")
    heights = by_height(nodes)
    print("convolutions by output height (maps of height 1 left out):")
    for h, row in heights.items():
        print(f"  {h:5d}  {row['ms']:7.2f} ms  {int(row['nodes']):3d} nodes")
    print(f"slowest {args.top} nodes:")
    for n in nodes[: args.top]:
        print(f"  {n['ms']:6.2f} ms  {n['op']:<20} {n['node'][:40]:<40} {n['output']}")
    if args.out:
        report = {
            "model": args.model,
            "file": str(path),
            "input": list(shape),
            "threads": args.threads,
            "layout_rewritten": rewritten is not None,
            "runs": args.runs,
            "machine": machine_info(),
            "kernel_ms_per_call": round(total, 3),
            "by_op_ms": {k: round(v, 3) for k, v in by_op.items()},
            "conv_by_output_height": {
                str(h): {"ms": round(r["ms"], 3), "nodes": int(r["nodes"])}
                for h, r in heights.items()
            },
            "nodes": [{**n, "ms": round(n["ms"], 3)} for n in nodes],
        }
        try:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            fail(f"--out {args.out}: cannot write ({exc})")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
