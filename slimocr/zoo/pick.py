"""Propose the default models from a benchmark report; a person commits the change.

``slimocr bench --out DIR`` writes ``DIR/bench.json`` with its ``default_pick`` (the fastest zoo
pipeline within the accuracy bar). :func:`propose_defaults` turns that pick into the new text of
the records file and the diff against the current one; nothing is written unless asked
(``slimocr zoo pick REPORT --write``).

Both files are read only as regular files of at most :data:`MAX_JSON_BYTES` (a FIFO is refused,
not waited on), and the fields read are checked first: a malformed file is one
:class:`~slimocr.errors.ConfigError` naming it and the field.

>>> proposal = propose_defaults(read_report("bench.json"))  # doctest: +SKIP
>>> print(proposal.diff)  # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slimocr.errors import ConfigError
from slimocr.inputs import read_regular_file
from slimocr.zoo.records import RECORDS_JSON, load_records

MAX_JSON_BYTES = 64 * 2**20
"""A report or records file larger than this is refused before reading (64 MiB; a full bench
report is some 50 kB)."""
_MISSING = object()


@dataclass(frozen=True)
class Proposal:
    """What a report proposes for the records file.

    Attributes:
        pick: the report's ``default_pick`` (``pipeline``, ``det``, ``rec``), None when no
            row met the bar.
        row: the picked row of the report (its timings, sizes and bar results).
        current: the defaults now in the records file.
        text: the records file with the proposed defaults (equal to the current text when
            nothing changes).
        diff: unified diff from the current file to ``text`` (empty: nothing to change).
    """

    pick: dict[str, str] | None
    row: dict[str, Any] | None
    current: dict[str, str]
    text: str
    diff: str

    @property
    def changes(self) -> bool:
        return bool(self.diff)


def _json_kind(value: object) -> str:
    """What a JSON value is, for messages (``a list``, ``null``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    kinds = ((dict, "an object"), (list, "a list"), (str, "a string"), ((int, float), "a number"))
    return next((word for types, word in kinds if isinstance(value, types)), type(value).__name__)


def _expected(field: str, want: str, value: object) -> str:
    """``field: expected WANT, got KIND`` (``field: missing, expected WANT`` when absent)."""
    if value is _MISSING:
        return f"{field}: missing, expected {want}"
    return f"{field}: expected {want}, got {_json_kind(value)}"


def _read_json(path: Path, what: str) -> tuple[str, Any]:
    """The text of a JSON file (newlines as :meth:`Path.read_text` gives them) and its value.

    Raises:
        ConfigError: missing, not a regular file (a FIFO, a device, a folder), empty, larger than
            :data:`MAX_JSON_BYTES`, not UTF-8, or not JSON; the message names ``path``.
    """
    try:
        data = read_regular_file(path, what, MAX_JSON_BYTES, ConfigError)
    except ConfigError as exc:  # one wording for every reason the file cannot be read
        problem = str(exc.args[0]).removeprefix(f"{path}: ")
        raise ConfigError(f"{path}: cannot read the {what} ({problem})") from None
    try:
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: cannot read the {what} (not UTF-8 text: {exc.reason} at byte {exc.start})"
        ) from None
    try:
        return text, json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    except ValueError:  # Python's limit on the digits of an int
        raise ConfigError(
            f"{path}: not JSON that can be read (a number of too many digits)"
        ) from None
    except RecursionError:
        raise ConfigError(f"{path}: not JSON that can be read (nested too deeply)") from None


def _report_problem(report: dict[str, Any]) -> str:
    """What is wrong with the fields of a report that :func:`propose_defaults` and
    ``slimocr zoo pick`` read (empty: nothing), as ``field: what is wrong``."""
    settings = report.get("settings", _MISSING)
    if not isinstance(settings, dict):
        return _expected("settings", "an object", settings)
    machine = report.get("machine")
    if machine is not None and not isinstance(machine, dict):
        return _expected("machine", "an object or null", machine)
    rows = report["rows"]
    if not isinstance(rows, list):
        return _expected("rows", "a list", rows)
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            return _expected(f"rows[{i}]", "an object", row)
        name = row.get("name", _MISSING)
        if not isinstance(name, str):  # the pick's row is found by its name
            return _expected(f"rows[{i}].name", "a string", name)
    pick = report["default_pick"]
    if pick is None:
        return ""
    if not isinstance(pick, dict):
        return _expected("default_pick", "an object or null", pick)
    for key in ("pipeline", "det", "rec"):
        value = pick.get(key, _MISSING)
        if not isinstance(value, str):
            return _expected(f"default_pick.{key}", "a string", value)
    return ""


def read_report(path: str | Path) -> dict[str, Any]:
    """A ``bench.json`` report, checked to be a full run with a ``default_pick`` entry, and
    checked in the fields that a pick reads (``settings``, ``machine``, ``rows``, the pick).

    Raises:
        ConfigError: unreadable (also: a FIFO or device), not a bench report, a field of the
            wrong type, or a quick run on a subset (``--limit``).
    """
    path = Path(path)
    _, report = _read_json(path, "report")
    if not isinstance(report, dict) or "default_pick" not in report or "rows" not in report:
        raise ConfigError(f"{path}: not a bench report (no 'rows' and 'default_pick')")
    problem = _report_problem(report)
    if problem:
        raise ConfigError(f"{path}: {problem}")
    if report["settings"].get("limit") is not None:
        raise ConfigError(
            f"{path}: a quick run on {report['settings']['limit']} images does not pick the "
            "defaults; run `slimocr bench` without --limit"
        )
    return report


def _dump(data: dict[str, Any]) -> str:
    """The records file's formatting (as :func:`slimocr.zoo.records.save_records`)."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def propose_defaults(report: dict[str, Any], records_path: Path = RECORDS_JSON) -> Proposal:
    """The records file with the report's pick as defaults, and the diff to commit.

    Args:
        report: a bench report as :func:`read_report` returns it (its fields checked).
        records_path: the records file.

    Raises:
        ConfigError: the records file is unreadable or malformed, or the pick names a model
            that is not a zoo record of the right kind.
    """
    current_text, data = _read_json(records_path, "records")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{records_path}: not a records file (expected an object, got {_json_kind(data)})"
        )
    entries = data.get("records", _MISSING)
    if not isinstance(entries, list):  # load_records reads the entries themselves
        raise ConfigError(f"{records_path}: {_expected('records', 'a list', entries)}")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ConfigError(f"{records_path}: {_expected('defaults', 'an object', defaults)}")
    current = dict(defaults)
    pick = report.get("default_pick")
    if not pick:
        return Proposal(None, None, current, current_text, "")
    records = load_records(records_path)
    for kind in ("det", "rec"):
        name = pick.get(kind)
        if name not in records or records[name].kind != kind:
            raise ConfigError(f"default_pick.{kind}: {name!r} is not a {kind} model of the zoo")
    row = next((r for r in report["rows"] if r.get("name") == pick.get("pipeline")), None)
    data["defaults"] = {"det": pick["det"], "rec": pick["rec"], "pipeline": pick["pipeline"]}
    text = _dump(data) if data["defaults"] != current else current_text
    try:  # git's a/ b/ names when the file is under the working directory
        name = records_path.resolve().relative_to(Path.cwd().resolve()).as_posix()
        old_name, new_name = f"a/{name}", f"b/{name}"
    except ValueError:
        old_name = new_name = str(records_path)
    diff = "".join(
        difflib.unified_diff(
            current_text.splitlines(keepends=True),
            text.splitlines(keepends=True),
            fromfile=old_name,
            tofile=new_name,
        )
    )
    return Proposal(pick, row, current, text, diff)


def write_proposal(proposal: Proposal, records_path: Path = RECORDS_JSON) -> None:
    """Write the proposed records file (atomically)."""
    tmp = records_path.with_name(records_path.name + ".tmp")
    tmp.write_text(proposal.text, encoding="utf-8")
    tmp.replace(records_path)
