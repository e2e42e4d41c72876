"""Registry of model builders: one public builder per variant, registered by a decorator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelSpec:
    """What a registered builder makes and where its pretrained weights come from.

    Attributes:
        name: the builder's name (``dbnet_mv3_ppocrv3``).
        kind: ``"det"`` or ``"rec"``.
        official: key of the official ONNX file holding its weights (see
            :data:`slimocr.pretrained.official.OFFICIAL_FILES`).
        not_in_official: module-name prefixes the inference file has no weights for (they keep
            their initialisation, e.g. the DB threshold branch used only in training).
        charset: key of the official charset file (recognizers).
        input_height: fixed input height of a recognizer (None for detectors).
    """

    name: str
    kind: str
    builder: Builder
    official: str
    not_in_official: tuple[str, ...] = ()
    charset: str | None = None
    input_height: int | None = None


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    kind: str,
    official: str,
    not_in_official: tuple[str, ...] = (),
    charset: str | None = None,
    input_height: int | None = None,
) -> Callable[[Builder], Builder]:
    """Register a builder under its function name; a duplicate name is an error."""

    def wrap(fn: Builder) -> Builder:
        name = fn.__name__
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelSpec(
            name, kind, fn, official, not_in_official, charset, input_height
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
