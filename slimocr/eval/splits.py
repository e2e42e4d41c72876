"""Selection and report splits of every evaluation domain, written down once.

A reported number comes only from a domain's **report** split. Images that calibrate, distil,
pick checkpoints, seeds or pruning ratios come only from its **selection** split. The rules:

======== ====================================== =========================================
domain   selection                               report
======== ====================================== =========================================
ic15     ``ic15_train`` (1000 images)            ``ic15_det_test`` (500), ``ic15_rec_test``
td500    ``td500_train``: image names sorted,    the other 200 of ``td500_train``
         every third from the first (100)
funsd    ``funsd/train`` (149 pages)             ``funsd/val`` (50), ``funsd/val_rec``
render   ``corpus/render_*_selection.txt``       ``corpus/render_*_report.txt`` (no shared
                                                 word: the word lists are split by hash)
======== ====================================== =========================================

The data root is ``$SLIMOCR_DATA`` when set, else ``../shared/data`` (relative to the working
directory, as the project's commands are run from the repository root).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

Split = Literal["selection", "report"]

DEFAULT_DATA_ROOT = "../shared/data"


def data_root() -> Path:
    """The folder holding the real data sets (``$SLIMOCR_DATA`` or ``../shared/data``)."""
    return Path(os.environ.get("SLIMOCR_DATA") or DEFAULT_DATA_ROOT)


def td500_split(name: str, all_names: Iterable[str]) -> Split:
    """The split of one td500 image: sort the file names (base names), every third one from
    the first is ``selection``.

    >>> names = [f"IMG_{i:04d}.jpg" for i in range(6)]
    >>> [td500_split(n, names) for n in names]
    ['selection', 'report', 'report', 'selection', 'report', 'report']
    """
    ordered = sorted({Path(n).name for n in all_names})
    try:
        index = ordered.index(Path(name).name)
    except ValueError:
        raise KeyError(f"{name}: not among the td500 images") from None
    return "selection" if index % 3 == 0 else "report"


def td500_names(split: Split, all_names: Iterable[str]) -> list[str]:
    """The image base names of one td500 split, sorted.

    >>> td500_names("selection", ["c.jpg", "a.jpg", "b.jpg", "d.jpg"])
    ['a.jpg', 'd.jpg']
    """
    names = list(all_names)
    return [n for n in sorted({Path(n).name for n in names}) if td500_split(n, names) == split]


# Where each domain's splits live under the data root (det label files / rec crop folders).
# ``None``: the split is not a folder of the data root (rendered lines, td500's filtered file).
SPLIT_PATHS: dict[str, dict[Split, dict[str, str | None]]] = {
    "ic15": {
        "selection": {"det": "ic15_train", "rec": None},
        "report": {"det": "ic15_det_test", "rec": "ic15_rec_test"},
    },
    "td500": {
        "selection": {"det": "td500_train/det_gt.txt", "rec": None},
        "report": {"det": "td500_train/det_gt.txt", "rec": None},
    },
    "funsd": {
        "selection": {"det": "funsd/train/det_gt.txt", "rec": None},
        "report": {"det": "funsd/val/det_gt.txt", "rec": "funsd/val_rec"},
    },
}


def selection_images(root: Path | None = None) -> dict[str, list[Path]]:
    """Every selection-split image of the real domains, by domain (missing folders: empty).

    This is the pool that calibration, distillation and checkpoint choice may read.
    """
    root = data_root() if root is None else root
    out: dict[str, list[Path]] = {}
    ic15 = root / "ic15_train" / "ch4_training_images"
    out["ic15"] = sorted(ic15.glob("*.jpg")) if ic15.is_dir() else []
    td = root / "td500_train" / "images"
    if td.is_dir():
        names = [p.name for p in td.iterdir() if p.is_file()]
        out["td500"] = [td / n for n in td500_names("selection", names)]
    else:
        out["td500"] = []
    funsd = root / "funsd" / "train" / "images"
    out["funsd"] = sorted(funsd.glob("*.png")) if funsd.is_dir() else []
    return out
