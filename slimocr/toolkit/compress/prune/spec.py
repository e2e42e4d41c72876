"""Channel spec: rebuild a pruned model from data, without re-running the pruning.

A pruned model is saved as two files side by side: ``weights.pt`` (the state dict) and
``channels.json``, the architecture name plus, for every conv, transposed conv, BatchNorm and
linear layer, its input/output channels and groups. :func:`rebuild_pruned` builds the registered
architecture and shrinks those layers to the spec (empty tensors of the right shapes), so that
``load_state_dict`` of the pruned weights works.

>>> import tempfile
>>> from slimocr.toolkit.models import create_model
>>> model = create_model("dbnet_mv3_ppocrv3")
>>> with tempfile.TemporaryDirectory() as d:
...     _ = save_pruned(model, "dbnet_mv3_ppocrv3", d)
...     load_pruned(d).__class__.__name__
'DBNet'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from slimocr.errors import ModelFileError
from slimocr.files import atomic_write
from slimocr.toolkit.models import create_model

SPEC_FORMAT = 1
WEIGHTS_FILE = "weights.pt"
SPEC_FILE = "channels.json"
_CONV = nn.modules.conv._ConvNd
_BN = nn.modules.batchnorm._BatchNorm


def channel_spec(model: nn.Module) -> dict[str, dict[str, Any]]:
    """``{module name: {"type", "in", "out", "groups"}}`` for every conv/BN/linear layer."""
    spec: dict[str, dict[str, Any]] = {}
    for name, m in model.named_modules():
        if isinstance(m, _CONV):
            entry = {"in": m.in_channels, "out": m.out_channels, "groups": m.groups}
        elif isinstance(m, _BN):
            entry = {"in": m.num_features, "out": m.num_features, "groups": 1}
        elif isinstance(m, nn.Linear):
            entry = {"in": m.in_features, "out": m.out_features, "groups": 1}
        else:
            continue
        spec[name] = {"type": type(m).__name__, **entry}
    return spec


def _empty_like_param(old: torch.Tensor, shape: tuple[int, ...]) -> nn.Parameter:
    return nn.Parameter(torch.empty(shape, dtype=old.dtype), requires_grad=old.requires_grad)


def _shrink(name: str, m: nn.Module, entry: Mapping[str, Any]) -> None:
    if type(m).__name__ != entry["type"]:
        raise ValueError(f"{name}: spec says {entry['type']}, model has {type(m).__name__}")
    cin, cout, groups = int(entry["in"]), int(entry["out"]), int(entry["groups"])
    if isinstance(m, _CONV):
        if isinstance(m, nn.modules.conv._ConvTransposeNd):
            shape = (cin, cout // groups, *m.kernel_size)
        else:
            shape = (cout, cin // groups, *m.kernel_size)
        m.weight = _empty_like_param(m.weight, shape)
        if m.bias is not None:
            m.bias = _empty_like_param(m.bias, (cout,))
        m.in_channels, m.out_channels, m.groups = cin, cout, groups
    elif isinstance(m, _BN):
        if m.affine:
            m.weight = _empty_like_param(m.weight, (cout,))
            m.bias = _empty_like_param(m.bias, (cout,))
        if m.track_running_stats:
            m.running_mean = torch.zeros(cout)
            m.running_var = torch.ones(cout)
        m.num_features = cout
    elif isinstance(m, nn.Linear):
        m.weight = _empty_like_param(m.weight, (cout, cin))
        if m.bias is not None:
            m.bias = _empty_like_param(m.bias, (cout,))
        m.in_features, m.out_features = cin, cout


def apply_channel_spec(model: nn.Module, spec: Mapping[str, Mapping[str, Any]]) -> nn.Module:
    """Shrink ``model``'s layers in place to the channel counts of ``spec``."""
    modules = dict(model.named_modules())
    missing = sorted(set(spec) - set(modules))
    if missing:
        raise ValueError(f"channel spec names modules the model lacks: {missing[:5]}")
    for name, entry in spec.items():
        _shrink(name, modules[name], entry)
    return model


def _modules_of(spec: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    return spec["modules"] if "modules" in spec else spec


def rebuild_pruned(arch: str, spec: Mapping[str, Any]) -> nn.Module:
    """The registered ``arch`` with its layers shrunk to ``spec`` (weights left uninitialized).

    Args:
        arch: registered model name (``slimocr.toolkit.models.list_models()``).
        spec: :func:`channel_spec` output, or the ``channels.json`` document holding it.
    """
    return apply_channel_spec(create_model(arch, pretrained=False), _modules_of(spec))


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write JSON so that a reader (or a kill) never sees half a file."""
    path = Path(path)
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return path


def save_pruned(
    model: nn.Module, arch: str, out_dir: str | Path, extra: Mapping[str, Any] | None = None
) -> Path:
    """Write ``weights.pt`` and ``channels.json`` into ``out_dir`` (atomically); returns it.

    Args:
        model: the pruned model.
        arch: the registered architecture it was pruned from.
        out_dir: folder of the two files.
        extra: more JSON-able facts for ``channels.json`` (ratios, MACs, parent, recipe).
    """
    out_dir = Path(out_dir)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_write(out_dir / WEIGHTS_FILE, lambda tmp: torch.save(state, tmp))
    doc = {"format": SPEC_FORMAT, "arch": arch, **dict(extra or {}), "modules": channel_spec(model)}
    write_json_atomic(out_dir / SPEC_FILE, doc)
    return out_dir


def read_spec(path: str | Path) -> dict[str, Any]:
    """The ``channels.json`` of a pruned model folder (or the file itself)."""
    path = Path(path)
    file = path / SPEC_FILE if path.is_dir() else path
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{file}: cannot read channel spec ({exc})") from exc
    if doc.get("format") != SPEC_FORMAT or "arch" not in doc or "modules" not in doc:
        raise ModelFileError(f"{file}: not a SlimOCR channel spec (format {SPEC_FORMAT})")
    return doc


def load_pruned(path: str | Path) -> nn.Module:
    """Rebuild a pruned model from its folder (``channels.json`` + ``weights.pt``), eval mode.

    This is the entry point of later stages, e.g. quantization-aware training of a pruned
    model: ``Trainer(cfg, model=load_pruned("runs/prune_det/model"))``.
    """
    path = Path(path)
    doc = read_spec(path)
    model = rebuild_pruned(doc["arch"], doc)
    weights = path / WEIGHTS_FILE if path.is_dir() else path.with_name(WEIGHTS_FILE)
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state.get("model", state))
    except (OSError, RuntimeError) as exc:
        raise ModelFileError(f"{weights}: cannot load pruned weights ({exc})") from exc
    return model.eval()
