"""Greedy (best-path) CTC decoding, as PaddleOCR's ``CTCLabelDecode`` does at inference."""

from __future__ import annotations

import numpy as np

BLANK = 0


def ctc_greedy_decode(probs: np.ndarray, charset: list[str]) -> list[tuple[str, float]]:
    """Decode a batch of per-frame class probabilities into texts.

    For each frame the most probable class is taken; a frame is kept when its class is not the
    blank (class 0) and differs from the previous frame's class (so ``a a`` → ``a`` but
    ``a - a`` → ``aa``). The score is the mean of the kept frames' maximum probabilities.

    Args:
        probs: (N, T, C) probabilities (softmax outputs); class ``i >= 1`` is ``charset[i - 1]``.
        charset: the characters after the blank (``C - 1`` of them).

    Returns:
        One ``(text, score)`` per batch item; an empty text has score 0.0.

    Raises:
        ValueError: ``probs`` is not 3-D or has more classes than ``len(charset) + 1``.

    >>> p = np.zeros((1, 4, 3), dtype=np.float32)
    >>> p[0, [0, 1, 3], 1] = [0.9, 0.7, 0.8]; p[0, 2, 0] = 1.0
    >>> [(text, round(score, 4)) for text, score in ctc_greedy_decode(p, ["a", "b"])]
    [('aa', 0.85)]
    """
    probs = np.asarray(probs)
    if probs.ndim != 3:
        raise ValueError(f"expected (N, T, C) probabilities, got shape {probs.shape}")
    n_classes = probs.shape[2]
    if n_classes > len(charset) + 1:
        raise ValueError(
            f"model has {n_classes} classes but the charset has {len(charset)} characters "
            f"(+1 blank); wrong charset for this model?"
        )
    best = probs.argmax(axis=2)
    # the winning probabilities read back at the argmax (one pass over the classes, not two)
    best_prob = np.take_along_axis(probs, best[..., None], axis=2)[..., 0]
    results: list[tuple[str, float]] = []
    for ids, conf in zip(best, best_prob, strict=True):
        keep = ids != BLANK
        keep[1:] &= ids[1:] != ids[:-1]
        kept_ids = ids[keep]
        if kept_ids.size == 0:
            results.append(("", 0.0))
            continue
        text = "".join(charset[i - 1] for i in kept_ids.tolist())
        results.append((text, float(np.mean(conf[keep]))))
    return results
