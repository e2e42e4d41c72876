"""An HTTP server for the OCR (the ``serve`` extra: FastAPI + uvicorn).

``POST /ocr`` takes one image, in any of three forms, and answers the JSON of
``slimocr ocr --json`` (:meth:`OCRResult.to_dict`):

* the raw file as the body (``Content-Type: image/png``, ``application/octet-stream``, …);
* a multipart form with the file in a field named ``file``;
* a JSON body ``{"image": "<base64 of the file>"}`` (no URLs are fetched).

``GET /healthz`` answers ``{"status": "ok", ...}`` once the models are loaded.

Bad requests get a 4xx with ``{"detail": "<one line>"}`` and the server goes on: 400 (no
image, bad base64 or JSON), 411 (a multipart body without its length), 413 (body over
``max_bytes``; image over ``max_pixels`` or ``max_side``), 415 (another content type),
422 (data that is not a readable image).

>>> app = create_app(ServerConfig(threads=2))  # doctest: +SKIP
>>> uvicorn.run(app, port=8000)                # doctest: +SKIP
"""

import base64
import binascii
import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from slimocr.errors import ImageReadError, SlimOCRError

CONFIG_ENV = "SLIMOCR_SERVE_CONFIG"


@dataclass(frozen=True)
class ServerConfig:
    """What the server runs and what it accepts.

    Attributes:
        pipeline: a pipeline name (:meth:`OCR.from_pipeline`), else ``ocr_options`` name
            the models (``det_model``, ``rec_model``; None: the defaults).
        ocr_options: other :class:`~slimocr.infer.pipeline.OCR` options (``threads``,
            ``orientation``, ``word_boxes``, ``providers``, …).
        max_bytes: largest request body.
        max_pixels: largest image (width × height), checked on the header before decoding.
        max_side: longest image side.
        concurrency: images read at once per server process (more queue).
    """

    pipeline: str | None = None
    ocr_options: dict[str, Any] = field(default_factory=dict)
    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_side: int = 16_384
    concurrency: int = 1

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> "ServerConfig":
        return cls(**json.loads(os.environ.get(CONFIG_ENV, "{}")))


class _Reject(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


async def _read_capped(request: Any, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _Reject(413, f"request body of {declared} bytes is over the limit of {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Reject(413, f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _json_image(body: bytes) -> bytes:
    """The image file's bytes from a JSON body ``{"image": "<base64>"}``; the base64 may be
    wrapped in lines and may come as a data URI (``data:image/png;base64,...``). A 20 MB body
    takes a fraction of a second, so the server runs this off the event loop."""
    from slimocr.inputs import MAX_JSON_DEPTH, json_depth

    try:
        text = body.decode("utf-8")
        if json_depth(text) > MAX_JSON_DEPTH:
            raise _Reject(400, f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
        payload = json.loads(text)
        text = payload["image"]
        if not isinstance(text, str):
            raise TypeError(type(text).__name__)
        if text.startswith("data:"):
            head, _, text = text.partition(",")
            if not head.endswith(";base64"):
                raise _Reject(400, f"a data URI must carry base64 ({head[:60]!r} does not)")
        return base64.b64decode("".join(text.split()), validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error, RecursionError):
        raise _Reject(400, 'a JSON body must be {"image": "<base64 of an image file>"}') from None


async def _image_bytes(request: Any, config: ServerConfig) -> tuple[bytes, str, bool]:
    """The image file's bytes, a name for it, and whether the bytes are still a JSON body
    (:func:`_json_image` reads it), from any of the three request forms."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        declared = request.headers.get("content-length")
        if declared is None:
            raise _Reject(411, "a multipart request needs a Content-Length")
        if int(declared) > config.max_bytes:
            raise _Reject(
                413, f"request body of {declared} bytes is over the limit of {config.max_bytes}"
            )
        # the form is closed on the way out: an upload over 1 MB is a temporary file
        async with request.form(max_files=1, max_fields=8, max_part_size=config.max_bytes) as form:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise _Reject(400, "the multipart form has no file field named 'file'")
            return await upload.read(), upload.filename or "<upload>", False
    body = await _read_capped(request, config.max_bytes)
    if ctype == "application/json":
        return body, "<base64>", True
    if ctype and not (ctype.startswith("image/") or ctype == "application/octet-stream"):
        raise _Reject(
            415, f"content type {ctype!r}: send image bytes, multipart 'file', or JSON base64"
        )
    return body, "<bytes>", False


def create_app(config: ServerConfig, ocr: Any = None) -> Any:
    """The FastAPI application; ``ocr`` an :class:`OCR` already built, else one is built
    from ``config``."""
    import anyio
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response
    from starlette.requests import ClientDisconnect

    from slimocr.infer.image import load_image
    from slimocr.runtime.pool import build_ocr

    if ocr is None:
        ocr = build_ocr(config.pipeline, dict(config.ocr_options))
    limiter = anyio.CapacityLimiter(config.concurrency)
    # decoding and a JSON body's parse run off the event loop too (a large PNG or base64
    # body takes a second), so /healthz and the other requests' uploads go on meanwhile; a
    # few at once bound the decoded images' memory
    decode_limiter = anyio.CapacityLimiter(max(2, config.concurrency))
    app = FastAPI(title="SlimOCR", version="1")

    def decode(data: bytes, name: str, is_json: bool) -> tuple[Any, float]:
        start = time.perf_counter()
        if is_json:
            data = _json_image(data)
        if not data:
            raise _Reject(400, "no image: the request holds no bytes")
        img = load_image(data, max_pixels=config.max_pixels, name=name)
        if max(img.shape[:2]) > config.max_side:
            h, w = img.shape[:2]
            raise _Reject(
                413, f"{name}: image of {w}x{h} is over the side limit of {config.max_side}"
            )
        return img, (time.perf_counter() - start) * 1000.0

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "det": str(ocr.detector.session.path.name),
            "rec": str(ocr.recognizer.session.path.name),
            "providers": ocr.detector.session.providers,
        }

    @app.post("/ocr")
    async def read_image(request: Request) -> Any:
        try:
            data, name, is_json = await _image_bytes(request, config)
            img, decode_ms = await anyio.to_thread.run_sync(
                decode, data, name, is_json, limiter=decode_limiter
            )
        except ClientDisconnect:  # the client went away mid-upload: no one to answer
            return Response(status_code=400)
        except _Reject as exc:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status)
        except ImageReadError as exc:
            status = 413 if "too large" in str(exc) else 422
            return JSONResponse({"detail": str(exc)}, status_code=status)
        try:
            result = await anyio.to_thread.run_sync(ocr, img, limiter=limiter)
        except SlimOCRError as exc:  # e.g. a model that fails on this image: named, one line
            return JSONResponse({"detail": str(exc)}, status_code=422)
        result.source = name
        result.elapsed_ms["load"] = decode_ms  # the decoding, here before the OCR call
        result.elapsed_ms["total"] = result.elapsed_ms.get("total", 0.0) + decode_ms
        return result.to_dict()

    return app


def app_from_env() -> Any:
    """The application of a server process started by uvicorn with several workers: its
    config comes from the ``SLIMOCR_SERVE_CONFIG`` environment variable."""
    from slimocr.infer.memory import keep_freed_memory

    keep_freed_memory()  # the server process is ours
    return create_app(ServerConfig.from_env())
