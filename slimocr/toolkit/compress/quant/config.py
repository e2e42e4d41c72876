"""Typed quantization choices: what is quantized, to which range, how scales are found.

>>> cfg = QuantConfig(pact=False)
>>> cfg.weight_qmax, cfg.act_dtype
(63, 'uint8')
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from slimocr.toolkit.train.config import FieldValueError, check_ranges

CalibMethod = Literal["abs_max", "percentile", "moving_average"]

ACT_QMIN, ACT_QMAX = -128, 127  # activations: int8 grid (exported as uint8 with zero point 128)
UNSIGNED_QMAX = 255  # a layer output after a ReLU: uint8 grid, zero point 0


@dataclass(frozen=True)
class QuantConfig:
    """How a model is fake-quantized and exported.

    Attributes:
        weight_bits: weight width; weights are symmetric, ``q ∈ [-(2^(b-1)-1), 2^(b-1)-1]``.
        act_bits: activation width (only 8 is exported).
        per_channel: one weight scale per output channel (else one per tensor).
        reduce_range: use one bit less for weights (7 bits: ``|q| <= 63``). ONNX Runtime's
            u8×s8 kernels on AVX2 without VNNI add pairs of products in int16
            (``vpmaddubsw``), which saturates for ``255·127·2``; ``255·63·2`` fits.
        act_signed: export activations as int8 (zero point 0) instead of uint8 (zero point
            128). The two are the same numbers; uint8 is what ONNX Runtime's x86 kernels fuse
            best (ARCHITECTURE.md: 72/72 convs vs 34/72).
        moving_rate: rate of the moving-average abs-max of activations.
        act_range: ``"symmetric"`` (the original recipe: ``[-t, t]`` with ``t`` the
            moving-average abs-max, 255 levels) or ``"asymmetric"`` (``[lo, hi]`` from
            moving averages of the batch minimum and maximum, uint8 with the zero point that
            puts 0 on the grid). A tensor that is bounded on one side — a hard-swish output
            never goes below -0.375 — then gets its 255 levels over the range it uses,
            about twice as fine as the symmetric grid. Layer outputs fused with a ReLU are
            unsigned either way. Not with ``act_signed``.
        pact: put a learnable PACT clip ``[-α, α]`` before each activation quantizer.
        pact_init: ``"calib"`` (α = the calibrated threshold) or a constant.
        pact_decay: L2 decay of α (its own optimizer group); None = the optimizer's decay.
        skip_types: class names of modules kept float with everything inside them
            (e.g. ``"LSTM"``; LSTMs are never fake-quantized: see :mod:`.export` for their
            ONNX Runtime dynamic int8).
        skip_names: module names kept float with everything inside them; a name also covers
            its submodules (``backbone.blocks.0`` keeps ``backbone.blocks.0.depthwise`` float).
            For layers whose activations an 8-bit per-tensor grid cannot hold (the
            recognizer's first blocks: see docs/reports/2026-11-29-quantization-log.md).
        quantize_model_output: also quantize the outputs of the layers that feed the model's
            output (default: leave them float, an 8-bit grid on the final logits would
            coarsen the probabilities).
        fuse_relu: a layer whose output goes only to a ReLU module quantizes after that ReLU,
            unsigned (uint8, zero point 0, 255 steps over ``[0, threshold]``) and the ReLU
            module is dropped: ONNX Runtime then runs conv + ReLU as one ``QLinearConv``
            instead of ``QLinearConv → DequantizeLinear → Relu → QuantizeLinear``, and the
            grid is twice as fine. False: the ReLU stays a float op between Q/DQ pairs.
        gelu: ``"float"`` (a GELU between int8 layers runs as a float op) or ``"sigmoid"``
            (:class:`~.fake_quant.SigmoidGELU`: ``x·σ(1.702x)`` with an 8-bit sigmoid, which
            ONNX Runtime runs as int8 table lookup and multiply; an approximation, so measure
            the model with it). Applies to GELU modules whose input is a quantized layer
            output.
        hardswish: ``"float"`` (a hard-swish between int8 layers runs as float ops) or
            ``"int8"`` (:class:`~.fake_quant.QuantHardswish`: the hard sigmoid on a 255-level
            grid, which ONNX Runtime runs as ``QLinearAdd`` + ``QLinearMul``). Applies to
            Hardswish modules whose input is a quantized layer output.
        bn_reparam: train a folded conv's weights at their pre-fold scale (the BatchNorm factor
            ``γ/σ`` applied as a frozen per-channel multiplier, :class:`~.fold.ChannelScale`),
            so that Adam's step is relative to the float weights, as in float finetuning with
            frozen BatchNorm. False: the folded weights themselves are trained.
    """

    weight_bits: int = 8
    act_bits: int = 8
    per_channel: bool = True
    reduce_range: bool = True
    act_signed: bool = False
    moving_rate: float = 0.9
    act_range: str = "symmetric"
    pact: bool = True
    pact_init: float | str = "calib"
    pact_decay: float | None = None
    skip_types: tuple[str, ...] = ("LSTM", "GRU", "RNN")
    skip_names: tuple[str, ...] = ()
    quantize_model_output: bool = False
    fuse_relu: bool = True
    bn_reparam: bool = True
    gelu: str = "float"
    hardswish: str = "float"

    def __post_init__(self) -> None:
        if self.hardswish not in ("float", "int8"):
            raise FieldValueError(f"hardswish: 'float' or 'int8', not {self.hardswish!r}")
        if self.act_range not in ("symmetric", "asymmetric"):
            raise FieldValueError(f"act_range: 'symmetric' or 'asymmetric', not {self.act_range!r}")
        if self.act_range == "asymmetric" and self.act_signed:
            raise FieldValueError(
                "act_range: 'asymmetric' is exported as uint8 (act_signed: false)"
            )
        if self.gelu not in ("float", "sigmoid"):
            raise FieldValueError(f"gelu: 'float' or 'sigmoid', not {self.gelu!r}")
        object.__setattr__(self, "skip_types", tuple(self.skip_types))
        object.__setattr__(self, "skip_names", tuple(self.skip_names))
        if self.act_bits != 8:
            raise FieldValueError(
                f"act_bits: only 8-bit activations are exported, not {self.act_bits}"
            )
        if not 2 <= self.weight_bits - int(self.reduce_range) <= 8:
            raise FieldValueError(
                f"weight_bits: {self.weight_bits} (reduce_range={self.reduce_range})"
            )
        if not 0.0 < self.moving_rate < 1.0:
            raise FieldValueError(f"moving_rate: must be in (0, 1), not {self.moving_rate}")
        init = self.pact_init
        if isinstance(init, str) and init != "calib":
            try:
                object.__setattr__(self, "pact_init", float(init))
            except ValueError:
                raise FieldValueError(f"pact_init: 'calib' or a number, not {init!r}") from None
        if not isinstance(self.pact_init, str) and not 0 < float(self.pact_init) < math.inf:
            raise FieldValueError(f"pact_init: must be positive and finite, not {self.pact_init}")
        check_ranges(self, {"pact_decay": (0.0, None)})

    @property
    def weight_qmax(self) -> int:
        """Largest weight level: 127 for 8 bits, 63 with ``reduce_range``."""
        return 2 ** (self.weight_bits - int(self.reduce_range) - 1) - 1

    @property
    def act_dtype(self) -> str:
        return "int8" if self.act_signed else "uint8"

    def describe(self) -> dict[str, Any]:
        """The choices as plain data, for the exported file's metadata."""
        out = asdict(self)
        if self.act_range == "symmetric":  # files built before the option describe the same
            del out["act_range"]
        out["skip_types"] = list(self.skip_types)
        out["skip_names"] = list(self.skip_names)
        out["weight_range"] = [-self.weight_qmax, self.weight_qmax]
        out["weight_scheme"] = "symmetric abs-max " + (
            "per output channel" if self.per_channel else "per tensor"
        )
        out["act_dtype"] = self.act_dtype
        if self.act_range == "asymmetric":
            out["act_zero_point"] = "per tensor: round(-lo / scale)"
            out["act_scheme"] = (
                f"asymmetric per tensor, moving averages (rate {self.moving_rate}) of the min "
                "and max, scale = (hi - lo) / 255"
            )
        else:
            out["act_zero_point"] = 0 if self.act_signed else 128
            out["act_scheme"] = (
                f"symmetric per tensor, moving-average abs-max (rate {self.moving_rate}), "
                "scale = threshold / 127"
            )
        out["act_scheme"] += (
            "; after a ReLU: uint8, zero point 0, scale = threshold / 255" if self.fuse_relu else ""
        )
        return out


@dataclass(frozen=True)
class CalibConfig:
    """Where calibration images come from and how activation thresholds are taken.

    Attributes:
        data: dataset folder or label file (a detection set also serves the recognizer: its
            boxes are cut into crops).
        images: number of images (detector) or crops (recognizer).
        method: ``abs_max`` (largest |x| seen), ``percentile`` (mean over batches of the
            ``percentile``-th percentile of |x|) or ``moving_average`` (the training rule).
        percentile: for ``method: percentile``.
        limit_side_len: detector resize limit (as at inference).
        limit_type: detector resize type (as at inference: ``max``, or ``min`` for the PP-OCRv5/v6
            pipelines' 736-pixel shorter side).
        seed: picks the images.
    """

    data: str | None = None
    images: int = 32
    method: CalibMethod = "abs_max"
    percentile: float = 99.99
    limit_side_len: int = 960
    limit_type: str = "max"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in ("abs_max", "percentile", "moving_average"):
            raise FieldValueError(
                f"method: 'abs_max', 'percentile' or 'moving_average', not {self.method!r}"
            )
        if not 0.0 < self.percentile <= 100.0:
            raise FieldValueError(f"percentile: must be in (0, 100], not {self.percentile}")
        if self.images < 1:
            raise FieldValueError(f"images: must be >= 1, not {self.images}")
        if self.limit_type not in ("max", "min", "resize_long"):
            raise FieldValueError(
                f"limit_type: 'max', 'min' or 'resize_long', not {self.limit_type!r}"
            )
        check_ranges(self, {"seed": (0, None)}, positive=("limit_side_len",))
