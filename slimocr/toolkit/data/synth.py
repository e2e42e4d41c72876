"""Synthetic OCR data: rendered Chinese and English text lines with exact polygons.

The generator draws text (corpus words, digits, dates, prices, times, punctuation), renders it with
the installed fonts (:mod:`slimocr.toolkit.data.fonts`) on colored, textured backgrounds,
optionally rotates and perspective-warps each line (its polygon goes through the same
homography), adds noise and blur, and writes PaddleOCR label files. Everything is drawn from
``numpy.random.Generator`` objects seeded from :attr:`SynthConfig.seed`, so a seed gives
byte-identical images and labels on one machine.

Polygons use OpenCV's pixel convention (a pixel's index is the coordinate of its center, as in
``cv2.fillPoly``): an unwarped line's polygon runs through the centers of its outermost ink pixels.
"""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from slimocr.charset import load_charset
from slimocr.errors import ConfigError
from slimocr.toolkit.data import fonts as font_lib
from slimocr.toolkit.data.synth_render import (
    background,
    blend,
    degrade,
    random_colors,
    render_line,
    text_alpha,
    text_color,
    warp_mask,
)

Lang = Literal["en", "zh", "mix"]
Label = dict[str, object]

_CORPUS_DIR = Path(__file__).with_name("corpus")
_EN_EXTRA = string.ascii_letters + string.digits + " .,:;!?-/()%$#&'+@€£"
_ZH_EXTRA = string.digits + "，。！？、：；（）《》“”.:-%¥年月日元号楼层第页个件电话合计时分"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DET_MARGIN = 4
# fmt: off
_TEMPLATES = {
    "en": ("{digits}", "{y}-{mo:02d}-{d:02d}", "{d:02d}/{mo:02d}/{y}", "{mo}.{d}.{y}",
           "{month} {d}, {y}", "${price}", "€{price}", "£{price}", "Total: ${price}", "{num}%",
           "{hm}", "{title} {num}", "No. {num}", "#{num}"),
    "zh": ("{digits}", "电话：{digits}", "{y}年{mo}月{d}日", "{y}-{mo:02d}-{d:02d}",
           "¥{price}", "{price}元", "合计：{price}元", "{hm}", "{num}号楼", "第{num}页",
           "{word}{num}", "{num}层"),
}
# fmt: on


@dataclass(frozen=True)
class SynthConfig:
    """Settings of the generator (all sizes in pixels).

    Attributes:
        seed: non-negative seed; image ``i`` of a data set uses ``default_rng([seed, kind, i])``.
        lang: ``"en"``, ``"zh"`` or ``"mix"`` (each line Chinese with probability ``zh_ratio``).
        zh_ratio: share of Chinese lines when ``lang == "mix"``.
        font_size_range: inclusive range of font sizes for detection images.
        det_size: ``(width, height)`` of detection images.
        max_lines: most text lines in one detection image (at least one is tried).
        max_chars: longest transcription.
        rec_height_range: inclusive range of recognition crop heights.
        max_rotation: largest rotation of a warped line, in degrees.
        perspective: corner jitter of a warped line, as a fraction of the line height.
        warp_prob: probability that a line is rotated / perspective-warped.
        noise_prob: probability of Gaussian pixel noise on an image.
        blur_prob: probability of a Gaussian blur on an image.
        charset: if given, only these characters appear in transcriptions (e.g. the output of
            :func:`slimocr.charset.load_charset`); any iterable of characters is accepted.
        fonts: if given, draw with these font files only (each script with those of them that
            render it) instead of every installed font: a data set that does not change when
            fonts are installed, or test lines in a font that training lines did not use.
    """

    seed: int = 0
    lang: Lang = "en"
    zh_ratio: float = 0.5
    font_size_range: tuple[int, int] = (16, 40)
    det_size: tuple[int, int] = (640, 480)
    max_lines: int = 6
    max_chars: int = 24
    rec_height_range: tuple[int, int] = (32, 64)
    max_rotation: float = 6.0
    perspective: float = 0.15
    warp_prob: float = 0.5
    noise_prob: float = 0.3
    blur_prob: float = 0.3
    charset: frozenset[str] | None = None
    fonts: tuple[Path, ...] | None = None

    def __post_init__(self) -> None:
        if self.charset is not None and not isinstance(self.charset, frozenset):
            object.__setattr__(self, "charset", frozenset(self.charset))
        if self.fonts is not None:
            fonts = tuple(Path(f) for f in self.fonts)
            if not fonts:
                raise ConfigError("fonts: give at least one font file, or None for all installed")
            if missing := [str(f) for f in fonts if not f.is_file()]:
                raise ConfigError(f"font file not found: {', '.join(missing)}")
            object.__setattr__(self, "fonts", fonts)
        ranges = (self.font_size_range, self.rec_height_range)
        probs = (self.zh_ratio, self.warp_prob, self.noise_prob, self.blur_prob)
        checks = (
            (
                f"seed must be a non-negative int, got {self.seed!r}",
                isinstance(self.seed, int) and self.seed >= 0,
            ),
            (
                f"lang must be 'en', 'zh' or 'mix', got {self.lang!r}",
                self.lang in ("en", "zh", "mix"),
            ),
            (
                f"size ranges need 6 <= low <= high, got {ranges}",
                all(6 <= lo <= hi for lo, hi in ranges),
            ),
            (f"det_size must be at least 32x32, got {self.det_size}", min(self.det_size) >= 32),
            (
                f"max_lines and max_chars must be >= 1, got {self.max_lines}, {self.max_chars}",
                min(self.max_lines, self.max_chars) >= 1,
            ),
            (f"probabilities must lie in [0, 1], got {probs}", all(0 <= p <= 1 for p in probs)),
            (
                "rotation and perspective must be >= 0, got "
                f"{self.max_rotation}, {self.perspective}",
                min(self.max_rotation, self.perspective) >= 0,
            ),
        )
        if problems := [msg for msg, ok in checks if not ok]:
            raise ConfigError(f"invalid synthetic-data settings: {'; '.join(problems)}")


@dataclass(frozen=True)
class _Pool:
    """Fonts of one language and, per font, the characters its transcriptions may use."""

    lang: str
    fonts: tuple[Path | None, ...]
    allowed: tuple[frozenset[str], ...]


@lru_cache(maxsize=4)
def _corpus(lang: str) -> tuple[str, ...]:
    text = (_CORPUS_DIR / f"{lang}.txt").read_text(encoding="utf-8")
    return tuple(w.strip() for w in text.splitlines() if w.strip())


@lru_cache(maxsize=32)
def _pool(lang: str, charset: frozenset[str] | None, fonts: tuple[Path | None, ...]) -> _Pool:
    words = _corpus(lang)
    alphabet = set("".join(words)) | set(_EN_EXTRA if lang == "en" else _ZH_EXTRA)
    if charset is not None:
        alphabet &= charset
    kept, allowed = [], []
    for path in fonts:
        chars = frozenset(font_lib.supported_chars(path, alphabet))
        if chars - {" "}:
            kept.append(path)
            allowed.append(chars)
    if not kept:
        raise ConfigError(
            f"no {lang} text can be drawn: the charset shares no character with the {lang} "
            "corpus/digits/punctuation that the installed fonts render"
        )
    return _Pool(lang, tuple(kept), tuple(allowed))


def _given_fonts(fonts: tuple[Path, ...], script: font_lib.Script) -> tuple[Path, ...]:
    """The fonts of ``fonts`` that render ``script`` (symbol and math fonts never do); a
    ConfigError naming them if none does."""
    usable = tuple(
        f for f in fonts if not font_lib.skipped_by_name(f) and font_lib.renders_script(f, script)
    )
    if not usable:
        names = ", ".join(str(f) for f in fonts)
        raise ConfigError(f"none of the given fonts renders {script} text: {names}")
    return usable


def _pools(cfg: SynthConfig) -> dict[str, _Pool]:
    pools: dict[str, _Pool] = {}
    if cfg.lang in ("en", "mix"):
        latin: tuple[Path | None, ...]
        if cfg.fonts is not None:
            latin = _given_fonts(cfg.fonts, "latin")
        else:
            latin = tuple(font_lib.find_fonts("latin")) or (None,)
        pools["en"] = _pool("en", cfg.charset, latin)
    if cfg.lang in ("zh", "mix"):
        cjk = (
            _given_fonts(cfg.fonts, "cjk")
            if cfg.fonts is not None
            else tuple(font_lib.require_fonts("cjk"))
        )
        pools["zh"] = _pool("zh", cfg.charset, cjk)
    return pools


def _choose_pool(rng: np.random.Generator, cfg: SynthConfig, pools: dict[str, _Pool]) -> _Pool:
    if cfg.lang == "mix":
        return pools["zh"] if rng.random() < cfg.zh_ratio else pools["en"]
    return pools[cfg.lang]


def _raw_text(rng: np.random.Generator, lang: str) -> str:
    """Draw one unfiltered transcription: words, digits, a date, a price, a time or a label."""
    words = _corpus(lang)
    if rng.random() < 0.45:
        y, mo = int(rng.integers(1990, 2031)), int(rng.integers(1, 13))
        word = str(rng.choice(words))
        fields = {
            "y": y, "mo": mo, "d": int(rng.integers(1, 29)), "month": _MONTHS[mo - 1],
            "num": int(rng.integers(1, 10 ** int(rng.integers(1, 5)))), "word": word,
            "title": word.title(), "price": f"{rng.integers(0, 10000) / 100:.2f}",
            "hm": f"{rng.integers(24):02d}:{rng.integers(60):02d}",
            "digits": "".join(map(str, rng.integers(0, 10, int(rng.integers(3, 12))))),
        }  # fmt: skip
        templates = _TEMPLATES[lang]
        return templates[int(rng.integers(len(templates)))].format(**fields)
    picked = [str(w) for w in rng.choice(words, size=int(rng.integers(1, 4)))]
    if lang == "zh":
        sep = "" if rng.random() < 0.6 else str(rng.choice(["，", "、", " "]))
        return sep.join(picked) + str(rng.choice(["", "", "。", "！", "？", "："]))
    style = int(rng.integers(4))
    picked = [(w, w.title(), w.upper(), w)[style] for w in picked]
    picked[0] = picked[0].capitalize() if style == 3 else picked[0]
    return " ".join(picked) + str(rng.choice(["", "", "", ".", ",", "!", "?", ":"]))


def _sample_text(rng: np.random.Generator, cfg: SynthConfig, pool: _Pool, font_idx: int) -> str:
    """Draw a transcription that uses only characters allowed for the font (never empty)."""
    allowed = pool.allowed[font_idx]
    for _ in range(30):
        text = "".join(ch for ch in _raw_text(rng, pool.lang) if ch in allowed)
        text = " ".join(text.split())[: cfg.max_chars].strip()
        if text:
            return text
    chars = sorted(allowed - {" "})
    return "".join(rng.choice(chars, size=int(rng.integers(1, min(cfg.max_chars, 10) + 1))))


def make_rec_crop(rng: np.random.Generator, cfg: SynthConfig) -> tuple[np.ndarray, str]:
    """Make one recognition sample: a tight crop of one line with a small margin.

    Args:
        rng: the random generator.
        cfg: the generator settings.

    Returns:
        ``(image, text)``: a uint8 BGR crop whose height lies in ``cfg.rec_height_range``.

    Raises:
        ConfigError: the language needs a CJK font and none is installed, or the charset leaves
            nothing to draw.
    """
    pool = _choose_pool(rng, cfg, _pools(cfg))
    idx = int(rng.integers(len(pool.fonts)))
    text = _sample_text(rng, cfg, pool, idx)
    target_h = int(rng.integers(cfg.rec_height_range[0], cfg.rec_height_range[1] + 1))
    size = max(8, round(target_h * rng.uniform(0.55, 0.8)))
    warp = rng.random() < cfg.warp_prob
    rot, persp = (cfg.max_rotation / 3, cfg.perspective / 2) if warp else (0.0, 0.0)
    img, quad = render_line(
        text,
        pool.fonts[idx],
        size,
        rng,
        margin=max(4, size // 2),
        max_rotation=rot,
        perspective=persp,
    )
    pad = int(rng.integers(1, max(2, size // 6) + 1))
    x0, y0 = np.floor(quad.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int) + pad
    crop = img[max(y0, 0) : y1 + 1, max(x0, 0) : x1 + 1].astype(np.float32)
    new_w = max(1, round(crop.shape[1] * target_h / crop.shape[0]))
    interp = cv2.INTER_AREA if target_h < crop.shape[0] else cv2.INTER_LINEAR
    resized = cv2.resize(crop, (new_w, target_h), interpolation=interp)
    return degrade(rng, resized, cfg.blur_prob, cfg.noise_prob), text


def make_det_image(rng: np.random.Generator, cfg: SynthConfig) -> tuple[np.ndarray, list[Label]]:
    """Make one detection sample: non-overlapping text lines on a textured background.

    Args:
        rng: the random generator.
        cfg: the generator settings.

    Returns:
        ``(image, labels)``: a ``cfg.det_size`` uint8 BGR image and one
        ``{"transcription": str, "points": [[x, y] * 4]}`` per line, points clockwise from the
        text's top-left corner, all inside the image. A line that finds no free room after a few
        tries is left out (with default settings every image has at least one line).

    Raises:
        ConfigError: as for :func:`make_rec_crop`.
    """
    pools = _pools(cfg)
    width, height = cfg.det_size
    bg, _ = random_colors(rng)
    img = background(rng, height, width, bg)
    taken = np.zeros((height, width), bool)
    labels: list[Label] = []
    room_w, room_h = width - 2 * _DET_MARGIN, height - 2 * _DET_MARGIN
    max_size = max(6, min(cfg.font_size_range[1], room_h * 2 // 5))
    for _ in range(int(rng.integers(1, cfg.max_lines + 1))):
        for _try in range(8):
            pool = _choose_pool(rng, cfg, pools)
            idx = int(rng.integers(len(pool.fonts)))
            text = _sample_text(rng, cfg, pool, idx)
            size = int(rng.integers(min(cfg.font_size_range[0], max_size), max_size + 1))
            font = font_lib.load_font(pool.fonts[idx], size)
            alpha, quad = text_alpha(text, font)
            if alpha.shape[1] > room_w * 0.9:
                keep = max(1, int(len(text) * room_w * 0.8 / alpha.shape[1]))
                text = text[:keep].strip() or text[0]
                alpha, quad = text_alpha(text, font)
            if rng.random() < cfg.warp_prob:
                alpha, quad = warp_mask(rng, alpha, quad, cfg.max_rotation, cfg.perspective)
            h, w = alpha.shape
            if w > room_w or h > room_h:
                continue
            x = int(rng.integers(_DET_MARGIN, width - _DET_MARGIN - w + 1))
            y = int(rng.integers(_DET_MARGIN, height - _DET_MARGIN - h + 1))
            mg = _DET_MARGIN
            box = np.s_[y - mg : y + h + mg, x - mg : x + w + mg]
            if taken[box].any():
                continue
            taken[box] = True
            blend(img, alpha, text_color(rng, img[y : y + h, x : x + w].mean(axis=(0, 1))), x, y)
            pts = np.clip(quad + np.array([x, y], dtype=np.float32), 0, [width - 1, height - 1])
            points = [[round(float(px), 2), round(float(py), 2)] for px, py in pts]
            labels.append({"transcription": text, "points": points})
            break
    return degrade(rng, img, cfg.blur_prob, cfg.noise_prob), labels


def _write_png(path: Path, img: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    path.write_bytes(buf.tobytes())


def _write_dataset(out_dir: str | Path, n: int, cfg: SynthConfig, kind: str) -> Path:
    if n < 1:
        raise ConfigError(f"number of {kind} samples must be at least 1, got {n}")
    out = Path(out_dir)
    try:
        (out / "images").mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file on the way, no permission
        raise ConfigError(f"{out}: cannot make the output folder: {exc.strerror or exc}") from None
    stream = {"det": 0, "rec": 1}[kind]
    lines = []
    for i in range(n):
        rng = np.random.default_rng([cfg.seed, stream, i])
        rel = f"images/{kind}_{i:06d}.png"
        if kind == "det":
            img, labels = make_det_image(rng, cfg)
            lines.append(f"{rel}\t{json.dumps(labels, ensure_ascii=False)}")
        else:
            img, text = make_rec_crop(rng, cfg)
            lines.append(f"{rel}\t{text}")
        _write_png(out / rel, img)
    label_file = out / "label.txt"
    with open(label_file, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(lines) + "\n")
    return label_file


def write_det_dataset(out_dir: str | Path, n: int, cfg: SynthConfig) -> Path:
    """Write ``n`` detection images and a PaddleOCR det ``label.txt``.

    Each label line is ``images/det_000000.png<TAB>[{"transcription": ..., "points": ...}]`` (JSON,
    ``ensure_ascii=False``); paths are relative to ``out_dir``. Image ``i`` depends only on
    ``cfg`` and ``i``.

    Args:
        out_dir: the folder to write (created if missing; existing files are overwritten).
        n: the number of images.
        cfg: the generator settings.

    Returns:
        The path of ``label.txt``.

    Raises:
        ConfigError: ``n < 1``, a missing CJK font, or a charset that leaves nothing to draw.
    """
    return _write_dataset(out_dir, n, cfg, "det")


def write_rec_dataset(out_dir: str | Path, n: int, cfg: SynthConfig) -> Path:
    """Write ``n`` recognition crops and a PaddleOCR rec ``label.txt`` (``path<TAB>text``).

    Args:
        out_dir: the folder to write (created if missing; existing files are overwritten).
        n: the number of crops.
        cfg: the generator settings.

    Returns:
        The path of ``label.txt``.

    Raises:
        ConfigError: as for :func:`write_det_dataset`.
    """
    return _write_dataset(out_dir, n, cfg, "rec")


def rec_dataset_once(root: str | Path, n: int, cfg: SynthConfig, prefix: str = "synth") -> Path:
    """The ``label.txt`` of ``n`` recognition crops rendered with ``cfg`` under ``root``,
    rendered only when no earlier call left that set there.

    The folder, ``root/<prefix>_<lang>_seed<seed>_n<n>_<key>``, is named by a hash of every
    setting that shapes the crops (fonts by path and size, the charset), so changed settings
    render a new set and never reuse an old one. Each process renders into its own temporary
    folder and renames it into place, so processes starting together never read a half-written
    set.
    """
    import hashlib
    from dataclasses import asdict

    from slimocr.files import publish_folder

    def describe(value: object) -> object:
        if isinstance(value, frozenset):
            return hashlib.sha256("\n".join(sorted(value)).encode("utf-8")).hexdigest()
        if isinstance(value, tuple) and value and isinstance(value[0], Path):
            return [[str(f.resolve()), f.stat().st_size] for f in value]
        return value

    settings = {k: describe(v) for k, v in asdict(cfg).items()}
    text = json.dumps({"n": n, **settings}, sort_keys=True, default=str)
    key = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    root = Path(root)
    folder = root / f"{prefix}_{cfg.lang}_seed{cfg.seed}_n{n}_{key}"
    publish_folder(folder, "label.txt", lambda tmp: write_rec_dataset(tmp, n, cfg))
    return folder / "label.txt"


def synth_main(
    kind: Literal["det", "rec"],
    out_dir: str | Path,
    n: int,
    seed: int = 0,
    lang: Lang = "en",
    charset: str | Path | None = None,
    fonts: Sequence[str | Path] | None = None,
) -> Path:
    """Entry point for ``slimocr synth det|rec``: write a data set with default settings.

    Args:
        kind: ``"det"`` or ``"rec"``.
        out_dir: the folder to write.
        n: the number of images.
        seed: the seed.
        lang: ``"en"``, ``"zh"`` or ``"mix"``.
        charset: optional charset file (one character a line); only its characters are used.
        fonts: optional font files to draw with instead of every installed font
            (:class:`SynthConfig`).

    Returns:
        The path of the written ``label.txt``.

    Raises:
        ConfigError: an unknown kind or lang, ``n < 1``, no usable font, or a given font file
            that is missing or renders none of the needed scripts.
        LabelError: the charset file cannot be read.
    """
    if kind not in ("det", "rec"):
        raise ConfigError(f"unknown synth kind {kind!r}; expected 'det' or 'rec'")
    chars = None
    if charset is not None:
        chars = frozenset(load_charset(charset))
    given = tuple(Path(f) for f in fonts) if fonts else None
    cfg = SynthConfig(seed=seed, lang=lang, charset=chars, fonts=given)
    writer = write_det_dataset if kind == "det" else write_rec_dataset
    return writer(out_dir, n, cfg)
