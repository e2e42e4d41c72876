"""A JSON lines results file that survives a crash: each line is flushed and fsynced as it is
written, and a resumed run drops a partial last line and skips the sources already held.

>>> with ResultsFile("out.jsonl", resume=True) as out:  # doctest: +SKIP
...     todo = [s for s in sources if s not in out.done]
...     out.write({"source": "a.png", "lines": []})
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from slimocr.errors import ConfigError, OptionError
from slimocr.inputs import json_text


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def recover(path: Path) -> set[str]:
    """The sources a results file holds, after cutting off a partial last line (one a
    killed run may leave: the bytes after the last newline) in place.

    The file is cut only once every complete line has been read as a result line and the
    partial one is blank or the start of a JSON object: a file that SlimOCR did not write is
    refused untouched.

    Raises:
        ConfigError: a complete line is not a JSON object with a ``source``, or the partial
            last line is not the start of one (not a file that SlimOCR wrote).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    end = data.rfind(b"\n") + 1
    done: set[str] = set()
    for number, line in enumerate(data[:end].splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            done.add(record["source"])
        except (ValueError, KeyError, TypeError):
            raise ConfigError(
                f"{path}:{number}: not a SlimOCR result line; cannot resume into this file"
            ) from None
    tail = data[end:].lstrip()
    # what a killed writer leaves: the start of a JSON object (any writer's spacing) or blanks
    if tail and not tail.startswith(b"{"):
        number = data.count(b"\n") + 1
        raise ConfigError(
            f"{path}:{number}: not the start of a SlimOCR result line; cannot resume into this file"
        )
    if end < len(data):
        os.truncate(path, end)  # one system call: the cut is whole or not made
        _fsync_file(path)
    return done


class ResultsFile:
    """Append results to a JSON lines file, one object per line, each one durable once
    :meth:`write` returns.

    Args:
        path: the file.
        resume: continue an existing file (:func:`recover`); without it an existing non-empty
            file is refused rather than overwritten.

    Attributes:
        done: the sources the file held when opened.

    Raises:
        OptionError: the file exists, holds results, and ``resume`` is off.
        ConfigError: the file cannot be written, or (on resume) is not a results file.
    """

    def __init__(self, path: str | Path, resume: bool = False) -> None:
        from slimocr.files import out_file_problem
        from slimocr.inputs import path_kind

        self.path = Path(path)
        kind = path_kind(self.path)
        if kind == "dir":
            raise ConfigError(f"{self.path}: is a folder, not a results file")
        if kind == "other":  # a FIFO would block, a device cannot be resumed or synced
            raise ConfigError(f"{self.path}: is not a regular file (a device, FIFO or socket)")
        problem = out_file_problem(self.path)  # a file where a folder of the path should be
        if problem:
            raise ConfigError(problem)
        exists = kind == "file" and self.path.stat().st_size > 0
        if exists and not resume:
            raise OptionError(
                f"{self.path}: already holds results; pass --resume (resume=True) to continue "
                "it, or remove it"
            )
        self.done: set[str] = recover(self.path) if exists else set()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot write: {exc.strerror or exc}") from None

    def write(self, record: dict[str, Any]) -> None:
        """Append one record and make it durable (flush + fsync).

        Raises:
            ConfigError: the write failed (a full disk), naming the file.
        """
        try:
            self._fh.write(json_text(record) + "\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot write: {exc.strerror or exc}") from None

    def close(self) -> None:
        try:
            self._fh.close()
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot write: {exc.strerror or exc}") from None

    def __enter__(self) -> ResultsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
