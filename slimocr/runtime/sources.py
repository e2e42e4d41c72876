"""What to read: image files, folders of them (optionally recursive), lists of paths in a text
file, and the pages of PDF files (with the ``pdf`` extra, pypdfium2).

A source is a string: an image path as given, or ``FILE.pdf#page=N`` (N from 1) for a PDF page.
The same string is the ``source`` of its result, so a resumed run recognises what is done.

>>> collect_sources(["scans/"], recursive=True)  # doctest: +SKIP
(['scans/a.png', 'scans/sub/b.jpg', 'scans/doc.pdf#page=1', 'scans/doc.pdf#page=2'], [])
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from slimocr.errors import ImageReadError
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


def render_pdf_page(path: str | Path, page: int, dpi: int = PDF_DPI) -> np.ndarray:
    """Page ``page`` (from 1) of a PDF rendered at ``dpi``, as an H×W×3 uint8 BGR array."""
    with _open_pdf(path) as doc:
        if page > len(doc):
            raise ImageReadError(f"{path}#page={page}: the PDF has {len(doc)} pages")
        bitmap = doc[page - 1].render(scale=dpi / 72.0, rev_byteorder=False)
        rgb = bitmap.to_numpy()
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
        ImageReadError: the list file cannot be read.
    """
    data = read_regular_file(path, "list", MAX_LABEL_BYTES, ImageReadError)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ImageReadError(f"{path}: cannot read the list of images ({exc})") from None
    lines = (line.strip() for line in text.splitlines())
    return [Path(line) for line in lines if line and not line.startswith("#")]


def _folder_files(folder: Path, recursive: bool) -> list[Path]:
    walk = folder.rglob("*") if recursive else folder.iterdir()
    wanted = (*IMAGE_SUFFIXES, PDF_SUFFIX)
    return sorted(p for p in walk if p.suffix.lower() in wanted and path_kind(p) == "file")


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
        empty folder, an unreadable PDF, PDF input without the pdf extra).
    """
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
            files = _folder_files(path, recursive)
            if not files:
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
