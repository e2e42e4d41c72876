"""Setup shared by the commands: one-line errors, torch availability, JSON output."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer

from slimocr.errors import ConfigError, SlimOCRError


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


def require_torch(command: str) -> None:
    """Exit with a clear line when the training extra is missing."""
    if importlib.util.find_spec("torch") is None:  # looked up, not imported
        fail(f"`slimocr {command}` needs the training extra: pip install 'slimocr[train]'")


def check_out_file(path: Path) -> None:
    """Exit with a clear line (code 2) when ``path`` cannot be an output file
    (:func:`slimocr.files.out_file_problem`). Called before the work whose result it holds."""
    from slimocr.files import out_file_problem

    problem = out_file_problem(path)
    if problem:
        fail(problem, code=2)


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON; an unwritable path is a :class:`ConfigError` naming it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from None


class CliErrors:
    """Context manager turning :class:`SlimOCRError` into one line and exit code 1."""

    def __enter__(self) -> CliErrors:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> bool:
        if isinstance(exc, SlimOCRError):
            typer.echo(f"error: {exc}", err=True)
            sys.exit(1)
        return False
