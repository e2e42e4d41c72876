"""Files written whole or not at all."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slimocr.errors import ConfigError
from slimocr.inputs import path_kind


def file_in_the_way(folder: str | Path) -> Path | None:
    """The existing file that keeps ``folder`` from being a folder (or being created as one):
    the first existing path among ``folder`` and its parents, when that is not a folder."""
    for path in (Path(folder), *Path(folder).parents):
        kind = path_kind(path)
        if kind != "missing":
            return None if kind == "dir" else path
    return None


def out_file_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be written as an output file (it is a folder, or a folder on its
    way is an existing file), or None. For commands that check ``--out`` before their work."""
    path = Path(path)
    kind = path_kind(path)
    if kind == "dir":
        return f"{path}: is a folder, not a file name"
    if kind == "other":
        return f"{path}: is not a regular file (a device, FIFO or socket)"
    blocker = file_in_the_way(path.parent)
    return None if blocker is None else f"{path}: {blocker} is a file, not a folder"


def atomic_write(path: str | Path, write: Callable[[str], Any]) -> Path:
    """Write ``path`` so that a reader (or a kill) never sees half a file.

    ``write(tmp)`` fills a temporary file in ``path``'s folder (created if needed), which is
    then made world-readable (results are meant to be shared) and renamed over ``path``; on
    any error the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    kind = path_kind(path)
    if kind == "dir":
        raise ConfigError(f"{path}: is a folder, not a file name")
    if kind == "other":  # renaming over a device (/dev/null) would replace it
        raise ConfigError(f"{path}: is not a regular file (a device, FIFO or socket)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def publish_folder(folder: str | Path, marker: str, fill: Callable[[Path], Any]) -> Path:
    """Build ``folder`` once, never visible half-written.

    When ``folder/marker`` is missing, ``fill(tmp)`` writes the whole folder, ``marker`` last,
    into a temporary folder beside it, which is then renamed into place; when another process
    published the same folder first, its copy wins and the temporary one is removed. On an
    error the temporary folder is removed and nothing is published.
    """
    folder = Path(folder)
    if (folder / marker).is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        fill(tmp)
        tmp.rename(folder)
    except OSError:
        if not (folder / marker).is_file():
            raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder
