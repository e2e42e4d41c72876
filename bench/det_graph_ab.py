"""Detector graph experiments, timed interleaved in one process (pre + network + post, as the
pipeline runs them, on IC15 test images):

1. the DB head rewrite (:func:`slimocr.export.rewrite.merge_db_upsampling`): the official
   PP-OCRv3 detector exported with and without it (``export_onnx(rewrite=False)``);
2. int8 "islands": in the shipped ``ppocrv6s-det-ptq-int8`` file, the residual adds' float
   input is replaced by the dequantized copy that already exists for the next convolution, and
   the SE gates (clip outputs in [0, 1]) get a uint8 quantizer (step 1/255), so that ONNX
   Runtime fuses ``QLinearAdd`` / ``QLinearMul``. This changes the numerics (the files are not
   evaluated here); it only measures what fusing those ops could buy;
3. with ``--v6-before FILE``: that int8 v6-small detector (a file exported before
   :func:`slimocr.export.rewrite.fold_pads`, whose stem pads run as float ``Pad`` nodes between
   dequantize and quantize) against the shipped one, e.g.
   ``git show 6be3a8c:slimocr/zoo/files/ppocrv6s-det-ptq-int8.onnx > v6_before.onnx``.

    python bench/det_graph_ab.py --data ../shared/data/ic15_det_test \
        --out docs/results/det_graph_ab.json
"""

from __future__ import annotations

import argparse
import collections
import tempfile
from pathlib import Path


def rewire_int8_islands(model, adds: bool, gates: bool) -> dict[str, int]:  # noqa: ANN001
    """Rewire a QDQ graph in place (see module doc); returns how many nodes were changed."""
    import numpy as np
    from onnx import helper, numpy_helper

    from slimocr.export.rewrite import graph_consumers

    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    consumers = graph_consumers(graph)
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(1 / 255, np.float32), "gate_scale"),
            numpy_helper.from_array(np.array(0, np.uint8), "gate_zero"),
        ]
    )
    inserts, counts = [], collections.Counter()
    for node in list(graph.node):
        kinds = [producer[i].op_type if i in producer else None for i in node.input]
        if adds and node.op_type == "Add" and kinds.count("DequantizeLinear") == 1:
            j = 1 - kinds.index("DequantizeLinear")
            quant = [c for c in consumers[node.input[j]] if c.op_type == "QuantizeLinear"]
            if quant:
                q = quant[0]
                name = node.input[j] + "_dq"
                inserts.append(
                    (
                        node,
                        helper.make_node("DequantizeLinear", [q.output[0], *q.input[1:]], [name]),
                    )
                )
                node.input[j] = name
                counts["residual_add"] += 1
        if gates and node.op_type == "Mul" and "DequantizeLinear" in kinds and "Clip" in kinds:
            j = kinds.index("Clip")
            gate = node.input[j]
            q = helper.make_node("QuantizeLinear", [gate, "gate_scale", "gate_zero"], [gate + "_q"])
            dq = helper.make_node(
                "DequantizeLinear", [gate + "_q", "gate_scale", "gate_zero"], [gate + "_dq"]
            )
            inserts += [(node, q), (node, dq)]
            node.input[j] = gate + "_dq"
            counts["se_gate"] += 1
    for before, new in inserts:
        graph.node.insert(list(graph.node).index(before), new)
    return dict(counts)


def _runner(detector, images):  # noqa: ANN001, ANN202
    def run(i: int) -> None:
        detector(images[i])

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="IC15 detection test set")
    ap.add_argument("--out", type=Path, default=None, help="JSON file for the results")
    ap.add_argument("--images", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--v6-before", type=Path, default=None, help="older int8 v6 detector")
    args = ap.parse_args()

    import cv2
    import onnx

    from slimocr.bench.latency import emit_report, machine_info, time_rows
    from slimocr.eval.readers import load_det_dataset
    from slimocr.export.onnx_export import build_metadata, export_onnx
    from slimocr.infer.det import TextDetector
    from slimocr.models import create_model
    from slimocr.zoo.registry import resolve_model

    tmp = Path(tempfile.mkdtemp())
    model = create_model("dbnet_mv3_ppocrv3", pretrained=True)
    meta = build_metadata("det", "dbnet_mv3_ppocrv3", parent="official-ppocrv3-det")
    files = {
        "v3 float, head as exported by torch": export_onnx(
            model, tmp / "plain.onnx", "det", meta, rewrite=False
        ),
        "v3 float, head rewritten": export_onnx(model, tmp / "rewritten.onnx", "det", meta),
    }
    v6 = resolve_model("ppocrv6s-det-ptq-int8", "det")
    files["v6 int8 (zoo file)"] = v6
    changed = {}
    for label, adds, gates in (("adds", True, False), ("gates", False, True), ("both", True, True)):
        proto = onnx.load(str(v6))
        changed[label] = rewire_int8_islands(proto, adds, gates)
        path = tmp / f"v6_{label}.onnx"
        onnx.save(proto, str(path))
        files[f"v6 int8, int8 {label}"] = path

    if args.v6_before is not None:
        files["v6 int8, before the pad fold"] = args.v6_before
    images = [cv2.imread(str(s.image)) for s in load_det_dataset(args.data)[: args.images]]
    detectors = {k: TextDetector(p, threads=args.threads) for k, p in files.items()}
    timers = time_rows(
        {k: _runner(d, images) for k, d in detectors.items()}, len(images), args.repeats
    )
    ms = {k: round(t.median(), 2) for k, t in timers.items()}
    report = {
        "machine": machine_info(),
        "threads": args.threads,
        "images": len(images),
        "repeats": args.repeats,
        "median_ms": ms,
        "head_rewrite_speedup_v3_float": round(
            ms["v3 float, head as exported by torch"] / ms["v3 float, head rewritten"], 3
        ),
        "int8_islands_speedup_v6": {
            label: round(ms["v6 int8 (zoo file)"] / ms[f"v6 int8, int8 {label}"], 3)
            for label in changed
        },
        "int8_islands_rewired": changed,
    }
    if args.v6_before is not None:
        report["pad_fold_speedup_v6"] = round(
            ms["v6 int8, before the pad fold"] / ms["v6 int8 (zoo file)"], 3
        )
    emit_report(report, args.out)


if __name__ == "__main__":
    main()
