"""What to read: image files, folders of them (optionally recursive), lists of paths in a text
file, and the pages of PDF files (with the ``pdf`` extra, pypdfium2).

A source is a string: an image path as given, or ``FILE.pdf#page=N`` (N from 1) for a PDF page.
The same string is the ``source`` of its result, so a resumed run recognises what is done.

>>> collect_sources(["scans/"], recursive=True)  # doctest: +SKIP
(['scans/a.png', 'scans/sub/b.jpg', 'scans/doc.pdf#page=1', 'scans/doc.pdf#page=2'], [])
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from slimocr.errors import ImageReadError
from slimocr.infer.image import DEFAULT_MAX_PIXELS
from slimocr.inputs import (
    MAX_IMAGE_BYTES,
    MAX_LABEL_BYTES,
    path_kind,
    read_regular_file,
    regular_file_size,
)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
PDF_SUFFIX = ".pdf"
PDF_HINT = "PDF input needs the pdf extra: pip install 'slimocr[pdf]'"
PDF_DPI = 150
_PAGE = re.compile(r"^(?P<file>.+\.pdf)#page=(?P<page>[1-9][0-9]*)$", re.IGNORECASE)


def _pdfium():  # noqa: ANN202
    try:
        import pypdfium2
    except ImportError:
        raise ImageReadError(PDF_HINT) from None
    return pypdfium2


@contextmanager
def _open_pdf(path: str | Path) -> Iterator[Any]:
    """An open pypdfium2 document, closed on leaving.

    Raises:
        ImageReadError: the pdf extra is missing or the file is not a readable PDF.
    """
    pdfium = _pdfium()
    try:
        doc = pdfium.PdfDocument(str(path))
    except (pdfium.PdfiumError, OSError) as exc:
        raise ImageReadError(f"{path}: not a readable PDF ({exc})") from None
    try:
        yield doc
    finally:
        doc.close()


def pdf_pages(path: Path) -> list[str]:
    """The sources of each page of a PDF file.

    Raises:
        ImageReadError: the pdf extra is missing or the file is not a readable PDF.
    """
    regular_file_size(path, "PDF", MAX_IMAGE_BYTES, ImageReadError)
    with _open_pdf(path) as doc:
        return [f"{path}#page={i + 1}" for i in range(len(doc))]


def render_pdf_page(
    path: str | Path, page: int, dpi: int = PDF_DPI, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Page ``page`` (from 1) of a PDF rendered at ``dpi``, as an H×W×3 uint8 BGR array.

    Raises:
        ImageReadError: the PDF or the page cannot be read or rendered, or the page would
            render to more than ``max_pixels`` pixels (checked on its size, before rendering:
            a few hundred bytes can declare a page of a billion pixels). The message names
            ``FILE.pdf#page=N``.
    """
    name = f"{path}#page={page}"
    pdfium = _pdfium()
    with _open_pdf(path) as doc:
        if page > len(doc):
            raise ImageReadError(f"{name}: the PDF has {len(doc)} pages")
        scale = dpi / 72.0
        try:
            pdf_page = doc[page - 1]
            width_pt, height_pt = pdf_page.get_size()
        except pdfium.PdfiumError as exc:  # a /Kids entry that is not a page, a broken tree
            raise ImageReadError(f"{name}: cannot load the page ({exc})") from None
        if not (math.isfinite(width_pt) and math.isfinite(height_pt)):
            raise ImageReadError(f"{name}: the page has no usable size ({width_pt}x{height_pt})")
        # the size pypdfium2 renders to: each side rounded up
        width, height = math.ceil(width_pt * scale), math.ceil(height_pt * scale)
        if width < 1 or height < 1:  # pdfium is not asked for an empty bitmap
            raise ImageReadError(f"{name}: the page has no area ({width_pt:g}x{height_pt:g} pt)")
        if width * height > max_pixels:
            raise ImageReadError(
                f"{name}: page too large ({width_pt:g}x{height_pt:g} pt renders to "
                f"{width}x{height} = {width * height} pixels at {dpi} dpi; limit is {max_pixels})"
            )
        try:
            bitmap = pdf_page.render(scale=scale, rev_byteorder=False)
            rgb = bitmap.to_numpy()
        except (pdfium.PdfiumError, ValueError) as exc:
            raise ImageReadError(f"{name}: cannot render the page ({exc})") from None
    # pdfium renders BGRA/BGRx (rev_byteorder=False): keep the first three channels, BGR
    return np.ascontiguousarray(rgb[:, :, :3])


def load_source(source: str) -> str | np.ndarray:
    """What :class:`~slimocr.infer.pipeline.OCR` reads for a source: the path itself, or the
    rendered page of a ``FILE.pdf#page=N`` source."""
    match = _PAGE.match(source)
    if match and path_kind(match["file"]) == "file":
        return render_pdf_page(match["file"], int(match["page"]))
    return source


def read_list_file(path: Path) -> list[Path]:
    """The paths listed in a text file, one a line (blank lines and ``#`` comments skipped),
    relative paths taken from the current folder.

    Raises:
        ImageReadError: the list file cannot be read, or lists nothing (only blank lines and
            comments: a run that reads nothing would otherwise end as a success).
    """
    data = read_regular_file(path, "list", MAX_LABEL_BYTES, ImageReadError)
    try:
        text = data.decode("utf-8-sig")  # a list saved by Notepad starts with a BOM
    except UnicodeDecodeError as exc:
        raise ImageReadError(f"{path}: cannot read the list of images ({exc})") from None
    lines = (line.strip() for line in text.splitlines())
    listed = [Path(line) for line in lines if line and not line.startswith("#")]
    if not listed:
        raise ImageReadError(f"{path}: the list names no file (only blank lines and comments)")
    return listed


def _folder_files(folder: Path, recursive: bool) -> tuple[list[Path], list[str]]:
    """The image and PDF files of ``folder`` (and its subfolders when ``recursive``), sorted,
    and one problem line per folder that could not be listed (the others are still read)."""
    wanted = (*IMAGE_SUFFIXES, PDF_SUFFIX)
    problems: list[str] = []

    def unlisted(exc: OSError) -> None:
        problems.append(f"{exc.filename or folder}: cannot list folder ({exc.strerror or exc})")

    names: list[Path] = []
    if recursive:
        # os.walk reports an unreadable subfolder (rglob skips it silently); links to
        # folders are not followed, as rglob did not follow them
        for top, _dirs, files in os.walk(folder, onerror=unlisted):
            names += [Path(top, name) for name in files]
    else:
        try:
            with os.scandir(folder) as entries:
                names = [Path(folder, entry.name) for entry in entries]
        except OSError as exc:
            unlisted(exc)
    found = sorted(p for p in names if p.suffix.lower() in wanted and path_kind(p) == "file")
    return found, problems


def collect_sources(
    paths: Iterable[str | Path], recursive: bool = False, list_file: str | Path | None = None
) -> tuple[list[str], list[str]]:
    """Expand the inputs into sources, in order, each once.

    Args:
        paths: image files (taken whatever their suffix), PDF files, folders.
        recursive: a folder stands for its subfolders' files too.
        list_file: a text file listing more inputs, one a line.

    Returns:
        ``(sources, problems)``: the sources, and one message per input that gave none (an
        empty folder, an unreadable PDF, PDF input without the pdf extra) or per folder that
        could not be listed.
    """
    if isinstance(paths, (str, os.PathLike)):  # one input, not the characters of its name
        paths = [paths]
    inputs = [Path(p) for p in paths]
    problems: list[str] = []
    if list_file is not None:
        try:
            inputs += read_list_file(Path(list_file))
        except ImageReadError as exc:
            problems.append(str(exc))
    sources: list[str] = []
    for path in inputs:
        files = [path]
        if path_kind(path) == "dir":
            files, unlisted = _folder_files(path, recursive)
            problems += unlisted
            if not files and not unlisted:
                kinds = ", ".join((*IMAGE_SUFFIXES, PDF_SUFFIX))
                problems.append(f"{path}: folder holds no image or PDF file ({kinds})")
        for file in files:
            if file.suffix.lower() != PDF_SUFFIX:
                sources.append(str(file))
                continue
            try:
                sources += pdf_pages(file)
            except ImageReadError as exc:
                problems.append(str(exc))
    return list(dict.fromkeys(sources)), problems
