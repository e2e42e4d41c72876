"""Loading images for inference: any common file, bytes or array in, H×W×3 uint8 BGR out.

PaddleOCR reads images with ``cv2.imread(path)`` (``IMREAD_COLOR``). SlimOCR decodes with
``cv2.imdecode(..., IMREAD_UNCHANGED)`` instead, so that it can treat the cases ``imread`` gets
wrong or hides, and then converts the pixels itself:

* 16-bit images are scaled to 8 bits (``round(v / 257)``, so 65535 → 255).
* Images with an alpha channel (RGBA, LA, palette with transparency) are **composited on white**:
  text drawn on a transparent background stays readable, where dropping the alpha (what
  ``imread`` does) would turn such an image all black. Fully opaque pixels are unchanged.
* Grayscale and palette images become three equal channels.
* The EXIF orientation of a JPEG is applied, as ``cv2.imread`` does.

Files are read under the input policy of :mod:`slimocr.inputs` (regular files only, at most
:data:`~slimocr.inputs.MAX_IMAGE_BYTES`). The header is read first with PIL, so a file that
claims to be huge is refused before any pixel is decoded. What the C decoders write on standard
error is taken: a failed decode folds it into its error, and a JPEG whose data ends before the
size its header declares ("premature end") is refused rather than read with a gray fill.
Float arrays are read only with their range declared (``value_range``). Every failure is an
:class:`~slimocr.errors.ImageReadError` whose one-line message
starts with the path (or ``<bytes>`` / ``<array>``).
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from slimocr.errors import ImageReadError
from slimocr.inputs import (
    MAX_IMAGE_BYTES,
    c_stderr_captured,
    check_value_range,
    float_pixels_to_uint8,
    printable,
    read_regular_file,
)

ImageSource = str | Path | os.PathLike[str] | bytes | np.ndarray | Image.Image

_EXIF_ORIENTATION_TAG = 0x0112


def _check_size(name: str, width: int, height: int, max_pixels: int, min_side: int) -> None:
    if width < min_side or height < min_side:
        raise ImageReadError(
            f"{name}: image too small ({width}x{height}; each side must be >= {min_side} px)"
        )
    if width * height > max_pixels:
        raise ImageReadError(
            f"{name}: image too large ({width}x{height} = {width * height} pixels; "
            f"limit is {max_pixels})"
        )


def _read_bytes(path: str | Path) -> bytes:
    return read_regular_file(path, "image", MAX_IMAGE_BYTES, ImageReadError)


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a classic TIFF's first directory (tags 256 and 257), or None.

    PIL identifies no multi-channel float TIFF (what ``cv2.imwrite`` writes for a float32
    colour image); OpenCV decodes it, so its size is read here to keep the check before
    decoding."""
    order = {b"II*\0": "<", b"MM\0*": ">"}.get(data[:4])
    if order is None:
        return None
    try:
        (offset,) = struct.unpack_from(order + "I", data, 4)
        (count,) = struct.unpack_from(order + "H", data, offset)
        size: dict[int, int] = {}
        for i in range(count):
            tag, kind, _, value = struct.unpack_from(order + "HHI4s", data, offset + 2 + 12 * i)
            if tag in (256, 257) and kind in (3, 4):  # SHORT or LONG
                fmt = order + ("H" if kind == 3 else "I")
                size[tag] = struct.unpack_from(fmt, value)[0]
    except struct.error:
        return None
    return (size[256], size[257]) if len(size) == 2 else None


def _probe_header(name: str, data: bytes) -> tuple[str, int, int, int]:
    """Identify the format and size from the header only; returns (format, w, h, orientation)."""
    try:
        with warnings.catch_warnings():
            # PIL's warnings (a decompression bomb, corrupt EXIF) are not ours to print: the
            # size is checked below and a broken file fails to decode with its own error
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                fmt = im.format or "unknown"
                width, height = im.size
                orientation = 1
                if fmt in ("JPEG", "MPO"):
                    try:
                        orientation = int(im.getexif().get(_EXIF_ORIENTATION_TAG, 1))
                    except Exception:  # a broken EXIF block is not worth refusing the image
                        orientation = 1
    except Image.DecompressionBombError as exc:
        detail = str(exc).split(", could be")[0].rstrip(".")
        raise ImageReadError(f"{name}: image too large ({detail})") from None
    except UnidentifiedImageError:
        tiff = _tiff_size(data)
        if tiff is not None:
            return "TIFF", tiff[0], tiff[1], 1
        raise ImageReadError(
            f"{name}: unsupported or corrupt image data (format not recognised)"
        ) from None
    except Exception as exc:  # PIL raises OSError, SyntaxError, struct.error, ... on bad headers
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise ImageReadError(f"{name}: corrupt or truncated image header ({detail})") from None
    return fmt, width, height, orientation


def _apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to a decoded H×W(×C) array."""
    if orientation == 2:
        return img[:, ::-1]
    if orientation == 3:
        return img[::-1, ::-1]
    if orientation == 4:
        return img[::-1]
    if orientation == 5:  # transpose
        return np.swapaxes(img, 0, 1)
    if orientation == 6:  # rotate 90° clockwise
        return np.rot90(img, k=-1)
    if orientation == 7:  # transverse
        return np.swapaxes(img, 0, 1)[::-1, ::-1]
    if orientation == 8:  # rotate 90° counter-clockwise
        return np.rot90(img, k=1)
    return img


def _to_uint8(
    name: str, img: np.ndarray, value_range: tuple[float, float] | None = (0.0, 1.0)
) -> np.ndarray:
    if not img.dtype.isnative:  # big-endian pixels (an array of PIL's "I;16B" mode)
        img = img.astype(img.dtype.newbyteorder("="))
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        return np.round(img.astype(np.float32) / 257.0).astype(np.uint8)
    if img.dtype == np.bool_:
        return img.astype(np.uint8) * 255
    if np.issubdtype(img.dtype, np.floating):
        return float_pixels_to_uint8(name, img, value_range, ImageReadError)
    raise ImageReadError(f"{name}: unsupported pixel type {img.dtype}")


def _composite_on_white(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float32) / 255.0
    if color.ndim == 3:
        a = a[..., None]
    out = color.astype(np.float32) * a + 255.0 * (1.0 - a)
    return np.round(out).astype(np.uint8)


def _to_bgr(
    name: str, img: np.ndarray, value_range: tuple[float, float] | None = (0.0, 1.0)
) -> np.ndarray:
    """Convert a decoded OpenCV-order array (gray, gray+alpha, BGR, BGRA) to 3-channel BGR;
    float pixels are read in ``value_range``."""
    img = _to_uint8(name, img, value_range)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.ndim != 3:
        raise ImageReadError(f"{name}: unsupported array shape {img.shape}")
    channels = img.shape[2]
    if channels == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2BGR)
    if channels == 2:  # gray + alpha
        gray = _composite_on_white(img[:, :, 0], img[:, :, 1])
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    if channels == 3:
        return np.ascontiguousarray(img)
    if channels == 4:
        return _composite_on_white(img[:, :, :3], img[:, :, 3])
    raise ImageReadError(f"{name}: unsupported number of channels ({channels})")


DEFAULT_MAX_PIXELS = 50_000_000
PIL_NAME = "<PIL image>"


def _pil_to_bgr(src: Image.Image) -> np.ndarray:
    """A Pillow image as BGR, turned upright by its EXIF orientation as a file would be;
    transparent modes are composited on white, 16-bit gray scaled to 8 bits."""
    try:
        img = ImageOps.exif_transpose(src)
        img.load()
    except Exception as exc:  # noqa: BLE001 - a lazily decoded file can fail here
        raise ImageReadError(f"{PIL_NAME}: cannot read its pixels ({exc})") from None
    mode = img.mode
    if mode.startswith("I;16"):
        return _to_bgr(PIL_NAME, np.asarray(img))
    if mode in ("I", "F"):
        raise ImageReadError(
            f"{PIL_NAME}: 32-bit mode {mode!r} has no fixed range; convert it to 'RGB' or "
            "'I;16' first"
        )
    alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info
    arr = np.asarray(img.convert("RGBA" if alpha else "RGB"))
    order = [2, 1, 0, 3] if alpha else [2, 1, 0]
    return _to_bgr(PIL_NAME, np.ascontiguousarray(arr[:, :, order]))


def check_image_header(
    name: str, data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, min_side: int = 2
) -> tuple[str, int, int, int]:
    """Identify encoded image bytes by their header alone and check their size.

    Returns:
        ``(format, width, height, EXIF orientation)``.

    Raises:
        ImageReadError: unknown format, corrupt header, or an image too small or too large.
    """
    fmt, width, height, orientation = _probe_header(name, data)
    _check_size(name, width, height, max_pixels, min_side)
    return fmt, width, height, orientation


def decoder_says_truncated(lines: str) -> bool:
    """Whether a decoder's captured stderr says the data ended early (libjpeg's "premature
    end"; OpenCV then fills the rest with gray and reports success)."""
    return "premature end" in lines.lower()


def _decode(name: str, data: bytes, max_pixels: int, min_side: int) -> np.ndarray:
    fmt, width, height, orientation = check_image_header(name, data, max_pixels, min_side)
    buf = np.frombuffer(data, dtype=np.uint8)
    # OpenCV's decoders log their own "[ WARN ]" line for a damaged file; the error below
    # names the file instead, so their log is silenced for this call. The level is set and
    # restored under the capture's process-wide lock: calls from other threads each restore
    # the level they found, never one another's.
    try:
        with c_stderr_captured() as said:
            level = cv2.utils.logging.getLogLevel()
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
            try:
                img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
            finally:
                cv2.utils.logging.setLogLevel(level)
    except cv2.error as exc:
        raise ImageReadError(f"{name}: cannot decode {fmt} image ({exc.err})") from None
    decoder = "; ".join(printable(line) for line in said.lines()[:3])
    if img is None:
        detail = f" ({decoder})" if decoder else ""
        raise ImageReadError(f"{name}: corrupt, truncated or unsupported {fmt} image data{detail}")
    if decoder_says_truncated(decoder):
        raise ImageReadError(
            f"{name}: truncated {fmt} image: its data ends before the {width}x{height} its "
            f"header declares ({decoder})"
        )
    img = _to_bgr(name, img)
    img = _apply_orientation(img, orientation)
    return np.ascontiguousarray(img)


def load_image(
    src: ImageSource,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = 2,
    value_range: tuple[float, float] | None = None,
    name: str | None = None,
) -> np.ndarray:
    """Read an image into an H×W×3 uint8 BGR array.

    Args:
        src: a path (``str`` or path object), the encoded bytes of an image file, an array,
            or a Pillow image. Arrays are taken as OpenCV order (BGR / BGRA / gray+alpha /
            gray); uint16 arrays are scaled to uint8. A float array needs ``value_range``. A
            Pillow image is read in its own (RGB) order and turned by its EXIF orientation,
            as its file would be; modes ``I`` and ``F`` are refused.
        max_pixels: refuse images with more pixels than this (checked on the header, before
            decoding). PIL's own decompression-bomb limit (about 179 M pixels) also applies.
        min_side: refuse images whose width or height is smaller than this.
        value_range: the range of a float array's pixels, ``(0, 1)`` or ``(0, 255)``; a float
            array without it, with NaN or infinite values, or with values outside it is
            refused (never clipped). Float image *files* (TIFF) are read as 0..1. A range
            other than those two is refused for any source.
        name: what messages call encoded bytes (an upload's file name); default ``<bytes>``.

    Returns:
        A C-contiguous H×W×3 uint8 array in BGR order.

    Raises:
        ImageReadError: missing file, directory, empty file, corrupt or truncated data,
            unsupported format, or an image too small or too large. The message names the
            source.
    """
    value_range = check_value_range(value_range)
    if isinstance(src, np.ndarray):
        name = "<array>"
        if src.ndim not in (2, 3) or src.size == 0:
            raise ImageReadError(f"{name}: unsupported array shape {src.shape}")
        _check_size(name, src.shape[1], src.shape[0], max_pixels, min_side)  # before a copy
        return _to_bgr(name, src, value_range)
    if isinstance(src, (bytes, bytearray, memoryview)):
        name = printable(name) if name else "<bytes>"
        data = bytes(src)
        if not data:
            raise ImageReadError(f"{name}: empty image data")
        return _decode(name, data, max_pixels, min_side)
    if isinstance(src, os.PathLike) and not isinstance(src, Path):
        src = Path(os.fspath(src))  # pathlib's pure paths and other path objects
    if isinstance(src, (str, Path)):
        if isinstance(src, str) and not src:
            raise ImageReadError("'': an empty path names no image file")
        # a str is named as given: Path() would fold "http://host/x.png" into "http:/host/x.png"
        return _decode(str(src), _read_bytes(src), max_pixels, min_side)
    if isinstance(src, Image.Image):
        _check_size(PIL_NAME, src.width, src.height, max_pixels, min_side)
        return _pil_to_bgr(src)
    raise ImageReadError(
        f"{printable(repr(src)[:80])}: unsupported image source type {type(src).__name__}"
    )
