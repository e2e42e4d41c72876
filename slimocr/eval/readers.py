"""Readers for OCR evaluation labels: ICDAR 2015 GT folders and PaddleOCR label files.

Every reader checks each line and raises :class:`~slimocr.errors.LabelError` with
``<file>:<line>: <what is wrong>`` for the first bad one. With ``on_error="skip"`` the bad
box or line is left out, the same message is appended to the ``warnings`` list of the returned
:class:`SampleList` and reading goes on.

Relative image paths are resolved against ``root`` (default: the label file's folder). When that
file does not exist, the basename is looked up in the sub-folders of that folder that hold images;
if exactly one of them has it, that file is used. This is how ``images/word_1.png`` in
``ic15_rec_test/gt_space_separated.txt`` finds ``ch4_test_word_images_gt/word_1.png``.

Files are read as UTF-8 with an optional BOM; CRLF line endings and blank lines are fine.
The input policy of :mod:`slimocr.inputs` bounds them: a label file is a regular file of at
most ``MAX_LABEL_BYTES``; a line longer than ``MAX_LABEL_LINE_CHARS``, a recognition label
longer than ``MAX_REC_LABEL_CHARS`` or JSON nested deeper than ``MAX_JSON_DEPTH`` is a bad line.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Literal, TypeVar

import numpy as np

from slimocr.errors import LabelError
from slimocr.inputs import (
    MAX_JSON_DEPTH,
    MAX_LABEL_BYTES,
    MAX_LABEL_LINE_CHARS,
    MAX_REC_LABEL_CHARS,
    json_depth,
    path_kind,
    read_regular_file,
)

OnError = Literal["raise", "skip"]
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")
IGNORE_TEXTS = ("###", "*")  # PaddleOCR's det dataset treats both as "do not care"
MAX_COORD = 1e9
"""A label coordinate farther than this from 0 is a bad box: no image is that large (and areas
of boxes near float's range overflow)."""
T = TypeVar("T")


@dataclass
class DetSample:
    """One detection test image and its ground-truth polygons.

    Attributes:
        image: path of the image file.
        polys: one ``(K, 2)`` float64 array of points per box, ``K >= 3``.
        texts: the transcription of each box.
        ignore: ``True`` for "do not care" boxes (transcription ``###``).
    """

    image: Path
    polys: list[np.ndarray] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    ignore: list[bool] = field(default_factory=list)


@dataclass
class RecSample:
    """One recognition crop and its label."""

    image: Path
    text: str


class SampleList(list[T], Generic[T]):
    """A plain list of samples plus the ``warnings`` collected with ``on_error="skip"``."""

    def __init__(self, items: list[T] | None = None, warnings: list[str] | None = None) -> None:
        super().__init__(items or [])
        self.warnings: list[str] = list(warnings or [])


class _Issues:
    """Raises or records label problems, depending on ``on_error``."""

    def __init__(self, on_error: OnError) -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.on_error = on_error
        self.warnings: list[str] = []

    def report(self, where: str, msg: str) -> None:
        text = f"{where}: {msg}"
        if self.on_error == "raise":
            raise LabelError(text)
        self.warnings.append(text)


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """Return ``(line_number, text)`` for the non-blank lines of a UTF-8 (BOM optional) file."""
    data = read_regular_file(path, "label", MAX_LABEL_BYTES, LabelError)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LabelError(f"{path}: not UTF-8 text ({exc})") from None
    out = []
    for lineno, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r").lstrip("\ufeff")
        if line.strip():
            out.append((lineno, line))
    return out


def _natural_key(path: Path) -> list[object]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTS


class _PathResolver:
    """Resolves label paths against a base folder, with the one-image-subfolder fallback."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._subdirs: list[tuple[Path, set[str]]] | None = None

    def _image_subdirs(self) -> list[tuple[Path, set[str]]]:
        if self._subdirs is None:
            self._subdirs = []
            if self.base.is_dir():
                for sub in sorted(p for p in self.base.iterdir() if p.is_dir()):
                    names = {p.name for p in sub.iterdir() if _is_image(p)}
                    if names:
                        self._subdirs.append((sub, names))
        return self._subdirs

    def resolve(self, rel: str) -> tuple[Path | None, str]:
        """Return ``(path, "")`` when found, else ``(None, reason)``."""
        path = Path(rel)
        if path.is_absolute():
            found = path_kind(path) in ("file", "other")  # "other": refused when read
            return (path, "") if found else (None, f"image file not found: {path}")
        direct = self.base / path
        if path_kind(direct) in ("file", "other"):
            return direct, ""
        hits = [sub / path.name for sub, names in self._image_subdirs() if path.name in names]
        if len(hits) == 1:
            return hits[0], ""
        if len(hits) > 1:
            return None, f"image {rel!r} is ambiguous: {', '.join(str(h) for h in hits)}"
        return None, f"image file not found: {direct}"


def _shown(value: object, limit: int = 20) -> str:
    """``repr(value)`` cut to ``limit`` characters (``...`` marks the cut)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}..."


def _parse_coords(values: list[object]) -> np.ndarray | str:
    """Return a float64 array, or an error message for a non-numeric, non-finite or out of
    range (:data:`MAX_COORD`) value."""
    out = []
    out_of_range = f"is out of range (limit {MAX_COORD:g})"
    for v in values:
        if isinstance(v, bool):
            return f"coordinate {v!r} is not a number"
        try:
            f = float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return f"coordinate {_shown(v)} is not a number"
        except OverflowError:  # an integer of hundreds of digits
            return f"coordinate {_shown(v)} {out_of_range}"
        if math.isinf(f) and isinstance(v, str) and "inf" not in v.lower():
            return f"coordinate {_shown(v)} {out_of_range}"  # digits past float's range
        if not math.isfinite(f):
            return f"coordinate {_shown(v)} is not finite"
        if abs(f) > MAX_COORD:
            return f"coordinate {_shown(v)} {out_of_range}"
        out.append(f)
    return np.asarray(out, dtype=np.float64)


def _within_line_limit(line: str, where: str, issues: _Issues) -> bool:
    """Whether ``line`` is at most :data:`MAX_LABEL_LINE_CHARS` long (else it is reported)."""
    if len(line) <= MAX_LABEL_LINE_CHARS:
        return True
    issues.report(where, f"line too long ({len(line)} characters; limit {MAX_LABEL_LINE_CHARS})")
    return False


def _read_icdar_file(gt_file: Path, issues: _Issues) -> tuple[list[np.ndarray], list[str]]:
    polys, texts = [], []
    for lineno, line in _read_lines(gt_file):
        where = f"{gt_file}:{lineno}"
        if not _within_line_limit(line, where, issues):
            continue
        parts = line.split(",", 8)
        if len(parts) < 9:
            issues.report(where, f"expected 8 coordinates and a transcription, got {line!r}")
            continue
        coords = _parse_coords([p.strip() for p in parts[:8]])
        if isinstance(coords, str):
            issues.report(where, coords)
            continue
        polys.append(coords.reshape(4, 2))
        texts.append(parts[8])
    return polys, texts


def read_icdar_gt_dir(
    images_dir: str | Path, gt_dir: str | Path, on_error: OnError = "raise"
) -> SampleList[DetSample]:
    """Read an ICDAR 2015 Task 4.1 test set: ``gt_img_N.txt`` files next to ``img_N.jpg`` images.

    Each GT line is ``x1,y1,x2,y2,x3,y3,x4,y4,transcription``; the transcription is everything
    after the eighth comma (it may hold commas). ``###`` marks a "do not care" box. Samples follow
    the GT files (natural order); images without a GT file are not evaluated, as in the RRC script.

    Args:
        images_dir: folder of the images (any of :data:`IMAGE_EXTS`).
        gt_dir: folder of the ``gt_<image stem>.txt`` files.
        on_error: ``"raise"`` or ``"skip"`` (bad lines or images left out, see module doc).

    Returns:
        One :class:`DetSample` per GT file, with ``.warnings``.

    Raises:
        LabelError: a bad line (``file:line``), a GT file without image or whose stem two
            images share (``img_1.jpg`` and ``img_1.png``), or an empty GT folder.
    """
    images_dir, gt_dir = Path(images_dir), Path(gt_dir)
    issues = _Issues(on_error)
    for folder in (gt_dir, images_dir):
        if not folder.is_dir():
            raise LabelError(f"{folder}: not a folder")
    by_stem: dict[str, list[Path]] = {}
    for img in sorted(images_dir.iterdir()):
        if _is_image(img):
            by_stem.setdefault(img.stem, []).append(img)
    gt_files = sorted((p for p in gt_dir.glob("*.txt") if p.is_file()), key=_natural_key)
    if not gt_files:
        raise LabelError(f"{gt_dir}: no GT .txt files")
    samples: SampleList[DetSample] = SampleList()
    for gt_file in gt_files:
        stem = gt_file.stem[3:] if gt_file.stem.startswith("gt_") else gt_file.stem
        images = by_stem.get(stem, [])
        if not images:
            issues.report(str(gt_file), f"no image {stem}.* in {images_dir}")
            continue
        if len(images) > 1:
            found = ", ".join(str(p) for p in images)
            issues.report(str(gt_file), f"image {stem}.* is ambiguous: {found}")
            continue
        polys, texts = _read_icdar_file(gt_file, issues)
        samples.append(DetSample(images[0], polys, texts, [t == "###" for t in texts]))
    samples.warnings = issues.warnings
    return samples


def _split_path_label(line: str, sep: str, where: str, issues: _Issues) -> tuple[str, str] | None:
    if not _within_line_limit(line, where, issues):
        return None
    if sep not in line:
        name = "a tab" if sep == "\t" else "a space"
        issues.report(where, f"expected 'path{sep}label' separated by {name}, got {line!r}")
        return None
    rel, label = line.split(sep, 1)
    if not rel.strip():
        issues.report(where, "empty image path")
        return None
    return rel.strip(), label


def _read_det_boxes(boxes: object, where: str, issues: _Issues) -> DetSample | None:
    if not isinstance(boxes, list):
        issues.report(where, f"expected a JSON list of boxes, got {type(boxes).__name__}")
        return None
    sample = DetSample(Path())
    for i, box in enumerate(boxes):
        bwhere = f"{where}: box {i}"
        if not isinstance(box, dict) or "points" not in box:
            issues.report(bwhere, f"expected an object with 'points', got {box!r}")
            continue
        pts, text = box["points"], box.get("transcription", "")
        if isinstance(text, bool) or not isinstance(text, (str, int, float)):
            issues.report(bwhere, f"expected 'transcription' as a string, got {text!r}")
            continue
        text = str(text)
        if not isinstance(pts, list) or not all(isinstance(p, list) and len(p) == 2 for p in pts):
            issues.report(bwhere, f"expected 'points' as a list of [x, y], got {pts!r}")
            continue
        if len(pts) < 3:
            issues.report(bwhere, f"expected at least 3 points, got {len(pts)}")
            continue
        coords = _parse_coords([v for p in pts for v in p])
        if isinstance(coords, str):
            issues.report(bwhere, coords)
            continue
        sample.polys.append(coords.reshape(-1, 2))
        sample.texts.append(text)
        sample.ignore.append(text in IGNORE_TEXTS)
    return sample


def read_paddle_det_labels(
    label_file: str | Path, root: str | Path | None = None, on_error: OnError = "raise"
) -> SampleList[DetSample]:
    """Read a PaddleOCR detection label file.

    Each line is ``relpath<TAB>[{"transcription": str, "points": [[x, y], ...]}, ...]`` with
    at least 3 points per box; ``###`` and ``*`` mark "do not care" boxes.

    Args:
        label_file: the label file.
        root: folder the paths are relative to (default: the label file's folder).
        on_error: ``"raise"`` or ``"skip"``; a bad box is left out, a bad line drops the image.

    Returns:
        One :class:`DetSample` per line, with ``.warnings``.
    """
    label_file = Path(label_file)
    issues = _Issues(on_error)
    resolver = _PathResolver(Path(root) if root is not None else label_file.parent)
    samples: SampleList[DetSample] = SampleList()
    for lineno, line in _read_lines(label_file):
        where = f"{label_file}:{lineno}"
        split = _split_path_label(line, "\t", where, issues)
        if split is None:
            continue
        rel, payload = split
        depth = json_depth(payload)
        if depth > MAX_JSON_DEPTH:
            issues.report(where, f"JSON nested {depth} deep (limit {MAX_JSON_DEPTH})")
            continue
        try:
            boxes = json.loads(payload)
        except json.JSONDecodeError as exc:
            issues.report(where, f"invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        except ValueError as exc:  # an integer of thousands of digits (int_max_str_digits)
            issues.report(where, f"invalid JSON ({str(exc).split(';')[0]})")
            continue
        except RecursionError:
            issues.report(where, "JSON nested too deeply")
            continue
        sample = _read_det_boxes(boxes, where, issues)
        if sample is None:
            continue
        image, why = resolver.resolve(rel)
        if image is None:
            issues.report(where, why)
            continue
        sample.image = image
        samples.append(sample)
    samples.warnings = issues.warnings
    return samples


def _read_rec(
    label_file: str | Path, sep: str, root: str | Path | None, on_error: OnError
) -> SampleList[RecSample]:
    label_file = Path(label_file)
    issues = _Issues(on_error)
    resolver = _PathResolver(Path(root) if root is not None else label_file.parent)
    samples: SampleList[RecSample] = SampleList()
    for lineno, line in _read_lines(label_file):
        where = f"{label_file}:{lineno}"
        split = _split_path_label(line, sep, where, issues)
        if split is None:
            continue
        if len(split[1]) > MAX_REC_LABEL_CHARS:
            n = len(split[1])
            issues.report(where, f"label too long ({n} characters; limit {MAX_REC_LABEL_CHARS})")
            continue
        image, why = resolver.resolve(split[0])
        if image is None:
            issues.report(where, why)
            continue
        samples.append(RecSample(image, split[1]))
    samples.warnings = issues.warnings
    return samples


def read_paddle_rec_labels(
    label_file: str | Path, root: str | Path | None = None, on_error: OnError = "raise"
) -> SampleList[RecSample]:
    """Read a PaddleOCR recognition label file: ``relpath<TAB>label`` per line.

    The label is everything after the first tab, kept as is (spaces included).

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "w.png").write_bytes(b"")
    >>> _ = (d / "rec.txt").write_text("w.png\\tHello World\\n")
    >>> [s.text for s in read_paddle_rec_labels(d / "rec.txt")]
    ['Hello World']
    """
    return _read_rec(label_file, "\t", root, on_error)


def read_space_separated_rec_labels(
    label_file: str | Path, root: str | Path | None = None, on_error: OnError = "raise"
) -> SampleList[RecSample]:
    """Read ``relpath label`` lines split on the FIRST space (the label may hold spaces)."""
    return _read_rec(label_file, " ", root, on_error)


def _read_rec_any(label_file: Path, on_error: OnError) -> SampleList[RecSample]:
    """Read a rec label file as tab-separated when most lines hold a tab, else first-space."""
    lines = _read_lines(label_file)
    tabbed = lines and sum("\t" in line for _, line in lines) * 2 > len(lines)
    return _read_rec(label_file, "\t" if tabbed else " ", None, on_error)


def read_crops_folder(dir: str | Path, on_error: OnError = "raise") -> SampleList[RecSample]:
    """Read a folder of word crops with a ``gt.txt`` in either tab or first-space format."""
    gt = Path(dir) / "gt.txt"
    if not gt.is_file():
        raise LabelError(f"{dir}: no gt.txt")
    return _read_rec_any(gt, on_error)


def _looks_like_paddle_det(label_file: Path) -> bool:
    if path_kind(label_file) != "file":
        return False
    try:
        with label_file.open(encoding="utf-8-sig") as f:
            for line in f:
                if line.strip():
                    _, _, payload = line.partition("\t")
                    return payload.lstrip().startswith("[")
    except (OSError, UnicodeDecodeError):
        return False
    return False


def _find_icdar_layout(root: Path) -> tuple[Path, Path] | None:
    """Find (images folder, GT folder) among the sub-folders of ``root``."""
    subs = sorted(p for p in root.iterdir() if p.is_dir())
    gt_dirs = [p for p in subs if any(p.glob("gt_*.txt"))]
    if len(gt_dirs) != 1:
        return None
    stems = {p.stem[3:] for p in gt_dirs[0].glob("gt_*.txt")}
    best, best_hits = None, 0
    for sub in subs:
        hits = sum(1 for p in sub.iterdir() if _is_image(p) and p.stem in stems)
        if hits > best_hits:
            best, best_hits = sub, hits
    return (best, gt_dirs[0]) if best is not None else None


def load_det_dataset(path: str | Path, on_error: OnError = "raise") -> SampleList[DetSample]:
    """Load a detection test set from a folder (layout auto-detected) or a label file.

    A folder is read as, in this order of preference: an ICDAR 2015 layout (one sub-folder of
    ``gt_*.txt`` plus the sub-folder holding most of their images), else the single ``*.txt``
    in it in PaddleOCR det format. A file is read as a PaddleOCR det label file.

    Raises:
        LabelError: nothing usable found, several candidate label files, or a bad label.
    """
    path = Path(path)
    kind = path_kind(path)
    if kind in ("file", "other"):  # "other" (a FIFO, a device): refused when read
        return read_paddle_det_labels(path, on_error=on_error)
    if kind != "dir":
        raise LabelError(f"{path}: no such file or folder")
    layout = _find_icdar_layout(path)
    if layout is not None:
        return read_icdar_gt_dir(layout[0], layout[1], on_error=on_error)
    cands = sorted(p for p in path.glob("*.txt") if _looks_like_paddle_det(p))
    if len(cands) == 1:
        return read_paddle_det_labels(cands[0], on_error=on_error)
    if cands:
        names = ", ".join(p.name for p in cands)
        raise LabelError(f"{path}: several det label files ({names}); pass one of them")
    raise LabelError(f"{path}: no ICDAR GT folder (gt_*.txt) or PaddleOCR det label file found")


def load_rec_dataset(path: str | Path, on_error: OnError = "raise") -> SampleList[RecSample]:
    """Load a recognition test set from a folder (label file auto-detected) or a label file.

    In a folder: ``gt_space_separated.txt`` is preferred, else a single ``rec_gt*.txt``, else
    ``gt.txt``. The format of the chosen file (tab or first space) is detected from its lines.

    Raises:
        LabelError: nothing usable found, several ``rec_gt*.txt`` files, or a bad label.
    """
    path = Path(path)
    kind = path_kind(path)
    if kind in ("file", "other"):  # "other" (a FIFO, a device): refused when read
        return _read_rec_any(path, on_error)
    if kind != "dir":
        raise LabelError(f"{path}: no such file or folder")
    preferred = path / "gt_space_separated.txt"
    if preferred.is_file():
        return read_space_separated_rec_labels(preferred, on_error=on_error)
    cands = sorted(p for p in path.glob("rec_gt*.txt") if p.is_file())
    if len(cands) == 1:
        return _read_rec_any(cands[0], on_error)
    if cands:
        names = ", ".join(p.name for p in cands)
        raise LabelError(f"{path}: several rec label files ({names}); pass one of them")
    if (path / "gt.txt").is_file():
        return read_crops_folder(path, on_error=on_error)
    raise LabelError(f"{path}: no gt_space_separated.txt, rec_gt*.txt or gt.txt found")
