"""The server application in process, with a stand-in OCR (no models): a client that goes away
mid-upload, decoding and JSON parsing off the event loop, upload files closed, upload names in
errors, and the options `slimocr serve` refuses before it starts."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest

httpx = pytest.importorskip("httpx", reason="needs the serve extra")
pytest.importorskip("fastapi", reason="needs the serve extra")

from slimocr.infer.results import OCRResult  # noqa: E402
from slimocr.runtime.server import ServerConfig, create_app  # noqa: E402


class _StandIn:
    """What the server reads of an OCR: its model names, providers, and a call."""

    def __init__(self) -> None:
        session = SimpleNamespace(path=SimpleNamespace(name="m.onnx"), providers=["cpu"])
        self.detector = self.recognizer = SimpleNamespace(session=session)

    def __call__(self, img: np.ndarray) -> OCRResult:
        return OCRResult(source="<array>", lines=[], elapsed_ms={"total": 1.0})


def _png() -> bytes:
    return cv2.imencode(".png", np.full((40, 60, 3), 255, np.uint8))[1].tobytes()


def test_a_client_gone_mid_upload_gets_no_traceback() -> None:
    app = create_app(ServerConfig(), _StandIn())
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/ocr",
        "raw_path": b"/ocr",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"image/png"), (b"content-length", b"100000")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    messages = [
        {"type": "http.request", "body": b"\x89PNG" + b"\0" * 5000, "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))  # raised ClientDisconnect before
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 400


def test_health_answers_while_an_upload_is_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    import slimocr.infer.image as image

    entered, release = threading.Event(), threading.Event()
    real = image.load_image

    def slow_load(*args: Any, **kwargs: Any) -> np.ndarray:
        entered.set()
        release.wait(timeout=20)
        return real(*args, **kwargs)

    monkeypatch.setattr(image, "load_image", slow_load)
    app = create_app(ServerConfig(), _StandIn())
    post = {"content": _png(), "headers": {"content-type": "image/png"}}
    assert asyncio.run(_health_while_posting(app, post, entered, release)) == (200, 200)


async def _health_while_posting(
    app: Any, post: dict[str, Any], entered: threading.Event, release: threading.Event
) -> tuple[int, int]:
    """Post, wait until the server's work has ``entered``, ask /healthz, then ``release``:
    the two status codes. Work on the event loop would stall /healthz until released."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        upload = asyncio.create_task(client.post("/ocr", **post))
        while not entered.is_set():
            await asyncio.sleep(0.01)
        try:
            health = await asyncio.wait_for(client.get("/healthz"), timeout=10)
        finally:
            release.set()
        return health.status_code, (await upload).status_code


def test_health_answers_while_a_json_body_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    import slimocr.inputs as inputs

    entered, release = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}
    real = inputs.json_depth

    def slow_depth(text: str) -> int:
        seen["thread"] = threading.get_ident()
        entered.set()
        seen["released"] = release.wait(timeout=5)  # False: /healthz never came meanwhile
        return real(text)

    monkeypatch.setattr(inputs, "json_depth", slow_depth)
    app = create_app(ServerConfig(), _StandIn())

    async def scenario() -> tuple[int, int]:
        seen["loop"] = threading.get_ident()
        post = {"json": {"image": base64.b64encode(_png()).decode()}}
        return await _health_while_posting(app, post, entered, release)

    assert asyncio.run(scenario()) == (200, 200)
    assert seen["thread"] != seen["loop"] and seen["released"]


def _open_deleted_files() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").endswith("(deleted)")
        except OSError:  # closed meanwhile
            pass
    return count


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads /proc/self/fd")
def test_a_refused_upload_leaves_no_temporary_file_open() -> None:
    app = create_app(ServerConfig(), _StandIn())

    async def post_unreadable_uploads() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            upload = {"file": ("big.png", b"x" * 1_500_000, "image/png")}  # spooled to disk
            return [(await client.post("/ocr", files=upload)).status_code for _ in range(3)]

    gc.disable()  # a file left to the garbage collector stays open until it runs
    try:
        before = _open_deleted_files()
        assert asyncio.run(post_unreadable_uploads()) == [422] * 3
        assert _open_deleted_files() == before
    finally:
        gc.enable()


def test_errors_name_the_uploaded_file() -> None:
    app = create_app(ServerConfig(), _StandIn())

    async def post() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post("/ocr", files={"file": ("scan.png", b"garbage", "image/png")})

    response = asyncio.run(post())
    assert response.status_code == 422
    assert response.json()["detail"].startswith("scan.png: ")


@pytest.mark.parametrize(
    ("option", "words"),
    [
        (["--port", "70000"], "--port must be 0..65535"),
        (["--port", "-1"], "--port must be 0..65535"),
        (["--max-side", "0"], "--max-side must be >= 1"),
        (["--workers", "0"], "--workers must be 1..1024"),
        (["--max-pixels", "60000000"], "--max-pixels must be at most 50000000"),
    ],
)
def test_serve_refuses_bad_limits_before_starting(option: list[str], words: str) -> None:
    from typer.testing import CliRunner

    from slimocr.cli.main import app

    result = CliRunner().invoke(app, ["serve", *option])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"error: {words}, got {option[1]}"]
