"""Reading ONNX Runtime's profiler output: kernel time per operator type and per node."""

from __future__ import annotations

from collections import defaultdict


def kernel_times(trace: list[dict], skip_calls: int = 0) -> tuple[dict[str, float], list[dict]]:
    """Per-op-type and per-node kernel milliseconds per call from an ORT profile trace.

    The first ``skip_calls`` calls (warm-up) are left out: node events before the start of
    call ``skip_calls`` (counted from 0) are dropped, and the rest are averaged over the calls.

    Raises:
        ValueError: ``skip_calls`` is negative, or the trace holds no call after the skipped ones.
    """
    if skip_calls < 0:
        raise ValueError(f"skip_calls must be >= 0, got {skip_calls}")
    calls = sorted(e["ts"] for e in trace if e.get("name") == "model_run")
    if len(calls) <= skip_calls:
        raise ValueError(f"profile holds {len(calls)} calls, fewer than {skip_calls + 1}")
    cutoff, runs = calls[skip_calls], len(calls) - skip_calls
    by_op: dict[str, float] = defaultdict(float)
    by_node: dict[str, dict] = {}
    for event in trace:
        name = event.get("name", "")
        if event.get("cat") != "Node" or not name.endswith("_kernel_time"):
            continue
        if event["ts"] < cutoff:
            continue
        args = event.get("args", {})
        op = args.get("op_name", "?")
        ms = event["dur"] / 1000.0 / runs
        by_op[op] += ms
        node = by_node.setdefault(
            name[: -len("_kernel_time")],
            {"op": op, "ms": 0.0, "output": args.get("output_type_shape")},
        )
        node["ms"] += ms
    nodes = sorted(({"node": k, **v} for k, v in by_node.items()), key=lambda n: -n["ms"])
    return dict(sorted(by_op.items(), key=lambda kv: -kv[1])), nodes


def output_height(shape_info: object) -> int | None:
    """The spatial height of a node's first output, from the profiler's ``output_type_shape``.

    Float tensors are NCHW (4-D) or ONNX Runtime's blocked NCHWc (5-D: N, C/block, H, W,
    block); 8-bit tensors of int8 kernels are channels-last (N, H, W, C). None for other ranks.
    """
    if not isinstance(shape_info, list) or not shape_info or not isinstance(shape_info[0], dict):
        return None
    (dtype, dims), *_ = shape_info[0].items()
    if len(dims) == 5:
        return int(dims[2])
    if len(dims) == 4:
        return int(dims[1] if dtype in ("uint8", "int8") else dims[2])
    return None


CONV_OPS = ("Conv", "FusedConv", "QLinearConv", "ConvTranspose", "NhwcFusedConv")


def by_height(nodes: list[dict], ops: tuple[str, ...] = CONV_OPS) -> dict[int, dict[str, float]]:
    """Kernel milliseconds and node count of the ``ops`` nodes per output height (largest maps
    first). Convolutions only by default: their output layout is known (float NCHW or NCHWc,
    8-bit NHWC), while the float tensors between an int8 graph's kernels may be channels-last."""
    out: dict[int, dict[str, float]] = {}
    for node in nodes:
        if node.get("op") not in ops:
            continue
        h = output_height(node.get("output"))
        if h is None or h <= 1:
            continue
        row = out.setdefault(h, {"ms": 0.0, "nodes": 0})
        row["ms"] += node["ms"]
        row["nodes"] += 1
    return dict(sorted(out.items(), key=lambda kv: -kv[0]))
