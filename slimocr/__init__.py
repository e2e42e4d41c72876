"""SlimOCR: small, fast OCR models and the toolkit that makes them.

The base package (inference, evaluation, zoo) never imports torch; training and compression live
behind the ``slimocr[train]`` extra.

>>> from slimocr import OCR  # doctest: +SKIP
>>> result = OCR()("photo.jpg")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["OCR", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "OCR":
        from slimocr.infer.pipeline import OCR

        return OCR
    raise AttributeError(name)
