"""``slimocr zoo build NAME``: rebuild a zoo model from the official weights by its recipe."""

from __future__ import annotations

import typer

from slimocr.cli.common import CliErrors, fail, require_torch


def build_cmd(name: str = typer.Argument(..., help="zoo model name")) -> None:
    """Rebuild a zoo model from the official weights by its recipe."""
    require_torch("zoo build")
    from slimocr.toolkit.zoo.build import RECIPES, build

    if name not in RECIPES:
        fail(f"{name}: no recipe; known: {', '.join(sorted(RECIPES))}")
    with CliErrors():
        record = build(name)
    typer.echo(f"{record.name}: {record.file} sha256={record.sha256} {record.size_bytes} bytes")
