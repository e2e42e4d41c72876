"""Label-free agreement of a compressed model with its parent on the same inputs.

* Detector: the parent's boxes are taken as the ground truth (all "care") and the candidate's
  boxes are scored with the ICDAR 2015 protocol: precision, recall and hmean of agreement.
* Recognizer: on the same crops, the **string agreement rate** (the two readings are equal) and
  the **character error rate** of the candidate's reading against the parent's (total edit
  distance over total parent characters; a crop the parent reads as empty counts the
  candidate's characters as insertions against a length of at least 1).
* End to end: lines of the two pipelines are paired when their boxes overlap (IoU ≥ 0.5, one to
  one, greedy by IoU) and their texts are equal; precision / recall / hmean over line counts.

Agreement needs no labels, so it can be measured on any folder of images.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from slimocr.eval.det_metrics import DetEvaluator, polygon_iou
from slimocr.eval.rec_metrics import levenshtein


def det_agreement(
    parent_boxes: Sequence[Sequence[np.ndarray]], boxes: Sequence[Sequence[np.ndarray]]
) -> dict[str, float | int]:
    """Precision / recall / hmean of ``boxes`` against ``parent_boxes``, image by image.

    >>> sq = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)
    >>> far = sq + 100
    >>> r = det_agreement([[sq, far]], [[sq]])
    >>> r["precision"], r["recall"], round(r["hmean"], 4)
    (1.0, 0.5, 0.6667)
    """
    if len(parent_boxes) != len(boxes):
        raise ValueError(f"{len(parent_boxes)} parent images but {len(boxes)} candidate images")
    evaluator = DetEvaluator()
    for ref, cand in zip(parent_boxes, boxes, strict=True):
        ref_polys = [np.asarray(b, np.float64).reshape(-1, 2) for b in ref]
        cand_polys = [np.asarray(b, np.float64).reshape(-1, 2) for b in cand]
        evaluator.add(ref_polys, [False] * len(ref_polys), cand_polys)
    m = evaluator.result().to_dict()
    keys = ("precision", "recall", "hmean")
    return {**{k: m[k] for k in keys}, "n_images": len(boxes)}


def rec_agreement(parent_texts: Sequence[str], texts: Sequence[str]) -> dict[str, float | int]:
    """String agreement rate and character error rate of ``texts`` against ``parent_texts``.

    >>> r = rec_agreement(["abc", "de", ""], ["abc", "dx", "q"])
    >>> r["agreement"], r["cer"]
    (0.3333333333333333, 0.3333333333333333)
    """
    if len(parent_texts) != len(texts):
        raise ValueError(f"{len(parent_texts)} parent readings but {len(texts)} readings")
    if not texts:
        return {"agreement": 0.0, "cer": 0.0, "n": 0}
    same = sum(a == b for a, b in zip(parent_texts, texts, strict=True))
    edits = sum(levenshtein(b, a) for a, b in zip(parent_texts, texts, strict=True))
    chars = sum(max(len(a), 1) for a in parent_texts)
    return {"agreement": same / len(texts), "cer": edits / max(chars, 1), "n": len(texts)}


def e2e_agreement(
    parent: Sequence[Sequence[tuple[np.ndarray, str]]],
    lines: Sequence[Sequence[tuple[np.ndarray, str]]],
    iou: float = 0.5,
) -> dict[str, float | int]:
    """Line-level agreement of two pipelines: a line agrees when its box overlaps a parent line
    by IoU ≥ ``iou`` (one to one, greedy by IoU) and the texts are equal.

    >>> sq = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)
    >>> r = e2e_agreement([[(sq, "hi"), (sq + 50, "yo")]], [[(sq, "hi"), (sq + 50, "y0")]])
    >>> r["precision"], r["recall"], r["hmean"]
    (0.5, 0.5, 0.5)
    """
    if len(parent) != len(lines):
        raise ValueError(f"{len(parent)} parent images but {len(lines)} candidate images")
    matched = n_ref = n_cand = 0
    for ref, cand in zip(parent, lines, strict=True):
        n_ref += len(ref)
        n_cand += len(cand)
        pairs = sorted(
            (
                (polygon_iou(rb, cb), i, j)
                for i, (rb, _) in enumerate(ref)
                for j, (cb, _) in enumerate(cand)
            ),
            reverse=True,
        )
        used_r: set[int] = set()
        used_c: set[int] = set()
        for score, i, j in pairs:
            if score < iou:
                break
            if i in used_r or j in used_c:
                continue
            used_r.add(i)
            used_c.add(j)
            matched += ref[i][1] == cand[j][1]
    p = matched / n_cand if n_cand else (1.0 if not n_ref else 0.0)
    r = matched / n_ref if n_ref else (1.0 if not n_cand else 0.0)
    h = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "hmean": h, "n_lines": n_ref}
