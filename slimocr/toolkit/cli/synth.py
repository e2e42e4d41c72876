"""``slimocr synth det|rec``: rendered text datasets in PaddleOCR's label format."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, cast

import typer

from slimocr.cli.common import CliErrors

synth_app = typer.Typer(help="Render synthetic text datasets.", no_args_is_help=True)


_FONT_HELP = (
    "draw with this font file only (repeat for several); default: every installed font "
    "that renders the language"
)


def _run(
    kind: Literal["det", "rec"],
    out: Path,
    n: int,
    seed: int,
    lang: str,
    charset: Path | None,
    fonts: list[Path] | None,
) -> None:
    from slimocr.toolkit.data.synth import Lang, synth_main

    with CliErrors():  # SynthConfig checks lang
        label = synth_main(
            kind, out, n, seed=seed, lang=cast(Lang, lang), charset=charset, fonts=fonts
        )
    typer.echo(label)


@synth_app.command("det")
def det_cmd(
    out: Path = typer.Option(..., "--out", help="output folder"),
    n: int = typer.Option(100, help="number of images"),
    seed: int = typer.Option(0),
    lang: str = typer.Option("en", help="en, zh or mix"),
    charset: Path | None = typer.Option(None, help="use only characters of this charset"),
    font: list[Path] | None = typer.Option(None, "--font", help=_FONT_HELP),
) -> None:
    """Images with several text lines and their exact polygons (label.txt)."""
    _run("det", out, n, seed, lang, charset, font)


@synth_app.command("rec")
def rec_cmd(
    out: Path = typer.Option(..., "--out", help="output folder"),
    n: int = typer.Option(1000, help="number of crops"),
    seed: int = typer.Option(0),
    lang: str = typer.Option("en", help="en, zh or mix"),
    charset: Path | None = typer.Option(None, help="use only characters of this charset"),
    font: list[Path] | None = typer.Option(None, "--font", help=_FONT_HELP),
) -> None:
    """Single-line crops and their transcriptions (label.txt)."""
    _run("rec", out, n, seed, lang, charset, font)
