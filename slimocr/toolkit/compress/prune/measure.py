"""Cost of a (pruned) model: multiply-accumulates, parameters, ONNX Runtime latency.

MACs are counted with forward hooks on convs, transposed convs, linear and recurrent layers
(BatchNorm and activations are left out: they fold or are negligible). Torch-Pruning's
``count_ops_and_params`` agrees on plain convs, but at 1×3×32×320 it counts the recognizer's
2-layer LSTM at 16.3 GMACs (true: 31 MMACs) and a stride-2, 2×2 transposed conv 4× too high
(every output pixel gets one tap per input channel, not four), so this small counter is used.

>>> from slimocr.toolkit.models import create_model
>>> round(count_macs(create_model("dbnet_mv3_ppocrv3"), (1, 3, 640, 640)) / 1e9, 2)
1.91
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from slimocr.infer.session import OnnxSession
from slimocr.toolkit.export.onnx_export import build_metadata, export_onnx


def _conv_macs(m: nn.modules.conv._ConvNd, inp: torch.Tensor, out: torch.Tensor) -> int:
    k = int(np.prod(m.kernel_size))
    if isinstance(m, nn.modules.conv._ConvTransposeNd):
        return inp.numel() * (m.out_channels // m.groups) * k
    return out.numel() * (m.in_channels // m.groups) * k


def _rnn_macs(m: nn.RNNBase, inp: torch.Tensor) -> int:
    gates = {"LSTM": 4, "GRU": 3}.get(m.mode, 1)
    steps = inp.numel() // inp.shape[-1]  # batch × time
    dirs = 2 if m.bidirectional else 1
    total = 0
    for layer in range(m.num_layers):
        width = m.input_size if layer == 0 else m.hidden_size * dirs
        total += steps * dirs * gates * m.hidden_size * (width + m.hidden_size)
    return total


def layer_macs(m: nn.Module, inp: torch.Tensor, out: Any) -> int:
    """MACs of one call of a conv, transposed conv, linear or recurrent layer (else 0)."""
    if isinstance(m, nn.modules.conv._ConvNd):
        return _conv_macs(m, inp, out)
    if isinstance(m, nn.Linear):
        return (out.numel() // m.out_features) * m.in_features * m.out_features
    if isinstance(m, nn.RNNBase):
        return _rnn_macs(m, inp)
    return 0


@torch.no_grad()
def per_layer_macs(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, int]:
    """``{module name: MACs}`` of one eval-mode forward on a zero input of ``input_shape``."""
    names = {m: n for n, m in model.named_modules()}
    counts: dict[str, int] = {}

    def hook(m: nn.Module, args: tuple[Any, ...], out: Any) -> None:
        counts[names[m]] = counts.get(names[m], 0) + layer_macs(m, args[0], out)

    kinds = (nn.modules.conv._ConvNd, nn.Linear, nn.RNNBase)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    was_training = model.training
    model.eval()
    try:
        model(torch.zeros(tuple(input_shape)))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return counts


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one eval-mode forward on a zero input of ``input_shape``."""
    return sum(per_layer_macs(model, input_shape).values())


def count_params(model: nn.Module) -> int:
    """Number of parameters (weights and biases)."""
    return sum(p.numel() for p in model.parameters())


def onnx_latency_ms(
    path: str | Path,
    input_shape: tuple[int, ...],
    threads: int = 2,
    runs: int = 20,
    warmup: int = 3,
) -> dict[str, float]:
    """Latency of an ONNX file in ONNX Runtime (CPU) on a random input.

    Returns:
        ``{"median_ms", "min_ms", "mean_ms", "runs", "threads"}``.
    """
    session = OnnxSession(path, threads)
    x = np.random.default_rng(0).standard_normal(input_shape).astype(np.float32)
    for _ in range(warmup):
        session.run(x)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        session.run(x)
        times.append((time.perf_counter() - t0) * 1000.0)
    return {
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "mean_ms": statistics.fmean(times),
        "runs": runs,
        "threads": threads,
    }


def model_latency_ms(
    model: nn.Module,
    kind: str,
    input_shape: tuple[int, ...],
    threads: int = 2,
    runs: int = 20,
    warmup: int = 3,
) -> dict[str, float]:
    """Export ``model`` to a temporary ONNX file and time it (see :func:`onnx_latency_ms`)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        export_onnx(model, path, kind, build_metadata(kind, "latency-probe"))
        return onnx_latency_ms(path, input_shape, threads, runs, warmup)


def compare_latency(
    models: dict[str, nn.Module],
    kind: str,
    input_shape: tuple[int, ...],
    threads: int = 2,
    runs: int = 20,
    warmup: int = 3,
    out_dir: str | Path | None = None,
) -> dict[str, dict[str, float]]:
    """ONNX Runtime latency of several models measured in the same run, interleaved.

    Each model is exported to ONNX (into ``out_dir`` or a temporary folder) and the timed runs
    go round-robin over the models, so that load from other processes hits all of them alike.

    Returns:
        ``{name: {"median_ms", "min_ms", "mean_ms", "runs", "threads"}}``.
    """
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(out_dir) if out_dir is not None else Path(tmp)
        sessions = {}
        for name, model in models.items():
            path = folder / f"{name}.onnx"
            export_onnx(model, path, kind, build_metadata(kind, name))
            sessions[name] = OnnxSession(path, threads)
        x = np.random.default_rng(0).standard_normal(input_shape).astype(np.float32)
        times: dict[str, list[float]] = {name: [] for name in sessions}
        for i in range(warmup + runs):
            for name, session in sessions.items():
                t0 = time.perf_counter()
                session.run(x)
                if i >= warmup:
                    times[name].append((time.perf_counter() - t0) * 1000.0)
    return {
        name: {
            "median_ms": statistics.median(t),
            "min_ms": min(t),
            "mean_ms": statistics.fmean(t),
            "runs": runs,
            "threads": threads,
        }
        for name, t in times.items()
    }
