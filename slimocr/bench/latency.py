"""Latency measurement: warm-up excluded, medians over repeated runs, rows interleaved.

Every row is timed in the same process and the same run, round-robin (row A, row B, … then
again), so that drift of the machine's speed affects all rows alike and ratios stay fair.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Timer:
    """Collects per-call milliseconds for one named workload."""

    name: str
    samples_ms: list[float] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(self.samples_ms) if self.samples_ms else float("nan")


def time_rows(
    rows: dict[str, Callable[[int], float | None]],
    n_items: int,
    repeats: int = 3,
    warmup: int = 2,
) -> dict[str, Timer]:
    """Time ``rows[name](i)`` for items ``0..n_items-1``, ``repeats`` rounds, interleaved.

    Each callable processes item ``i`` and returns its own measured milliseconds (or None to
    have the call timed here). The first ``warmup`` items of the first round are run once more
    before timing starts and are not recorded.

    Returns:
        name → :class:`Timer` with ``n_items * repeats`` samples.
    """
    timers = {name: Timer(name) for name in rows}
    for fn in rows.values():
        for i in range(min(warmup, n_items)):
            fn(i)
    for _ in range(repeats):
        for i in range(n_items):
            for name, fn in rows.items():
                t0 = time.perf_counter()
                ms = fn(i)
                if ms is None:
                    ms = (time.perf_counter() - t0) * 1000.0
                timers[name].samples_ms.append(ms)
    return timers


def session_runner(session: Any, x: Any) -> Callable[[int], None]:
    """A :func:`time_rows` row that runs ``session`` on the same input ``x`` every call."""

    def run(i: int) -> None:
        session.run(x)

    return run


# The x86 flags that decide what int8 gains: VNNI (AVX-512 or AVX) multiplies u8×s8 without the
# int16 saturation of plain AVX2; AMX adds tile matrix units (ONNX Runtime's int8 GEMMs use them).
INT8_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")


def machine_info() -> dict[str, Any]:
    """CPU model and the int8-relevant flags it has (:data:`INT8_FLAGS`; None where unknown:
    not x86 Linux), whether int8-activation files load here (``int8_dot``,
    :func:`slimocr.infer.cpu.int8_dot`, and the ``SLIMOCR_INT8`` setting behind it), logical
    CPU count and library versions, for every reported timing."""
    import os
    import platform

    import onnxruntime

    from slimocr.infer.cpu import cpu_flags, cpu_model, int8_dot, int8_setting

    flags = cpu_flags()
    return {
        "cpu": cpu_model(),
        "cpu_flags": None if flags is None else [f for f in INT8_FLAGS if f in flags],
        "int8_dot": int8_dot(),
        "int8_setting": int8_setting(),
        "logical_cpus": os.cpu_count(),
        "onnxruntime": onnxruntime.__version__,
        "python": platform.python_version(),
    }


def emit_report(report: dict[str, Any], out: Path | None = None) -> None:
    """Print a measurement report as indented JSON and, given ``out``, write the same text
    there (folders created)."""
    text = json.dumps(report, indent=2)
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
