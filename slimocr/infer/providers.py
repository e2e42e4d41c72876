"""ONNX Runtime execution providers by short name, with a clear error when one is missing.

>>> resolve_providers("cpu")
['CPUExecutionProvider']
>>> resolve_providers(None)
['CPUExecutionProvider']

A short name (``cpu``, ``cuda``, ``openvino``, …) or ONNX Runtime's own name
(``CUDAExecutionProvider``) is accepted. Each provider needs an ONNX Runtime build that has it
(``onnxruntime-gpu`` for CUDA and TensorRT, ``onnxruntime-openvino`` for OpenVINO, the macOS
wheel for CoreML, …); a provider the installed build lacks is an :class:`OptionError` naming the
package to install. The CPU provider is always appended last, so that operators another provider
does not implement still run.
"""

from __future__ import annotations

from collections.abc import Sequence

from slimocr.errors import OptionError

CPU = "CPUExecutionProvider"

#: short name → (ONNX Runtime provider, the package whose build has it)
PROVIDERS: dict[str, tuple[str, str]] = {
    "cpu": (CPU, "onnxruntime"),
    "cuda": ("CUDAExecutionProvider", "onnxruntime-gpu"),
    "tensorrt": ("TensorrtExecutionProvider", "onnxruntime-gpu (with TensorRT installed)"),
    "openvino": ("OpenVINOExecutionProvider", "onnxruntime-openvino"),
    "coreml": ("CoreMLExecutionProvider", "onnxruntime (the macOS wheel)"),
    "directml": ("DmlExecutionProvider", "onnxruntime-directml"),
    "rocm": ("ROCMExecutionProvider", "onnxruntime-rocm"),
    "migraphx": ("MIGraphXExecutionProvider", "onnxruntime-migraphx"),
    "qnn": ("QNNExecutionProvider", "onnxruntime-qnn"),
    "xnnpack": ("XnnpackExecutionProvider", "an onnxruntime build with XNNPACK"),
    "cann": ("CANNExecutionProvider", "onnxruntime-cann"),
    "azure": ("AzureExecutionProvider", "onnxruntime (1.16 or later)"),
}
_BY_FULL_NAME = {full: short for short, (full, _) in PROVIDERS.items()}


def available_providers() -> list[str]:
    """The providers of the installed ONNX Runtime build."""
    import onnxruntime as ort

    return list(ort.get_available_providers())


def resolve_providers(
    spec: str | Sequence[str] | None, available: Sequence[str] | None = None
) -> list[str]:
    """ONNX Runtime provider names for ``spec``, most preferred first, the CPU provider last.

    Args:
        spec: None (CPU only), a short or full name, a comma-separated string of names, or a
            sequence of names.
        available: the build's providers (default: :func:`available_providers`).

    Raises:
        OptionError: an unknown name, or a provider the installed ONNX Runtime lacks (the
            message names the package whose build has it).
    """
    if spec is None:
        return [CPU]
    if not isinstance(spec, str) and not (
        isinstance(spec, (list, tuple)) and all(isinstance(n, str) for n in spec)
    ):
        raise OptionError(
            "providers must be a name, a comma-separated string or a list of names, got "
            f"{type(spec).__name__} {spec!r}"[:200]
        )
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    names = [n for n in names if n]
    if not names:
        return [CPU]
    have = list(available) if available is not None else available_providers()
    out: list[str] = []
    for name in names:
        short = name.lower() if name.lower() in PROVIDERS else _BY_FULL_NAME.get(name)
        if short is None:
            known = ", ".join(PROVIDERS)
            raise OptionError(f"unknown execution provider {name!r} (known: {known})")
        full, package = PROVIDERS[short]
        if full not in have:
            raise OptionError(
                f"execution provider {short!r} ({full}) is not in the installed ONNX Runtime "
                f"(it has: {', '.join(have)}); install {package} in place of onnxruntime"
            )
        if full not in out:
            out.append(full)
    if CPU not in out:
        out.append(CPU)
    return out


def runs_on_cpu(providers: Sequence[str] | None) -> bool:
    """Whether the first (preferred) provider is the CPU's: the layout rewrite only helps
    ONNX Runtime's CPU kernels."""
    return not providers or providers[0] == CPU
