"""Finding fonts that can render Latin or Chinese text, for the synthetic data generator.

Fonts come from the system font folders, from ``fc-list :lang=zh`` where fontconfig is installed,
from the folders named in the ``SLIMOCR_FONT_DIRS`` environment variable (``os.pathsep``-separated)
and from a few PyPI packages that ship font files. Every candidate is checked by rendering: a font
counts for a script only if each sample character gives a non-empty bitmap that differs from the
font's "missing glyph" box.

The module-level search settings (:data:`SYSTEM_FONT_DIRS`, :data:`FONT_PACKAGES`,
:data:`FC_LIST`) may be replaced (tests monkeypatch them); results are cached per setting.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Literal

from PIL import Image, ImageDraw, ImageFont

from slimocr.errors import ConfigError

Script = Literal["latin", "cjk"]
AnyFont = ImageFont.FreeTypeFont | ImageFont.ImageFont

SYSTEM_FONT_DIRS: tuple[Path, ...] = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path.home() / ".fonts",
    Path.home() / ".local/share/fonts",
)
"""Folders searched recursively for ``.ttf``, ``.otf`` and ``.ttc`` files."""

FONT_PACKAGES: tuple[str, ...] = (
    "pylopdf_fonts_zh_cn",  # Noto Sans SC / Noto Serif SC, OFL-1.1
    "paperang_p2_fonts_cjk",  # WenQuanYi Micro Hei
    "cvttf_NotoSansCJK_Regular",  # Noto Sans CJK TC
    "matplotlib",  # DejaVu (Latin)
)
"""Importable packages whose folders are searched for font files (never imported)."""

FC_LIST: str | None = "fc-list"
"""fontconfig's lister, asked for fonts with Chinese coverage; ``None`` to skip it."""

ENV_VAR = "SLIMOCR_FONT_DIRS"

SAMPLE_TEXT: dict[str, str] = {"latin": "AaZz09", "cjk": "中文汉字"}
_FONT_SUFFIXES = {".ttf", ".otf", ".ttc"}
# (cmex/cmsy: TeX's math extension and symbol fonts, which put symbols at the letters' code points)
_SKIP_NAME_PARTS = ("math", "symbol", "emoji", "icon", "awesome", "dingbat", "cmex", "cmsy")
_MISSING = "\u0378"  # an unassigned code point: every font draws its missing-glyph box
_PROBE_SIZE = 24
_cache: dict[tuple, list[Path]] = {}

INSTALL_HINT: dict[str, str] = {
    "cjk": (
        "install a font with Chinese glyphs, e.g. `apt-get install fonts-wqy-microhei` "
        "(small) or `apt-get install fonts-noto-cjk` on Debian/Ubuntu, or put a .ttf/.otf/.ttc "
        f"with Chinese glyphs in a folder named by ${ENV_VAR}"
    ),
    "latin": (
        "install a TrueType font, e.g. `apt-get install fonts-dejavu-core` on Debian/Ubuntu, "
        f"or put a .ttf/.otf in a folder named by ${ENV_VAR}"
    ),
}


@lru_cache(maxsize=512)
def load_font(path: Path | None, size: int) -> AnyFont:
    """Open a font at a pixel size (cached).

    Args:
        path: a font file (a ``.ttc`` opens its first face), or ``None`` for PIL's built-in
            scalable default font (Latin only).
        size: the size in pixels.

    Returns:
        The PIL font, laid out with the basic (deterministic) layout engine.
    """
    if path is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.BASIC)


def _glyph_bytes(font: AnyFont, ch: str) -> bytes:
    canvas = Image.new("L", (_PROBE_SIZE * 3, _PROBE_SIZE * 3), 0)
    ImageDraw.Draw(canvas).text((_PROBE_SIZE, _PROBE_SIZE // 2), ch, font=font, fill=255)
    return canvas.tobytes()


@lru_cache(maxsize=65536)
def _has_glyph(path: Path | None, ch: str) -> bool:
    if ch.isspace():
        return True
    try:
        font = load_font(path, _PROBE_SIZE)
        got = _glyph_bytes(font, ch)
        missing = _glyph_bytes(font, _MISSING)
    except (OSError, ValueError, UnicodeError):
        return False
    return any(got) and got != missing


def supported_chars(path: Path | None, chars: Iterable[str]) -> set[str]:
    """Return the characters of ``chars`` that a font draws with a real glyph.

    Args:
        path: a font file, or ``None`` for PIL's built-in font.
        chars: the characters to check (whitespace always counts as supported).

    Returns:
        The supported subset.
    """
    return {ch for ch in set(chars) if _has_glyph(path, ch)}


def has_glyphs(path: Path | None, text: str) -> bool:
    """Tell whether a font draws every character of ``text`` with a real glyph."""
    return all(_has_glyph(path, ch) for ch in text)


@lru_cache(maxsize=1024)
def renders_script(path: Path | None, script: Script) -> bool:
    """Tell whether a font draws the script's sample characters (:data:`SAMPLE_TEXT`) as real
    and pairwise different glyphs.

    A fallback font such as "Last Resort" draws one placeholder per Unicode block: its glyphs
    are not the missing-glyph box, but ``中`` and ``文`` (or ``A`` and ``a``) come out the same,
    and text drawn with it cannot be read.
    """
    if script not in SAMPLE_TEXT:
        raise ValueError(f"unknown script {script!r}; expected 'latin' or 'cjk'")
    sample = SAMPLE_TEXT[script]
    if not has_glyphs(path, sample):
        return False
    try:
        font = load_font(path, _PROBE_SIZE)
        bitmaps = {_glyph_bytes(font, ch) for ch in sample}
    except (OSError, ValueError, UnicodeError):
        return False
    return len(bitmaps) == len(set(sample))


def skipped_by_name(path: Path) -> bool:
    """Tell whether a font file's name marks it as a symbol, math or icon font (never used for
    text, even when its glyphs pass :func:`renders_script`)."""
    return any(part in path.name.lower() for part in _SKIP_NAME_PARTS)


def _env_dirs() -> tuple[Path, ...]:
    value = os.environ.get(ENV_VAR, "")
    return tuple(Path(p).expanduser() for p in value.split(os.pathsep) if p)


def _package_dirs(packages: Iterable[str]) -> list[Path]:
    dirs: list[Path] = []
    for name in packages:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        for loc in spec.submodule_search_locations or []:
            dirs.append(Path(loc))
    return dirs


def _fc_list_files(fc_list: str | None) -> list[Path]:
    if fc_list is None or shutil.which(fc_list) is None:
        return []
    try:
        out = subprocess.run(
            [fc_list, ":lang=zh", "file"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [Path(line.split(":")[0].strip()) for line in out.splitlines() if line.strip()]


def _scan(dirs: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for folder in dirs:
        if not folder.is_dir():
            continue
        for root, _, files in os.walk(folder):
            for name in files:
                if Path(name).suffix.lower() in _FONT_SUFFIXES:
                    found.append(Path(root) / name)
    return found


def find_fonts(script: Script) -> list[Path]:
    """List the installed fonts that render a script, sorted by path.

    Args:
        script: ``"latin"`` (checked with ``AaZz09``) or ``"cjk"`` (checked with ``中文汉字``).

    Returns:
        Font files whose glyphs for the script's sample characters are real (not empty, not
        the missing-glyph box, and not one placeholder for all: :func:`renders_script`).
        Empty when there is none.

    Raises:
        ValueError: for an unknown script.
    """
    if script not in SAMPLE_TEXT:
        raise ValueError(f"unknown script {script!r}; expected 'latin' or 'cjk'")
    key = (script, SYSTEM_FONT_DIRS, FONT_PACKAGES, FC_LIST, _env_dirs())
    if key in _cache:
        return list(_cache[key])
    candidates = _scan((*_env_dirs(), *SYSTEM_FONT_DIRS, *_package_dirs(FONT_PACKAGES)))
    if script == "cjk":
        candidates += _fc_list_files(FC_LIST)
    unique: dict[Path, Path] = {}
    for path in candidates:
        if not path.is_file() or skipped_by_name(path):
            continue
        unique.setdefault(path.resolve(), path)
    fonts = sorted(p for p in unique.values() if renders_script(p, script))
    _cache[key] = fonts
    return list(fonts)


def require_fonts(script: Script) -> list[Path]:
    """Like :func:`find_fonts`, but fail with an install hint when there is no font.

    Args:
        script: ``"latin"`` or ``"cjk"``.

    Returns:
        The fonts, never empty.

    Raises:
        ConfigError: no installed font renders the script; the message says what to install.
    """
    fonts = find_fonts(script)
    if not fonts:
        where = ", ".join(str(d) for d in SYSTEM_FONT_DIRS) or "no folders"
        raise ConfigError(
            f"no {script} font found (searched {where}, ${ENV_VAR}, fc-list and font "
            f"packages); {INSTALL_HINT[script]}"
        )
    return fonts
