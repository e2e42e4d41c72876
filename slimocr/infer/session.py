"""A thin wrapper around :class:`onnxruntime.InferenceSession` (CPU by default)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort

from slimocr.errors import ModelFileError, OptionError
from slimocr.infer.cpu import X86_INT8_DOT_FLAGS, cpu_flags
from slimocr.inputs import MAX_MODEL_BYTES, check_int, regular_file_size


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


def int8_saturation_risk(metadata: dict[str, str], flags: frozenset[str] | None) -> str | None:
    """Why an int8 file may lose accuracy on this CPU, or None.

    ONNX Runtime's u8×s8 kernels on x86 without VNNI add pairs of products in int16, which
    saturates with 8-bit weights (|q| up to 127); files quantized with the 7-bit range
    (``weight_range`` [-63, 63] in the ``quant`` metadata) are safe everywhere.
    """
    if flags is None or "quant" not in metadata:
        return None
    try:
        weight_max = int(json.loads(metadata["quant"])["weight_range"][1])
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    if weight_max <= 63 or flags & X86_INT8_DOT_FLAGS:
        return None
    if "avx2" not in flags and "avx512bw" not in flags:
        return None
    return (
        "int8 weights use the full 8-bit range, and this CPU has no VNNI: ONNX Runtime's "
        "u8×s8 kernels may saturate and lower accuracy; use a file quantized with "
        "quant.reduce_range=true (7-bit weights) on this machine"
    )


def nchwc_block(flags: frozenset[str] | None) -> int | None:
    """Channels per block of ONNX Runtime's blocked (NCHWc) convolution kernels on an x86-64
    CPU with these flags: 16 with AVX-512, else 8; None where the flags are unknown (other
    architectures, which do not use those kernels)."""
    if flags is None:
        return None
    return 16 if "avx512f" in flags else 8


def layout_rewritten(path: Path, block: int | None) -> bytes | None:
    """The model at ``path`` with its thin feature maps widened to ``block`` channels
    (:func:`slimocr.graph.thin_channels.pad_thin_channels`: same outputs, no layout conversions
    around them in ONNX Runtime's blocked kernels), serialized; None when nothing changes
    or the file cannot be parsed (ONNX Runtime then opens the file itself and reports it).

    Weight-only int8 weights are folded to float first, as ONNX Runtime would do on
    loading, so that the rewrite sees them as stored constants. The widening is done here, at
    load, and not at export, because ``block`` is the CPU's (:mod:`slimocr.graph.thin_channels`).
    """
    if block is None:
        return None
    try:  # imported here: onnx takes about a second to import and only this rewrite needs it
        import onnx

        from slimocr.graph import fold_stored_int8_weights, optimize, thin_channels_pass
        from slimocr.graph.thin_channels import may_have_thin_maps
    except ImportError:  # an install without the onnx package: the files run as they are
        return None

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # a corrupt file: ONNX Runtime's error names it
        return None
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        return None
    if not may_have_thin_maps(model, block):
        return None
    try:
        counts = optimize(model, [fold_stored_int8_weights, thin_channels_pass(block)])
        if not counts["pad_thin_channels"]:
            return None
        return model.SerializeToString()
    except Exception as exc:  # a graph the rewrite does not handle: run the file as it is
        warnings.warn(
            f"{path}: layout rewrite skipped ({_one_line(exc)}); running the file as it is",
            RuntimeWarning,
            stacklevel=2,
        )
        return None


def session_options(threads: int | None = None) -> ort.SessionOptions:
    """The pipeline's ONNX Runtime session options: ``threads`` intra-op threads (None or 0:
    ONNX Runtime's default), one inter-op thread, sequential execution, worker threads that
    sleep between runs."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or 0
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # fatal only: a failed run is raised to the caller, which names the file in one line;
    # ONNX Runtime's own "[E:onnxruntime:...]" line would be a second, coloured one
    options.log_severity_level = 4
    # A pipeline holds several sessions (detector, recognizer) that run in turn; spinning
    # worker threads of the idle one take the cores from the busy one (measured: twice the
    # latency with 2 cores). Workers therefore sleep between runs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


MAX_THREADS = 256
THREADS_RANGE = f"in [0, {MAX_THREADS}] (0: ONNX Runtime's default)"


def check_threads(threads: int | None) -> None:
    """Refuse a thread count ONNX Runtime cannot use: negative, or absurdly large (creating
    100000 worker threads takes minutes before the first run)."""
    check_int("threads", threads, optional=True)
    if threads is not None and not 0 <= threads <= MAX_THREADS:
        raise OptionError(f"threads must be {THREADS_RANGE}, got {threads}")


_FLOAT = "tensor(float)"


def check_model_kind(session: OnnxSession, kind: str) -> None:
    """Refuse a model whose signature is not that of its kind, before it is used.

    A detector takes a float32 N×3×H×W image and gives a float32 N×1×H×W probability map; a
    recognizer takes a float32 N×3×H×W crop batch and gives float32 N×T×classes. A file's
    ``kind`` metadata (SlimOCR's files) must name the expected kind; then the input's dtype,
    rank and channels and the output's dtype, rank (and a detector's channels, where the
    file fixes them) are checked. Dimensions a file leaves dynamic are checked on each run.
    """
    declared = session.metadata.get("kind")
    other = {"det": "rec", "rec": "det"}[kind]
    words = {"det": "a text detector", "rec": "a text recognizer"}
    if declared in ("det", "rec") and declared != kind:
        raise ModelFileError(f"{session.path}: is {words[declared]}, expected {words[kind]}")
    in_shape, out_shape = session.input_shape, session.output_shape
    channels = in_shape[1] if len(in_shape) == 4 else None
    if (
        session.input_type != _FLOAT
        or len(in_shape) != 4
        or (isinstance(channels, int) and channels != 3)
    ):
        raise ModelFileError(
            f"{session.path}: takes {session.input_type} of shape {in_shape}, not float32 "
            f"N×3×H×W, so it is not {words[kind]}"
        )
    rank = len(out_shape)
    if rank != {"det": 4, "rec": 3}[kind]:
        raise ModelFileError(
            f"{session.path}: its output has rank {rank}, so it is not {words[kind]} "
            f"(maybe {words[other]}?)"
        )
    if session.output_type != _FLOAT:
        raise ModelFileError(
            f"{session.path}: gives {session.output_type}, not float32, so it is not {words[kind]}"
        )
    if kind == "det" and isinstance(out_shape[1], int) and out_shape[1] != 1:
        raise ModelFileError(
            f"{session.path}: its output has {out_shape[1]} channels (shape {out_shape}); a "
            "text detector gives one probability map (N×1×H×W)"
        )


class OnnxSession:
    """An ONNX model loaded for CPU inference, with one input and (at least) one output.

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads; None lets onnxruntime choose (all physical cores).
        rewrite_layout: on CPUs whose ONNX Runtime uses blocked convolution kernels, open
            the model with its thin feature maps widened to a full block
            (:func:`layout_rewritten`; same outputs up to float rounding, the file is not
            touched); False opens the file as it is. Applied only when the CPU provider
            comes first.
        providers: ONNX Runtime provider names, preferred first
            (:func:`slimocr.infer.providers.resolve_providers`); None: the CPU's.

    Attributes:
        path: the model file.
        input_name: name of the model's first input.
        output_name: name of the model's first output.
        output_shape: the first output's declared shape (may be inexact for dynamic models).
        input_shape: the first input's declared shape (ints, or strings/None for dynamic axes).
        metadata: the model's custom metadata map (e.g. ``{"charset": "[...]"}``).

    Raises:
        ModelFileError: the file is missing, a directory, truncated or not a valid ONNX model.
    """

    def __init__(
        self,
        path: str | Path,
        threads: int | None = None,
        rewrite_layout: bool = True,
        providers: list[str] | None = None,
    ) -> None:
        self.path = Path(path)
        check_threads(threads)
        regular_file_size(self.path, "model", MAX_MODEL_BYTES, ModelFileError)
        #: the ONNX Runtime providers asked for, preferred first (:mod:`slimocr.infer.providers`)
        self.providers: list[str] = list(providers or ["CPUExecutionProvider"])
        on_cpu = self.providers[0] == "CPUExecutionProvider"
        rewritten = (
            layout_rewritten(self.path, nchwc_block(cpu_flags()))
            if rewrite_layout and on_cpu
            else None
        )

        def open_session(source: str | bytes) -> ort.InferenceSession:
            return ort.InferenceSession(
                source, sess_options=session_options(threads), providers=self.providers
            )

        session = None
        if rewritten is not None:
            try:
                session = open_session(rewritten)
            except Exception as exc:  # the rewrite made something ONNX Runtime refuses
                warnings.warn(
                    f"{self.path}: the layout-rewritten model does not load "
                    f"({_one_line(exc)}); running the file as it is",
                    RuntimeWarning,
                    stacklevel=2,
                )
        #: whether the session runs the layout-rewritten model (:func:`layout_rewritten`)
        self.layout_rewritten = session is not None
        if session is None:
            try:
                session = open_session(str(self.path))
            except Exception as exc:  # onnxruntime raises several pybind11 exception types
                raise ModelFileError(
                    f"{self.path}: not a valid ONNX model (truncated or corrupt?): {_one_line(exc)}"
                ) from None
        self._session = session
        inputs = self._session.get_inputs()
        outputs = self._session.get_outputs()
        if not inputs or not outputs:
            raise ModelFileError(f"{self.path}: model has no inputs or no outputs")
        self.input_name: str = inputs[0].name
        self.input_shape: list[int | str | None] = list(inputs[0].shape or [])
        self.input_type: str = inputs[0].type
        self.output_name: str = outputs[0].name
        self.output_shape: list[int | str | None] = list(outputs[0].shape or [])
        self.output_type: str = outputs[0].type
        meta = self._session.get_modelmeta()
        self.metadata: dict[str, str] = dict(meta.custom_metadata_map or {})
        risk = int8_saturation_risk(self.metadata, cpu_flags())
        if risk:
            warnings.warn(f"{self.path}: {risk}", RuntimeWarning, stacklevel=2)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Run the model on one input tensor and return its first output.

        Raises:
            ModelFileError: ONNX Runtime failed on the input (a model that does not fit the
                pipeline's input, or an allocation failure); the message names the file.
        """
        try:
            return self._session.run([self.output_name], {self.input_name: x})[0]
        except (MemoryError, Exception) as exc:  # pybind11 raises several exception types
            raise ModelFileError(
                f"{self.path}: inference failed on a {'×'.join(map(str, x.shape))} input: "
                f"{_one_line(exc)}"
            ) from None

    def __repr__(self) -> str:
        return f"OnnxSession({str(self.path)!r}, input={self.input_name}{self.input_shape})"
