"""``slimocr zoo pick``: a malformed report or records file is one ``error:`` line naming the file
and a non-zero exit, never a traceback; a FIFO is refused, not waited on."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from slimocr.cli.main import app
from slimocr.zoo.records import RECORDS_JSON

ROOT = Path(__file__).resolve().parents[2]
BENCH = json.loads((ROOT / "docs" / "bench" / "bench.json").read_text(encoding="utf-8"))


def _without(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda report: report.pop(key)


def _set(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    return lambda report: report.__setitem__(key, value)


def _set_pick(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    return lambda report: report["default_pick"].__setitem__(key, value)


def _without_pick(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda report: report["default_pick"].pop(key)


# Each case changes one field of the committed report; the error names the field.
BAD_REPORTS = [
    pytest.param(_set("settings", [1]), "settings", id="settings-list"),
    pytest.param(_without("settings"), "settings", id="settings-missing"),
    pytest.param(_set("default_pick", "x"), "default_pick", id="pick-str"),
    pytest.param(_without_pick("pipeline"), "default_pick.pipeline", id="pick-no-pipeline"),
    pytest.param(_set_pick("det", ["a", "b"]), "default_pick.det", id="pick-det-list"),
    pytest.param(_set("rows", [1, 2]), "rows", id="rows-ints"),
    pytest.param(_set("rows", {"name": "x"}), "rows", id="rows-object"),
    pytest.param(_set("machine", [1]), "machine", id="machine-list"),
]


@pytest.fixture
def records(tmp_path: Path) -> Path:
    path = tmp_path / "records.json"
    shutil.copyfile(RECORDS_JSON, path)
    return path


def _write_report(path: Path, change: Callable[[dict[str, Any]], None] | None = None) -> Path:
    report = copy.deepcopy(BENCH)
    if change is not None:
        change(report)
    path.write_text(json.dumps(report), encoding="utf-8")
    return path


def _assert_one_error_line(result: Any, path: Path, field: str) -> None:  # noqa: ANN401
    assert result.exit_code != 0, result.output
    # an exception that escaped the command would be a traceback outside the test runner
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and result.stderr.strip() == errors[0], result.stderr
    assert errors[0].startswith(f"error: {path}: ") and field in errors[0], errors[0]


@pytest.mark.parametrize(("change", "field"), BAD_REPORTS)
def test_a_malformed_report_is_one_error_line(
    tmp_path: Path,
    records: Path,
    change: Callable[[dict[str, Any]], None],
    field: str,
) -> None:
    before = records.read_bytes()
    report = _write_report(tmp_path / "bench.json", change)
    result = CliRunner().invoke(
        app, ["zoo", "pick", str(report), "--records", str(records), "--write"]
    )
    _assert_one_error_line(result, report, field)
    assert records.read_bytes() == before


@pytest.mark.parametrize(
    ("text", "field"),
    [
        pytest.param("{not json", "not JSON", id="not-json"),
        pytest.param("[1, 2]", "records", id="not-an-object"),
        pytest.param('{"defaults": {}, "records": 3}', "records", id="records-int"),
        pytest.param('{"defaults": [1], "records": []}', "defaults", id="defaults-list"),
        pytest.param("\udcff", "UTF-8", id="not-utf8"),
    ],
)
def test_a_malformed_records_file_is_one_error_line(tmp_path: Path, text: str, field: str) -> None:
    records = tmp_path / "records.json"
    records.write_bytes(text.encode("utf-8", "surrogateescape"))
    report = _write_report(tmp_path / "bench.json")
    result = CliRunner().invoke(app, ["zoo", "pick", str(report), "--records", str(records)])
    _assert_one_error_line(result, records, field)


def test_the_committed_report_still_picks(records: Path) -> None:
    result = CliRunner().invoke(
        app, ["zoo", "pick", str(ROOT / "docs" / "bench" / "bench.json"), "--records", str(records)]
    )
    assert result.exit_code == 0, result.output
    assert "proposed default: " in result.output and not result.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
@pytest.mark.parametrize("which", ["report", "records"])
def test_a_fifo_is_refused_not_waited_on(tmp_path: Path, records: Path, which: str) -> None:
    fifo = tmp_path / "f.json"
    os.mkfifo(fifo)
    report = _write_report(tmp_path / "bench.json")
    args = [str(fifo)] if which == "report" else [str(report), "--records", str(fifo)]
    try:  # in a child process, so that a regression that opens the FIFO cannot hang the suite
        out = subprocess.run(
            [sys.executable, "-m", "slimocr.cli.main", "zoo", "pick", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`slimocr zoo pick` waited on the FIFO given as the {which}")
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert (
        out.stderr.strip()
        == f"error: {fifo}: cannot read the {which} (is a FIFO (named pipe), not a {which} file)"
    )
