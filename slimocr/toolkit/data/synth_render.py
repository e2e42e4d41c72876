"""Drawing primitives of the synthetic data generator (:mod:`slimocr.toolkit.data.synth`).

Text is rendered with PIL as a coverage mask cropped to its ink, optionally warped with a random
homography (the ink quad goes through the same matrix), and blended in a chosen color onto a float32
BGR background. Quads use OpenCV's pixel convention (a pixel's index is the coordinate of its
center, as in ``cv2.fillPoly``), clockwise from the text's top-left corner.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from slimocr.toolkit.data import fonts


def text_alpha(text: str, font: fonts.AnyFont, pad: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Render text as a coverage mask cropped to its ink plus ``pad`` pixels, and its ink quad."""
    left, top, right, bottom = font.getbbox(text)
    w, h = int(right - left) + 2 * pad + 2, int(bottom - top) + 2 * pad + 2
    canvas = Image.new("L", (max(w, 1), max(h, 1)), 0)
    ImageDraw.Draw(canvas).text((pad + 1 - left, pad + 1 - top), text, font=font, fill=255)
    alpha = np.array(canvas)
    ys, xs = np.nonzero(alpha)
    if xs.size == 0:
        raise ValueError(f"text {text!r} renders no ink with this font")
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())
    alpha = np.ascontiguousarray(np.pad(alpha, pad)[y0 : y1 + 2 * pad + 1, x0 : x1 + 2 * pad + 1])
    iw, ih = x1 - x0, y1 - y0
    quad = np.array([[0, 0], [iw, 0], [iw, ih], [0, ih]], np.float32) + pad
    return alpha, quad


def warp_mask(
    rng: np.random.Generator, alpha: np.ndarray, quad: np.ndarray, max_rot: float, persp: float
) -> tuple[np.ndarray, np.ndarray]:
    """Rotate and perspective-warp a mask; its quad goes through the same homography."""
    h, w = alpha.shape
    src = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    theta = np.deg2rad(rng.uniform(-max_rot, max_rot))
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]], np.float32)
    center = np.array([(w - 1) / 2, (h - 1) / 2], np.float32)
    dst = (src - center) @ rot.T + center + rng.uniform(-persp, persp, (4, 2)) * h
    dst -= dst.min(axis=0)
    m = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    size = (int(np.ceil(dst[:, 0].max())) + 1, int(np.ceil(dst[:, 1].max())) + 1)
    warped = cv2.warpPerspective(alpha, m, size, flags=cv2.INTER_LINEAR, borderValue=0)
    return warped, cv2.perspectiveTransform(quad[None], m)[0]


def random_colors(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A background color and a contrasting text color (BGR float32)."""
    light = rng.random() < 0.75
    bg_l = rng.uniform(175, 245) if light else rng.uniform(15, 80)
    bg = np.clip(bg_l + rng.normal(0, 15, 3), 0, 255).astype(np.float32)
    return bg, text_color(rng, bg)


def text_color(rng: np.random.Generator, bg: np.ndarray) -> np.ndarray:
    """A text color (BGR float32) at least 120 gray levels darker or lighter than ``bg``."""
    bg_l = float(bg.mean())
    fg_l = rng.uniform(0, bg_l - 120) if bg_l > 127 else rng.uniform(bg_l + 120, 255)
    return np.clip(fg_l + rng.normal(0, 20, 3), 0, 255).astype(np.float32)


def background(rng: np.random.Generator, h: int, w: int, bg: np.ndarray) -> np.ndarray:
    """A float32 BGR background around ``bg``: flat, a gradient, blotches or both."""
    img = np.empty((h, w, 3), np.float32)
    img[:] = bg
    kind = int(rng.integers(4))
    if kind in (1, 3):
        ang = rng.uniform(0, 2 * np.pi)
        ramp = np.cos(ang) * np.arange(w)[None, :] / w + np.sin(ang) * np.arange(h)[:, None] / h
        img += (ramp * rng.uniform(-25, 25))[..., None].astype(np.float32)
    if kind in (2, 3):
        cell = int(rng.integers(8, 33))
        low = rng.normal(0, 8, (h // cell + 2, w // cell + 2, 3)).astype(np.float32)
        img += cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    return img


def blend(img: np.ndarray, alpha: np.ndarray, fg: np.ndarray, x: int, y: int) -> None:
    """Paint ``fg`` with coverage ``alpha`` into the float image at ``(x, y)`` in place."""
    h, w = alpha.shape
    a = (alpha.astype(np.float32) / 255.0)[..., None]
    region = img[y : y + h, x : x + w]
    region += (fg - region) * a


def degrade(
    rng: np.random.Generator, img: np.ndarray, blur_prob: float, noise_prob: float
) -> np.ndarray:
    """Blur (with probability ``blur_prob``) and add noise to a float image; round to uint8."""
    if rng.random() < blur_prob:
        img = cv2.GaussianBlur(img, (3, 3), rng.uniform(0.3, 0.9))
    if rng.random() < noise_prob:
        img = img + rng.normal(0, rng.uniform(2, 7), img.shape).astype(np.float32)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def render_line(
    text: str,
    font_path: Path | None,
    size: int,
    rng: np.random.Generator,
    *,
    margin: int | None = None,
    max_rotation: float = 0.0,
    perspective: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one text line on a textured background.

    Args:
        text: the text (every character should have a glyph in the font).
        font_path: a font file, or ``None`` for PIL's built-in Latin font.
        size: font size in pixels.
        rng: the random generator for colors, background and warp.
        margin: background pixels around the ink (around the whole warped line when warped);
            default 20-60 % of ``size``.
        max_rotation: largest rotation in degrees (0 with ``perspective == 0``: no warp).
        perspective: corner jitter as a fraction of the line height.

    Returns:
        ``(image, quad)``: an ``(H, W, 3)`` uint8 BGR image and the ``(4, 2)`` float32 quad of the
        ink, clockwise from the text's top-left corner.

    Raises:
        ValueError: the text draws no ink with the font.
    """
    m = int(margin) if margin is not None else int(round(size * rng.uniform(0.2, 0.6)))
    warp = max_rotation > 0 or perspective > 0
    alpha, quad = text_alpha(text, fonts.load_font(font_path, int(size)), 2 if warp else m)
    if warp:
        alpha, quad = warp_mask(rng, alpha, quad, max_rotation, perspective)
        alpha, quad = np.pad(alpha, m), quad + m
    bg, fg = random_colors(rng)
    img = background(rng, alpha.shape[0], alpha.shape[1], bg)
    blend(img, alpha, fg, 0, 0)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8), quad.astype(np.float32)
