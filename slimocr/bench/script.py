"""Argument checks shared by the ``bench/`` scripts: a bad argument is one ``error:`` line on
stderr and exit code 2, before any model is loaded (a bad model or an ONNX Runtime failure
exits with 1)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import NoReturn

import numpy as np

from slimocr.errors import OptionError
from slimocr.files import out_file_problem
from slimocr.infer.session import THREADS_RANGE, check_threads


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code`` (2: bad argument)."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def check_counts(counts: Iterable[tuple[str, int, int]]) -> None:
    """``(flag, value, least)`` triples: exit 2 on the first value below its least."""
    for flag, value, least in counts:
        if value < least:
            fail(f"{flag} {value}: must be at least {least}", 2)


def check_threads_arg(threads: int) -> None:
    """Exit 2 on a thread count the pipeline's sessions refuse (:func:`check_threads`)."""
    try:
        check_threads(threads)
    except OptionError:
        fail(f"--threads {threads}: must be {THREADS_RANGE}", 2)


def parse_shape(text: str) -> tuple[int, ...]:
    """``"N,C,H,W"`` → four positive ints; exits with code 2 on anything else."""
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 4 or min(shape) < 1:
        fail(f"--shape {text!r}: expected four positive integers N,C,H,W", 2)
    return shape


def random_input(shape: tuple[int, ...], text: str) -> np.ndarray:
    """The scripts' fixed random float32 input (seed 0); exit 2 when it does not fit in
    memory."""
    try:
        return np.random.default_rng(0).random(shape, dtype=np.float32)
    except (MemoryError, ValueError) as exc:
        fail(f"--shape {text}: input too large for this machine ({exc})", 2)


def check_out_file(out: Path | None) -> None:
    """Exit with code 2 unless ``out`` can be written as a file."""
    problem = None if out is None else out_file_problem(out)
    if problem:
        fail(f"--out {problem}", 2)
