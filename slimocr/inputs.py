"""What SlimOCR agrees to read: the input policy, written once.

Every entry point (the ``OCR`` API, ``slimocr ocr|eval|zoo``, the evaluation readers) goes
through these functions, so that a bad input is refused the same way everywhere, with one line
naming it:

* **Only regular files are read.** FIFOs, devices (``/dev/zero``), sockets and folders are
  refused by ``stat`` before anything opens them (opening a FIFO blocks; a device never ends).
  Each kind of file has a size limit (:data:`MAX_IMAGE_BYTES`, :data:`MAX_MODEL_BYTES`,
  :data:`MAX_LABEL_BYTES`), checked on ``stat`` and again while reading.
* **Options are checked for type and range** (:func:`check_int`, :func:`check_float`,
  :func:`check_bool`); the error names the option.
* **Float pixel arrays need a declared range** (:data:`FLOAT_RANGES`) and finite values
  (:func:`float_pixels_to_uint8`).
* **Labels are bounded**: :data:`MAX_LABEL_LINE_CHARS`, :data:`MAX_REC_LABEL_CHARS`,
  :data:`MAX_JSON_DEPTH` (:func:`json_depth`).
* **Recognizer crops are bounded**: a crop wider than :data:`MAX_CROP_RATIO` times its height
  is squeezed to that ratio, so no batch is wider than ``MAX_CROP_RATIO × height``, and a
  batch holds at most ``MAX_BATCH_RATIO × height`` columns in all (:data:`MAX_BATCH_RATIO`).
* **Names are printed with control characters escaped** (:func:`printable`), so a newline in a
  file name cannot split an error line.

C libraries (libpng, libjpeg, libtiff, OpenCV's logger) write their own lines on the process's
standard error; :func:`c_stderr_captured` takes them while a decoder runs, so that the caller
can fold them into its one error line or drop them.
"""

from __future__ import annotations

import math
import os
import re
import stat
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from slimocr.errors import OptionError, SlimOCRError

MAX_IMAGE_BYTES = 256 * 2**20
"""An image file larger than this is refused before reading (256 MiB)."""
MAX_MODEL_BYTES = 2 * 2**30
"""A model file larger than this is refused before loading (2 GiB, protobuf's own limit)."""
MAX_LABEL_BYTES = 256 * 2**20
"""A label or charset file larger than this is refused before reading (256 MiB)."""
MAX_LABEL_LINE_CHARS = 1_000_000
"""A label line longer than this is a bad line (a detection line with its JSON boxes)."""
MAX_REC_LABEL_CHARS = 1_000
"""A recognition label longer than this is a bad line (edit distance is quadratic)."""
MAX_JSON_DEPTH = 8
"""JSON in a label line nested deeper than this is a bad line (boxes need 4 levels)."""
MAX_CROP_RATIO = 64.0
"""Crops wider than this many times their height are squeezed to it before recognition."""
MAX_BATCH_RATIO = 6 * MAX_CROP_RATIO
"""The crops of one recognizer batch are at most this many times its height wide in all
(six crops at the ratio cap: the default batch of 6 is never split)."""
FLOAT_RANGES = ((0.0, 1.0), (0.0, 255.0))
"""The value ranges a float pixel array may be declared in."""

_KIND_WORDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_CONTROL.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def printable(text: object) -> str:
    """``str(text)`` with control characters escaped (``\\n``, ``\\x1b``, ...), for one line.

    >>> printable("a\\nb.png")
    'a\\\\nb.png'
    """
    return str(text).translate(_CONTROL)


UNNAMED_SOURCES = ("<array>", "<bytes>")
"""What :func:`slimocr.infer.image.load_image` calls an image that came without a name."""


def named_after(message: str, source: str) -> str:
    """An error ``message`` about ``source``: the ``<array>`` or ``<bytes>`` it opens with
    replaced by the source's name, or that name put in front when the message does not open
    with it (a rendered PDF page, a Ray row).

    >>> named_after("<array>: image too small (1x1)", "doc.pdf#page=2")
    'doc.pdf#page=2: image too small (1x1)'
    """
    name = printable(source)
    for unnamed in UNNAMED_SOURCES:
        if message.startswith(unnamed):
            return name + message[len(unnamed) :]
    return message if message.startswith(name) else f"{name}: {message}"


def json_text(obj: object, indent: int | None = None) -> str:
    r"""JSON (one line unless ``indent``) with non-ASCII text kept as is, unless it holds a
    name that is not valid UTF-8 (a file name's undecodable bytes, kept by Python as lone
    surrogates): then all of it is ASCII-escaped, so that it can always be written as UTF-8.

    >>> json_text({"source": "caf\u00e9.png"})
    '{"source": "café.png"}'
    >>> json_text({"source": "\udcff.png"})
    '{"source": "\\udcff.png"}'
    """
    import json

    text = json.dumps(obj, ensure_ascii=False, indent=indent)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj, ensure_ascii=True, indent=indent)
    return text


def _os_problem(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower() if exc.errno else str(exc)


def regular_file_size(path: str | Path, what: str, limit: int, error: type[SlimOCRError]) -> int:
    """Check by ``stat`` that ``path`` is a non-empty regular file of at most ``limit`` bytes.

    Args:
        path: the file (symbolic links are followed).
        what: its kind, for messages (``"image"``, ``"model"``, ``"label"``).
        limit: the size limit in bytes.
        error: the error class to raise.

    Returns:
        The file's size.

    Raises:
        error: missing, unreadable, a folder, FIFO, device or socket, empty, or too large.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise error(f"{path}: {what} file not found") from None
        raise error(f"{path}: cannot read {what} file ({_os_problem(exc)})") from None
    except ValueError as exc:  # embedded NUL byte
        raise error(f"{path}: invalid file name ({exc})") from None
    kind = stat.S_IFMT(st.st_mode)
    if kind != stat.S_IFREG:
        word = _KIND_WORDS.get(kind, "not a regular file")
        raise error(f"{path}: is {word}, not a{'n' if what[0] in 'aeiou' else ''} {what} file")
    if st.st_size == 0:
        raise error(f"{path}: empty file")
    if st.st_size > limit:
        raise error(f"{path}: {what} file too large ({st.st_size} bytes; limit {limit})")
    return st.st_size


def read_regular_file(path: str | Path, what: str, limit: int, error: type[SlimOCRError]) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (:func:`regular_file_size`).

    The file is opened non-blocking and checked again on its descriptor, so a file swapped
    for a FIFO after the ``stat`` cannot block; a file that grows past the limit while being
    read is refused.
    """
    regular_file_size(path, what, limit, error)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise error(f"{path}: cannot read {what} file ({_os_problem(exc)})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise error(f"{path}: is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise error(f"{path}: cannot read {what} file ({_os_problem(exc)})") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise error(f"{path}: {what} file too large (over {limit} bytes)")
    if not data:
        raise error(f"{path}: empty file")
    return data


def path_kind(path: str | Path) -> str:
    """``"dir"``, ``"file"`` (a regular file), ``"other"`` (a FIFO, device, socket) or
    ``"missing"`` (also: cannot be looked up); never raises (``Path.is_dir`` raises on a name
    too long or a folder that cannot be searched)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return "missing"
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    return "file" if stat.S_ISREG(st.st_mode) else "other"


def check_int(
    name: str,
    value: object,
    low: int | None = None,
    high: int | None = None,
    optional: bool = False,
) -> None:
    """Refuse ``value`` unless it is an int (not a bool) in ``[low, high]`` (or None when
    ``optional``); the error names the option."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        kind = "an int or None" if optional else "an int"
        raise OptionError(f"{name} must be {kind}, got {type(value).__name__} {value!r}")
    _check_range(name, value, low, high)


def check_float(
    name: str, value: object, low: float | None = None, high: float | None = None
) -> None:
    """Refuse ``value`` unless it is a finite real number in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise OptionError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(float(value)):
        raise OptionError(f"{name} must be finite, got {value}")
    _check_range(name, value, low, high)


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    """Refuse ``value`` unless it is one of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise OptionError(f"{name} must be one of {choices}, got {value!r}")


def check_bool(name: str, value: object) -> None:
    """Refuse ``value`` unless it is a bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise OptionError(f"{name} must be True or False, got {type(value).__name__} {value!r}")


def _check_range(
    name: str, value: float | np.integer | np.floating, low: float | None, high: float | None
) -> None:
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise OptionError(f"{name} must be in [{lo}, {hi}], got {value}")


def check_source_arg(name: str, value: object, optional: bool = True) -> None:
    """Refuse ``value`` unless it is a str or a path (or None when ``optional``)."""
    if (value is None and optional) or isinstance(value, (str, Path)):
        return
    kind = "a name or path, or None" if optional else "a name or path"
    raise OptionError(f"{name} must be {kind}, got {type(value).__name__} {value!r}"[:200])


def check_charset_arg(value: object) -> None:
    """Refuse a ``charset`` argument that is not None, a path, or a list of strings."""
    if value is None or isinstance(value, (str, Path)):
        return
    if isinstance(value, list) and value and all(isinstance(c, str) for c in value):
        return
    raise OptionError(
        f"charset must be a file path, a non-empty list of str, or None, got {type(value).__name__}"
    )


def check_value_range(value_range: object) -> tuple[float, float] | None:
    """Normalise a ``value_range`` argument: None, or one of :data:`FLOAT_RANGES`."""
    if value_range is None:
        return None
    try:
        pair = (float(value_range[0]), float(value_range[1]))  # type: ignore[index]
        ok = len(value_range) == 2 and pair in FLOAT_RANGES  # type: ignore[arg-type]
    except (TypeError, ValueError, IndexError):
        ok = False
    if not ok:
        raise OptionError(f"value_range must be (0, 1) or (0, 255), got {value_range!r}")
    return pair


def float_pixels_to_uint8(
    name: str,
    img: np.ndarray,
    value_range: tuple[float, float] | None,
    error: type[SlimOCRError],
) -> np.ndarray:
    """Scale float pixels in ``value_range`` to uint8; refuse a missing range, NaN/inf, and
    values outside the range (beyond float rounding), rather than clip them silently."""
    if value_range is None:
        raise error(
            f"{name}: float pixels need their range declared: value_range=(0, 1) or (0, 255)"
        )
    low, high = value_range
    finite = np.isfinite(img)
    if not finite.all():
        raise error(f"{name}: {int((~finite).sum())} pixel values are NaN or infinite")
    vmin, vmax = float(img.min()), float(img.max())
    slack = 1e-3 * high
    if vmin < low - slack or vmax > high + slack:
        raise error(
            f"{name}: float pixels span [{vmin:g}, {vmax:g}], outside the declared "
            f"value_range ({low:g}, {high:g})"
        )
    scaled = img.astype(np.float32) * np.float32(255.0 / high)
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')


def json_depth(text: str) -> int:
    """How deeply the brackets of a JSON text nest (strings skipped), without parsing it;
    linear in the text (a 20 MB body takes a fraction of a second).

    >>> json_depth('[{"points": [[1, 2]], "t": "[[[\\\\"]"}]')
    4
    """
    stripped = _JSON_STRING.sub("", text).encode("utf-8", "ignore")
    arr = np.frombuffer(stripped, dtype=np.uint8)
    if not arr.size:
        return 0
    step = ((arr == 0x5B) | (arr == 0x7B)).astype(np.int32)  # [ {
    step -= ((arr == 0x5D) | (arr == 0x7D)).astype(np.int32)  # ] }
    return max(int(step.cumsum().max()), 0)


_CAPTURE_LOCK = threading.Lock()


class CapturedText:
    """What a C library wrote on standard error inside :func:`c_stderr_captured`."""

    def __init__(self) -> None:
        self.text = ""

    def lines(self) -> list[str]:
        """The captured lines, stripped, blank ones left out."""
        return [line.strip() for line in self.text.splitlines() if line.strip()]


@contextmanager
def c_stderr_captured() -> Iterator[CapturedText]:
    """Take what is written on file descriptor 2 inside the block (C libraries' messages).

    The block runs under a process-wide lock (descriptors are process-wide). What is taken
    is in the yielded object's ``text`` afterwards; callers fold it into their own error or
    drop it. Where descriptor 2 cannot be redirected, nothing is taken.
    """
    captured = CapturedText()
    with _CAPTURE_LOCK:
        try:
            sink = tempfile.TemporaryFile()
        except OSError:
            sink = None
        try:
            saved = os.dup(2) if sink is not None else -1
        except OSError:
            saved = -1
        if saved < 0 or sink is None:
            if sink is not None:
                sink.close()
            yield captured
            return
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.text = sink.read(65536).decode("utf-8", "replace")
            sink.close()
