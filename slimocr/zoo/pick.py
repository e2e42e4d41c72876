"""Propose the default models from a benchmark report; a person commits the change.

``slimocr bench --out DIR`` writes ``DIR/bench.json`` with its ``default_pick`` (the fastest zoo
pipeline within the accuracy bar). :func:`propose_defaults` turns that pick into the new text of
the records file and the diff against the current one; nothing is written unless asked
(``slimocr zoo pick REPORT --write``).

>>> proposal = propose_defaults(json.loads(Path("bench.json").read_text()))  # doctest: +SKIP
>>> print(proposal.diff)  # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slimocr.errors import ConfigError
from slimocr.zoo.records import RECORDS_JSON, load_records


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


def read_report(path: str | Path) -> dict[str, Any]:
    """A ``bench.json`` report, checked to be a full run with a ``default_pick`` entry.

    Raises:
        ConfigError: unreadable, not a bench report, or a quick run on a subset (``--limit``).
    """
    path = Path(path)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the report ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(report, dict) or "default_pick" not in report or "rows" not in report:
        raise ConfigError(f"{path}: not a bench report (no 'rows' and 'default_pick')")
    if (report.get("settings") or {}).get("limit") is not None:
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

    Raises:
        ConfigError: the pick names a model that is not a zoo record of the right kind.
    """
    current_text = records_path.read_text(encoding="utf-8")
    data = json.loads(current_text)
    current = dict(data.get("defaults", {}))
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
