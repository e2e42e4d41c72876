"""Registry of model builders: one public builder per variant, registered by a decorator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from torch import nn

Builder = Callable[..., nn.Module]
WeightMatch = Literal["name", "graph"]


@dataclass(frozen=True)
class ModelSpec:
    """What a registered builder makes and where its pretrained weights come from.

    Attributes:
        name: the builder's name (``dbnet_mv3_ppocrv3``).
        kind: ``"det"`` or ``"rec"``.
        official: key of the official ONNX file holding its weights (see
            :data:`slimocr.official.OFFICIAL_FILES`).
        not_in_official: module-name prefixes the inference file has no weights for (they keep
            their initialisation, e.g. the DB threshold branch used only in training).
        charset: key of the official file holding the charset (recognizers): a charset file, or
            an ONNX recognizer whose ``character`` metadata lists it (RapidOCR's files); see
            :func:`slimocr.official.official_charset`.
        input_height: fixed input height of a recognizer (None for detectors).
        weight_match: how the importer pairs the file's weights with our modules: ``"name"``
            (Paddle layer names, by layer number, against the modules' definition order) or
            ``"graph"`` (the ONNX graph's node order against the order our forward pass calls
            the modules; for re-parameterized files whose merged layers lost their names).
        output_name: the official file's output name, kept by our exports (None: PP-OCR's
            ``sigmoid_0.tmp_0`` / ``softmax_0.tmp_0``).
        static_height: the official file fixes the recognizer's input height to
            ``input_height``; our exports do too (readers take the height from the file).
    """

    name: str
    kind: str
    builder: Builder
    official: str
    not_in_official: tuple[str, ...] = ()
    charset: str | None = None
    input_height: int | None = None
    weight_match: WeightMatch = "name"
    output_name: str | None = None
    static_height: bool = False


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    kind: str,
    official: str,
    not_in_official: tuple[str, ...] = (),
    charset: str | None = None,
    input_height: int | None = None,
    weight_match: WeightMatch = "name",
    output_name: str | None = None,
    static_height: bool = False,
) -> Callable[[Builder], Builder]:
    """Register a builder under its function name; a duplicate name is an error.

    The keyword arguments are the :class:`ModelSpec` fields of the same names.
    """
    if weight_match not in ("name", "graph"):
        raise ValueError(f"weight_match must be 'name' or 'graph', not {weight_match!r}")
    if static_height and input_height is None:
        raise ValueError("static_height needs input_height")

    def wrap(fn: Builder) -> Builder:
        name = fn.__name__
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelSpec(
            name=name,
            kind=kind,
            builder=fn,
            official=official,
            not_in_official=not_in_official,
            charset=charset,
            input_height=input_height,
            weight_match=weight_match,
            output_name=output_name,
            static_height=static_height,
        )
        return fn

    return wrap


def model_spec(name: str) -> ModelSpec:
    """The spec of a registered model (KeyError with the known names otherwise)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(list_models())}") from None


def list_models(kind: str | None = None) -> list[str]:
    """Names of the registered models, optionally of one kind."""
    return sorted(n for n, s in _REGISTRY.items() if kind is None or s.kind == kind)


def create_model(name: str, pretrained: bool = False, **kwargs: object) -> nn.Module:
    """Build a registered model, optionally with its imported official weights.

    >>> model = create_model("dbnet_mv3_ppocrv3")  # doctest: +SKIP
    """
    return model_spec(name).builder(pretrained=pretrained, **kwargs)
