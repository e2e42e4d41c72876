"""The ``slimocr`` command: a thin layer over the library.

Runtime commands (``ocr``, ``eval``, ``bench``, ``zoo list|show``) are imported here; the toolkit
commands are added on demand from :data:`slimocr.cli.lazy.TOOLKIT_COMMANDS`, so a runtime command
never imports ``slimocr.toolkit`` or torch.
"""

from __future__ import annotations

import typer

from slimocr.cli.bench import bench_cmd
from slimocr.cli.common import guarded_run
from slimocr.cli.evaluate import eval_app
from slimocr.cli.lazy import LazyGroup
from slimocr.cli.ocr import ocr_cmd
from slimocr.cli.serve import serve_cmd
from slimocr.cli.zoo import zoo_app


class _MainGroup(LazyGroup):
    command_order = (
        "ocr",
        "import",
        "export",
        "train",
        "bench",
        "quant",
        "quant-weights",
        "sensitivity",
        "prune",
        "eval",
        "zoo",
        "synth",
        "serve",
    )


class _App(typer.Typer):
    """The command's Typer app, run with one-line warnings and output faults as errors
    (:func:`slimocr.cli.common.guarded_run`) when the process calls it."""

    def __call__(self, *args: object, **kwargs: object) -> None:
        guarded_run(lambda: super(_App, self).__call__(*args, **kwargs))


app = _App(
    cls=_MainGroup,
    name="slimocr",
    help="Small, fast OCR models and the toolkit that makes them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("ocr")(ocr_cmd)
app.command("bench")(bench_cmd)
app.command("serve")(serve_cmd)
app.add_typer(eval_app, name="eval")
app.add_typer(zoo_app, name="zoo")


if __name__ == "__main__":  # pragma: no cover
    app()
