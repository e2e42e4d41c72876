"""Kernel times read from an ONNX Runtime profile trace (slimocr.bench.profile)."""

import pytest

from slimocr.bench.profile import by_height, kernel_times, output_height


def _node(name: str, op: str, ts: int, dur_us: int) -> dict:
    return {
        "cat": "Node",
        "name": f"{name}_kernel_time",
        "ts": ts,
        "dur": dur_us,
        "args": {"op_name": op, "output_type_shape": [{"float": [1, 16, 8, 8]}]},
    }


def _trace() -> list[dict]:
    # three calls at t = 0, 100, 200; the first is warm-up and is 10x slower
    trace = []
    for i, scale in enumerate((10, 1, 1)):
        t = 100 * i
        trace.append({"cat": "Session", "name": "model_run", "ts": t, "dur": 90})
        trace.append(_node("conv_a", "Conv", t + 1, 3000 * scale))
        trace.append(_node("conv_b", "Conv", t + 2, 1000 * scale))
        trace.append(_node("add", "Add", t + 3, 500 * scale))
        # events that are not kernel times are ignored
        trace.append({"cat": "Node", "name": "conv_a_fence_before", "ts": t + 1, "dur": 0})
    return trace


def test_warmup_is_dropped_and_times_are_per_call():
    by_op, nodes = kernel_times(_trace(), skip_calls=1)
    assert by_op == pytest.approx({"Conv": 4.0, "Add": 0.5})
    assert list(by_op) == ["Conv", "Add"]  # slowest first
    assert [n["node"] for n in nodes] == ["conv_a", "conv_b", "add"]
    assert nodes[0]["ms"] == pytest.approx(3.0)
    assert nodes[0]["output"] == [{"float": [1, 16, 8, 8]}]


def test_without_skipping_the_warmup_counts():
    by_op, _ = kernel_times(_trace(), skip_calls=0)
    assert by_op["Conv"] == pytest.approx((40.0 + 4.0 + 4.0) / 3)


def test_too_few_calls_is_an_error():
    with pytest.raises(ValueError, match="3 calls"):
        kernel_times(_trace(), skip_calls=3)


def test_output_height_reads_each_layout():
    assert output_height([{"float": [1, 16, 136, 240]}]) == 136  # NCHW
    assert output_height([{"float": [1, 1, 272, 480, 16]}]) == 272  # NCHWc
    assert output_height([{"uint8": [1, 68, 120, 40]}]) == 68  # int8 kernels: NHWC
    assert output_height([{"float": [4, 80, 6625]}]) is None
    assert output_height(None) is None


def test_by_height_sums_per_map_size_largest_first():
    nodes = [
        {"op": "Conv", "ms": 1.0, "output": [{"float": [1, 16, 17, 30]}]},
        {"op": "Conv", "ms": 2.0, "output": [{"float": [1, 1, 136, 240, 16]}]},
        {"op": "QLinearConv", "ms": 0.5, "output": [{"uint8": [1, 136, 240, 8]}]},
        {"op": "Conv", "ms": 9.0, "output": [{"float": [1, 64, 1, 1]}]},  # pooled: left out
        {"op": "DequantizeLinear", "ms": 4.0, "output": [{"float": [1, 136, 240, 8]}]},
    ]
    rows = by_height(nodes)
    assert list(rows) == [136, 17]
    assert rows[136] == {"ms": 2.5, "nodes": 2}
    assert by_height(nodes, ops=("DequantizeLinear",)) == {240: {"ms": 4.0, "nodes": 1}}
