"""Model definitions (needs the ``slimocr[train]`` extra: torch)."""

from slimocr.models import ppocr as _ppocr  # noqa: F401  (registers the builders)
from slimocr.models.registry import create_model, list_models, model_spec

__all__ = ["create_model", "list_models", "model_spec"]
