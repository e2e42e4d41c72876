"""Fake-quantized Conv2d, ConvTranspose2d and Linear (subclasses: same parameter names).

Each layer quantizes its input (unless the input is already the quantized output of another
layer), its weights per output channel, its bias to int32, and — unless it feeds the model's
output — its own output. That is the ``DequantizeLinear → Conv → QuantizeLinear`` unit ONNX
Runtime fuses into ``QLinearConv``; quantizing the output before the activation is what lets the
fusion happen for every conv, whatever activation follows.
"""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from slimocr.toolkit.compress.quant.fake_quant import (
    ActQuant,
    export_dequant,
    fake_quant,
    int_bias,
    int_weight,
    quantize_bias,
    weight_step,
)


def as_module(layer: QuantMixin) -> nn.Module:
    """``layer`` as the torch module that every quantized layer type also is."""
    assert isinstance(layer, nn.Module)
    return layer


class QuantMixin:
    """Quantization state shared by the layer types (see module doc).

    Attributes:
        qmax: largest weight level (127, or 63 with ``reduce_range``).
        channel_axis: the weight axis of output channels, None for per-tensor scales.
        in_quant: the input quantizer, or None when the input is another layer's quantized
            output (then ``input_source`` is that layer's output quantizer).
        out_quant: the output quantizer, or None for a float output.
        quant_enabled: False during calibration (float forward).
    """

    weight: torch.Tensor
    bias: torch.Tensor | None
    input_source: ActQuant | None  # set with object.__setattr__: a reference, not a submodule
    WEIGHT_AXIS = 0

    def _init_quant(self, qmax: int, per_channel: bool) -> None:
        self.qmax = qmax
        self.channel_axis: int | None = self.WEIGHT_AXIS if per_channel else None
        self.in_quant: ActQuant | None = None
        self.out_quant: ActQuant | None = None
        object.__setattr__(self, "input_source", None)  # a reference, not a submodule
        self.quant_enabled = True
        self._frozen: tuple[torch.Tensor, ...] | None = None

    @classmethod
    def from_float(cls, layer: nn.Module, qmax: int, per_channel: bool) -> Any:
        raise NotImplementedError

    def _adopt(self, layer: nn.Module, qmax: int, per_channel: bool) -> Any:
        """Take ``layer``'s parameters and training mode, and set up quantization (the shared
        end of every ``from_float``)."""
        weight, bias = layer.weight, layer.bias
        assert isinstance(weight, nn.Parameter) and (bias is None or isinstance(bias, nn.Parameter))
        self.weight, self.bias = weight, bias
        self._init_quant(qmax, per_channel)
        self.train(layer.training)  # type: ignore[attr-defined]
        return self

    def set_input_source(self, source: ActQuant | None) -> None:
        object.__setattr__(self, "input_source", source)

    def input_quantizer(self) -> ActQuant:
        q = self.in_quant if self.in_quant is not None else self.input_source
        if q is None:
            raise RuntimeError(f"{type(self).__name__}: no input quantizer")
        return q

    def weight_step(self) -> torch.Tensor:
        """Abs-max weight step, floored so that the int32 bias (step ``s_in·s_w``) cannot
        saturate: a channel whose weights BN folding zeroed can still carry a bias."""
        step = weight_step(self.weight, self.qmax, self.channel_axis)
        q = self.input_quantizer()
        if self.bias is not None and q.initialized:
            b = self.bias.detach().abs()
            floor = (b if self.channel_axis is not None else b.max()) / (q.step() * 2**30)
            step = torch.maximum(step, floor)
        return step

    def _float_op(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def _integer_path(self) -> bool:
        return False

    def _integer_forward(self, x: torch.Tensor, s_out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _bias_step(self, w_step: torch.Tensor) -> torch.Tensor:
        return self.input_quantizer().step().detach() * w_step

    def quantized_params(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Weights and bias as the int8 graph sees them (identity gradients)."""
        s = self.weight_step()
        shaped = s if self.channel_axis is None else s.reshape(self._channel_shape())
        w = fake_quant(self.weight, shaped, -self.qmax, self.qmax)
        b = None if self.bias is None else quantize_bias(self.bias, self._bias_step(s))
        return w, b

    def _channel_shape(self) -> list[int]:
        shape = [1] * self.weight.dim()
        shape[self.WEIGHT_AXIS] = -1
        return shape

    @torch.no_grad()
    def freeze_for_export(self) -> None:
        """Compute the integer weights and bias that the exported graph stores."""
        s = self.weight_step()
        w_int = int_weight(self.weight, s, self.qmax, self.channel_axis)
        frozen: tuple[torch.Tensor, ...] = (w_int, s.clone())
        if self.bias is not None:
            b_step = self._bias_step(s).clone()
            frozen = (*frozen, int_bias(self.bias, b_step), b_step)
        self._frozen = frozen

    def unfreeze(self) -> None:
        self._frozen = None

    def _exported_params(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        assert self._frozen is not None
        axis = self.WEIGHT_AXIS
        w = export_dequant(self._frozen[0], self._frozen[1], axis)
        b = export_dequant(self._frozen[2], self._frozen[3], 0) if len(self._frozen) > 2 else None
        return w, b

    def _export_op(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        """The op on :meth:`_exported_params` (layers that store their weight differently for
        the graph override both)."""
        return self._float_op(x, w, b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.in_quant is not None:
            x = self.in_quant(x)
        if not self.quant_enabled:
            y = self._float_op(x, self.weight, self.bias)
        elif self._integer_path():
            assert self.out_quant is not None
            return self._integer_forward(x, self.out_quant.step())
        elif self._frozen is not None:
            y = self._export_op(x, *self._exported_params())
        else:
            y = self._float_op(x, *self.quantized_params())
        return self.out_quant(y) if self.out_quant is not None else y


class QuantConv2d(QuantMixin, nn.Conv2d):
    """Fake-quantized :class:`torch.nn.Conv2d` (plain, grouped and depthwise).

    In eval mode a conv with a quantized output computes what ONNX Runtime's ``QLinearConv``
    does, bit for bit: the integer sum (exact: float32 while every partial sum stays below
    2^24, float64 otherwise), plus the int32 bias, converted to float32, times the float32
    multiplier ``s_in · s_w / s_out``, rounded half to even and saturated. The float path
    (training) differs from it only where float32 summation order tips a value across a
    rounding boundary — rarely, but a quantized network amplifies such flips.
    """

    def _integer_path(self) -> bool:
        return not self.training and self.out_quant is not None and self._frozen is None

    @torch.no_grad()
    def _integer_forward(self, x: torch.Tensor, s_out: torch.Tensor) -> torch.Tensor:
        s_in, in_min, in_max = self.input_quantizer().grid()
        s_w = self.weight_step()
        x_int = torch.round(x / s_in)
        w_int = int_weight(self.weight, s_w, self.qmax, self.channel_axis)
        fan_in = self.weight[0].numel()
        x_max = max(-in_min, in_max)
        dtype = torch.float32 if fan_in * x_max * self.qmax < 2**24 else torch.float64
        acc = self._conv_forward(x_int.to(dtype), w_int.to(dtype), None).double()
        if self.bias is not None:
            b_int = int_bias(self.bias, s_in * s_w)
            acc = acc + b_int.double().reshape(1, -1, 1, 1)
        mult = (s_in * s_w) / s_out
        if mult.dim() == 1:
            mult = mult.reshape(1, -1, 1, 1)
        q_out = self.out_quant
        assert q_out is not None
        _, out_min, out_max = q_out.grid()
        y = torch.clamp(torch.round(acc.float() * mult), out_min, out_max)
        return y * s_out

    @classmethod
    def from_float(cls, layer: nn.Module, qmax: int, per_channel: bool) -> QuantConv2d:
        assert isinstance(layer, nn.Conv2d)
        q = cls(
            layer.in_channels,
            layer.out_channels,
            layer.kernel_size,  # type: ignore[arg-type]
            stride=layer.stride,  # type: ignore[arg-type]
            padding=layer.padding,  # type: ignore[arg-type]
            dilation=layer.dilation,  # type: ignore[arg-type]
            groups=layer.groups,
            bias=layer.bias is not None,
            padding_mode=layer.padding_mode,
        )
        return q._adopt(layer, qmax, per_channel)

    def _float_op(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        return self._conv_forward(x, w, b)


class QuantConvTranspose2d(QuantMixin, nn.ConvTranspose2d):
    """Fake-quantized :class:`torch.nn.ConvTranspose2d` (groups = 1; weight axis 1 holds the
    output channels). ONNX Runtime's CPU provider has no int8 ConvTranspose: it dequantizes the
    stored int8 weights and runs the float kernel, with the same numbers."""

    WEIGHT_AXIS = 1

    @classmethod
    def from_float(cls, layer: nn.Module, qmax: int, per_channel: bool) -> QuantConvTranspose2d:
        assert isinstance(layer, nn.ConvTranspose2d) and layer.groups == 1
        q = cls(
            layer.in_channels,
            layer.out_channels,
            layer.kernel_size,  # type: ignore[arg-type]
            stride=layer.stride,  # type: ignore[arg-type]
            padding=layer.padding,  # type: ignore[arg-type]
            output_padding=layer.output_padding,  # type: ignore[arg-type]
            dilation=layer.dilation,  # type: ignore[arg-type]
            bias=layer.bias is not None,
        )
        return q._adopt(layer, qmax, per_channel)

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if output_size is not None:
            raise TypeError(f"{type(self).__name__}.forward() takes no output_size")
        return QuantMixin.forward(self, x)

    def _float_op(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        padding = cast(tuple[int, ...], self.padding)  # never a string on a transposed conv
        return F.conv_transpose2d(
            x, w, b, self.stride, padding, self.output_padding, self.groups, self.dilation
        )


# torch infers Linear.bias as a Parameter from its __init__, though bias=False makes it None
class QuantLinear(QuantMixin, nn.Linear):  # type: ignore[misc]
    """Fake-quantized :class:`torch.nn.Linear` (exported as MatMul/Gemm over int8 weights)."""

    @classmethod
    def from_float(cls, layer: nn.Module, qmax: int, per_channel: bool) -> QuantLinear:
        assert isinstance(layer, nn.Linear)
        q = cls(layer.in_features, layer.out_features, bias=layer.bias is not None)
        return q._adopt(layer, qmax, per_channel)

    def _float_op(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        return F.linear(x, w, b)

    def _exported_params(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        # The graph stores the int8 weight transposed ([in, out], scales along axis 1) so that
        # its DequantizeLinear feeds the MatMul directly: with a Transpose in between, ONNX
        # Runtime's QDQ fusion does not apply and the layer runs as a float matmul behind a
        # dequantization on every call.
        assert self._frozen is not None
        w_t = export_dequant(self._frozen[0].t().contiguous(), self._frozen[1], 1)
        b = export_dequant(self._frozen[2], self._frozen[3], 0) if len(self._frozen) > 2 else None
        return w_t, b

    def _export_op(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        y = torch.matmul(x, w)
        return y if b is None else y + b


QUANT_TYPES: dict[type[nn.Module], type[QuantMixin]] = {
    nn.Conv2d: QuantConv2d,
    nn.ConvTranspose2d: QuantConvTranspose2d,
    nn.Linear: QuantLinear,
}


def quantizable(module: nn.Module) -> bool:
    """Conv2d, ConvTranspose2d (groups 1) and Linear — exactly these classes, not subclasses."""
    if type(module) not in QUANT_TYPES:
        return False
    return not (isinstance(module, nn.ConvTranspose2d) and module.groups != 1)
