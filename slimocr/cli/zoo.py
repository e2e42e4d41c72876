"""``slimocr zoo list|show|build``: the released models and how they were made."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer

from slimocr.cli.common import CliErrors, fail, require_torch

zoo_app = typer.Typer(help="Released models: list, show, rebuild.", no_args_is_help=True)


@zoo_app.command("list")
def list_cmd() -> None:
    """One line per zoo model: name, kind, size, parent, recipe; * marks the defaults."""
    from slimocr.zoo.records import load_defaults, load_records

    defaults = set(load_defaults().values())
    for rec in load_records().values():
        mark = "*" if rec.name in defaults else " "
        size = rec.size_bytes / 1e6
        typer.echo(
            f"{mark} {rec.name:28s} {rec.kind}  {size:6.2f} MB  parent={rec.parent}  "
            f"recipe={rec.recipe}"
        )


@zoo_app.command("show")
def show_cmd(name: str = typer.Argument(..., help="zoo model name")) -> None:
    """The full record of a zoo model (JSON), after checking its file's sha256."""
    from slimocr.zoo.records import load_records, verified_file

    records = load_records()
    if name not in records:
        fail(f"{name}: not in the zoo; known: {', '.join(records)}")
    with CliErrors():
        path = verified_file(records[name])
    data = asdict(records[name])
    data["path"] = str(path)
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@zoo_app.command("build")
def build_cmd(name: str = typer.Argument(..., help="zoo model name")) -> None:
    """Rebuild a zoo model from the official weights by its recipe."""
    require_torch("zoo build")
    from slimocr.zoo.build import RECIPES, build

    if name not in RECIPES:
        fail(f"{name}: no recipe; known: {', '.join(sorted(RECIPES))}")
    with CliErrors():
        record = build(name)
    typer.echo(f"{record.name}: {record.file} sha256={record.sha256} {record.size_bytes} bytes")
