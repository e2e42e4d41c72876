"""``slimocr zoo build NAME``: rebuild a zoo model by its recipe, parents first."""

from __future__ import annotations

from pathlib import Path

import typer

from slimocr.cli.common import CliErrors, check_out_folder, require_torch


def build_cmd(
    name: str = typer.Argument(..., help="zoo model name"),
    work: Path | None = typer.Option(
        None, "--work", help="run folders (default $SLIMOCR_RUNS or runs/); parents go here"
    ),
    set_: list[str] = typer.Option(
        [],
        "--set",
        help="override of this row's recipe (calib.images=8), or of every recipe of a method "
        "in the build (prune:finetune.steps=10)",
    ),
) -> None:
    """Rebuild a zoo model from the official weights by its recipe (parents first)."""
    require_torch("zoo build")
    from slimocr.toolkit.zoo.build import build

    if work is not None:
        check_out_folder("--work", work)
    with CliErrors():
        record = build(name, work_dir=work, overrides=list(set_), log=typer.echo)
    typer.echo(f"{record.name}: {record.file} sha256={record.sha256} {record.size_bytes} bytes")
