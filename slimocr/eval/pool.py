"""The selection pool: the only images calibration, distillation and checkpoint choice read.

It mixes every domain's **selection** split (:mod:`slimocr.eval.splits`): IC15 train street
scenes (a seeded subsample, so English scene words do not outweigh the rest), the td500
selection photos (Chinese + English lines), the FUNSD train pages (scanned forms) and, for
recognizers, rendered selection lines in both scripts. Recipes name it instead of a folder:

* ``pool:det`` — a PaddleOCR det label file of the pool's images (their labels are kept, but
  label-free distillation and calibration never read them);
* ``pool:rec`` — a folder of crops with ``gt.txt``: every labelled box of the det pool cut as
  at inference time, plus the rendered selection lines.

Both are built once under ``$SLIMOCR_CACHE/pool`` (default ``~/.cache/slimocr/pool``), keyed
by what they hold, and published by renaming, so concurrent runs never read half a pool.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import cv2

from slimocr.eval.domains import care_crops, det_samples, publish_crops
from slimocr.eval.readers import DetSample
from slimocr.eval.render import FONTS, corpus_lines, find_fonts, render_line
from slimocr.eval.splits import data_root
from slimocr.eval.suite import cache_root
from slimocr.files import publish_folder

IC15_IMAGES = 300  # of the 1000 IC15 train images; td500 gives 100, FUNSD 149
RENDERED_LINES = 1000  # per script
POOL_VERSION = 1


def pool_dir() -> Path:
    """``cache_root() / "pool"``."""
    return cache_root() / "pool"


def pool_samples(root: Path | None = None, ic15_images: int = IC15_IMAGES) -> list[DetSample]:
    """The det pool: a seeded subsample of IC15 train, the td500 selection split, FUNSD
    train (each domain's selection split only)."""
    root = data_root() if root is None else root
    ic15 = det_samples("ic15", root, "selection")
    random.Random(0).shuffle(ic15)
    out = ic15[:ic15_images]
    out += det_samples("td500", root, "selection") + det_samples("funsd", root, "selection")
    return out


def _key(samples: list[DetSample], extra: object) -> str:
    blob = json.dumps([POOL_VERSION, [str(s.image.resolve()) for s in samples], extra])
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def det_pool(root: Path | None = None, cache: Path | None = None) -> Path:
    """Write (once) and return the det pool's label file (absolute image paths)."""
    samples = pool_samples(root)
    cache = pool_dir() if cache is None else cache
    folder = cache / f"det-{_key(samples, None)}"

    def write(tmp: Path) -> None:
        rows = []
        for s in samples:
            boxes = [
                {"transcription": "###" if ign else (t or "###"), "points": p.tolist()}
                for p, t, ign in zip(s.polys, s.texts, s.ignore, strict=True)
            ]
            rows.append(f"{s.image.resolve()}\t{json.dumps(boxes, ensure_ascii=False)}")
        (tmp / "det_gt.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")

    publish_folder(folder, "det_gt.txt", write)
    return folder / "det_gt.txt"


def rec_pool(root: Path | None = None, cache: Path | None = None) -> Path:
    """Write (once) and return the rec pool's crop folder (``gt.txt``: ``name<TAB>text``)."""
    samples = pool_samples(root)
    fonts = {lang: find_fonts(FONTS[lang]) for lang in ("en", "zh")}
    cache = pool_dir() if cache is None else cache
    key = _key(samples, {k: [p.name for p in v] for k, v in fonts.items()})

    def fill(tmp: Path) -> list[str]:
        rows = []
        for i, j, crop, text in care_crops(samples):
            if not text.strip() or "\t" in text or "\n" in text or min(crop.shape[:2]) < 4:
                continue
            name = f"c{i:04d}_{j:03d}.png"
            cv2.imwrite(str(tmp / name), crop)
            rows.append(f"{name}\t{text}")
        for lang, found in fonts.items():
            for i, text in enumerate(
                corpus_lines(lang, "selection")[:RENDERED_LINES] if found else []
            ):
                name = f"r{lang}{i:05d}.png"
                # index offset: selection crops never repeat a report crop's random draws
                line = render_line(text, found[i % len(found)], 100_000 + i)
                cv2.imwrite(str(tmp / name), line)
                rows.append(f"{name}\t{text}")
        return rows

    return publish_crops(cache / f"rec-{key}", fill)


def resolve_data(spec: str) -> str:
    """A recipe's data path: ``pool:det`` / ``pool:rec`` built and resolved to their paths,
    anything else returned as it is."""
    if spec == "pool:det":
        return str(det_pool())
    if spec == "pool:rec":
        return str(rec_pool())
    return spec
