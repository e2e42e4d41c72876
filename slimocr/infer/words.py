"""Word boxes from the recognizer's CTC timing.

A CTC recognizer emits one class per frame, each frame a fixed slice of the input width. A
character is a run of frames of one non-blank class; its centre is the run's centre. A word is
a run of characters between spaces; its box spans from half a character pitch before its first
centre to half a pitch after its last, mapped from the crop back onto the line's quadrilateral.
A wide (CJK) character, in scripts written without spaces, is a word of its own.

>>> spans = frame_runs(np.array([0, 3, 3, 0, 4, 0, 1, 0, 5]))
>>> spans
[(3, 1, 2), (4, 4, 4), (1, 6, 6), (5, 8, 8)]
"""

from __future__ import annotations

import unicodedata

import numpy as np

from slimocr.postprocess.ctc import BLANK


def frame_runs(ids: np.ndarray) -> list[tuple[int, int, int]]:
    """``(class, first frame, last frame)`` of each run of one non-blank class, in order."""
    runs: list[tuple[int, int, int]] = []
    prev = BLANK
    for t, c in enumerate(np.asarray(ids).tolist()):
        if c != BLANK and c == prev:
            runs[-1] = (c, runs[-1][1], t)
        elif c != BLANK:
            runs.append((c, t, t))
        prev = c
    return runs


def char_positions(
    ids: np.ndarray, charset: list[str], input_width: int, resized_width: int, crop_width: int
) -> list[tuple[str, float]]:
    """Each decoded character with its centre's x in the crop's pixels.

    Args:
        ids: (T,) the best class of each frame.
        charset: the characters after the blank.
        input_width: the recognizer input's width (the batch's, padding included).
        resized_width: the width the crop was resized to inside that input.
        crop_width: the crop's own width.
    """
    frame_px = input_width / float(len(ids)) * crop_width / float(max(resized_width, 1))
    return [(charset[c - 1], (a + b + 1) / 2.0 * frame_px) for c, a, b in frame_runs(ids)]


def word_spans(chars: list[tuple[str, float]], crop_width: float) -> list[tuple[str, float, float]]:
    """Group characters into words at spaces: ``(word, x0, x1)`` in crop pixels; a wide
    (East Asian) character is a word of its own.

    A word reaches half a character pitch (the median distance between neighbouring centres of
    the line; the crop width per character when the line has one) beyond its outer centres.
    """
    if not chars:
        return []
    centres = np.array([x for _, x in chars])
    pitch = float(np.median(np.diff(centres))) if len(chars) > 1 else crop_width / len(chars)
    words: list[tuple[str, float, float]] = []
    current: list[tuple[str, float]] = []

    def close() -> None:
        if current:
            x0 = max(0.0, current[0][1] - pitch / 2)
            x1 = min(float(crop_width), current[-1][1] + pitch / 2)
            words.append(("".join(c for c, _ in current), x0, x1))
            current.clear()

    for ch, x in chars:
        if not ch.strip():
            close()
        elif _is_wide(ch):
            close()
            current.append((ch, x))
            close()
        else:
            current.append((ch, x))
    close()
    return words


def _is_wide(ch: str) -> bool:
    return any(unicodedata.east_asian_width(c) in ("W", "F") for c in ch)


def line_edges(box: np.ndarray, vertical: bool, turned: bool) -> tuple[np.ndarray, ...]:
    """The quad's reading-direction edges as ``(top_start, top_end, bottom_start, bottom_end)``.

    ``vertical``: the crop was rotated 90° counter-clockwise (a tall box,
    :func:`slimocr.infer.crop.crop_quad`); ``turned``: it was then rotated by 180°
    (:mod:`slimocr.infer.cls`).
    """
    tl, tr, br, bl = np.asarray(box, dtype=np.float64).reshape(4, 2)
    edges = (tr, br, tl, bl) if vertical else (tl, tr, bl, br)
    if turned:  # reading runs the other way, and the top is the other edge
        ts, te, bs, be = edges
        edges = (be, bs, te, ts)
    return edges


def word_quads(
    spans: list[tuple[str, float, float]],
    box: np.ndarray,
    crop_width: int,
    vertical: bool = False,
    turned: bool = False,
) -> list[tuple[str, list[list[float]]]]:
    """Map word spans of a crop onto the line's quadrilateral: ``(word, 4 corners)``, corners
    clockwise from the word's top-left as read."""
    ts, te, bs, be = line_edges(box, vertical, turned)
    out = []
    for word, x0, x1 in spans:
        f0, f1 = x0 / float(crop_width), x1 / float(crop_width)
        quad = [ts + f0 * (te - ts), ts + f1 * (te - ts), bs + f1 * (be - bs), bs + f0 * (be - bs)]
        out.append((word, [[float(x), float(y)] for x, y in quad]))
    return out
