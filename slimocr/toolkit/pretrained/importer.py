"""Import official PP-OCR weights from their ONNX inference files into SlimOCR's torch modules.

Paddle's exporter stores every weight as a graph Constant named after the layer that created it
(``conv2d_57.w_0``, ``batch_norm_12.w_2``, ``lstm_cell_4.w_0``, ``student_ctc_head_1_w_attr``), and
numbers layers in creation order. The graph's node order differs from that numbering (the FPN
neck runs its levels in another order than it builds them), so weights are matched by NAME: each
kind of layer is sorted by its number and handed, in that order, to the modules of our model
that play that role, in their definition order. Every shape is checked; leftovers on either side
are an error.

Re-parameterized files (RapidOCR's PP-OCRv6) lose those names: see
:mod:`slimocr.toolkit.pretrained.graph_importer`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from slimocr.errors import ModelFileError

_NUM = re.compile(r"(\d+)")


def _natural_key(name: str) -> list[int | str]:
    return [int(t) if t.isdigit() else t for t in _NUM.split(name)]


def load_onnx(path: str | Path) -> onnx.ModelProto:
    """The ONNX model at ``path``; :class:`ModelFileError` when it cannot be read."""
    try:
        return onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError, OSError, ...
        raise ModelFileError(
            f"{path}: not a readable ONNX file ({exc.__class__.__name__})"
        ) from exc


def model_constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """All Constant-node and initializer tensors of an ONNX model, by name."""
    tensors = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            tensors[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return tensors


def onnx_constants(path: str | Path) -> dict[str, np.ndarray]:
    """All Constant-node and initializer tensors of an ONNX file, by name."""
    return model_constants(load_onnx(path))


class _Pool:
    """Paddle weights of one layer kind, sorted by layer number, consumed in order."""

    def __init__(self, tensors: dict[str, np.ndarray], pattern: str, kind: str) -> None:
        regex = re.compile(pattern)
        groups: dict[str, dict[str, np.ndarray]] = {}
        for name, arr in tensors.items():
            m = regex.fullmatch(name)
            if m:
                groups.setdefault(m.group("layer"), {})[m.group("param")] = arr
        self.kind = kind
        self.layers = [(k, groups[k]) for k in sorted(groups, key=_natural_key)]
        self.pos = 0

    def take(self) -> tuple[str, dict[str, np.ndarray]]:
        if self.pos >= len(self.layers):
            raise ModelFileError(f"the ONNX file has fewer {self.kind} layers than the model")
        item = self.layers[self.pos]
        self.pos += 1
        return item

    def check_exhausted(self) -> None:
        if self.pos != len(self.layers):
            left = [k for k, _ in self.layers[self.pos :]]
            raise ModelFileError(f"unused {self.kind} weights in the ONNX file: {left[:5]}")


def copy_checked(dst: torch.Tensor, src: np.ndarray, where: str) -> None:
    """Copy ``src`` into ``dst`` when the shapes agree; :class:`ModelFileError` naming ``where``
    otherwise."""
    if tuple(dst.shape) != tuple(src.shape):
        raise ModelFileError(f"{where}: shape {tuple(src.shape)} does not fit {tuple(dst.shape)}")
    with torch.no_grad():
        dst.copy_(torch.from_numpy(np.array(src, copy=True)))  # the file's arrays are read-only


def load_paddle_weights(
    modules: Iterable[nn.Module], tensors: dict[str, np.ndarray]
) -> dict[str, int]:
    """Copy Paddle-named weights into ``modules`` (visited in order); returns counts per kind.

    Args:
        modules: the model's modules in Paddle's creation order (usually ``model.modules()``
            minus branches the inference file lacks).
        tensors: output of :func:`onnx_constants`.
    """
    pools = {
        "conv": _Pool(tensors, r"conv2d_(?P<layer>\d+)\.(?P<param>[wb]_0)", "conv2d"),
        "bn": _Pool(tensors, r"batch_norm_(?P<layer>\d+)\.(?P<param>[wb]_[012])", "batch_norm"),
        "convT": _Pool(
            tensors, r"conv2d_transpose_(?P<layer>\d+)\.(?P<param>[wb]_0)", "conv2d_transpose"
        ),
        "lstm": _Pool(tensors, r"lstm_cell_(?P<layer>\d+)\.(?P<param>[wb]_[01])", "lstm_cell"),
        "fc": _Pool(tensors, r"(?P<layer>.+)_(?P<param>[wb])_attr", "fully connected"),
    }
    for module in modules:
        if isinstance(module, nn.ConvTranspose2d | nn.Conv2d):
            kind = "convT" if isinstance(module, nn.ConvTranspose2d) else "conv"
            name, p = pools[kind].take()
            copy_checked(module.weight, p["w_0"], f"{name}.w_0")
            if module.bias is not None:
                if "b_0" not in p:
                    raise ModelFileError(f"{name}: the model expects a bias the file lacks")
                copy_checked(module.bias, p["b_0"], f"{name}.b_0")
        elif isinstance(module, nn.BatchNorm2d):
            name, p = pools["bn"].take()
            mean, var = module.running_mean, module.running_var
            assert mean is not None and var is not None  # the models' BatchNorms track statistics
            copy_checked(module.weight, p["w_0"], f"{name}.w_0")
            copy_checked(module.bias, p["b_0"], f"{name}.b_0")
            copy_checked(mean, p["w_1"], f"{name}.w_1")
            copy_checked(var, p["w_2"], f"{name}.w_2")
        elif isinstance(module, nn.LSTM):
            for layer in range(module.num_layers):
                for suffix in ("", "_reverse") if module.bidirectional else ("",):
                    name, p = pools["lstm"].take()
                    copy_checked(getattr(module, f"weight_ih_l{layer}{suffix}"), p["w_0"], name)
                    copy_checked(getattr(module, f"weight_hh_l{layer}{suffix}"), p["w_1"], name)
                    copy_checked(getattr(module, f"bias_ih_l{layer}{suffix}"), p["b_0"], name)
                    copy_checked(getattr(module, f"bias_hh_l{layer}{suffix}"), p["b_1"], name)
        elif isinstance(module, nn.Linear):
            name, p = pools["fc"].take()
            copy_checked(module.weight, p["w"].T, f"{name}_w_attr")
            copy_checked(module.bias, p["b"], f"{name}_b_attr")
    for pool in pools.values():
        pool.check_exhausted()
    return {k: pool.pos for k, pool in pools.items()}
