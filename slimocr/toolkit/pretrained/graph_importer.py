"""Import weights from re-parameterized ONNX inference files, pairing layers by graph position.

RapidOCR's PP-OCRv6 files merge each conv with its BN and training-time branches into new,
differently numbered convs whose biases are anonymous ``Add`` constants, so layer names say
nothing about which module a weight belongs to. Here the graph's parameterized nodes, in node
order (:func:`onnx_graph_layers`), are paired with our modules in the order one forward pass calls
them (:func:`call_order`). Every pair is checked for kind, shape and attributes (kernel, stride,
groups, padding, epsilon); a count mismatch on either side is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import onnx
import torch
from onnx import helper
from torch import nn

from slimocr.errors import ModelFileError
from slimocr.toolkit.pretrained.importer import copy_checked, load_onnx, model_constants


@dataclass(frozen=True)
class GraphLayer:
    """A parameterized node (or node pattern) of an ONNX graph.

    Attributes:
        kind: ``conv``, ``conv_transpose``, ``batch_norm``, ``linear`` or ``layer_norm``.
        node: the node's output name, for messages.
        params: ``weight`` and, when the layer has one, ``bias`` (a conv's bias may be a
            following ``Add`` of a constant); batch norms add ``running_mean``/``running_var``.
        attrs: the node's attributes (convs: ``strides``, ``group``, ...); norms: ``epsilon``.
    """

    kind: str
    node: str
    params: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)


class _Graph:
    """Constants, producers and consumers of an ONNX graph, seen through ``Identity`` nodes."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.nodes = [n for n in model.graph.node if n.op_type != "Identity"]
        self.const = model_constants(model)
        self.alias = {n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "Identity"}
        self.producer = {self.name(o): n for n in self.nodes for o in n.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for n in self.nodes:
            for i in n.input:
                self.consumers.setdefault(self.name(i), []).append(n)

    def name(self, tensor: str) -> str:
        while tensor in self.alias:
            tensor = self.alias[tensor]
        return tensor

    def const_of(self, tensor: str) -> np.ndarray | None:
        return self.const.get(self.name(tensor))

    def sole_consumer(self, tensor: str, op: str) -> onnx.NodeProto | None:
        users = self.consumers.get(self.name(tensor), [])
        return users[0] if len(users) == 1 and users[0].op_type == op else None

    def const_operand(self, tensor: str, op: str) -> tuple[onnx.NodeProto, np.ndarray] | None:
        """The ``op`` node that alone consumes ``tensor`` with a constant as other operand."""
        node = self.sole_consumer(tensor, op)
        if node is None or len(node.input) != 2:
            return None
        other = node.input[1] if self.name(node.input[0]) == self.name(tensor) else node.input[0]
        value = self.const_of(other)
        return None if value is None else (node, value)


def _bias_after(g: _Graph, tensor: str, channels: int, ndim: int) -> np.ndarray | None:
    """A per-channel constant added right after ``tensor`` (a merged BN's shift), if any."""
    found = g.const_operand(tensor, "Add")
    if found is None:
        return None
    value = found[1]
    per_channel = (1, channels, 1, 1) if ndim == 4 else (channels,)
    return value.reshape(-1) if value.shape == per_channel else None


def _layer_norm(g: _Graph, sqrt: onnx.NodeProto) -> GraphLayer:
    """``(x - mean) / sqrt(var + eps) * weight + bias`` decomposed by Paddle's exporter."""
    add_eps = g.producer.get(g.name(sqrt.input[0]))
    eps = None if add_eps is None else g.const_operand(add_eps.input[0], "Add")
    div = g.sole_consumer(sqrt.output[0], "Div")
    mul = None if div is None else g.const_operand(div.output[0], "Mul")
    add = None if mul is None else g.const_operand(mul[0].output[0], "Add")
    if eps is None or mul is None or add is None:
        raise ModelFileError(f"{sqrt.output[0]}: a Sqrt that is not part of a layer norm")
    return GraphLayer(
        "layer_norm",
        add[0].output[0],
        {"weight": mul[1], "bias": add[1]},
        {"epsilon": float(eps[1])},
    )


def _graph_layer(g: _Graph, node: onnx.NodeProto) -> GraphLayer | None:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    out = node.output[0]
    if node.op_type in ("Conv", "ConvTranspose"):
        weight = g.const_of(node.input[1])
        if weight is None:
            raise ModelFileError(f"{out}: a {node.op_type} whose weight is not a constant")
        transposed = node.op_type == "ConvTranspose"
        channels = weight.shape[1] * attrs.get("group", 1) if transposed else weight.shape[0]
        if len(node.input) > 2 and node.input[2]:
            bias = g.const_of(node.input[2])
        else:
            bias = _bias_after(g, out, channels, ndim=4)
        params = {"weight": weight} | ({} if bias is None else {"bias": bias})
        return GraphLayer("conv_transpose" if transposed else "conv", out, params, attrs)
    if node.op_type == "BatchNormalization":
        names = ("weight", "bias", "running_mean", "running_var")
        params = {}
        for key, tensor in zip(names, node.input[1:], strict=True):
            value = g.const_of(tensor)
            if value is None:
                raise ModelFileError(f"{out}: a BatchNormalization whose {key} is not a constant")
            params[key] = value
        return GraphLayer("batch_norm", out, params, {"epsilon": attrs.get("epsilon", 1e-5)})
    if node.op_type == "MatMul":
        weight = g.const_of(node.input[1])
        if weight is None or weight.ndim != 2:
            return None  # attention's activation × activation products
        bias = _bias_after(g, out, weight.shape[1], ndim=1)
        return GraphLayer(
            "linear", out, {"weight": weight} | ({} if bias is None else {"bias": bias})
        )
    if node.op_type == "Sqrt":
        return _layer_norm(g, node)
    return None


def onnx_graph_layers(path: str | Path) -> list[GraphLayer]:
    """The parameterized layers of an ONNX file in graph node order."""
    g = _Graph(load_onnx(path))
    return [layer for node in g.nodes if (layer := _graph_layer(g, node)) is not None]


_MODULE_KINDS: tuple[tuple[type[nn.Module], str], ...] = (
    (nn.ConvTranspose2d, "conv_transpose"),
    (nn.Conv2d, "conv"),
    (nn.BatchNorm2d, "batch_norm"),
    (nn.Linear, "linear"),
    (nn.LayerNorm, "layer_norm"),
)


def _module_kind(module: nn.Module) -> str | None:
    return next((kind for cls, kind in _MODULE_KINDS if isinstance(module, cls)), None)


def call_order(model: nn.Module, sample: torch.Tensor) -> list[tuple[str, nn.Module]]:
    """The parameterized modules of ``model`` in the order a forward pass on ``sample`` calls
    them (conv, transposed conv, batch norm, linear, layer norm); a module called twice is an
    error."""
    names = {id(m): n for n, m in model.named_modules()}
    order: list[tuple[str, nn.Module]] = []

    def record(module: nn.Module, _args: object) -> None:
        order.append((names[id(module)], module))

    hooks = [m.register_forward_pre_hook(record) for m in model.modules() if _module_kind(m)]
    try:
        with torch.no_grad():
            model(sample)
    finally:
        for hook in hooks:
            hook.remove()
    seen = [n for n, _ in order]
    if len(set(seen)) != len(seen):
        raise ValueError("a module is called twice; graph-order import cannot pair it")
    return order


def _check_eps(module_eps: float, file_eps: float, where: str) -> None:
    if not np.isclose(module_eps, file_eps, rtol=1e-5, atol=0.0):
        raise ModelFileError(
            f"{where}: epsilon {file_eps:g} differs from the model's {module_eps:g}"
        )


def _check_conv(module: nn.Conv2d | nn.ConvTranspose2d, attrs: dict[str, Any], where: str) -> None:
    pads = tuple(attrs.get("pads", (0, 0, 0, 0)))
    # no explicit pads with auto_pad SAME_*: our module pads before the conv, its own padding is 0
    found = {
        "kernel_shape": tuple(attrs.get("kernel_shape", module.kernel_size)),
        "strides": tuple(attrs.get("strides", (1, 1))),
        "group": attrs.get("group", 1),
        "dilations": tuple(attrs.get("dilations", (1, 1))),
        "padding": pads[:2] if pads[:2] == pads[2:] else pads,
    }
    wanted = {
        "kernel_shape": tuple(module.kernel_size),
        "strides": tuple(module.stride),
        "group": module.groups,
        "dilations": tuple(module.dilation),
        "padding": tuple(module.padding),
    }
    for key, value in wanted.items():
        if found[key] != value:
            raise ModelFileError(f"{where}: {key} {found[key]} does not fit {value}")


def _tensor(module: nn.Module, attr: str) -> torch.Tensor:
    """A parameter or buffer of a module of a known kind (conv, linear, norm)."""
    return cast(torch.Tensor, getattr(module, attr))


def _copy_bias(module: nn.Module, bias: np.ndarray | None, where: str) -> None:
    if (module.bias is None) != (bias is None):
        side = "model" if bias is None else "file"
        raise ModelFileError(f"{where}: only the {side} has a bias")
    if bias is not None:
        copy_checked(_tensor(module, "bias"), bias, f"{where} bias")


def _assign(name: str, module: nn.Module, layer: GraphLayer) -> None:
    where = f"{name} ← {layer.kind} {layer.node}"
    kind = _module_kind(module)
    if kind != layer.kind:
        raise ModelFileError(f"{where}: the model has a {kind} here")
    p = layer.params
    if kind in ("conv", "conv_transpose"):
        _check_conv(module, layer.attrs, where)  # type: ignore[arg-type]
        copy_checked(_tensor(module, "weight"), p["weight"], where)
    elif kind == "linear":
        copy_checked(_tensor(module, "weight"), p["weight"].T, where)
    else:
        _check_eps(module.eps, layer.attrs["epsilon"], where)  # type: ignore[arg-type]
        copy_checked(_tensor(module, "weight"), p["weight"], where)
    if kind == "batch_norm":
        copy_checked(_tensor(module, "running_mean"), p["running_mean"], f"{where} mean")
        copy_checked(_tensor(module, "running_var"), p["running_var"], f"{where} var")
    if kind == "batch_norm" or kind == "layer_norm":
        copy_checked(_tensor(module, "bias"), p["bias"], f"{where} bias")
    else:
        _copy_bias(module, p.get("bias"), where)


def load_graph_weights(
    model: nn.Module,
    layers: list[GraphLayer],
    sample: torch.Tensor,
    not_in_file: tuple[str, ...] = (),
) -> dict[str, int]:
    """Copy a re-parameterized file's weights into ``model``, pairing layers by position.

    Args:
        model: in eval mode (the graph is the inference forward pass).
        layers: output of :func:`onnx_graph_layers`.
        sample: an input the model accepts (its size does not matter).
        not_in_file: module-name prefixes the file has no weights for; they must not run.

    Returns:
        Layers copied, per kind.
    """
    called = call_order(model, sample)
    names = {n for n, _ in called}
    missing = [
        n
        for n, m in model.named_modules()
        if _module_kind(m) and n not in names and not n.startswith(not_in_file)
    ]
    if missing:
        raise ModelFileError(f"model layers the forward pass never calls: {missing[:5]}")
    for (name, module), layer in zip(called, layers, strict=False):
        _assign(name, module, layer)
    if len(called) != len(layers):
        side = "file" if len(layers) > len(called) else "model"
        raise ModelFileError(
            f"the model calls {len(called)} parameterized layers, the file has {len(layers)}: "
            f"unused layers in the {side}"
        )
    counts: dict[str, int] = {}
    for layer in layers:
        counts[layer.kind] = counts.get(layer.kind, 0) + 1
    return counts
