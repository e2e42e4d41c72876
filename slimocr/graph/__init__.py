"""ONNX graph passes: rewrites that make a model run faster in ONNX Runtime, one per module.

Each pass takes an :class:`onnx.ModelProto`, changes it in place and returns how many places it
rewrote. They need the ``onnx`` package only (no torch). Where each one runs:

* at export (:func:`slimocr.toolkit.export.onnx_export.export_passes`):
  :func:`~slimocr.graph.pads.fold_pads`,
  :func:`~slimocr.graph.db_upsampling.merge_db_upsampling` (detectors),
  :func:`~slimocr.graph.gate_residual.fold_gate_residual` and
  :func:`~slimocr.graph.sigmoid_scale.fold_sigmoid_scale` (int8 graphs), then
  :func:`~slimocr.graph.compact.compact_graph` (names and constants, not a speed pass);
* when a session opens a model, on the CPU provider only
  (:func:`slimocr.infer.session.layout_rewritten`):
  :func:`~slimocr.graph.int8_weights.fold_stored_int8_weights` then
  :func:`~slimocr.graph.thin_channels.pad_thin_channels`, whose channel block depends on the CPU
  (see :mod:`slimocr.graph.thin_channels` for why it is not applied at export).

>>> counts = optimize(model, ["fold_pads", "merge_db_upsampling"])  # doctest: +SKIP
>>> counts  # doctest: +SKIP
{'fold_pads': 0, 'merge_db_upsampling': 1}
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

import onnx

from slimocr.graph.compact import compact_graph
from slimocr.graph.core import graph_consumers
from slimocr.graph.db_upsampling import merge_db_upsampling
from slimocr.graph.gate_residual import fold_gate_residual
from slimocr.graph.int8_weights import fold_stored_int8_weights
from slimocr.graph.pads import fold_pads
from slimocr.graph.sigmoid_scale import fold_sigmoid_scale
from slimocr.graph.thin_channels import pad_thin_channels

GraphPass = Callable[[onnx.ModelProto], int]

#: the passes :func:`optimize` knows by name (``pad_thin_channels`` needs its block: pass
#: :func:`thin_channels_pass` instead)
PASSES: dict[str, GraphPass] = {
    "fold_pads": fold_pads,
    "merge_db_upsampling": merge_db_upsampling,
    "fold_gate_residual": fold_gate_residual,
    "fold_sigmoid_scale": fold_sigmoid_scale,
    "fold_stored_int8_weights": fold_stored_int8_weights,
}


def thin_channels_pass(block: int) -> GraphPass:
    """:func:`pad_thin_channels` to ``block`` channels, as a pass for :func:`optimize`."""
    return functools.partial(pad_thin_channels, block=block)


def _pass_name(graph_pass: str | GraphPass) -> str:
    if isinstance(graph_pass, str):
        return graph_pass
    func = graph_pass.func if isinstance(graph_pass, functools.partial) else graph_pass
    return getattr(func, "__name__", repr(func))


def optimize(model: onnx.ModelProto, passes: Iterable[str | GraphPass]) -> dict[str, int]:
    """Apply ``passes`` (names from :data:`PASSES` or pass functions) to ``model`` in place, in
    order; return how many places each one rewrote, by pass name.

    Raises:
        KeyError: an unknown pass name (the known ones are named).
    """
    counts: dict[str, int] = {}
    for graph_pass in passes:
        if isinstance(graph_pass, str):
            if graph_pass not in PASSES:
                raise KeyError(f"unknown graph pass {graph_pass!r}; known: {', '.join(PASSES)}")
            run = PASSES[graph_pass]
        else:
            run = graph_pass
        name = _pass_name(graph_pass)
        counts[name] = counts.get(name, 0) + run(model)
    return counts


__all__ = [
    "PASSES",
    "GraphPass",
    "compact_graph",
    "fold_gate_residual",
    "fold_pads",
    "fold_sigmoid_scale",
    "fold_stored_int8_weights",
    "graph_consumers",
    "merge_db_upsampling",
    "optimize",
    "pad_thin_channels",
    "thin_channels_pass",
]
