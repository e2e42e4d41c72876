"""The fuzz corpus through ``slimocr serve``: each bad input a 4xx with a one-line detail, the
server still serving after all of them."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzz.corpus import SAMPLE, SAMPLE_TEXTS, Corpus
from tests.serve_helpers import running_server

httpx = pytest.importorskip("httpx", reason="needs the serve extra")
pytest.importorskip("fastapi", reason="needs the serve extra")
pytest.importorskip("uvicorn", reason="needs the serve extra")

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server() -> Iterator[httpx.Client]:
    with running_server() as client:
        yield client


def _bad_bodies(corpus: Corpus) -> dict[str, dict]:
    """Request keyword arguments, one per bad input the server can be sent."""
    bodies: dict[str, dict] = {}
    for case in corpus.bad_images:
        try:
            data = case.path.read_bytes() if case.path.is_file() else None
        except OSError:
            data = None
        if data is None:  # not a regular file: nothing a client could upload
            continue
        bodies[f"raw {case.name}"] = {"content": data, "headers": {"content-type": "image/png"}}
        bodies[f"form {case.name}"] = {"files": {"file": (case.path.name, data, "image/png")}}
        if data:
            bodies[f"base64 {case.name}"] = {"json": {"image": base64.b64encode(data).decode()}}
    deep = "[" * 100_000 + "]" * 100_000
    bodies.update(
        {
            "json nested deep": {"content": deep, "headers": {"content-type": "application/json"}},
            "json image deep": {
                "content": '{"image": ' + deep + "}",
                "headers": {"content-type": "application/json"},
            },
            "json image a number": {"json": {"image": 12}},
            "json image a list": {"json": {"image": ["a"]}},
            "json huge int": {
                "content": "1" * 100_000,
                "headers": {"content-type": "application/json"},
            },
            "json not utf-8": {
                "content": b'{"image": "\xff\xfe"}',
                "headers": {"content-type": "application/json"},
            },
            "form name with newline": {"files": {"file": ("a\nb.png", b"garbage", "image/png")}},
            "form two files": {
                "files": [
                    ("file", ("a.png", b"x", "image/png")),
                    ("file", ("b.png", b"y", "image/png")),
                ]
            },
            "content type odd": {"content": b"x", "headers": {"content-type": "\x01/\x02"}},
        }
    )
    return bodies


def test_each_bad_input_is_a_4xx_and_the_server_keeps_serving(server, corpus: Corpus) -> None:  # noqa: ANN001
    failures = []
    for name, kwargs in _bad_bodies(corpus).items():
        try:
            response = server.post("/ocr", **kwargs)
        except httpx.TransportError as exc:  # the server dropped the connection
            failures.append((name, "no answer", str(exc)))
            continue
        ok = 400 <= response.status_code < 500
        detail = response.json().get("detail") if ok else None
        if not ok or not isinstance(detail, str) or "\n" in detail:
            failures.append((name, response.status_code, response.text[:200]))
    assert not failures, failures
    assert server.get("/healthz").status_code == 200
    good = server.post("/ocr", content=SAMPLE.read_bytes(), headers={"content-type": "image/png"})
    assert good.status_code == 200
    texts = [line["text"].replace(" ", "") for line in good.json()["lines"]]
    assert all(t in texts for t in SAMPLE_TEXTS), texts
