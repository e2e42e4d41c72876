"""What this CPU offers int8 inference: its feature flags and whether it has an int8 dot product.

Int8-activation ONNX files (QDQ graphs with uint8 activations) run on ONNX Runtime's u8×s8
kernels. Those gain on x86 CPUs with VNNI (AVX512-VNNI or AVX-VNNI; AMX-INT8 machines have them
too) and on Arm CPUs with the dot-product extension; on AVX2-only x86 CPUs they add pairs of
products in int16, which can saturate, and are often not faster than float compute. The zoo
loads a record's float-compute ``int8_fallback`` on a CPU without the dot product
(:func:`slimocr.zoo.registry.effective_record`).

``SLIMOCR_INT8=auto|on|off`` (default ``auto``) forces the answer of :func:`int8_dot`.

>>> has_int8_dot("flags\\t: fpu sse2 avx2 avx512_vnni\\n", "x86_64", "Linux")
True
"""

from __future__ import annotations

import functools
import os
import platform
from collections.abc import Mapping
from pathlib import Path

from slimocr.errors import OptionError

CPUINFO = Path("/proc/cpuinfo")
ENV_VAR = "SLIMOCR_INT8"
ENV_VALUES = ("auto", "on", "off")
# x86 flags of an int8 dot product (u8×s8 summed in int32, no int16 saturation)
X86_INT8_DOT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
# the Arm dot-product extension (SDOT/UDOT) as Linux lists it
ARM_INT8_DOT_FLAG = "asimddp"
_X86 = ("x86_64", "amd64", "i386", "i686")
_ARM = ("aarch64", "arm64")


def parse_cpuinfo(text: str) -> tuple[str | None, frozenset[str] | None]:
    """The CPU model and feature flags in ``/proc/cpuinfo`` text (first processor; x86
    ``model name`` / ``flags``, Arm ``Features``); None for what the text does not name.

    >>> model, flags = parse_cpuinfo("model name\\t: Xeon\\nflags\\t\\t: fpu avx2\\n")
    >>> model, sorted(flags)
    ('Xeon', ['avx2', 'fpu'])
    """
    model: str | None = None
    flags: frozenset[str] | None = None
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if key == "model name" and model is None:
            model = value.strip()
        elif key in ("flags", "features") and flags is None:
            flags = frozenset(value.split())
    return model, flags


def read_cpuinfo() -> str | None:
    """The text of ``/proc/cpuinfo``; None where it cannot be read (not Linux)."""
    try:
        return CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


@functools.cache
def cpu_flags() -> frozenset[str] | None:
    """The CPU's feature flags on x86 Linux (``/proc/cpuinfo``); None where unknown (other
    architectures included, whose flags name other things)."""
    if platform.machine().lower() not in _X86:
        return None
    text = read_cpuinfo()
    return None if text is None else parse_cpuinfo(text)[1]


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` says."""
    text = read_cpuinfo()
    model = parse_cpuinfo(text)[0] if text is not None else None
    return model or platform.processor() or platform.machine()


def has_int8_dot(cpuinfo: str | None, machine: str, system: str) -> bool:
    """Whether a CPU has an int8 dot-product instruction, from its ``/proc/cpuinfo`` text,
    :func:`platform.machine` and :func:`platform.system`. False where unknown (the safe
    answer: the float-compute file).

    >>> has_int8_dot("flags\\t: fpu sse2 avx2 fma\\n", "x86_64", "Linux")
    False
    >>> has_int8_dot(None, "arm64", "Darwin")
    True
    """
    machine = machine.lower()
    if system == "Darwin":
        return machine in _ARM  # every Apple silicon core has the dot product
    if cpuinfo is None:
        return False
    flags = parse_cpuinfo(cpuinfo)[1] or frozenset()
    if machine in _X86:
        return bool(flags & X86_INT8_DOT_FLAGS)
    if machine in _ARM:
        return ARM_INT8_DOT_FLAG in flags
    return False


@functools.cache
def detected_int8_dot() -> bool:
    """:func:`has_int8_dot` for this machine (read once per process)."""
    return has_int8_dot(read_cpuinfo(), platform.machine(), platform.system())


def int8_setting(environ: Mapping[str, str] | None = None) -> str:
    """The ``SLIMOCR_INT8`` setting: ``auto`` (unset or empty), ``on`` or ``off``.

    Raises:
        OptionError: any other value (the message names the variable).
    """
    env = os.environ if environ is None else environ
    value = env.get(ENV_VAR, "").strip().lower() or "auto"
    if value not in ENV_VALUES:
        raise OptionError(
            f"{ENV_VAR}={env[ENV_VAR]!r}: must be one of {', '.join(ENV_VALUES)} (auto: "
            "use int8-activation files only on CPUs with an int8 dot product)"
        )
    return value


def int8_dot(environ: Mapping[str, str] | None = None) -> bool:
    """Whether int8-activation files should load here: ``SLIMOCR_INT8=on``/``off`` forces the
    answer, ``auto`` asks the CPU (:func:`detected_int8_dot`).

    Raises:
        OptionError: ``SLIMOCR_INT8`` holds another value.
    """
    setting = int8_setting(environ)
    return detected_int8_dot() if setting == "auto" else setting == "on"
