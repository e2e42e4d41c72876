"""Torch dataset of detection training samples: augmented image plus DB targets.

Each item is made from a :class:`~slimocr.eval.readers.DetSample`: the image is read
(:func:`~slimocr.infer.image.load_image`, BGR uint8), augmented (:class:`DetAugment`) or only
fitted into the square (``augment=False``), normalized as the PP-OCR detectors expect and paired
with the targets of :mod:`slimocr.toolkit.data.db_targets`.

Determinism: the augmentation of item ``i`` in epoch ``e`` draws only from
``np.random.default_rng([seed, e, i])``, so it does not depend on the worker, the batch order or
what was drawn before: a run resumed at epoch ``e`` regenerates the same batches. Call
:meth:`DetTrainDataset.set_epoch` at the start of every epoch. A ``DataLoader`` with
``persistent_workers=True`` keeps the workers' copies of the dataset, which then do not see
``set_epoch``; use non-persistent workers (the default), which copy the dataset every epoch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from slimocr.errors import LabelError
from slimocr.eval.readers import DetSample
from slimocr.infer.image import load_image
from slimocr.toolkit.data.db_targets import make_shrink_map, make_threshold_map
from slimocr.toolkit.data.det_augment import DetAugment, resize_keep_ratio

__all__ = ["DetTrainDataset", "normalize_image", "MEAN", "STD"]

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def normalize_image(img: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 BGR → 3×H×W float32, ``(x / 255 - mean) / std`` per channel.

    The PP-OCR detectors take the BGR channels in file order with these ImageNet statistics
    (PaddleOCR's ``NormalizeImage`` + ``ToCHWImage``).
    """
    out = (img.astype(np.float32) * np.float32(1 / 255) - MEAN) / STD
    return np.ascontiguousarray(out.transpose(2, 0, 1))


class DetTrainDataset(Dataset):
    """DB training items from detection samples.

    Args:
        samples: the samples (image path, polygons, ignore flags).
        size: side ``S`` of the square training images.
        augment: apply :class:`DetAugment` (rotation, scale, text-keeping random crop); when
            off, the whole image is only fitted into ``S × S`` (kept aspect, zero padding).
        seed: base seed of the augmentation.
        with_targets: compute the DB targets; off for label-free distillation, where items hold
            only the image.
        augmenter: a custom augmentation (default ``DetAugment(size)``); it must produce
            ``S × S`` images.

    Items are dicts of tensors: ``image`` (3×S×S float32, normalized) and, with targets,
    ``shrink_map``, ``shrink_mask``, ``threshold_map``, ``threshold_mask`` (S×S float32).

    Raises (from ``__getitem__``):
        ImageReadError: the image cannot be read; the message names the file. The trainer
            decides whether to skip it.
        LabelError: the sample has a different number of polygons and ignore flags (an empty
            ``ignore`` list means "all cared for").
    """

    def __init__(
        self,
        samples: Sequence[DetSample],
        size: int = 640,
        augment: bool = True,
        seed: int = 0,
        with_targets: bool = True,
        augmenter: DetAugment | None = None,
    ) -> None:
        if size < 32 or size % 32:
            raise ValueError(f"size must be a positive multiple of 32, got {size}")
        self.samples = list(samples)
        self.size = size
        self.augment = augment
        self.seed = int(seed)
        self.with_targets = with_targets
        self.augmenter = augmenter or DetAugment(size=size)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose augmentation the next items get."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.samples)

    def rng(self, index: int) -> np.random.Generator:
        """The augmentation generator of item ``index`` in the current epoch."""
        return np.random.default_rng([self.seed, self.epoch, index])

    def load(self, index: int) -> tuple[np.ndarray, list[np.ndarray], list[bool]]:
        """The S×S uint8 BGR image and its polygons and ignore flags, augmented or not."""
        sample = self.samples[index]
        img = load_image(sample.image)
        polys = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in sample.polys]
        ignore = [bool(x) for x in sample.ignore]
        if not ignore:
            ignore = [False] * len(polys)
        elif len(ignore) != len(polys):
            raise LabelError(
                f"{sample.image}: {len(polys)} polygons but {len(ignore)} ignore flags"
            )
        if self.augment:
            img, polys, ignore = self.augmenter(img, polys, ignore, self.rng(index))
        else:
            img, polys = resize_keep_ratio(img, polys, (self.size, self.size))
        if img.shape[:2] != (self.size, self.size):
            raise ValueError(
                f"augmentation returned a {img.shape[1]}x{img.shape[0]} image, "
                f"expected {self.size}x{self.size}"
            )
        return img, polys, ignore

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        img, polys, ignore = self.load(index)
        item = {"image": torch.from_numpy(normalize_image(img))}
        if not self.with_targets:
            return item
        s = self.size
        # Threshold before shrink, as PaddleOCR: the shrink map clips polygons, this one does not.
        thresh_map, thresh_mask = make_threshold_map(polys, ignore, s, s)
        shrink_map, shrink_mask = make_shrink_map(polys, ignore, s, s)
        item["shrink_map"] = torch.from_numpy(shrink_map)
        item["shrink_mask"] = torch.from_numpy(shrink_mask)
        item["threshold_map"] = torch.from_numpy(thresh_map)
        item["threshold_mask"] = torch.from_numpy(thresh_mask)
        return item
