"""Light, deterministic augmentation of recognition crops (in the spirit of PP-OCR's ``RecAug``).

Each operation is applied with its own probability and draws all of its randomness from the
:class:`numpy.random.Generator` it is given, so the same generator state always yields the same
output. The operations work on H×W×3 uint8 BGR arrays and keep that type:

* **perspective** – every corner moves by up to a tenth of the crop height, the crop is warped back
  to its own size (replicated borders), which gives small slants, stretches and rotations;
* **crop** – a few pixels are cut from the top, bottom, left and right (never more than a
  quarter of the height or a tenth of the width);
* **blur** – Gaussian blur with a 3×3 or 5×5 kernel;
* **color** – contrast/brightness jitter plus a small gain per channel;
* **noise** – additive Gaussian noise.

Geometric operations are skipped on crops smaller than :data:`MIN_SIDE` pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MIN_SIDE = 8


def random_perspective(img: np.ndarray, rng: np.random.Generator, max_shift: float) -> np.ndarray:
    """Warp ``img`` by moving each corner by up to ``max_shift·H`` pixels (same output size).

    Both the horizontal and the vertical shift are bounded by a fraction of the height, so the
    distortion does not grow with the length of the line.

    Args:
        img: H×W×C uint8 image.
        rng: the random generator.
        max_shift: largest corner shift, as a fraction of the crop height.

    Returns:
        The warped image, same shape and dtype.
    """
    h, w = img.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    jitter = rng.uniform(-1.0, 1.0, size=(4, 2)) * (max_shift * h)
    dst = (src + jitter).astype(np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(
        img, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def random_crop(img: np.ndarray, rng: np.random.Generator, max_pixels: int) -> np.ndarray:
    """Cut up to ``max_pixels`` from each side (at most H/4 vertically, W/10 horizontally)."""
    h, w = img.shape[:2]
    max_v = min(max_pixels, h // 4)
    max_h = min(max_pixels, w // 10)
    top, bottom = (int(v) for v in rng.integers(0, max_v + 1, size=2))
    left, right = (int(v) for v in rng.integers(0, max_h + 1, size=2))
    return np.ascontiguousarray(img[top : h - bottom, left : w - right])


def gaussian_blur(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur with a 3×3 or 5×5 Gaussian kernel, sigma in [0.5, 1.2]."""
    ksize = int(rng.choice([3, 5]))
    sigma = float(rng.uniform(0.5, 1.2))
    return cv2.GaussianBlur(img, (ksize, ksize), sigma)


def color_jitter(
    img: np.ndarray, rng: np.random.Generator, contrast: float, brightness: float, gain: float
) -> np.ndarray:
    """``alpha·(x − mean) + mean + beta`` with a per-channel gain, clipped to uint8.

    Args:
        img: H×W×C uint8 image.
        rng: the random generator.
        contrast: ``alpha`` is drawn from ``[1 − contrast, 1 + contrast]``.
        brightness: ``beta`` is drawn from ``[−brightness, brightness]`` (pixel values).
        gain: each channel is multiplied by a factor in ``[1 − gain, 1 + gain]``.
    """
    alpha = rng.uniform(1.0 - contrast, 1.0 + contrast)
    beta = rng.uniform(-brightness, brightness)
    gains = rng.uniform(1.0 - gain, 1.0 + gain, size=img.shape[2] if img.ndim == 3 else 1)
    x = img.astype(np.float32)
    mean = float(x.mean())
    x = (alpha * (x - mean) + mean + beta) * gains.astype(np.float32)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def gaussian_noise(img: np.ndarray, rng: np.random.Generator, max_sigma: float) -> np.ndarray:
    """Add zero-mean Gaussian noise with a standard deviation in ``[1, max_sigma]``."""
    sigma = rng.uniform(1.0, max(1.0, max_sigma))
    noise = rng.normal(0.0, sigma, size=img.shape).astype(np.float32)
    return np.clip(np.rint(img.astype(np.float32) + noise), 0, 255).astype(np.uint8)


@dataclass
class RecAugment:
    """A chain of light augmentations for recognition crops, each with its own probability.

    Attributes:
        perspective_prob: probability of :func:`random_perspective`.
        max_perspective: corner shift, as a fraction of the crop height.
        crop_prob: probability of :func:`random_crop`.
        max_crop_pixels: most pixels cut from each side.
        blur_prob: probability of :func:`gaussian_blur`.
        color_prob: probability of :func:`color_jitter`.
        contrast: contrast range (see :func:`color_jitter`).
        brightness: brightness range in pixel values.
        channel_gain: per-channel gain range.
        noise_prob: probability of :func:`gaussian_noise`.
        max_noise_sigma: largest noise standard deviation in pixel values.

    >>> aug = RecAugment()
    >>> img = np.full((32, 100, 3), 200, np.uint8)
    >>> a = aug(img, np.random.default_rng(3)); b = aug(img, np.random.default_rng(3))
    >>> bool((a == b).all()) and a.dtype == np.uint8
    True
    """

    perspective_prob: float = 0.4
    max_perspective: float = 0.1
    crop_prob: float = 0.4
    max_crop_pixels: int = 3
    blur_prob: float = 0.3
    color_prob: float = 0.4
    contrast: float = 0.3
    brightness: float = 25.0
    channel_gain: float = 0.1
    noise_prob: float = 0.3
    max_noise_sigma: float = 8.0

    def __post_init__(self) -> None:
        for name in ("perspective_prob", "crop_prob", "blur_prob", "color_prob", "noise_prob"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {p}")

    def __call__(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Augment one H×W×3 uint8 crop; the input array is not modified.

        The five coin flips are always drawn first (in a fixed order), so the set of operations
        applied depends only on the generator state, not on the image size.
        """
        flips = rng.random(5)
        h, w = img.shape[:2]
        big = h >= MIN_SIDE and w >= MIN_SIDE
        if big and flips[0] < self.perspective_prob:
            img = random_perspective(img, rng, self.max_perspective)
        if big and flips[1] < self.crop_prob:
            img = random_crop(img, rng, self.max_crop_pixels)
        if flips[2] < self.blur_prob:
            img = gaussian_blur(img, rng)
        if flips[3] < self.color_prob:
            img = color_jitter(img, rng, self.contrast, self.brightness, self.channel_gain)
        if flips[4] < self.noise_prob:
            img = gaussian_noise(img, rng, self.max_noise_sigma)
        return img
