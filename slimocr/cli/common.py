"""Setup shared by the commands: one-line errors, torch availability, JSON output."""

from __future__ import annotations

import errno
import importlib.util
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NoReturn

import typer

from slimocr.errors import ConfigError, Interrupted, SlimOCRError
from slimocr.inputs import json_text, printable


def error(message: object) -> None:
    """Print ``error: message`` on stderr as one line (control characters escaped)."""
    typer.echo(f"error: {printable(message)}", err=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    error(message)
    raise typer.Exit(code)


def warn(message: str) -> None:
    typer.echo(f"warning: {printable(message)}", err=True)


def _warning_line(message: Warning | str, *_args: object, **_kwargs: object) -> None:
    """``warnings.showwarning`` for the command: one ``warning:`` line, no source echo."""
    try:
        warn(str(message))
    except OSError:
        pass


def _stderr_line(text: str) -> None:
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except (OSError, AttributeError, ValueError):
        pass


_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG, errno.EBADF, errno.EPIPE}


def guarded_run(run: Callable[[], object]) -> NoReturn:
    """Run the command line so that its output faults are errors, not tracebacks or silence.

    Warnings print as one ``warning:`` line. A closed standard output is refused before any
    work (output would be lost with exit 0). A write to standard output that fails (a full
    disk, an I/O error) gives one ``error:`` line and exit code 1, also when it surfaces only
    at the final flush. (A reader that went away, ``EPIPE``, exits 1 quietly, as click does.)
    """
    warnings.showwarning = _warning_line
    if sys.stdout is None:
        _stderr_line("error: standard output is closed; nothing could be written")
        sys.exit(1)
    code: str | int | None = 0
    try:
        run()
    except SystemExit as exc:
        code = exc.code
    except OSError as exc:  # click re-raises any failed write but EPIPE's
        if exc.filename:
            _stderr_line(f"error: {printable(exc.filename)}: {exc.strerror or exc}")
        elif exc.errno in _OUTPUT_ERRNOS:
            _stderr_line(f"error: standard output: cannot write ({exc.strerror or exc})")
        else:
            _stderr_line(f"error: {printable(exc.strerror or exc)}")
        code = 1
    try:
        sys.stdout.flush()
    except OSError as exc:
        _stderr_line(f"error: standard output: cannot write ({exc.strerror or exc})")
        code = 1
        try:  # the interpreter's own flush at exit would fail again, with a traceback
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
    except (ValueError, AttributeError):  # closed or replaced by click's EPIPE wrapper
        pass
    sys.exit(code)


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


def check_out_folder(option: str, path: Path) -> None:
    """Exit with a clear line (code 2) when ``path``, given as ``option``, cannot be an output
    folder: it, or a folder on its way, is a file (:func:`slimocr.files.file_in_the_way`)."""
    from slimocr.files import file_in_the_way

    blocker = file_in_the_way(path)
    if blocker is not None:
        fail(f"{option} {path}: {blocker} is a file, not a folder", code=2)


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON, whole or not at all (:func:`slimocr.files.atomic_write`); an
    unwritable path is a :class:`ConfigError` naming it."""
    from slimocr.files import atomic_write

    text = json_text(data, indent=2) + "\n"

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)

    try:
        atomic_write(path, write)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from None


class CliErrors:
    """Context manager turning :class:`SlimOCRError` into one line and exit code 1 (130 for
    :class:`~slimocr.errors.Interrupted`), and Ctrl-C into the line ``error: <interrupted>`` and
    exit code 130 (Typer alone exits 130 silently): ``interrupted`` says what the work
    finished so far left behind (a results file, a cache, a table) and how to continue."""

    def __init__(self, interrupted: str = "interrupted") -> None:
        self.interrupted = interrupted

    def __enter__(self) -> CliErrors:
        return self

    def __exit__(
        self, exc_type: type | None, exc: BaseException | None, tb: object
    ) -> Literal[False]:
        if isinstance(exc, SlimOCRError):
            error(exc)
            sys.exit(130 if isinstance(exc, Interrupted) else 1)
        if isinstance(exc, KeyboardInterrupt):
            error(self.interrupted)
            sys.exit(130)
        return False
