"""Result types of the inference package."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from slimocr.infer.image import ImageSource


@dataclass
class DetResult:
    """Text boxes found by the detector.

    Attributes:
        boxes: (N, 4, 2) float32, corners in source-image pixels, clockwise from top-left.
        scores: (N,) float32 mean probability of each box (DB "box score").
        elapsed_ms: timings, keys ``det_pre``, ``det_infer``, ``det_post``.
    """

    boxes: np.ndarray
    scores: np.ndarray
    elapsed_ms: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.boxes.shape[0])


@dataclass
class RecResult:
    """The text of one cropped line and its confidence (mean of the kept frames' max prob);
    ``chars``, when asked for, each decoded character with its centre's x in the crop."""

    text: str
    score: float
    chars: list[tuple[str, float]] | None = None


@dataclass
class Word:
    """One word of a line (characters between spaces) and its quadrilateral, from CTC timing."""

    box: list[list[float]]
    text: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"box": [[float(x), float(y)] for x, y in self.box], "text": self.text}


@dataclass
class TextLine:
    """One recognised line: its quadrilateral (4 [x, y] corners), text and confidence;
    ``words`` when word boxes were asked for; ``angle`` 180 when the line was read turned
    upside down (orientation step on)."""

    box: list[list[float]]
    text: str
    score: float
    words: list[Word] | None = None
    angle: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``words`` and ``angle`` only when set)."""
        out: dict[str, Any] = {
            "box": [[float(x), float(y)] for x, y in self.box],
            "text": self.text,
            "score": float(self.score),
        }
        if self.angle is not None:
            out["angle"] = self.angle
        if self.words is not None:
            out["words"] = [w.to_dict() for w in self.words]
        return out


@dataclass
class OCRResult:
    """All the lines read in one image, in reading order.

    Attributes:
        source: where the image came from (path or ``<array>``).
        lines: the recognised lines that passed ``drop_score``.
        elapsed_ms: timings per stage: ``load``, ``det_pre``, ``det_infer``, ``det_post``,
            ``crop``, ``rec``, ``total``.
    """

    source: str
    lines: list[TextLine]
    elapsed_ms: dict[str, float] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """All the lines' texts, one per line."""
        return "\n".join(line.text for line in self.lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``{"source", "lines": [{"box", "text", "score"}], "elapsed_ms"}``."""
        return {
            "source": self.source,
            "lines": [line.to_dict() for line in self.lines],
            "elapsed_ms": {k: round(float(v), 3) for k, v in self.elapsed_ms.items()},
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as one line of JSON (non-ASCII text kept as is; all escaped when
        the source name is not valid UTF-8: :func:`slimocr.inputs.json_text`)."""
        from slimocr.inputs import json_text

        return json_text(self.to_dict())

    def draw(self, image: ImageSource, font: str | None = None) -> np.ndarray:
        """The image (as the OCR took it: an array in any form, a path or bytes) with the
        boxes drawn, side by side with the text written in each box, as H×2W×3 uint8 BGR
        (:func:`slimocr.infer.draw_text.draw_with_text`; ``font`` a font file covering the
        script, else PIL's built-in Latin font)."""
        from slimocr.infer.draw_text import draw_with_text

        return draw_with_text(image, self, font=font)
