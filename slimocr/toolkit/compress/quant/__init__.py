"""Quantization: fake-quant QAT with PACT, post-training calibration, int8 QDQ ONNX export.

>>> from slimocr.toolkit.compress.quant import QuantConfig, prepare_qat, calibrate, export_qdq
>>> float_model = create_model("dbnet_mv3_ppocrv3", pretrained=True)  # doctest: +SKIP
>>> model = prepare_qat(float_model, QuantConfig())  # doctest: +SKIP
>>> calibrate(model, batches)  # doctest: +SKIP
>>> export_qdq(model, "det_int8.onnx", "det", metadata)  # doctest: +SKIP

See docs/guide/quantization.md for the design, docs/reports/2026-11-29-quantization-log.md for
measured numbers.
"""

from slimocr.toolkit.compress.quant.check import check_parity
from slimocr.toolkit.compress.quant.config import CalibConfig, QuantConfig
from slimocr.toolkit.compress.quant.export import (
    export_qdq,
    int8_op_counts,
    optimized_op_counts,
    parity,
    quantize_lstm_dynamic,
)
from slimocr.toolkit.compress.quant.fake_quant import ActQuant, fake_quant, weight_step
from slimocr.toolkit.compress.quant.fold import fold_batchnorm
from slimocr.toolkit.compress.quant.pact import PACTClip, param_groups
from slimocr.toolkit.compress.quant.prepare import (
    export_mode,
    prepare_qat,
    quant_layers,
    quant_summary,
)
from slimocr.toolkit.compress.quant.ptq import calibrate
from slimocr.toolkit.compress.quant.recipe import QuantRecipe, load_quant_recipe, run_quant

__all__ = [
    "ActQuant",
    "CalibConfig",
    "PACTClip",
    "QuantConfig",
    "QuantRecipe",
    "calibrate",
    "check_parity",
    "export_mode",
    "export_qdq",
    "fake_quant",
    "fold_batchnorm",
    "int8_op_counts",
    "load_quant_recipe",
    "optimized_op_counts",
    "param_groups",
    "parity",
    "prepare_qat",
    "quant_layers",
    "quant_summary",
    "quantize_lstm_dynamic",
    "run_quant",
    "weight_step",
]
