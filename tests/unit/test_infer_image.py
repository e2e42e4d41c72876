"""load_image: good inputs of every kind, and every bad input refused with its path named."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from slimocr.errors import ImageReadError, SlimOCRError
from slimocr.infer.image import load_image


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims width×height RGB pixels (its pixel data is empty)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b""))
        + _png_chunk(b"IEND", b"")
    )


def _jpeg_bytes(h: int = 40, w: int = 60) -> bytes:
    rng = np.random.default_rng(0)
    ok, buf = cv2.imencode(".jpg", rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    assert ok
    return buf.tobytes()


def _expect_error(path: Path | str, *words: str, **kwargs) -> str:
    with pytest.raises(ImageReadError) as info:
        load_image(path, **kwargs)
    msg = str(info.value)
    assert str(path) in msg
    assert "\n" not in msg
    for word in words:
        assert word in msg.lower()
    return msg


# ----------------------------------------------------------------------------- bad inputs


def test_missing_file(tmp_path: Path) -> None:
    _expect_error(tmp_path / "nope.png", "not found")


def test_directory(tmp_path: Path) -> None:
    _expect_error(tmp_path, "directory")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    _expect_error(path, "empty")


def test_corrupt_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.jpg"
    data = bytearray(_jpeg_bytes())
    data[20:] = bytes(len(data) - 20)  # keep the SOI/APP0 header, zero everything after
    path.write_bytes(bytes(data))
    _expect_error(path)


def test_truncated_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "truncated.jpg"
    data = _jpeg_bytes(200, 300)
    path.write_bytes(data[: len(data) // 2])
    _expect_error(path)


def test_truncated_png(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "truncated.png"
    ok, buf = cv2.imencode(".png", np.random.default_rng(1).integers(0, 255, (50, 50, 3), np.uint8))
    path.write_bytes(buf.tobytes()[:200])
    capfd.readouterr()
    level = cv2.utils.logging.getLogLevel()
    _expect_error(path)
    assert "WARN" not in capfd.readouterr().err  # our error line only, not OpenCV's log too
    assert cv2.utils.logging.getLogLevel() == level  # restored


def test_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n", encoding="utf-8")
    _expect_error(path, "unsupported")


def test_one_pixel_png(tmp_path: Path) -> None:
    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (255, 0, 0)).save(path)
    _expect_error(path, "too small", "1x1")


def test_huge_header_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(png_header_only(20000, 20000))
    assert path.stat().st_size < 100
    _expect_error(path, "too large")


def test_over_max_pixels_header(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(png_header_only(10000, 6000))  # 60 M pixels > 50 M default
    msg = _expect_error(path, "too large")
    assert "10000x6000" in msg


def test_max_pixels_parameter(tmp_path: Path) -> None:
    path = tmp_path / "img.png"
    Image.new("RGB", (100, 100)).save(path)
    _expect_error(path, "too large", max_pixels=5000)
    assert load_image(path, max_pixels=10_000).shape == (100, 100, 3)


def test_errors_are_slimocr_errors(tmp_path: Path) -> None:
    with pytest.raises(SlimOCRError):
        load_image(tmp_path / "missing.jpg")


def test_bad_bytes_and_arrays() -> None:
    with pytest.raises(ImageReadError, match="<bytes>"):
        load_image(b"definitely not an image")
    with pytest.raises(ImageReadError, match="<bytes>"):
        load_image(b"")
    with pytest.raises(ImageReadError, match="<array>"):
        load_image(np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(ImageReadError, match="<array>"):
        load_image(np.zeros((4, 4, 5), np.uint8))


# ----------------------------------------------------------------------------- good inputs


def test_color_jpeg_matches_imread(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(_jpeg_bytes())
    img = load_image(path)
    assert img.dtype == np.uint8 and img.shape == (40, 60, 3)
    assert np.array_equal(img, cv2.imread(str(path)))
    assert np.array_equal(load_image(str(path)), img)
    assert np.array_equal(load_image(path.read_bytes()), img)


def test_16bit_png_is_scaled(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    arr = np.zeros((10, 12), dtype=np.uint16)
    arr[:, :4] = 65535
    arr[:, 4:8] = 32896  # 32896 / 257 = 128
    assert cv2.imwrite(str(path), arr)
    img = load_image(path)
    assert img.dtype == np.uint8 and img.shape == (10, 12, 3)
    assert (img[:, :4] == 255).all()
    assert (img[:, 4:8] == 128).all()
    assert (img[:, 8:] == 0).all()


def test_16bit_color_png(tmp_path: Path) -> None:
    path = tmp_path / "deep_color.png"
    arr = np.zeros((6, 6, 3), dtype=np.uint16)
    arr[..., 2] = 65535  # red in BGR order
    assert cv2.imwrite(str(path), arr)
    img = load_image(path)
    assert img.dtype == np.uint8
    assert (img[..., 2] == 255).all() and (img[..., :2] == 0).all()


def test_rgba_png_is_composited_on_white(tmp_path: Path) -> None:
    path = tmp_path / "rgba.png"
    rgba = np.zeros((4, 3, 4), dtype=np.uint8)
    rgba[0] = (255, 0, 0, 255)  # opaque red
    rgba[1] = (0, 0, 0, 0)  # transparent black -> white
    rgba[2] = (0, 0, 0, 128)  # half-transparent black -> mid gray
    rgba[3] = (0, 0, 255, 255)  # opaque blue
    Image.fromarray(rgba, "RGBA").save(path)
    img = load_image(path)
    assert img.shape == (4, 3, 3)
    assert (img[0] == (0, 0, 255)).all()  # BGR
    assert (img[1] == 255).all()
    assert (np.abs(img[2].astype(int) - 127) <= 1).all()
    assert (img[3] == (255, 0, 0)).all()


def test_grayscale_png(tmp_path: Path) -> None:
    path = tmp_path / "gray.png"
    gray = np.arange(20 * 30, dtype=np.uint32).reshape(20, 30).astype(np.uint8)
    Image.fromarray(gray, "L").save(path)
    img = load_image(path)
    assert img.shape == (20, 30, 3)
    for c in range(3):
        assert np.array_equal(img[:, :, c], gray)


def test_palette_and_bilevel_png(tmp_path: Path) -> None:
    pal = tmp_path / "pal.png"
    Image.new("RGB", (8, 6), (10, 20, 30)).convert("P").save(pal)
    img = load_image(pal)
    assert img.shape == (6, 8, 3)
    bilevel = tmp_path / "bw.png"
    Image.new("1", (8, 6), 1).save(bilevel)
    img = load_image(bilevel)
    assert img.shape == (6, 8, 3) and (img == 255).all()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied_like_imread(tmp_path: Path, orientation: int) -> None:
    path = tmp_path / "rotated.jpg"
    rgb = np.zeros((16, 24, 3), dtype=np.uint8)
    rgb[:8, :8] = (255, 0, 0)
    rgb[8:, 16:] = (0, 0, 255)
    pil = Image.fromarray(rgb)
    exif = pil.getexif()
    exif[0x0112] = orientation  # e.g. 6: rotate 90° clockwise when shown
    pil.save(path, exif=exif, quality=95)
    img = load_image(path)
    assert img.shape == ((16, 24, 3) if orientation <= 4 else (24, 16, 3))
    assert np.array_equal(img, cv2.imread(str(path)))


def test_array_inputs() -> None:
    bgr = np.random.default_rng(2).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    assert np.array_equal(load_image(bgr), bgr)
    gray = bgr[:, :, 0]
    assert load_image(gray).shape == (5, 7, 3)
    bgra = np.dstack([bgr, np.full((5, 7), 255, np.uint8)])
    assert np.array_equal(load_image(bgra), bgr)
    deep = bgr.astype(np.uint16) * 257
    assert np.array_equal(load_image(deep), bgr)
    assert np.array_equal(load_image(deep.astype(">u2")), bgr)  # big-endian
    pil16 = Image.frombytes("I;16B", (7, 5), deep[:, :, 0].astype(">u2").tobytes())
    assert np.array_equal(load_image(np.asarray(pil16)), load_image(gray))


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_float_tiff_files_are_read_as_0_to_1(tmp_path: Path, channels: int) -> None:
    # PIL identifies no 3- or 4-channel float TIFF; the size is read from the TIFF directory
    rng = np.random.default_rng(channels)
    bgr = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    src = {1: bgr[:, :, 0], 3: bgr, 4: cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)}[channels]
    path = tmp_path / f"f{channels}.tiff"
    cv2.imwrite(str(path), src.astype(np.float32) / 255.0)
    img = load_image(path)
    expected = bgr if channels > 1 else cv2.cvtColor(bgr[:, :, 0], cv2.COLOR_GRAY2BGR)
    assert img.shape == (20, 30, 3) and np.abs(img.astype(int) - expected).max() <= 1
    with pytest.raises(ImageReadError, match=r"too large \(30x20 = 600 pixels; limit is 599\)"):
        load_image(path, max_pixels=599)  # checked before decoding


def test_names_of_sources_in_messages() -> None:
    with pytest.raises(ImageReadError, match=r"^http://host/x\.png: image file not found"):
        load_image("http://host/x.png")
    with pytest.raises(ImageReadError, match="an empty path"):
        load_image("")
    with pytest.raises(ImageReadError, match=r"^scan\.png: unsupported or corrupt"):
        load_image(b"garbage", name="scan.png")
    from slimocr.errors import OptionError

    with pytest.raises(OptionError, match="value_range must be"):
        load_image("any.png", value_range=(5, 6))


def test_decoding_from_threads_restores_the_opencv_log_level() -> None:
    from concurrent.futures import ThreadPoolExecutor

    data = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    level = cv2.utils.logging.getLogLevel()

    def decode_many(_: int) -> None:
        for _ in range(100):
            load_image(data)

    with ThreadPoolExecutor(8) as pool:
        for _ in range(5):
            list(pool.map(decode_many, range(8)))
            assert cv2.utils.logging.getLogLevel() == level  # not another thread's level


@pytest.mark.parametrize("orientation", [1, 6])
def test_pillow_images_read_like_their_files(tmp_path: Path, orientation: int) -> None:
    rng = np.random.default_rng(5)
    pil = Image.fromarray(rng.integers(0, 255, (30, 50, 3), dtype=np.uint8), "RGB")
    exif = pil.getexif()
    exif[0x0112] = orientation
    path = tmp_path / "photo.jpg"
    pil.save(path, exif=exif, quality=95)
    with Image.open(path) as opened:
        from_pil = load_image(opened)
    from_file = load_image(path)
    assert from_pil.shape == from_file.shape == ((50, 30, 3) if orientation == 6 else (30, 50, 3))
    # two JPEG decoders: the same picture up to rounding
    assert np.abs(from_pil.astype(int) - from_file.astype(int)).mean() < 2.0


def test_pillow_modes() -> None:
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., 0] = 200  # red, half of it transparent
    rgba[:, :4, 3] = 255
    out = load_image(Image.fromarray(rgba, "RGBA"))
    assert out[0, 0].tolist() == [0, 0, 200] and out[0, 7].tolist() == [255, 255, 255]
    gray16 = Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16))
    assert gray16.mode.startswith("I;16")
    assert load_image(gray16).min() == 255
    assert load_image(Image.new("L", (8, 8), 7))[0, 0].tolist() == [7, 7, 7]
    assert load_image(Image.new("1", (8, 8), 1))[0, 0].tolist() == [255, 255, 255]
    for mode in ("I", "F"):
        with pytest.raises(ImageReadError, match=r"<PIL image>: 32-bit mode"):
            load_image(Image.new(mode, (8, 8)))
    with pytest.raises(ImageReadError, match=r"<PIL image>"):
        load_image(Image.new("RGB", (1, 8)))
    with pytest.raises(ImageReadError, match=r"<PIL image>.*over the limit|<PIL image>.*pixels"):
        load_image(Image.new("RGB", (100, 100)), max_pixels=50)


def test_path_objects(tmp_path: Path) -> None:
    from pathlib import PurePath

    path = tmp_path / "a.jpg"
    path.write_bytes(_jpeg_bytes())

    class Named:
        def __fspath__(self) -> str:
            return str(path)

    expected = load_image(path)
    np.testing.assert_array_equal(load_image(PurePath(str(path))), expected)
    np.testing.assert_array_equal(load_image(Named()), expected)  # type: ignore[arg-type]
    with pytest.raises(ImageReadError, match="missing.png"):
        load_image(PurePath(tmp_path / "missing.png"))
