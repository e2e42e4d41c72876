"""The HTTP server, running in its own process, read through a real HTTP client: the three
request forms give the ``--json`` result, bad requests get a 4xx and the server stays up."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest

httpx = pytest.importorskip("httpx", reason="needs the serve extra")
pytest.importorskip("fastapi", reason="needs the serve extra")
pytest.importorskip("uvicorn", reason="needs the serve extra")

from tests.serve_helpers import running_server  # noqa: E402

MAX_BYTES = 300_000
MAX_PIXELS = 2_000_000


def _png() -> bytes:
    img = np.full((240, 640, 3), 255, dtype=np.uint8)
    cv2.putText(img, "HELLO 2024", (30, 140), cv2.FONT_HERSHEY_SIMPLEX, 2.2, (0, 0, 0), 6)
    return cv2.imencode(".png", img)[1].tobytes()


@pytest.fixture(scope="module")
def server():
    limits = ("--max-bytes", str(MAX_BYTES), "--max-pixels", str(MAX_PIXELS))
    with running_server(*limits) as client:
        yield client


def _expected_lines() -> list:
    from slimocr.infer.pipeline import OCR

    return OCR(threads=1)(_png()).to_dict()["lines"]


def test_three_request_forms_give_the_json_of_the_cli(server) -> None:
    data = _png()
    expected = _expected_lines()
    assert [line["text"].replace(" ", "") for line in expected] == ["HELLO2024"]
    raw = server.post("/ocr", content=data, headers={"content-type": "image/png"})
    form = server.post("/ocr", files={"file": ("page.png", data, "image/png")})
    b64 = server.post("/ocr", json={"image": base64.b64encode(data).decode()})
    wrapped = base64.encodebytes(data).decode()  # 76-character lines
    uri = server.post("/ocr", json={"image": "data:image/png;base64," + wrapped})
    answers = ((raw, "<bytes>"), (form, "page.png"), (b64, "<base64>"), (uri, "<base64>"))
    for response, source in answers:
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["source"] == source
        assert body["lines"] == expected
        assert body["elapsed_ms"]["total"] > 0
    health = server.get("/healthz").json()
    assert health["status"] == "ok" and health["providers"] == ["CPUExecutionProvider"]


@pytest.mark.parametrize(
    ("kwargs", "status", "words"),
    [
        ({"content": b"", "headers": {"content-type": "image/png"}}, 400, "no image"),
        ({"content": b"garbage", "headers": {"content-type": "image/png"}}, 422, "image data"),
        ({"json": {"image": "@@not base64@@"}}, 400, "base64"),
        ({"json": {"picture": "x"}}, 400, "base64"),
        ({"json": {"image": "data:text/plain,hello"}}, 400, "data URI must carry base64"),
        ({"content": b"x", "headers": {"content-type": "text/plain"}}, 415, "content type"),
        ({"content": b"\0" * (MAX_BYTES + 1)}, 413, "over the limit"),
        ({"files": {"other": ("a.png", b"x", "image/png")}}, 400, "'file'"),
    ],
)
def test_bad_requests_get_a_4xx_and_the_server_stays_up(server, kwargs, status, words) -> None:
    response = server.post("/ocr", **kwargs)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    good = server.post("/ocr", content=_png(), headers={"content-type": "image/png"})
    assert good.status_code == 200


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(server) -> None:
    big = cv2.imencode(".png", np.full((1500, 1500, 3), 255, np.uint8))[1].tobytes()
    assert len(big) < MAX_BYTES  # small in bytes, large in pixels
    response = server.post("/ocr", content=big, headers={"content-type": "image/png"})
    assert response.status_code == 413 and "too large" in response.json()["detail"]
    assert server.get("/healthz").status_code == 200
