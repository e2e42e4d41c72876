"""The ``slimocr`` command: a thin layer over the library."""

from __future__ import annotations

import typer

from slimocr.cli.bench import bench_cmd
from slimocr.cli.convert import export_cmd, import_cmd
from slimocr.cli.evaluate import eval_app
from slimocr.cli.ocr import ocr_cmd
from slimocr.cli.prune import prune_cmd, sensitivity_cmd
from slimocr.cli.quant import quant_cmd, quant_weights_cmd
from slimocr.cli.train import train_cmd
from slimocr.cli.zoo import zoo_app

app = typer.Typer(
    name="slimocr",
    help="Small, fast OCR models and the toolkit that makes them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("ocr")(ocr_cmd)
app.command("import")(import_cmd)
app.command("export")(export_cmd)
app.command("train")(train_cmd)
app.command("bench")(bench_cmd)
app.command("quant")(quant_cmd)
app.command("quant-weights")(quant_weights_cmd)
app.command("sensitivity")(sensitivity_cmd)
app.command("prune")(prune_cmd)
app.add_typer(eval_app, name="eval")
app.add_typer(zoo_app, name="zoo")

try:  # optional: synthetic data needs only PIL/OpenCV, but keep the CLI usable without it
    from slimocr.cli.synth import synth_app

    app.add_typer(synth_app, name="synth")
except ImportError:  # pragma: no cover
    pass


if __name__ == "__main__":  # pragma: no cover
    app()
