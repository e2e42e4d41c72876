"""Model definitions (needs the ``slimocr[train]`` extra: torch)."""

from slimocr.toolkit.models import ppocr as _ppocr  # noqa: F401  (registers the builders)
from slimocr.toolkit.models.registry import create_model, list_models, model_spec

__all__ = ["create_model", "list_models", "model_spec"]
