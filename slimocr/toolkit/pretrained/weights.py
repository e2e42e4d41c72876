"""Official weights as torch state dicts, imported once and cached on disk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from slimocr.errors import ModelFileError
from slimocr.files import atomic_write
from slimocr.official import OFFICIAL_FILES, official_path
from slimocr.toolkit.pretrained.graph_importer import load_graph_weights, onnx_graph_layers
from slimocr.toolkit.pretrained.importer import load_paddle_weights, onnx_constants

if TYPE_CHECKING:  # slimocr.toolkit.models imports the builders, which import this module
    from slimocr.toolkit.models.registry import ModelSpec


def cache_dir() -> Path:
    """``$SLIMOCR_CACHE`` or ``~/.cache/slimocr``."""
    return Path(os.environ.get("SLIMOCR_CACHE", Path.home() / ".cache" / "slimocr"))


def atomic_torch_save(obj: object, path: Path) -> None:
    """Write with torch.save to a temporary file in the same folder, then rename over ``path``."""
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def import_official(spec: ModelSpec, out: Path | None = None, force: bool = False) -> Path:
    """Convert a registered model's official ONNX weights into our state dict, cached on disk.

    Args:
        spec: the registered model (:func:`slimocr.toolkit.models.model_spec`).
        out: where to write; default ``cache_dir()/NAME-SHA12.pt`` (tied to the source file).
        force: re-import even when the cached file exists.

    Returns:
        The path of the state dict.
    """
    name = spec.name
    src = official_path(spec.official)
    sha = OFFICIAL_FILES[spec.official].sha256[:12]
    out = out or cache_dir() / f"{name}-{sha}.pt"
    if out.exists() and not force:
        return out
    with torch.random.fork_rng():
        torch.manual_seed(0)  # branches absent from the file get a reproducible initialisation
        model = spec.builder(pretrained=False).eval()
    if spec.weight_match == "graph":
        sample = torch.zeros(1, 3, spec.input_height or 64, 64)
        load_graph_weights(model, onnx_graph_layers(src), sample, spec.not_in_official)
    else:
        modules = [
            m
            for mod_name, m in model.named_modules()
            if not any(mod_name.startswith(p) for p in spec.not_in_official)
        ]
        load_paddle_weights(modules, onnx_constants(src))
    atomic_torch_save(model.state_dict(), out)
    return out


def load_pretrained(model: nn.Module, spec: ModelSpec) -> nn.Module:
    """Load the imported official weights of ``spec`` into ``model`` (importing if needed)."""
    path = import_official(spec)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelFileError(f"{path}: cannot load cached weights ({exc}); delete it") from exc
    model.load_state_dict(state)
    return model
