"""Detector graph experiments, timed interleaved in one process (pre + network + post, as the
pipeline runs them, on IC15 test images):

1. the DB head rewrite (:func:`slimocr.graph.merge_db_upsampling`): the official
   PP-OCRv3 detector exported with and without it (``export_onnx(rewrite=False)``);
2. int8 "islands": in the shipped ``ppocrv6s-det-ptq-int8`` file, the residual adds' float
   input is replaced by the dequantized copy that already exists for the next convolution, and
   the SE gates (clip outputs in [0, 1]) get a uint8 quantizer (step 1/255), so that ONNX
   Runtime fuses ``QLinearAdd`` / ``QLinearMul``. This changes the numerics (the files are not
   evaluated here); it only measures what fusing those ops could buy;
3. with ``--v6-before FILE``: that int8 v6-small detector (a file exported before
   :func:`slimocr.graph.fold_pads`, whose stem pads run as float ``Pad`` nodes between
   dequantize and quantize) against the shipped one with its head regrouped (item 4), e.g.
   ``git show 6be3a8c:slimocr/zoo/files/ppocrv6s-det-ptq-int8.onnx > v6_before.onnx``;
4. the rewritten head's second 1×1 conv as two groups (the form exported before 2026-11-28
   20:20) against the dense block-diagonal form exported now, on the float v3 detector and the
   shipped int8 v6 detector (:func:`group_head` turns the dense weight back into two groups).

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

    from slimocr.graph import graph_consumers

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


def group_head(model) -> int:  # noqa: ANN001
    """Turn block-diagonal 1×1 conv weights that feed a ``DepthToSpace`` (through an optional
    ``Sigmoid``) into two-group convs, in place; returns how many convs were changed."""
    import numpy as np
    from onnx import helper, numpy_helper

    from slimocr.graph import graph_consumers

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    consumers = graph_consumers(graph)
    changed = 0
    for node in graph.node:
        if node.op_type != "Conv" or node.input[1] not in inits:
            continue
        readers = consumers.get(node.output[0], [])
        if readers and readers[0].op_type == "Sigmoid":
            readers = consumers.get(readers[0].output[0], [])
        if not readers or readers[0].op_type != "DepthToSpace":
            continue
        w = numpy_helper.to_array(inits[node.input[1]])
        o, i = w.shape[0] // 2, w.shape[1] // 2
        if w.shape[2:] != (1, 1) or w[:o, i:].any() or w[o:, :i].any():
            continue
        grouped = np.concatenate([w[:o, :i], w[o:, i:]], axis=0)
        inits[node.input[1]].CopyFrom(numpy_helper.from_array(grouped, node.input[1]))
        node.attribute.append(helper.make_attribute("group", 2))
        changed += 1
    return changed


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
    from slimocr.infer.det import TextDetector
    from slimocr.toolkit.export.onnx_export import build_metadata, export_onnx
    from slimocr.toolkit.models import create_model
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
    grouped = {}
    for label, src in (
        ("v3 float, head rewritten", files["v3 float, head rewritten"]),
        ("v6 int8", v6),
    ):
        proto = onnx.load(str(src))
        grouped[label] = group_head(proto)
        onnx.save(proto, str(tmp / f"grouped_{len(grouped)}.onnx"))
        files[f"{label}, head conv in two groups"] = tmp / f"grouped_{len(grouped)}.onnx"
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
        "dense_head_conv_speedup": {
            "v3 float": round(
                ms["v3 float, head rewritten, head conv in two groups"]
                / ms["v3 float, head rewritten"],
                3,
            ),
            "v6 int8": round(ms["v6 int8, head conv in two groups"] / ms["v6 int8 (zoo file)"], 3),
        },
        "dense_head_convs_regrouped": grouped,
    }
    if args.v6_before is not None:
        # against the zoo file with its head regrouped: the older file also had the grouped head
        report["pad_fold_speedup_v6"] = round(
            ms["v6 int8, before the pad fold"] / ms["v6 int8, head conv in two groups"], 3
        )
    emit_report(report, args.out)


if __name__ == "__main__":
    main()
