"""``slimocr train det|rec --recipe FILE``: finetune or distill a model."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from slimocr.cli.common import CliErrors, fail, require_torch


def train_cmd(
    kind: str = typer.Argument(..., help="det or rec"),
    recipe: Path = typer.Option(..., help="YAML recipe (see recipes/)"),
    set_: list[str] = typer.Option([], "--set", help="override, e.g. --set steps=100"),
    resume: bool = typer.Option(True, help="continue from OUT_DIR/last.pt when present"),
) -> None:
    """Train by a recipe: labels and/or distillation from the float model; resumable.

    Multi-GPU: ``torchrun --nproc_per_node N -m slimocr.cli.main train det --recipe R``.
    """
    require_torch("train")
    from slimocr.toolkit.recipes import load_recipe
    from slimocr.toolkit.train.trainer import Trainer

    if kind not in ("det", "rec"):
        fail(f"kind must be det or rec, not {kind!r}", code=2)
    with CliErrors():
        loaded = load_recipe(recipe, set_, default_method="train", methods=("train",))
        cfg = loaded.config
        loaded.check_parent_built(cfg.init)
        if cfg.kind != kind:
            fail(f"{recipe}: is a {cfg.kind} recipe, not {kind}")
        result = Trainer(cfg).fit(resume=resume)
    typer.echo(json.dumps(result, indent=2, default=str))
