"""The evaluation domains: every kind of text a compressed model is checked on.

======== ==== ======================================================= ========
domain   kind what                                                     labels
======== ==== ======================================================= ========
ic15     det  ICDAR 2015 test: street scenes, English word boxes        yes
td500    det  MSRA-TD500 (report split): Chinese + English photos,      yes
              line-level boxes
funsd    det  FUNSD val: scanned English forms, segment boxes           yes
ic15     rec  ICDAR 2015 word crops                                     yes
funsd    rec  FUNSD val crops: printed form text, spaces, case, digits  yes
render_en rec rendered English lines (receipt, headings, codes)         yes
render_zh rec rendered Chinese + mixed lines                            yes
td500    rec  crops of td500 report lines (no transcriptions)           agreement
======== ==== ======================================================= ========

Only report splits are loaded here (:mod:`slimocr.eval.splits` says which images those are).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from slimocr.errors import ImageReadError, LabelError
from slimocr.eval.readers import (
    DetSample,
    RecSample,
    load_det_dataset,
    load_rec_dataset,
    read_crops_folder,
    read_paddle_det_labels,
)
from slimocr.eval.render import rendered_set
from slimocr.eval.splits import Split, data_root, td500_names
from slimocr.files import publish_folder
from slimocr.infer.crop import crop_quad

Kind = Literal["det", "rec"]


@dataclass(frozen=True)
class Domain:
    """One evaluation domain of one model kind."""

    name: str
    kind: Kind
    what: str
    labelled: bool = True


DOMAINS: tuple[Domain, ...] = (
    Domain("ic15", "det", "ICDAR 2015 test, English scene words (500 images)"),
    Domain("td500", "det", "MSRA-TD500 report split, Chinese + English line photos (200)"),
    Domain("funsd", "det", "FUNSD val, scanned English forms (50 pages)"),
    Domain("ic15", "rec", "ICDAR 2015 test word crops (2077)"),
    Domain("funsd", "rec", "FUNSD val crops, printed form text (2270)"),
    Domain("render_en", "rec", "rendered English lines, 12 fonts (600)"),
    Domain("render_zh", "rec", "rendered Chinese + mixed lines, 6 fonts (600)"),
    Domain("td500", "rec", "td500 report line crops, no labels: agreement only", labelled=False),
)


def domains(kind: Kind, names: list[str] | None = None) -> list[Domain]:
    """The domains of ``kind`` (all, or those named, in the order of :data:`DOMAINS`).

    Raises:
        LabelError: a name that is not a domain of ``kind``.
    """
    mine = [d for d in DOMAINS if d.kind == kind]
    if not names:
        return mine
    known = {d.name for d in mine}
    bad = [n for n in names if n not in known]
    if bad:
        raise LabelError(
            f"{', '.join(bad)}: not a {kind} domain (known: {', '.join(sorted(known))})"
        )
    return [d for d in mine if d.name in names]


def _td500(split: Split, root: Path) -> list[DetSample]:
    samples = read_paddle_det_labels(root / "td500_train" / "det_gt.txt")
    keep = set(td500_names(split, [s.image.name for s in samples]))
    return [s for s in samples if s.image.name in keep]


def det_samples(name: str, root: Path | None = None, split: Split = "report") -> list[DetSample]:
    """The labelled images of a det domain's split."""
    root = data_root() if root is None else root
    if name == "ic15":
        return list(
            load_det_dataset(root / ("ic15_det_test" if split == "report" else "ic15_train"))
        )
    if name == "td500":
        return _td500(split, root)
    if name == "funsd":
        return list(load_det_dataset(root / "funsd" / ("val" if split == "report" else "train")))
    raise LabelError(f"{name}: not a det domain")


def care_crops(samples: list[DetSample]) -> Iterator[tuple[int, int, np.ndarray, str]]:
    """``(image index, box index, crop, text)`` of every "care" 4-point box of ``samples``,
    cut as at inference time (:func:`~slimocr.infer.crop.crop_quad`).

    Raises:
        ImageReadError: an image cannot be read.
    """
    for i, s in enumerate(samples):
        img = cv2.imread(str(s.image), cv2.IMREAD_COLOR)
        if img is None:
            raise ImageReadError(f"{s.image}: cannot read image")
        for j, (poly, text, ignore) in enumerate(zip(s.polys, s.texts, s.ignore, strict=True)):
            if not ignore and len(poly) == 4:
                yield i, j, crop_quad(img, poly), text


def publish_crops(folder: Path, fill: Callable[[Path], list[str]]) -> Path:
    """Write a crop folder once (:func:`~slimocr.files.publish_folder`): ``fill(tmp)`` writes
    the crops and returns the ``gt.txt`` lines."""

    def write(tmp: Path) -> None:
        rows = fill(tmp)
        (tmp / "gt.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")

    return publish_folder(folder, "gt.txt", write)


def _line_crops(samples: list[DetSample], cache: Path, tag: str) -> Path:
    """Cut every "care" box of ``samples`` once into a folder of crops (``gt.txt`` with an
    empty label: the set has no transcriptions)."""
    key = hashlib.sha256(
        repr([(str(s.image), [p.tolist() for p in s.polys]) for s in samples]).encode()
    ).hexdigest()[:12]

    def fill(tmp: Path) -> list[str]:
        rows = []
        for i, j, crop, _ in care_crops(samples):
            name = f"{samples[i].image.stem}_{j:03d}.png"
            cv2.imwrite(str(tmp / name), crop)
            rows.append(f"{name}\t")
        return rows

    return publish_crops(cache / f"{tag}-{key}", fill)


def rec_samples(
    name: str, cache: Path, root: Path | None = None, split: Split = "report"
) -> list[RecSample]:
    """The crops of a rec domain's split (label ``""`` where the domain has no labels)."""
    root = data_root() if root is None else root
    if split == "report" and name == "ic15":
        return list(load_rec_dataset(root / "ic15_rec_test"))
    if split == "report" and name == "funsd":
        return list(load_rec_dataset(root / "funsd" / "val_rec"))
    if name in ("render_en", "render_zh"):
        return list(read_crops_folder(rendered_set(name[-2:], split, cache).folder))
    if name == "td500":
        folder = _line_crops(_td500(split, root), cache, f"td500_{split}_lines")
        lines = (folder / "gt.txt").read_text(encoding="utf-8").splitlines()
        return [RecSample(folder / line.split("\t")[0], "") for line in lines if line.strip()]
    raise LabelError(f"{name}: no {split} crops for this rec domain")
