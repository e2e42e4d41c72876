"""Turn a float model into a fake-quantized one (QAT or PTQ), in place.

>>> from slimocr.toolkit.models import create_model
>>> model = prepare_qat(create_model("crnn_ppocrv2"), QuantConfig())  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from slimocr.errors import ConfigError
from slimocr.toolkit.compress.quant.config import QuantConfig
from slimocr.toolkit.compress.quant.fake_quant import ActQuant, QuantHardswish, SigmoidGELU
from slimocr.toolkit.compress.quant.fold import ChannelScale, _parent, fold_batchnorm_factors, trace
from slimocr.toolkit.compress.quant.layers import QUANT_TYPES, QuantMixin, as_module, quantizable
from slimocr.toolkit.compress.quant.pact import PACTClip

ModulePredicate = Callable[[nn.Module], bool]
Selection = ModulePredicate | Iterable[nn.Module | type[nn.Module]] | None

_PASS_THROUGH = (nn.Identity, nn.Dropout)
_PACT_PLACEHOLDER = 20.0  # replaced by the calibrated threshold when pact_init == "calib"


def as_predicate(selection: Selection) -> ModulePredicate:
    """A predicate from a predicate, or from modules and module types to match.

    >>> as_predicate([nn.LSTM])(nn.LSTM(2, 2))
    True
    """
    if selection is None:
        return lambda m: False
    if callable(selection) and not isinstance(selection, type):
        return selection
    items = list(selection)  # type: ignore[arg-type]
    types = tuple(i for i in items if isinstance(i, type))
    ids = {id(i) for i in items if isinstance(i, nn.Module)}
    return lambda m: id(m) in ids or (bool(types) and isinstance(m, types))


def _skip_predicate(model: nn.Module, cfg: QuantConfig, skip: Selection) -> ModulePredicate:
    user = as_predicate(skip)
    types = set(cfg.skip_types)
    modules = dict(model.named_modules())
    unknown = [n for n in cfg.skip_names if n not in modules]
    if unknown:
        raise ConfigError(f"quant.skip_names: no module named {unknown} in {type(model).__name__}")
    by_name = {id(modules[n]) for n in cfg.skip_names}
    return lambda m: type(m).__name__ in types or id(m) in by_name or user(m)


def quant_layers(model: nn.Module) -> list[tuple[str, QuantMixin]]:
    """The fake-quantized layers of ``model`` with their names."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, QuantMixin)]


def act_quantizers(model: nn.Module) -> list[tuple[str, ActQuant]]:
    """The activation quantizers of ``model`` with their names."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, ActQuant)]


def _replace_layers(
    model: nn.Module, cfg: QuantConfig, skip: ModulePredicate
) -> tuple[dict[str, QuantMixin], list[str]]:
    replaced: dict[str, QuantMixin] = {}
    kept_float: list[str] = []

    def visit(module: nn.Module, prefix: str) -> None:
        for name, child in module.named_children():
            full = prefix + name
            if skip(child):
                if any(True for _ in child.parameters()):
                    kept_float.append(full)
                continue
            if quantizable(child):
                q = QUANT_TYPES[type(child)].from_float(child, cfg.weight_qmax, cfg.per_channel)
                setattr(module, name, q)
                replaced[full] = q
            else:
                visit(child, full + ".")

    visit(model, "")
    return replaced, kept_float


def _zero_pad(node: fx.Node) -> bool:
    """A constant zero ``F.pad``: its output holds the input's values and zeros, which every
    quantization grid holds exactly, so it can share the input's quantizer."""
    if node.target is not F.pad:
        return False
    mode = node.kwargs.get("mode", node.args[2] if len(node.args) > 2 else "constant")
    value = node.kwargs.get("value", node.args[3] if len(node.args) > 3 else None)
    return mode == "constant" and not value


def _producer(node: Any, model: nn.Module) -> str | None:
    """The quant layer whose output ``node`` is (through Identity/Dropout and constant zero
    padding), else None."""
    while isinstance(node, fx.Node) and node.op in ("call_module", "call_function"):
        if node.op == "call_function":
            if not _zero_pad(node):
                return None
            node = node.args[0]
            continue
        module = model.get_submodule(str(node.target))
        if isinstance(module, QuantMixin):
            return str(node.target)
        if not isinstance(module, _PASS_THROUGH):
            return None
        node = node.args[0]
    return None


def _final_layers(graph: fx.Graph, model: nn.Module) -> set[str]:
    """Quant layers whose output reaches the graph output without passing another quant layer."""
    finals: set[str] = set()
    output = next(n for n in graph.nodes if n.op == "output")
    stack, seen = list(output.all_input_nodes), set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node.op == "call_module" and isinstance(model.get_submodule(node.target), QuantMixin):
            finals.add(str(node.target))
            continue
        stack.extend(node.all_input_nodes)
    return finals


def _sole_relu_user(node: fx.Node, model: nn.Module) -> str | None:
    """The ReLU module that is the only consumer of ``node`` (through Identity/Dropout, e.g. a
    folded BatchNorm), else None."""
    while len(node.users) == 1:
        (user,) = node.users
        if user.op != "call_module":
            return None
        module = model.get_submodule(str(user.target))
        if isinstance(module, nn.ReLU):
            return str(user.target)
        if not isinstance(module, _PASS_THROUGH):
            return None
        node = user
    return None


def _sole_relus(
    graphs: list[fx.Graph], model: nn.Module, replaced: dict[str, QuantMixin]
) -> dict[str, str]:
    """Quant layer → the ReLU module that alone consumes its output, in every trace, and is
    called nowhere else (so dropping that module changes no other path)."""
    calls: dict[str, int] = {}  # call_module target → calls over all traces
    found: dict[str, set[str | None]] = {}
    for graph in graphs:
        for node in graph.nodes:
            if node.op != "call_module":
                continue
            target = str(node.target)
            calls[target] = calls.get(target, 0) + 1
            if target in replaced:
                found.setdefault(target, set()).add(_sole_relu_user(node, model))
    pairs: dict[str, str] = {}
    for layer, relus in found.items():
        if len(relus) == 1:
            (relu,) = relus
            if relu is not None:
                pairs[layer] = relu
    # each such ReLU is called once per trace in which its (unshared) layer runs
    return {
        layer: relu
        for layer, relu in pairs.items()
        if calls.get(relu, 0) == calls[layer] <= len(graphs)
    }


def _replace_activations(
    graphs: list[fx.Graph],
    model: nn.Module,
    replaced: dict[str, QuantMixin],
    kind: type[nn.Module],
    factory: Callable[[], nn.Module],
) -> int:
    """Replace each ``kind`` module whose input is, in every trace, a quantized layer output by
    ``factory()`` (an activation with an integer form); return how many."""
    quantized_input: dict[str, set[bool]] = {}
    for graph in graphs:
        for node in graph.nodes:
            if node.op != "call_module":
                continue
            if type(model.get_submodule(str(node.target))) is not kind:
                continue
            src = _producer(node.args[0], model)
            ok = src is not None and replaced[src].out_quant is not None
            quantized_input.setdefault(str(node.target), set()).add(ok)
    names = [name for name, found in quantized_input.items() if found == {True}]
    for name in names:
        parent, attr = _parent(model, name)
        setattr(parent, attr, factory())
    return len(names)


def prepare_qat(
    model: nn.Module,
    cfg: QuantConfig | None = None,
    skip: Selection = None,
    float_output: Selection = None,
    fold_bn: bool = True,
) -> nn.Module:
    """Fold BatchNorm and insert fake quantization into ``model`` (in place; returned).

    Conv2d, depthwise Conv2d, ConvTranspose2d and Linear layers get int8 weights (per output
    channel) and 8-bit inputs and outputs; a PACT clip goes before each activation quantizer
    when ``cfg.pact``. The activation scales are unset until :func:`~.ptq.calibrate` or the
    first training steps.

    Args:
        model: a float detector or recognizer (any fx-traceable model).
        cfg: quantization choices (default :class:`QuantConfig`).
        skip: modules kept float, with everything inside them: a predicate, or modules and
            module types (``cfg.skip_types`` adds class names; LSTMs by default).
        float_output: layers whose output stays float (in addition to those that feed the
            model's output, unless ``cfg.quantize_model_output``).
        fold_bn: fold conv → BatchNorm pairs first (see :mod:`.fold`).

    Returns:
        The same model object, fake-quantized.
    """
    cfg = cfg or QuantConfig()
    factors = fold_batchnorm_factors(model) if fold_bn else {}
    replaced, _ = _replace_layers(model, cfg, _skip_predicate(model, cfg, skip))
    if not replaced:
        raise ValueError(f"{type(model).__name__}: no conv or linear layer to quantize")
    if cfg.bn_reparam:
        for (conv_name, _), factor in factors.items():
            layer = replaced.get(conv_name)
            if layer is not None:
                axis = layer.WEIGHT_AXIS
                scale = ChannelScale(factor, axis, layer.weight.dim())
                parametrize.register_parametrization(layer, "weight", scale)  # type: ignore[arg-type]
    keep_float_out = as_predicate(float_output)
    graphs = trace(model)
    finals = (
        set()
        if cfg.quantize_model_output
        else set().union(*(_final_layers(g, model) for g in graphs))
    )

    def new_quant(unsigned: bool = False) -> ActQuant:
        init = _PACT_PLACEHOLDER if cfg.pact_init == "calib" else float(cfg.pact_init)
        pact = PACTClip(init) if cfg.pact else None
        asymmetric = cfg.act_range == "asymmetric"
        return ActQuant(
            cfg.moving_rate, cfg.act_signed, pact, unsigned=unsigned, asymmetric=asymmetric
        )

    relus = _sole_relus(graphs, model, replaced) if cfg.fuse_relu else {}
    for name, layer in replaced.items():
        if name not in finals and not keep_float_out(as_module(layer)):
            layer.out_quant = new_quant(unsigned=name in relus)
            if name in relus:  # the quantizer applies it; Identity lets _producer see through
                parent, attr = _parent(model, relus[name])
                setattr(parent, attr, nn.Identity())
    if cfg.gelu == "sigmoid":
        _replace_activations(graphs, model, replaced, nn.GELU, SigmoidGELU)
    if cfg.hardswish == "int8":
        _replace_activations(graphs, model, replaced, nn.Hardswish, QuantHardswish)
    sources: dict[str, set[str | None]] = {name: set() for name in replaced}
    for graph in graphs:
        for node in graph.nodes:
            if node.op == "call_module" and node.target in sources:
                src = _producer(node.args[0], model)
                has_out = src is not None and replaced[src].out_quant is not None
                sources[node.target].add(src if has_out else None)
    for name, layer in replaced.items():
        found = sources[name]
        if len(found) == 1 and None not in found:
            layer.set_input_source(replaced[found.pop()].out_quant)  # type: ignore[index]
        else:
            layer.in_quant = new_quant()
    return model


def _type_name(module: nn.Module) -> str:
    return parametrize.type_before_parametrizations(module).__name__


def quant_summary(model: nn.Module) -> dict[str, Any]:
    """What is quantized: layer counts, float outputs, modules with float weights (LSTM...)."""
    layers = quant_layers(model)
    inside = {n for n, _ in layers} | {n for n, _ in act_quantizers(model)}
    float_modules = [
        name
        for name, m in model.named_modules()
        if name
        and not any(name == p or name.startswith(p + ".") for p in inside)
        and any(True for _ in m.parameters(recurse=False))
    ]
    return {
        "quantized_layers": len(layers),
        "by_type": {
            t: sum(1 for _, m in layers if _type_name(as_module(m)) == t)
            for t in sorted({_type_name(as_module(m)) for _, m in layers})
        },
        "float_outputs": [n for n, m in layers if m.out_quant is None],
        "shared_inputs": sum(1 for _, m in layers if m.in_quant is None),
        "activation_quantizers": len(act_quantizers(model)),
        "sigmoid_gelus": sum(1 for m in model.modules() if isinstance(m, SigmoidGELU)),
        "int8_hardswish": sum(1 for m in model.modules() if isinstance(m, QuantHardswish)),
        "float_modules": float_modules,
    }


@contextmanager
def export_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Freeze integer weights and make quantizers emit ONNX Q/DQ nodes (restored on exit).

    A quantizer the exported forward uses without a scale raises ``RuntimeError``."""
    layers = [m for _, m in quant_layers(model)]
    quants = [m for _, m in act_quantizers(model)]
    for q in quants:
        q.exporting = True
    try:
        for layer in layers:
            if layer.input_quantizer().initialized:  # else: a branch eval mode never runs
                layer.freeze_for_export()
        yield model
    finally:
        for q in quants:
            q.exporting = False
        for layer in layers:
            layer.unfreeze()
