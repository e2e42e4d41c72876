"""``slimocr serve``: the OCR over HTTP (:mod:`slimocr.runtime.server`, the serve extra)."""

from __future__ import annotations

import os

import typer

from slimocr.cli.common import CliErrors, fail


def serve_cmd(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="port"),
    workers: int = typer.Option(1, help="server processes, each with its own models"),
    model: str | None = typer.Option(None, "--model", help="a pipeline name (see slimocr ocr)"),
    det_model: str | None = typer.Option(None, "--det-model", help="zoo name or .onnx path"),
    rec_model: str | None = typer.Option(None, "--rec-model", help="zoo name or .onnx path"),
    threads: int | None = typer.Option(None, help="ONNX Runtime threads (default cores/workers)"),
    provider: str = typer.Option("cpu", help="ONNX Runtime execution provider(s)"),
    cls: bool = typer.Option(
        False,
        "--cls",
        help="turn text lines found upside down; read a turned page in its own order",
    ),
    word_boxes: bool = typer.Option(False, "--word-boxes", help="add each line's words + boxes"),
    max_bytes: int = typer.Option(20 * 1024 * 1024, help="largest request body (bytes)"),
    max_pixels: int = typer.Option(40_000_000, help="largest image (width x height)"),
    max_side: int = typer.Option(16_384, help="longest image side (pixels)"),
) -> None:
    """Serve POST /ocr (image bytes, multipart 'file', or JSON base64) and GET /healthz."""
    try:
        import uvicorn

        from slimocr.runtime.server import CONFIG_ENV, ServerConfig, create_app
    except ImportError:
        fail("`slimocr serve` needs the serve extra: pip install 'slimocr[serve]'")
    from slimocr.infer.memory import keep_freed_memory
    from slimocr.runtime.pool import build_ocr, threads_per_worker

    if model is not None and (det_model or rec_model):
        fail("give --model, or --det-model / --rec-model, not both", code=2)
    from slimocr.infer.image import DEFAULT_MAX_PIXELS

    for name, value in (
        ("--max-bytes", max_bytes),
        ("--max-pixels", max_pixels),
        ("--max-side", max_side),
    ):
        if value < 1:
            fail(f"{name} must be >= 1, got {value}", code=2)
    if max_pixels > DEFAULT_MAX_PIXELS:  # the OCR call itself refuses larger images
        fail(f"--max-pixels must be at most {DEFAULT_MAX_PIXELS}, got {max_pixels}", code=2)
    if not 0 <= port <= 65535:
        fail(f"--port must be 0..65535, got {port}", code=2)
    if not 1 <= workers <= 1024:
        fail(f"--workers must be 1..1024, got {workers}", code=2)
    with CliErrors():
        options = {
            "threads": threads_per_worker(workers, threads),
            "providers": provider,
            "orientation": cls,
            "word_boxes": word_boxes,
            "reuse_memory": True,  # the server processes are the command's own
        }
        if model is None:
            options.update(det_model=det_model, rec_model=rec_model)
        config = ServerConfig(model, options, max_bytes, max_pixels, max_side)
        keep_freed_memory()
        ocr = build_ocr(model, options)  # a bad model or option fails here, in one line
    if workers == 1:
        uvicorn.run(create_app(config, ocr), host=host, port=port, log_level="warning")
        return
    del ocr
    os.environ[CONFIG_ENV] = config.to_env()
    uvicorn.run(
        "slimocr.runtime.server:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )
