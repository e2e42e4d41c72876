"""Rendered text lines for the ``render_en`` / ``render_zh`` evaluation domains.

Each line of a committed corpus file (``slimocr/eval/corpus/render_{en,zh}_{split}.txt``) is
drawn once, as a printed line would be photographed or scanned: one of several fonts (picked
by the line's index), a size of 20–44 px, dark ink on a light, slightly uneven background, a
little blur and JPEG noise on some lines. The random choices are seeded by the line's index,
so a corpus file and a font list give the same crops on every machine that has those fonts.
Only PIL and OpenCV are used: the runtime can build a report set without the toolkit.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from slimocr.errors import SlimOCRError
from slimocr.files import publish_folder

CORPUS_DIR = Path(__file__).parent / "corpus"
RENDER_VERSION = 1  # bump when the drawing below changes: cached sets are keyed by it

# Font files by script, looked up by file name in the usual font folders. Debian packages:
# fonts-dejavu, fonts-liberation, fonts-freefont-ttf, fonts-urw-base35 (Latin);
# fonts-wqy-microhei, fonts-wqy-zenhei, fonts-arphic-uming, fonts-arphic-ukai, fonts-noto-cjk.
FONTS: dict[str, tuple[str, ...]] = {
    "en": (
        "DejaVuSans.ttf",
        "DejaVuSerif.ttf",
        "DejaVuSansMono.ttf",
        "LiberationSans-Regular.ttf",
        "LiberationSans-Bold.ttf",
        "LiberationSerif-Regular.ttf",
        "LiberationMono-Regular.ttf",
        "FreeSans.ttf",
        "FreeSerif.ttf",
        "FreeMono.ttf",
        "NimbusSans-Regular.otf",
        "NimbusRoman-Regular.otf",
    ),
    "zh": (
        "wqy-microhei.ttc",
        "wqy-zenhei.ttc",
        "uming.ttc",
        "ukai.ttc",
        "NotoSansCJK-Regular.ttc",
        "NotoSerifCJK-Regular.ttc",
    ),
}
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts", "~/.local/share/fonts")


@dataclass(frozen=True)
class RenderedSet:
    """A folder of rendered crops with a ``gt.txt`` (``name<TAB>text``) and ``fonts.json``."""

    folder: Path
    fonts: tuple[str, ...]
    n: int


def find_fonts(names: tuple[str, ...]) -> list[Path]:
    """The font files among ``names`` found in :data:`FONT_DIRS` (and ``$SLIMOCR_FONT_DIRS``),
    in the order of ``names``; missing ones are left out."""
    dirs = [Path(d).expanduser() for d in FONT_DIRS]
    extra = os.environ.get("SLIMOCR_FONT_DIRS", "")
    dirs += [Path(d) for d in extra.split(os.pathsep) if d]
    found: dict[str, Path] = {}
    for d in dirs:
        if d.is_dir():
            for p in d.rglob("*"):
                if p.name in names and p.name not in found and p.is_file():
                    found[p.name] = p
    return [found[n] for n in names if n in found]


def corpus_lines(lang: str, split: str) -> list[str]:
    """The committed lines of one rendered domain and split."""
    path = CORPUS_DIR / f"render_{lang}_{split}.txt"
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def render_line(text: str, font_path: Path, index: int) -> np.ndarray:
    """Draw one line as a BGR uint8 crop (deterministic for ``index``)."""
    rng = np.random.default_rng([RENDER_VERSION, index])
    size = int(rng.integers(20, 45))
    font = ImageFont.truetype(str(font_path), size=size, index=0)
    left, top, right, bottom = font.getbbox(text)
    mx, my = int(rng.integers(3, 12)), int(rng.integers(3, 10))
    w, h = int(right - left) + 2 * mx, int(bottom - top) + 2 * my
    bg = int(rng.integers(185, 256))
    ink = int(rng.integers(0, 80))
    tint = rng.integers(-15, 16, 3)
    canvas = Image.new("L", (max(w, 8), max(h, 8)), bg)
    ImageDraw.Draw(canvas).text((mx - left, my - top), text, font=font, fill=ink)
    gray = np.asarray(canvas, np.float32)
    # uneven lighting: a gentle horizontal gradient
    gray += np.linspace(0, rng.uniform(-20, 20), gray.shape[1], dtype=np.float32)[None, :]
    img = np.clip(gray[..., None] + tint[None, None, :], 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.3, 0.9)))
    if rng.random() < 0.5:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(55, 95))])
        if ok:
            img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return np.ascontiguousarray(img)


def rendered_set(lang: str, split: str, cache: Path) -> RenderedSet:
    """Render (once) the ``lang`` lines of ``split`` into a folder under ``cache``.

    The folder name is keyed by the lines, the font files found and :data:`RENDER_VERSION`;
    it is published whole (:func:`~slimocr.files.publish_folder`), so a half-written set is
    never read.

    Raises:
        SlimOCRError: no font of the script is installed.
    """
    lines = corpus_lines(lang, split)
    fonts = find_fonts(FONTS[lang])
    if not fonts:
        names = ", ".join(FONTS[lang])
        raise SlimOCRError(f"render_{lang}: none of its fonts is installed ({names})")
    key = hashlib.sha256(
        json.dumps([RENDER_VERSION, lines, [p.name for p in fonts]]).encode()
    ).hexdigest()[:12]
    folder = cache / f"render_{lang}_{split}-{key}"

    def write(tmp: Path) -> None:
        rows = []
        for i, text in enumerate(lines):
            name = f"{i:05d}.png"
            cv2.imwrite(str(tmp / name), render_line(text, fonts[i % len(fonts)], i))
            rows.append(f"{name}\t{text}")
        (tmp / "fonts.json").write_text(json.dumps([str(p) for p in fonts], indent=1))
        (tmp / "gt.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")

    publish_folder(folder, "gt.txt", write)
    return RenderedSet(folder, tuple(p.name for p in fonts), len(lines))
