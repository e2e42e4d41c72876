"""``slimocr zoo list|show|pick|build``: the released models, how they were made, the defaults.

``zoo build`` is a toolkit command, added on demand (:mod:`slimocr.cli.lazy`).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer

from slimocr.cli.common import CliErrors, fail
from slimocr.cli.lazy import LazyGroup


class _ZooGroup(LazyGroup):
    prefix = "zoo"
    command_order = ("list", "show", "pick", "build")


zoo_app = typer.Typer(
    cls=_ZooGroup, help="Released models: list, show, pick defaults, rebuild.", no_args_is_help=True
)


@zoo_app.command("list")
def list_cmd(
    all_rows: bool = typer.Option(
        False, "--all", help="also list the retired rows (no file shipped) with their reasons"
    ),
) -> None:
    """One line per shipped zoo model: name, kind, size, parent, recipe; * marks the defaults;
    a model with an int8 fallback names it, and the last line says which file loads here."""
    from slimocr.infer.cpu import ENV_VAR, int8_dot, int8_setting
    from slimocr.zoo.records import load_defaults, load_records

    defaults = set(load_defaults().values())
    with CliErrors():
        records = load_records()
        here, setting = int8_dot(), int8_setting()
    for rec in records.values():
        if rec.retired:
            continue
        mark = "*" if rec.name in defaults else " "
        size = rec.size_bytes / 1e6
        fallback = f"  int8_fallback={rec.int8_fallback}" if rec.int8_fallback else ""
        typer.echo(
            f"{mark} {rec.name:28s} {rec.kind}  {size:6.2f} MB  parent={rec.parent}  "
            f"recipe={rec.recipe}{fallback}"
        )
    if any(rec.int8_fallback for rec in records.values()):
        typer.echo(
            "int8_fallback: loaded instead on CPUs without an int8 dot product (x86 VNNI, Arm "
            f"dotprod); here ({ENV_VAR}={setting}): "
            + ("the int8 files load" if here else "the fallbacks load")
        )
    retired = [rec for rec in records.values() if rec.retired]
    if not retired:
        return
    if not all_rows:
        typer.echo(
            f"({len(retired)} retired rows not shipped: `slimocr zoo list --all` lists them)"
        )
        return
    typer.echo(f"retired ({len(retired)}; `slimocr zoo build NAME` remakes the file):")
    for rec in retired:
        typer.echo(f"- {rec.name:28s} {rec.kind}  {rec.retired}")


@zoo_app.command("show")
def show_cmd(name: str = typer.Argument(..., help="zoo model name")) -> None:
    """The full record of a zoo model (JSON), after checking its file's sha256 (a retired
    record's path is null until ``slimocr zoo build NAME`` remakes its file)."""
    from slimocr.zoo.records import has_built_file, load_records, verified_file

    records = load_records()
    if name not in records:
        fail(f"{name}: not in the zoo; known: {', '.join(records)}")
    record = records[name]
    path = None
    if not record.retired or has_built_file(record):
        with CliErrors():
            path = str(verified_file(record))
    data = asdict(record)
    data["path"] = path
    if record.int8_fallback:
        from slimocr.zoo.registry import effective_record

        with CliErrors():
            data["loads_here"] = effective_record(name)
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@zoo_app.command("pick")
def pick_cmd(
    report: Path = typer.Argument(..., help="bench.json written by `slimocr bench --out DIR`"),
    write: bool = typer.Option(
        False, "--write", help="apply the change to the records file (default: only show it)"
    ),
    records: Path | None = typer.Option(
        None, "--records", help="records file (default: the package's slimocr/zoo/records.json)"
    ),
) -> None:
    """Propose the default models from a benchmark report: its pick and the records diff.

    Nothing changes without --write; the records file is reviewed data, changed by commit.
    """
    from slimocr.zoo.pick import propose_defaults, read_report, write_proposal
    from slimocr.zoo.records import RECORDS_JSON

    path = records or RECORDS_JSON
    with CliErrors():
        report_data = read_report(report)
        proposal = propose_defaults(report_data, path)
    current = proposal.current
    typer.echo(
        f"current defaults: pipeline={current.get('pipeline')} det={current.get('det')} "
        f"rec={current.get('rec')}"
    )
    if proposal.pick is None:
        typer.echo(f"{report}: no zoo pipeline meets the bar; the defaults stay")
        return
    pick, row = proposal.pick, proposal.row or {}
    numbers = ", ".join(
        f"{label} {row[key]:.1f}"
        for key, label in (("e2e_ms", "end to end ms"), ("size_mb", "MB"))
        if isinstance(row.get(key), (int, float))
    )
    typer.echo(
        f"proposed default: {pick['pipeline']} (det={pick['det']} rec={pick['rec']})"
        + (f"; {numbers}" if numbers else "")
    )
    cpu = (report_data.get("machine") or {}).get("cpu")
    if cpu:
        typer.echo(f"measured on: {cpu}, {report_data['settings'].get('threads')} threads")
    if not proposal.changes:
        typer.echo("the records file already has these defaults; nothing to change")
        return
    typer.echo(proposal.diff, nl=False)
    if write:
        with CliErrors():
            write_proposal(proposal, path)
        typer.echo(f"wrote {path}; review and commit it")
    else:
        typer.echo("(not written; --write applies it)")
