"""Fake quantization: the exported int8 graph's arithmetic, simulated in float32.

Why a module of our own: ``torch.ao.quantization`` is deprecated, and its successor, torchao's
PT2E, failed on the detector on this machine (the X86 quantizer rejects its graph, the XNNPACK
one converts a detector that disagrees with its own fake-quant model; ARCHITECTURE.md). What the
PP-OCR recipes need is small: symmetric per-channel weights, per-tensor moving-average
activations, a PACT clip, and an export to QuantizeLinear/DequantizeLinear that ONNX Runtime
fuses into int8 kernels. Owning those few functions lets the PyTorch model compute exactly what
the exported graph computes.

Conventions (``s`` is the quantization step, ONNX's ``scale``):

* weights: ``q = clamp(round(w / s), -Q, Q)``, ``s = max|w| / Q`` per output channel,
  ``Q = 127`` (8 bits) or 63 (``reduce_range``);
* activations: ``q = clamp(round(x / s), -128, 127)``, ``s = t / 127`` where the threshold ``t``
  is a bias-corrected moving average of ``max|x|``: ``state ← r·state + 1``,
  ``accum ← r·accum + max|x|``, ``t = accum / state`` (updated in training mode only);
  the output of a layer followed by a ReLU is quantized after it, unsigned:
  ``q = clamp(round(relu(x) / s), 0, 255)``, ``s = t / 255`` (uint8, zero point 0), which lets
  ONNX Runtime run conv + ReLU as one ``QLinearConv``;
* asymmetric activations (``act_range: asymmetric``): ``[lo, hi]`` from moving averages of the
  batch min and max, ``s = (hi - lo) / 255``, uint8 zero point ``z = round(-lo / s)``; the
  value grid is ``(q - z)·s`` for ``q ∈ [0, 255]``, i.e. levels ``-z … 255 - z`` times ``s``;
* biases: int32 with step ``s_in · s_w`` (what ``QLinearConv`` uses);
* gradients: straight-through (identity), as PaddleSlim's QAT does; clipping is PACT's job.

``round`` is round-half-to-even on both sides (``torch.round``, ONNX ``QuantizeLinear``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from slimocr.toolkit.compress.quant.config import ACT_QMAX, ACT_QMIN, UNSIGNED_QMAX
from slimocr.toolkit.compress.quant.pact import PACTClip

_EPS = 1e-8
ASYM_PACT_REACH = 252.0 / 255.0  # asymmetric grid under PACT: both ends within α·252/255
_INT32 = 2**31 - 1

Observer = Callable[[torch.Tensor], None]


def fake_quant(x: torch.Tensor, step: torch.Tensor, qmin: int, qmax: int) -> torch.Tensor:
    """``clamp(round(x / step), qmin, qmax) · step`` with an identity gradient for ``x``.

    ``step`` broadcasts against ``x`` (a scalar, or shaped for per-channel use).

    >>> fake_quant(torch.tensor([0.26, -9.0]), torch.tensor(0.1), -128, 127)
    tensor([ 0.3000, -9.0000])
    """
    with torch.no_grad():
        q = torch.clamp(torch.round(x / step), qmin, qmax) * step
    return x + (q - x).detach()


def _channel_shape(ndim: int, axis: int) -> list[int]:
    shape = [1] * ndim
    shape[axis] = -1
    return shape


def weight_step(w: torch.Tensor, qmax: int, axis: int | None) -> torch.Tensor:
    """Symmetric abs-max step: ``max|w| / qmax`` per slice along ``axis`` (None: per tensor).

    >>> weight_step(torch.tensor([[1.0, -2.54], [0.5, 0.25]]), 127, axis=0)
    tensor([0.0200, 0.0039])
    """
    w = w.detach()
    if axis is None:
        return torch.clamp(w.abs().amax(), min=_EPS) / qmax
    dims = [d for d in range(w.dim()) if d != axis]
    return torch.clamp(w.abs().amax(dim=dims), min=_EPS) / qmax


class _ExportQDQ(torch.autograd.Function):
    """Activation quantize-dequantize with a fixed (python) step on the levels
    ``qmin … qmax`` (255 apart); exports as ``QuantizeLinear → DequantizeLinear`` with zero
    point ``-qmin`` (uint8: 128 for the symmetric grid, 0 after a ReLU, where the clamp at 0
    is the ReLU) or ``-qmin - 128`` (int8)."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, step: float, qmin: int, qmax: int, signed: bool
    ) -> torch.Tensor:  # type: ignore[override]
        s = torch.tensor(step, dtype=x.dtype)
        return torch.clamp(torch.round(x / s), qmin, qmax) * s

    @staticmethod
    def symbolic(g: Any, x: Any, step: float, qmin: int, qmax: int, signed: bool) -> Any:
        scale = g.op("Constant", value_t=torch.tensor(step, dtype=torch.float32))
        if signed:
            zp_value = torch.tensor(-qmin - 128, dtype=torch.int8)
        else:
            zp_value = torch.tensor(-qmin, dtype=torch.uint8)
        zp = g.op("Constant", value_t=zp_value)
        return g.op("DequantizeLinear", g.op("QuantizeLinear", x, scale, zp), scale, zp)


class _ExportDequant(torch.autograd.Function):
    """Integer constant times step; exports as ``DequantizeLinear`` (per-axis when the step
    is a vector)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, q: torch.Tensor, step: torch.Tensor, axis: int
    ) -> torch.Tensor:
        if step.dim() == 0:
            return q.float() * step
        return q.float() * step.reshape(_channel_shape(q.dim(), axis))

    @staticmethod
    def symbolic(g: Any, q: Any, step: Any, axis: int) -> Any:
        if step.type().dim() == 0:
            return g.op("DequantizeLinear", q, step)
        return g.op("DequantizeLinear", q, step, axis_i=axis)


def export_dequant(q: torch.Tensor, step: torch.Tensor, axis: int) -> torch.Tensor:
    """``q · step`` that exports as one ``DequantizeLinear`` of the integer constant ``q``."""
    return _ExportDequant.apply(q, step, axis)


class ActQuant(nn.Module):
    """Per-tensor 8-bit activation fake-quantizer (moving-average abs-max, or min and max).

    Modes: quantize (default); observe (``observer`` set: PTQ calibration hands it the raw input
    and passes the input through unchanged); export (``exporting``: emits Q/DQ nodes).

    Args:
        rate: moving-average rate.
        signed: export as int8 (zero point 0) rather than uint8 (zero point 128).
        pact: optional learnable clip applied first (:class:`~.pact.PACTClip`).
        unsigned: the quantizer of a layer output that a ReLU follows: it applies the ReLU
            itself (in every mode) and covers ``[0, threshold]`` with 255 steps (uint8, zero
            point 0); :func:`~.prepare.prepare_qat` then drops the ReLU module.
        asymmetric: cover ``[lo, hi]`` (moving averages of the batch min and max; 0 always
            inside) with 255 steps, uint8 with zero point ``round(-lo / step)`` (ignored for
            an ``unsigned`` quantizer).

    >>> q = ActQuant(); _ = q.train()(torch.tensor([1.0, -2.0]))
    >>> float(q.threshold())
    2.0
    >>> a = ActQuant(asymmetric=True); _ = a.train()(torch.tensor([-0.375, 6.0]))
    >>> round(float(a.step()) * 255, 3), a.qmin, a.qmax
    (6.375, -15, 240)
    """

    state: torch.Tensor  # buffers (registered in __init__)
    accum: torch.Tensor
    accum_lo: torch.Tensor  # asymmetric grids only

    def __init__(
        self,
        rate: float = 0.9,
        signed: bool = False,
        pact: PACTClip | None = None,
        unsigned: bool = False,
        asymmetric: bool = False,
    ):
        super().__init__()
        self.rate = rate
        self.signed = signed
        self.unsigned = unsigned
        self.asymmetric = asymmetric and not unsigned
        self.pact = pact
        self.register_buffer("state", torch.zeros(()))
        self.register_buffer("accum", torch.zeros(()))
        if self.asymmetric:  # moving average of the batch minimum (<= 0)
            self.register_buffer("accum_lo", torch.zeros(()))
        self.observer: Observer | None = None
        self.exporting = False

    def extra_repr(self) -> str:
        if self.unsigned:
            kind = "uint8 after ReLU"
        elif self.asymmetric:
            kind = "uint8 asymmetric"
        else:
            kind = "int8" if self.signed else "uint8"
        return f"rate={self.rate}, dtype={kind}"

    @property
    def qmin(self) -> int:
        """Lowest level of the grid: 0 unsigned, ``-zero_point`` asymmetric, else -128."""
        if self.unsigned:
            return 0
        return -self._asymmetric_grid()[1] if self.asymmetric else ACT_QMIN

    @property
    def qmax(self) -> int:
        """Highest level of the grid: 255 unsigned, ``255 - zero_point`` asymmetric, else 127."""
        if self.unsigned:
            return UNSIGNED_QMAX
        return UNSIGNED_QMAX - self._asymmetric_grid()[1] if self.asymmetric else ACT_QMAX

    @property
    def pact_reach(self) -> float:
        """Largest threshold a PACT clip ``α`` allows, per unit of ``α``: ``qmax/(qmax+1)``,
        or 252/255 on both sides of an asymmetric grid (the clip then never changes a
        quantized value, see :meth:`forward`)."""
        if self.asymmetric:
            return ASYM_PACT_REACH
        return self.qmax / (self.qmax + 1.0)

    @property
    def initialized(self) -> bool:
        return bool(self.state > 0)

    def threshold(self) -> torch.Tensor:
        """The abs-max the 8-bit grid covers: ``accum / state`` (asymmetric: the top ``hi``)."""
        if not self.initialized:
            raise RuntimeError("activation quantizer has no scale yet: calibrate or train first")
        return self.accum / self.state

    def lower(self) -> torch.Tensor:
        """The bottom ``lo`` (<= 0) of an asymmetric grid; ``-threshold`` otherwise."""
        if not self.asymmetric:
            return -self.threshold()
        self.threshold()  # raises when unset
        return self.accum_lo / self.state

    def _asymmetric_grid(self) -> tuple[torch.Tensor, int]:
        """``(step, zero_point)`` of the asymmetric grid: ``[lo, hi]`` (each within
        ``α·252/255`` under PACT, so that ``α >= (qmax + 1)·step`` and ``-α <= (qmin - 1)·step``),
        ``step = (hi - lo) / 255``, ``zero_point = round(-lo / step)``."""
        hi = self.threshold().detach()
        lo = self.lower().detach()
        if self.pact is not None:
            reach = self.pact.alpha.detach() * ASYM_PACT_REACH
            hi, lo = torch.minimum(hi, reach), torch.maximum(lo, -reach)
        step = torch.clamp(hi - lo, min=_EPS) / UNSIGNED_QMAX
        zero = int(torch.clamp(torch.round(-lo / step), 0, UNSIGNED_QMAX))
        return step, zero

    def step(self) -> torch.Tensor:
        """Quantization step (ONNX scale): ``threshold / qmax``, the threshold capped at
        ``α·qmax/(qmax+1)`` under PACT (see :meth:`forward`); asymmetric: ``(hi - lo) / 255``."""
        if self.asymmetric:
            return self._asymmetric_grid()[0]
        t = self.threshold().detach()
        if self.pact is not None:
            t = torch.minimum(t, self.pact.alpha.detach() * self.pact_reach)
        return torch.clamp(t, min=_EPS) / self.qmax

    def grid(self) -> tuple[torch.Tensor, int, int]:
        """``(step, qmin, qmax)`` in one go: an asymmetric grid's zero point is computed once,
        not once for each of :meth:`step`, :attr:`qmin` and :attr:`qmax`."""
        if self.asymmetric:
            step, zero = self._asymmetric_grid()
            return step, -zero, UNSIGNED_QMAX - zero
        return self.step(), self.qmin, self.qmax

    @torch.no_grad()
    def update(self, absmax: torch.Tensor) -> None:
        """One moving-average step with this batch's ``max|x|``."""
        self.state.mul_(self.rate).add_(1.0)
        self.accum.mul_(self.rate).add_(absmax.to(self.accum))

    @torch.no_grad()
    def update_range(self, low: torch.Tensor, high: torch.Tensor) -> None:
        """One moving-average step of an asymmetric grid with this batch's min and max."""
        self.state.mul_(self.rate).add_(1.0)
        self.accum.mul_(self.rate).add_(torch.clamp(high, min=0.0).to(self.accum))
        self.accum_lo.mul_(self.rate).add_(torch.clamp(low, max=0.0).to(self.accum_lo))

    @torch.no_grad()
    def set_threshold(self, value: float, low: float | None = None) -> None:
        """Start from a calibrated threshold as if the moving average had converged to it
        (``state = 1/(1-rate)``), so that training continues it at the usual rate. An
        asymmetric grid takes its bottom too (``low`` <= 0; default ``-value``)."""
        self.state.fill_(1.0 / (1.0 - self.rate))
        self.accum.fill_(float(value) / (1.0 - self.rate))
        if self.asymmetric:
            low = -float(value) if low is None else min(float(low), 0.0)
            self.accum_lo.fill_(low / (1.0 - self.rate))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Quantize ``x`` (after the PACT clip, if any).

        Under PACT the grid is capped so that ``α >= (qmax + 1)·step`` (and, asymmetric,
        ``-α <= (qmin - 1)·step``): every value the clip changes
        lands on the same saturated level with or without it. The clip then only carries the
        gradient to ``α``, and the exported graph needs no ``Clip`` node — which would stop ONNX
        Runtime from fusing ``Conv → QuantizeLinear`` into ``QLinearConv``.
        """
        if self.exporting:  # an unsigned QuantizeLinear clamps at 0: no Relu node needed
            step, qmin, qmax = self.grid()
            return _ExportQDQ.apply(x, float(step), qmin, qmax, self.signed)
        if self.unsigned:
            x = torch.relu(x)
        if self.observer is not None:
            self.observer(x)
            return x
        if self.pact is not None:
            x = self.pact(x)
        if self.training:
            if self.asymmetric:
                self.update_range(x.detach().amin(), x.detach().amax())
            else:
                self.update(x.detach().abs().amax())
        return fake_quant(x, *self.grid())


def quantize_unit_gate(gate: torch.Tensor) -> torch.Tensor:
    """A gate in [0, 1] on the fixed uint8 grid of step 1/255 (zero point 0; 1 exact), with an
    identity gradient: the fake quantization of the integer activations below."""
    return fake_quant(gate, torch.tensor(1.0 / UNSIGNED_QMAX, dtype=gate.dtype), 0, UNSIGNED_QMAX)


class SigmoidGELU(nn.Module):
    """GELU as ``x·σ(1.702·x)``, the sigmoid on a fixed uint8 grid (step 1/255, zero point 0).

    Between int8 layers an exact GELU has no integer kernel in ONNX Runtime: it runs as a float
    op between ``DequantizeLinear`` and ``QuantizeLinear``, three passes over the widest maps of
    a PP-LCNetV4 block. This form exports as ``DQ → Mul(1.702) → Sigmoid → Q/DQ → Mul``; with the
    scalar folded into the ``DequantizeLinear`` (:func:`slimocr.graph.fold_sigmoid_scale`)
    ONNX Runtime runs it as ``QLinearSigmoid`` (a 256-entry table) and ``QLinearMul``. It is an
    approximation (``|x·σ(1.702x) − GELU(x)| < 0.021``), so a model's accuracy must be measured
    with it; the fixed grid needs no calibration, and the gradient passes the rounding
    straight through. ``1/255`` (not ``1/256``) keeps ``σ = 1`` exact, so large inputs pass
    unchanged.

    >>> y = SigmoidGELU()(torch.tensor([-2.0, 0.0, 1.0, 8.0]))
    >>> [round(float(v), 3) for v in y]
    [-0.063, 0.0, 0.847, 8.0]
    """

    ALPHA = 1.702
    STEP = 1.0 / UNSIGNED_QMAX

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(x * self.ALPHA)
        if torch.onnx.is_in_onnx_export():
            gate = _ExportQDQ.apply(gate, self.STEP, 0, UNSIGNED_QMAX, False)
        else:
            gate = quantize_unit_gate(gate)
        return x * gate


class _ExportHardSigmoid8(torch.autograd.Function):
    """``hardsigmoid(x)`` on the uint8 grid of step 1/255; exports as ``Add(x, DQ(3))`` →
    ``QuantizeLinear`` (step 6/255, zero point 0) read back by a ``DequantizeLinear`` of step
    1/255: the saturation of the quantizer is the clip to [0, 1], and ONNX Runtime fuses the
    add into ``QLinearAdd``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return quantize_unit_gate(torch.nn.functional.hardsigmoid(x))

    @staticmethod
    def symbolic(g: Any, x: Any) -> Any:
        def const(value: torch.Tensor) -> Any:
            return g.op("Constant", value_t=value)

        zero = const(torch.tensor(0, dtype=torch.uint8))
        three = g.op(
            "DequantizeLinear",
            const(torch.tensor(UNSIGNED_QMAX, dtype=torch.uint8)),
            const(torch.tensor(3.0 / UNSIGNED_QMAX, dtype=torch.float32)),
            zero,
        )
        q = g.op(
            "QuantizeLinear",
            g.op("Add", x, three),
            const(torch.tensor(6.0 / UNSIGNED_QMAX, dtype=torch.float32)),
            zero,
        )
        step = const(torch.tensor(1.0 / UNSIGNED_QMAX, dtype=torch.float32))
        return g.op("DequantizeLinear", q, step, zero)


class QuantHardswish(nn.Module):
    """Hard-swish ``x·hardsigmoid(x)`` with the hard sigmoid on a fixed uint8 grid (step 1/255).

    Between int8 layers ONNX Runtime runs an exact hard-swish as float ``HardSigmoid`` and
    ``Mul`` between ``DequantizeLinear`` and ``QuantizeLinear``. ``hardsigmoid(x) = clip((x + 3)
    / 6, 0, 1)`` is an add followed by a saturating quantizer of step 6/255 whose integer,
    read at step 1/255, is the hard sigmoid on a 255-level grid: ONNX Runtime runs it as
    ``QLinearAdd`` and the product as ``QLinearMul``. The only change to the function is that
    rounding (``|error| <= |x|/510``, zero for ``|x| >= 3``); the gradient passes it straight
    through.

    >>> [round(float(v), 4) for v in QuantHardswish()(torch.tensor([-4.0, 1.0, 5.0]))]
    [-0.0, 0.6667, 5.0]
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export():
            return x * _ExportHardSigmoid8.apply(x)
        return x * quantize_unit_gate(torch.nn.functional.hardsigmoid(x))


def quantize_bias(bias: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """Bias on the int32 grid of step ``s_in · s_w`` (identity gradient)."""
    return fake_quant(bias, step, -_INT32, _INT32)


def int_bias(bias: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """The int32 bias ``QLinearConv`` adds: ``round(b / step)``, saturated."""
    return torch.clamp(torch.round(bias.detach() / step), -_INT32, _INT32).to(torch.int32)


def int_weight(w: torch.Tensor, step: torch.Tensor, qmax: int, axis: int | None) -> torch.Tensor:
    """Integer weights ``clamp(round(w / s), -qmax, qmax)`` as int8."""
    s = step if axis is None else step.reshape(_channel_shape(w.dim(), axis))
    return torch.clamp(torch.round(w.detach() / s), -qmax, qmax).to(torch.int8)
