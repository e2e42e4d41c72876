"""Text recognition metrics: word accuracy in two conventions and normalized edit distance.

* ``acc``: exact match after removing spaces from both strings (PaddleOCR's ``RecMetric``).
* ``acc_alnum_ci``: exact match after lowercasing and keeping only ``[0-9a-z]`` (the usual
  ICDAR 2015 "word accuracy" of the scene-text literature; PaddleOCR's ``is_filter=True``).
* ``norm_edit_dis``: 1 - mean over samples of ``lev(p, g) / max(len(p), len(g), 1)``, computed
  on the space-removed strings (PaddleOCR's ``norm_edit_dis``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_NOT_ALNUM = re.compile(r"[^0-9a-z]")


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions and substitutions each cost 1).

    >>> levenshtein("kitten", "sitting")
    3
    """
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def normalized_edit_distance(pred: str, gt: str) -> float:
    """``levenshtein(pred, gt) / max(len(pred), len(gt), 1)``, in [0, 1].

    >>> round(normalized_edit_distance("kitten", "sitting"), 4)
    0.4286
    """
    return levenshtein(pred, gt) / max(len(pred), len(gt), 1)


def remove_spaces(text: str) -> str:
    """Drop the ASCII spaces, as PaddleOCR's metric does."""
    return text.replace(" ", "")


def alnum_lower(text: str) -> str:
    """Lowercase and keep only ASCII digits and letters.

    >>> alnum_lower("Hello, World!")
    'helloworld'
    """
    return _NOT_ALNUM.sub("", text.lower())


class RecMetrics:
    """Accumulates recognition results and computes the metrics in the module doc.

    >>> m = RecMetrics()
    >>> m.update(["ab c", "Hello!"], ["abc", "hello"])
    >>> r = m.result()
    >>> r["acc"], r["acc_alnum_ci"], r["n"]
    (0.5, 1.0, 2)
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget all samples added so far."""
        self.n = 0
        self.n_correct = 0
        self.n_correct_alnum_ci = 0
        self.ned_sum = 0.0

    def add(self, pred: str, gt: str) -> bool:
        """Add one prediction and its label; return whether it is exactly right (``acc``)."""
        p, g = remove_spaces(pred), remove_spaces(gt)
        correct = p == g
        self.n += 1
        self.n_correct += correct
        self.n_correct_alnum_ci += alnum_lower(pred) == alnum_lower(gt)
        self.ned_sum += normalized_edit_distance(p, g)
        return correct

    def update(self, preds: Iterable[str], gts: Iterable[str]) -> None:
        """Add a batch of predictions and labels (same length)."""
        preds, gts = list(preds), list(gts)
        if len(preds) != len(gts):
            raise ValueError(f"{len(preds)} predictions but {len(gts)} labels")
        for p, g in zip(preds, gts, strict=True):
            self.add(p, g)

    def result(self) -> dict[str, float | int]:
        """``{"acc", "acc_alnum_ci", "norm_edit_dis", "n"}``; all 0 when nothing was added."""
        if self.n == 0:
            return {"acc": 0.0, "acc_alnum_ci": 0.0, "norm_edit_dis": 0.0, "n": 0}
        return {
            "acc": self.n_correct / self.n,
            "acc_alnum_ci": self.n_correct_alnum_ci / self.n,
            "norm_edit_dis": 1.0 - self.ned_sum / self.n,
            "n": self.n,
        }
