"""``slimocr zoo list|show|build``: the released models and how they were made.

``zoo build`` is a toolkit command, added on demand (:mod:`slimocr.cli.lazy`).
"""

from __future__ import annotations

import json
from dataclasses import asdict

import typer

from slimocr.cli.common import CliErrors, fail
from slimocr.cli.lazy import LazyGroup


class _ZooGroup(LazyGroup):
    prefix = "zoo"
    command_order = ("list", "show", "build")


zoo_app = typer.Typer(
    cls=_ZooGroup, help="Released models: list, show, rebuild.", no_args_is_help=True
)


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
