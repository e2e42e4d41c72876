"""``slimocr sensitivity det|rec`` and ``slimocr prune det|rec``: thin layers over
:mod:`slimocr.toolkit.compress.prune.recipe`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from slimocr.cli.common import CliErrors, check_out_file, check_out_folder, fail, require_torch


def _parse_shard(shard: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in shard.split("/"))
    except ValueError:
        fail(f"--shard must look like i/n (e.g. 0/2), not {shard!r}", code=2)
    if not 0 <= i < n:
        fail(f"--shard {shard}: need 0 <= i < n", code=2)
    return i, n


def _load(kind: str, recipe: Path, overrides: list[str]):  # noqa: ANN202
    from slimocr.toolkit.compress.prune.config import load_recipe
    from slimocr.toolkit.compress.prune.recipe import check_out_dir

    if kind not in ("det", "rec"):
        fail(f"kind must be det or rec, not {kind!r}", code=2)
    cfg = load_recipe(recipe, overrides)
    if cfg.kind != kind:
        fail(f"{recipe}: is a {cfg.kind} recipe, not {kind}")
    check_out_dir(cfg, str(recipe))
    return cfg


def sensitivity_cmd(
    kind: str = typer.Argument(..., help="det or rec"),
    recipe: Path = typer.Option(..., help="YAML prune recipe (recipes/prune_*.yaml)"),
    out: Path | None = typer.Option(
        None, "--out", help="table JSON (default OUT_DIR/sensitivity.json); PNG heat map beside"
    ),
    shard: str = typer.Option(
        "0/1", help="i/n: measure every n-th group from the i-th (n processes share the work)"
    ),
    set_: list[str] = typer.Option([], "--set", help="override, e.g. --set sensitivity.images=20"),
) -> None:
    """Per channel group and ratio: metric lost by FPGM-pruning that group alone (resumable).

    Scored on a held-out slice of the recipe's TRAIN data. With --shard i/n each process writes
    OUT.shard{i}of{n}.json; the last one to finish merges them into OUT.
    """
    require_torch("sensitivity")
    from slimocr.toolkit.compress.prune.recipe import run_sensitivity

    shard_of = _parse_shard(shard)
    if out is not None:
        check_out_file(out)
    with CliErrors(
        "interrupted; the table keeps every finished point: the same command continues from it"
    ):
        cfg = _load(kind, recipe, set_)
        table = run_sensitivity(cfg, out, shard_of, log=typer.echo)
    summary = {k: table[k] for k in ("arch", "metric", "base", "base_macs", "shard")}
    summary["groups_measured"] = len(table["groups"])
    typer.echo(json.dumps(summary, indent=2))


def prune_cmd(
    kind: str = typer.Argument(..., help="det or rec"),
    recipe: Path = typer.Option(..., help="YAML prune recipe (recipes/prune_*.yaml)"),
    out: Path | None = typer.Option(None, "--out", help="run folder (default: the recipe's)"),
    set_: list[str] = typer.Option([], "--set", help="override, e.g. --set finetune.steps=100"),
) -> None:
    """Sensitivity → ratios → structural pruning → finetuning (distillation) → ONNX (+ eval).

    Resumable: run the same command again after an interruption.
    """
    require_torch("prune")
    from slimocr.toolkit.compress.prune.recipe import run_prune

    if out is not None:
        check_out_folder("--out", out)
    overrides = list(set_) + ([f"out_dir={out}"] if out is not None else [])
    with CliErrors():
        cfg = _load(kind, recipe, overrides)
        result = run_prune(cfg, recipe_name=recipe.name, log=typer.echo)
    typer.echo(json.dumps(result, indent=2, default=str))
