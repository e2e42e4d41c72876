"""``slimocr import`` and ``slimocr export``: official weights → torch → ONNX."""

from __future__ import annotations

from pathlib import Path

import typer

from slimocr.cli.common import CliErrors, check_out_file, fail, require_torch


def import_cmd(
    model: str = typer.Argument(..., help="registered model, e.g. dbnet_mv3_ppocrv3, crnn_ppocrv2"),
    out: Path | None = typer.Option(None, help="state dict path (default: the cache)"),
    force: bool = typer.Option(False, help="re-import even when cached"),
) -> None:
    """Import the official PP-OCR weights of MODEL into a torch state dict (cached)."""
    require_torch("import")
    from slimocr.toolkit.models import list_models, model_spec
    from slimocr.toolkit.pretrained.weights import import_official

    if model not in list_models():
        fail(f"unknown model {model!r}; known: {', '.join(list_models())}")
    if out is not None:
        check_out_file(out)  # an existing folder would pass for the cached import
    with CliErrors():
        typer.echo(import_official(model_spec(model), out=out, force=force))


def export_cmd(
    model: str = typer.Argument(..., help="registered model name"),
    out: Path = typer.Option(..., "--out", "-o", help="ONNX file to write"),
    weights: Path | None = typer.Option(
        None, help="state dict (.pt) to load; default: the imported official weights"
    ),
    parent: str = typer.Option("", help="lineage: the parent model recorded in metadata"),
    recipe: str = typer.Option("", help="lineage: the recipe recorded in metadata"),
    opset: int = typer.Option(17, min=13, help="ONNX opset (>= 13)"),
) -> None:
    """Export MODEL to ONNX with PP-OCR's I/O (input x, dynamic batch/height/width)."""
    require_torch("export")
    from slimocr.official import official_charset
    from slimocr.toolkit.export.onnx_export import build_metadata, export_onnx
    from slimocr.toolkit.models import create_model, list_models, model_spec
    from slimocr.toolkit.train.checkpoint import load_model_weights

    if model not in list_models():
        fail(f"unknown model {model!r}; known: {', '.join(list_models())}")
    check_out_file(out)
    spec = model_spec(model)
    with CliErrors():
        net = create_model(model, pretrained=weights is None)
        if weights is not None:
            load_model_weights(net, weights)
        charset = official_charset(spec.charset) if spec.charset else None
        meta = build_metadata(
            spec.kind,
            model,
            charset=charset,
            parent=parent or f"official:{spec.official}",
            recipe=recipe,
        )
        typer.echo(export_onnx(net, out, spec.kind, meta, opset=opset))
