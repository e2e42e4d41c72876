"""Atomic, resumable checkpoints (loaded with ``weights_only=True``)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slimocr.errors import ModelFileError
from slimocr.inputs import MAX_MODEL_BYTES, regular_file_size
from slimocr.toolkit.pretrained.weights import atomic_torch_save


def rng_state() -> dict[str, Any]:
    """Torch (CPU and CUDA) RNG states as tensors, so that ``weights_only`` loading accepts them."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def save_checkpoint(path: Path, **parts: Any) -> None:
    """Write ``parts`` (state dicts, step, metrics) atomically: a kill never leaves half a file."""
    atomic_torch_save(parts, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint safely; a corrupt file is a clear :class:`ModelFileError`."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets one line
        raise ModelFileError(f"{path}: cannot load checkpoint ({exc.__class__.__name__})") from exc


def load_problem(exc: BaseException, limit: int = 300) -> str:
    """Why loading a checkpoint's entries failed, on one short line: a missing entry, or the
    first lines of torch's message (``load_state_dict`` lists every mismatched tensor)."""
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]!r} entry" if exc.args else "a missing entry"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = " ".join(lines[:2]) or exc.__class__.__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_model_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Load a state dict (or a checkpoint's ``model`` entry) into ``model``.

    Raises:
        ModelFileError: missing, not a regular file, unreadable, or not weights of ``model``.
    """
    path = Path(path)
    regular_file_size(path, "weights", MAX_MODEL_BYTES, ModelFileError)
    state = load_checkpoint(path)
    try:
        state = state.get("model", state)
        model.load_state_dict(state)
    except (AttributeError, KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise ModelFileError(
            f"{path}: weights do not fit the model ({load_problem(exc)})"
        ) from None
