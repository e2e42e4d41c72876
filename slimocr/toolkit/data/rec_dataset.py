"""Training data for CTC recognizers: label encoding, crops from detection labels, a Dataset.

The preprocessing follows PP-OCR's recognition training pipeline:

* **labels** (``CTCLabelEncode``): class ``i`` is ``charset[i - 1]``, class 0 is the CTC blank;
  labels are zero-padded to a fixed length and come with their true length. PaddleOCR silently
  drops characters that are not in the charset; SlimOCR raises by default (``on_unknown``).
* **images** (``resize_norm_img``): the crop is resized to height ``image_height`` keeping its
  aspect ratio, the width capped at ``max_width``; pixels become ``(x / 255 − 0.5) / 0.5`` and
  the rest of the ``max_width`` canvas is zero (the normalized value of mid-grey).

A model that sees ``max_width`` pixels emits ``T = max_width // 4`` frames. CTC can only
produce a label of ``n`` characters with ``r`` adjacent repeats when ``n + r <= T`` (a blank must
separate repeats), so longer labels are refused when the dataset is built, before training.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from slimocr.errors import ImageReadError, LabelError
from slimocr.eval.readers import IGNORE_TEXTS, DetSample, RecSample, SampleList
from slimocr.files import atomic_write
from slimocr.infer.crop import crop_quad
from slimocr.infer.image import load_image
from slimocr.infer.rec import resize_norm_img as _infer_resize_norm_img
from slimocr.toolkit.data.rec_augment import RecAugment

OnUnknown = Literal["raise", "skip", "drop_char"]
FRAME_STRIDE = 4  # the recognizer emits one frame per 4 input columns
LABEL_FILE = "label.txt"
MANIFEST_FILE = ".crops.sha256"


def _describe(ch: str) -> str:
    return f"{ch!r} (U+{ord(ch):04X})"


def char_index(charset: Sequence[str]) -> dict[str, int]:
    """Map each character to its class (``charset[i]`` → ``i + 1``; 0 is the blank)."""
    if not charset:
        raise ValueError("charset is empty")
    return {ch: i + 1 for i, ch in enumerate(charset)}


def encode_text(
    text: str,
    char_to_index: Mapping[str, int],
    where: str,
    on_unknown: OnUnknown = "raise",
) -> list[int]:
    """Turn a label into class indices.

    Args:
        text: the label.
        char_to_index: character → class (see :func:`char_index`).
        where: what to name in an error (``file:line`` or the image path).
        on_unknown: what to do with a character outside the charset: ``"raise"`` a
            :class:`LabelError`, ``"skip"`` the whole label (an empty list is returned) or
            ``"drop_char"`` (leave the character out, as PaddleOCR does).

    Returns:
        The class indices; an empty list means "no usable label".

    Raises:
        LabelError: an unknown character with ``on_unknown="raise"``; the message starts with
            ``where`` and names the character and its code point.

    >>> encode_text("ab?", {"a": 1, "b": 2}, "x.txt:3", on_unknown="drop_char")
    [1, 2]
    """
    if on_unknown not in ("raise", "skip", "drop_char"):
        raise ValueError(f"on_unknown must be 'raise', 'skip' or 'drop_char', got {on_unknown!r}")
    ids: list[int] = []
    for ch in text:
        idx = char_to_index.get(ch)
        if idx is not None:
            ids.append(idx)
        elif on_unknown == "raise":
            raise LabelError(
                f"{where}: character {_describe(ch)} of {text!r} is not in the charset"
            )
        elif on_unknown == "skip":
            return []
    return ids


def ctc_frames_needed(ids: Sequence[int]) -> int:
    """Fewest CTC frames that can spell ``ids``: one per character plus a blank per repeat."""
    return len(ids) + sum(1 for a, b in zip(ids, ids[1:], strict=False) if a == b)


def resize_norm_img(
    img: np.ndarray, image_height: int = 32, max_width: int = 320
) -> tuple[np.ndarray, float]:
    """PP-OCR's ``resize_norm_img``: keep the ratio, normalize, zero-pad on the right.

    The resizing is :func:`slimocr.infer.rec.resize_norm_img` itself, so training sees exactly
    the tensors inference feeds: width ``min(ceil(image_height · w / h), max_width)``, bilinear
    resize, ``(x / 255 − 0.5) / 0.5`` per BGR channel, zeros to the right.

    Args:
        img: H×W×3 uint8 BGR crop.
        image_height: output height.
        max_width: output width; narrower crops are padded, wider ones squeezed to it.

    Returns:
        ``(3×image_height×max_width float32, width_ratio)`` where ``width_ratio`` is the used
        width over ``max_width`` (at most 1).

    >>> out, r = resize_norm_img(np.zeros((20, 100, 3), np.uint8))
    >>> out.shape, r, float(out[0, 0, 159]), float(out[0, 0, 160])
    ((3, 32, 320), 0.5, -1.0, 0.0)
    """
    out, width = _infer_resize_norm_img(img, image_height, max_width)
    return out, min(1.0, width / float(max_width))


class RecTrainDataset(Dataset):
    """Recognition crops and labels as model-ready tensors.

    Labels are encoded and checked when the dataset is built, so a bad label stops the run before
    training starts, with the place it came from. Augmentation is drawn from a generator seeded
    with ``(seed, epoch, idx)``: an item is the same on every call and in every DataLoader worker
    until :meth:`set_epoch` changes the epoch (call it before iterating; with
    ``persistent_workers=True`` the workers keep the epoch they were started with).

    Args:
        samples: the crops and their texts.
        charset: the characters after the blank (e.g. from :func:`slimocr.charset.load_charset`).
        image_height: input height of the recognizer.
        max_width: input width; the model sees ``T = max_width // 4`` frames.
        augment: apply :class:`RecAugment` (or pass your own instance).
        seed: base seed of the augmentation (>= 0).
        on_unknown: a sample with a character outside the charset, an empty label or a label
            too long for ``max_label_len`` / ``T`` is refused (``"raise"``, :class:`LabelError`)
            or left out with a line in :attr:`warnings` (``"skip"``). ``"drop_char"`` drops
            unknown characters and then leaves out empty or too long labels.
        max_label_len: longest label; labels are zero-padded to it (default ``T``).
        where: what to name for each sample in messages (``file:line``); by default the sample's
            ``where`` attribute when it has one, else its image path.

    Attributes:
        warnings: one line per sample left out.
        frames: ``T``.
        label_len: the padded label length.
    """

    def __init__(
        self,
        samples: Sequence[RecSample],
        charset: Sequence[str],
        image_height: int = 32,
        max_width: int = 320,
        augment: bool | RecAugment = True,
        seed: int = 0,
        on_unknown: OnUnknown = "raise",
        max_label_len: int | None = None,
        where: Sequence[str] | None = None,
    ) -> None:
        if on_unknown not in ("raise", "skip", "drop_char"):
            raise ValueError(
                f"on_unknown must be 'raise', 'skip' or 'drop_char', got {on_unknown!r}"
            )
        if image_height < 1 or max_width < FRAME_STRIDE:
            raise ValueError(f"bad input size {image_height}x{max_width}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if max_label_len is not None and max_label_len < 1:
            raise ValueError(f"max_label_len must be >= 1, got {max_label_len}")
        if where is not None and len(where) != len(samples):
            raise ValueError(f"where has {len(where)} entries for {len(samples)} samples")
        self.image_height = image_height
        self.max_width = max_width
        self.frames = max_width // FRAME_STRIDE
        self.label_len = max_label_len if max_label_len is not None else self.frames
        self.max_label_len = max_label_len
        self.seed = seed
        self.epoch = 0
        self.augmenter: RecAugment | None = (
            augment if isinstance(augment, RecAugment) else (RecAugment() if augment else None)
        )
        self.warnings: list[str] = []
        self.items: list[tuple[Path, list[int], str]] = []
        index = char_index(charset)
        for i, sample in enumerate(samples):
            loc = where[i] if where is not None else getattr(sample, "where", None)
            loc = str(loc or sample.image)
            problem, ids = self._check(sample.text, index, loc, on_unknown)
            if problem is None:
                self.items.append((Path(sample.image), ids, loc))
            elif on_unknown == "raise":
                raise LabelError(problem)
            else:
                self.warnings.append(problem)
        if not self.items:
            first = f"; first problem: {self.warnings[0]}" if self.warnings else ""
            raise LabelError(f"no usable recognition samples ({len(samples)} given){first}")

    def _check(
        self, text: str, index: Mapping[str, int], loc: str, on_unknown: OnUnknown
    ) -> tuple[str | None, list[int]]:
        """Return ``(None, ids)`` for a usable label, else ``(message, [])``."""
        if on_unknown != "drop_char":
            unknown = [ch for ch in dict.fromkeys(text) if ch not in index]
            if unknown:
                chars = ", ".join(_describe(c) for c in unknown)
                return f"{loc}: character(s) {chars} of {text!r} not in the charset", []
        ids = encode_text(text, index, loc, on_unknown="drop_char")
        if not ids:
            return f"{loc}: empty label {text!r} (nothing left to learn)", []
        if self.max_label_len is not None and len(ids) > self.max_label_len:
            return (
                f"{loc}: label {text!r} has {len(ids)} characters, more than "
                f"max_label_len={self.max_label_len}"
            ), []
        needed = ctc_frames_needed(ids)
        if needed > self.frames:
            return (
                f"{loc}: label {text!r} is too long: CTC needs {needed} frames ({len(ids)} "
                f"characters + blanks between repeats) but max_width={self.max_width} gives only "
                f"{self.frames}; raise max_width or shorten the label"
            ), []
        return None, ids

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation of ``epoch`` (>= 0) for all items."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.items)

    def load(self, idx: int) -> np.ndarray:
        """The (augmented) H×W×3 uint8 BGR crop of item ``idx``, before resizing."""
        path, _, loc = self.items[idx]
        try:
            img = load_image(path, min_side=1)
        except ImageReadError as exc:
            if loc != str(path):
                raise ImageReadError(f"{loc}: {exc}") from None
            raise
        if self.augmenter is not None:
            rng = np.random.default_rng([self.seed, self.epoch, idx])
            img = self.augmenter(img, rng)
        return img

    def __getitem__(self, idx: int) -> dict[str, torch.Tensor]:
        """Return ``image`` (3×H×max_width float32), ``width_ratio``, ``label``, ``length``."""
        if idx < 0:
            idx += len(self.items)
        image, ratio = resize_norm_img(self.load(idx), self.image_height, self.max_width)
        ids = self.items[idx][1]
        label = torch.zeros(self.label_len, dtype=torch.long)
        label[: len(ids)] = torch.tensor(ids, dtype=torch.long)
        return {
            "image": torch.from_numpy(image),
            "width_ratio": torch.tensor(ratio, dtype=torch.float32),
            "label": label,
            "length": torch.tensor(len(ids), dtype=torch.long),
        }


def collate_rec(batch: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack items of :class:`RecTrainDataset` into ``image`` N×3×H×W, ``label`` N×L, ..."""
    if not batch:
        raise ValueError("empty batch")
    return {key: torch.stack([item[key] for item in batch]) for key in batch[0]}


# --------------------------------------------------------------------------- crops from det labels


def _order_quad(pts: np.ndarray) -> np.ndarray:
    """Order 4 corners as ``[tl, tr, br, bl]``: the two leftmost give tl/bl by y, then tr/br."""
    by_x = pts[np.argsort(pts[:, 0], kind="stable")]
    left, right = by_x[:2], by_x[2:]
    tl, bl = left[np.argsort(left[:, 1], kind="stable")]
    tr, br = right[np.argsort(right[:, 1], kind="stable")]
    return np.stack([tl, tr, br, bl]).astype(np.float32)


def det_box_to_quad(poly: np.ndarray) -> np.ndarray:
    """A 4-point box is kept as given; other polygons become their min-area rectangle."""
    pts = np.asarray(poly, dtype=np.float32).reshape(-1, 2)
    if len(pts) == 4:
        return pts
    return _order_quad(cv2.boxPoints(cv2.minAreaRect(pts)))


def _crop_size(quad: np.ndarray) -> tuple[int, int]:
    w = max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3]))
    h = max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2]))
    return int(w), int(h)


def _atomic_write(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def _plan_crops(
    samples: Sequence[DetSample],
) -> tuple[list[tuple[int, str, str, np.ndarray]], list[str]]:
    """List ``(sample index, png name, text, quad)`` per crop to cut, plus warnings."""
    plan: list[tuple[int, str, str, np.ndarray]] = []
    warnings: list[str] = []
    used: set[str] = set()
    for si, sample in enumerate(samples):
        stem = "_".join(Path(sample.image).stem.split()) or "img"
        if stem in used:
            stem = f"{stem}-{si}"
        used.add(stem)
        ignore = list(sample.ignore) + [False] * (len(sample.polys) - len(sample.ignore))
        for k, (poly, text, ign) in enumerate(
            zip(sample.polys, sample.texts, ignore, strict=False)
        ):
            if ign or text in IGNORE_TEXTS:
                continue
            where = f"{sample.image}: box {k}"
            if not text or "\n" in text or "\r" in text:
                warnings.append(f"{where}: text {text!r} cannot be a rec label; box left out")
                continue
            quad = det_box_to_quad(poly)
            w, h = _crop_size(quad)
            if w < 1 or h < 1:
                warnings.append(f"{where}: degenerate box ({w}x{h} px); box left out")
                continue
            plan.append((si, f"{stem}_{k}.png", text, quad))
    return plan, warnings


def _plan_digest(samples: Sequence[DetSample], plan: list[tuple[int, str, str, np.ndarray]]) -> str:
    """Hash of everything the crops depend on: image files (path, size, mtime), boxes, texts."""
    stats: dict[int, list[object]] = {}
    for si in sorted({p[0] for p in plan}):
        path = Path(samples[si].image)
        try:
            st = path.stat()
        except OSError as exc:
            raise ImageReadError(f"{path}: image file not found ({exc.strerror})") from None
        stats[si] = [str(path.resolve()), st.st_size, st.st_mtime_ns]
    rows = [[stats[si], name, text, np.round(quad, 3).tolist()] for si, name, text, quad in plan]
    blob = json.dumps(rows, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def crop_source(crop: str | Path) -> str:
    """The source image stem of a crop written by :func:`crops_from_det_samples`
    (``<image stem>_<box index>.png`` → ``<image stem>``)."""
    stem = Path(crop).stem
    head, _, index = stem.rpartition("_")
    return head if head and index.isdigit() else stem


def crops_from_det_samples(
    samples: Sequence[DetSample], out_dir: str | Path
) -> SampleList[RecSample]:
    """Cut one perspective crop per box of detection labels and write a rec label file.

    Each non-ignored box (``###``/``*`` and ``ignore`` boxes are skipped) is warped to an upright
    rectangle with :func:`slimocr.infer.crop.crop_quad`, as at inference time: a 4-point box
    is used with its points in the given order (``[tl, tr, br, bl]``), any other polygon is
    replaced by its min-area rectangle. Crops are written as ``<image stem>_<box index>.png`` and
    listed in ``out_dir/label.txt`` (``name<TAB>text``, PaddleOCR rec format).

    The call is idempotent: a hash of the inputs (image paths, sizes, mtimes, boxes, texts) is
    stored next to ``label.txt``; when it matches and all crops exist nothing is read or
    written again. Crops, ``label.txt`` and the hash are each written atomically, the hash last,
    so an interrupted run is redone on the next call. Files of earlier, different runs are
    left in place but no longer listed.

    Args:
        samples: detection samples, e.g. from :func:`slimocr.eval.readers.load_det_dataset`.
        out_dir: folder of the crops (created when missing).

    Returns:
        One :class:`RecSample` per crop; ``warnings`` lists boxes left out (empty or multi-line
        text, degenerate box).

    Raises:
        ImageReadError: an image with boxes to cut cannot be read.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan, warnings = _plan_crops(samples)
    digest = _plan_digest(samples, plan)
    label_path, manifest = out_dir / LABEL_FILE, out_dir / MANIFEST_FILE
    lines = "".join(f"{name}\t{text}\n" for _, name, text, _ in plan)
    done = (
        manifest.is_file()
        and manifest.read_text(encoding="utf-8").strip() == digest
        and label_path.is_file()
        and label_path.read_text(encoding="utf-8") == lines
    )
    if not done:
        manifest.unlink(missing_ok=True)
    todo = [p for p in plan if not (done and (out_dir / p[1]).is_file())]
    image: np.ndarray | None = None
    current = -1
    for si, name, _, quad in todo:
        if si != current:
            image, current = load_image(samples[si].image, min_side=1), si
        assert image is not None
        ok, buf = cv2.imencode(".png", crop_quad(image, quad))
        if not ok:
            raise ImageReadError(f"{samples[si].image}: cannot encode crop {name}")
        _atomic_write(out_dir / name, buf.tobytes())
    if not done:
        _atomic_write(label_path, lines.encode("utf-8"))
        _atomic_write(manifest, (digest + "\n").encode("utf-8"))
    out = [RecSample(out_dir / name, text) for _, name, text, _ in plan]
    return SampleList(out, warnings)
