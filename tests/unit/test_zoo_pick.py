"""``slimocr zoo pick REPORT``: the bench report's pick and the records diff; written only with
--write, and then only the defaults change."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slimocr.cli.main import app
from slimocr.zoo.records import RECORDS_JSON, load_defaults, load_pipelines, load_records

NEW = {
    "pipeline": "slimocr-v6t-ptq",
    "det": "ppocrv6t-det-ptq-int8",
    "rec": "ppocrv6t-rec-w8",
}


def _report(tmp_path: Path, pick: dict[str, str] | None = NEW, limit: int | None = None) -> Path:
    row = {"name": NEW["pipeline"], "group": "zoo", "det": NEW["det"], "rec": NEW["rec"]}
    row.update(e2e_ms=123.45, size_mb=6.5, meets_accuracy_bar=True)
    report = {
        "machine": {"cpu": "test CPU"},
        "settings": {"threads": 2, "limit": limit},
        "rows": [row],
        "default_pick": pick,
    }
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(report), encoding="utf-8")
    return path


@pytest.fixture
def records(tmp_path: Path) -> Path:
    path = tmp_path / "records.json"
    shutil.copyfile(RECORDS_JSON, path)
    assert load_defaults(path) != NEW
    return path


def _pick(*args: str):  # noqa: ANN202
    return CliRunner().invoke(app, ["zoo", "pick", *args])


def test_pick_shows_the_diff_and_changes_nothing_without_write(tmp_path: Path, records: Path):
    before = records.read_bytes()
    old = load_defaults(records)
    result = _pick(str(_report(tmp_path)), "--records", str(records))
    assert result.exit_code == 0, result.output
    assert (
        f"current defaults: pipeline={old['pipeline']} det={old['det']} rec={old['rec']}"
        in result.output
    )
    assert "proposed default: slimocr-v6t-ptq (det=ppocrv6t-det-ptq-int8" in result.output
    assert "end to end ms 123.5, MB 6.5" in result.output and "test CPU" in result.output
    changed = [ln for ln in result.output.splitlines() if ln[:1] in "+-" and ln[:3] not in "+++---"]
    assert changed == [
        f'-    "det": "{old["det"]}",',
        f'-    "rec": "{old["rec"]}",',
        f'-    "pipeline": "{old["pipeline"]}"',
        f'+    "det": "{NEW["det"]}",',
        f'+    "rec": "{NEW["rec"]}",',
        f'+    "pipeline": "{NEW["pipeline"]}"',
    ]
    assert "not written" in result.output
    assert records.read_bytes() == before


def test_write_changes_only_the_defaults(tmp_path: Path, records: Path):
    result = _pick(str(_report(tmp_path)), "--records", str(records), "--write")
    assert result.exit_code == 0, result.output
    assert load_defaults(records) == NEW  # the pipeline too
    assert load_records(records) == load_records(RECORDS_JSON)
    assert load_pipelines(records) == load_pipelines(RECORDS_JSON)
    again = _pick(str(_report(tmp_path)), "--records", str(records))
    assert "already has these defaults; nothing to change" in again.output


def test_no_pick_keeps_the_defaults(tmp_path: Path, records: Path):
    before = records.read_bytes()
    result = _pick(str(_report(tmp_path, pick=None)), "--records", str(records), "--write")
    assert result.exit_code == 0 and "no zoo pipeline meets the bar" in result.output
    assert records.read_bytes() == before


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: _report(p, limit=10), "a quick run on 10 images does not pick the defaults"),
        (lambda p: _report(p, pick={**NEW, "det": "nope"}), "default_pick.det: 'nope' is not"),
        (lambda p: _report(p, pick={**NEW, "rec": NEW["det"]}), "default_pick.rec: 'ppocrv6t-det"),
    ],
)
def test_bad_reports_are_one_error_line(tmp_path: Path, records: Path, make, message: str):  # noqa: ANN001
    before = records.read_bytes()
    result = _pick(str(make(tmp_path)), "--records", str(records), "--write")
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output
    assert records.read_bytes() == before


def test_unreadable_or_foreign_json_is_refused(tmp_path: Path, records: Path):
    junk = tmp_path / "junk.json"
    junk.write_text("{not json", encoding="utf-8")
    assert "not JSON" in _pick(str(junk), "--records", str(records)).output
    junk.write_text("[1, 2]", encoding="utf-8")
    assert "not a bench report" in _pick(str(junk), "--records", str(records)).output
    assert "cannot read the report" in _pick(str(tmp_path / "none.json")).output
