"""The zoo's records describe the shipped files exactly, a tampered file is refused, a retired
record's name says how to rebuild it, and the package stays small."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import onnxruntime as ort
import pytest

from slimocr.errors import ConfigError, ModelFileError
from slimocr.official import sha256_file
from slimocr.toolkit.zoo.build import BUILTIN_RECIPES
from slimocr.zoo.records import (
    FILES_DIR,
    RECORDS_JSON,
    load_defaults,
    load_pipelines,
    load_records,
    verified_file,
)
from slimocr.zoo.registry import OFFICIAL_NAMES, PEER_PIPELINES, resolve_model, resolve_pipeline

RECORDS = load_records()
SHIPPED = {k: r for k, r in RECORDS.items() if not r.retired}
ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_record_matches_its_shipped_file(name: str):
    rec = RECORDS[name]
    path = FILES_DIR / rec.file
    assert path.is_file(), f"{name}: {path} is not shipped"
    assert path.stat().st_size == rec.size_bytes
    assert sha256_file(path) == rec.sha256
    meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    custom = meta.get_modelmeta().custom_metadata_map
    assert custom["kind"] == rec.kind
    if rec.parent:  # a zoo record, or an official/peer file named in the registry
        known = set(RECORDS) | set(OFFICIAL_NAMES)
        assert rec.parent in known, f"{name}: parent {rec.parent} is neither a record nor official"
        if rec.parent in OFFICIAL_NAMES:
            assert OFFICIAL_NAMES[rec.parent][0] == rec.kind
    if rec.recipe not in BUILTIN_RECIPES:
        assert (Path(__file__).parents[2] / rec.recipe).is_file()
        assert rec.build.get("hardware", {}).get("cpu"), "build metrics must name the hardware"


def test_every_shipped_file_has_a_record_and_pipelines_use_shipped_records():
    shipped = {p.name for p in FILES_DIR.glob("*.onnx")}
    assert shipped == {r.file for r in SHIPPED.values()}
    for pipe in load_pipelines():
        assert SHIPPED[pipe.det].kind == "det" and SHIPPED[pipe.rec].kind == "rec"
    defaults = load_defaults()
    assert SHIPPED[defaults["det"]].kind == "det" and SHIPPED[defaults["rec"]].kind == "rec"
    pipe = resolve_pipeline(defaults["pipeline"])
    assert (pipe.det, pipe.rec) == (defaults["det"], defaults["rec"])
    assert json.loads(RECORDS_JSON.read_text())["records"]  # the file parses as written


def test_the_pp_ocr_v3_v2_family_is_retired_with_reasons():
    family = {n for n in RECORDS if n.startswith(("ppocrv3-", "ppocrv2-"))}
    assert family and family <= {n for n, r in RECORDS.items() if r.retired}
    for name, rec in RECORDS.items():
        assert not rec.retired or not (FILES_DIR / rec.file).exists(), f"{name} is retired"
    assert {n for n in SHIPPED if n.startswith(("ppocrv6s-", "ppocrv6t-"))} == set(SHIPPED)


def test_a_retired_record_is_one_error_line_unless_its_file_is_built(monkeypatch):
    from slimocr.zoo import records

    with pytest.raises(ModelFileError) as err:
        resolve_model("ppocrv3-det-float", "det")
    assert str(err.value) == (
        "ppocrv3-det-float: retired from the zoo (float parent of retired rows; the same "
        "network is official-ppocrv3-det); rebuild it with `slimocr zoo build ppocrv3-det-float`"
    )
    # a retired record whose file is present with its sha256 (a rebuilt one) loads as before
    built = dataclasses.replace(RECORDS["ppocrv6t-det-ptq-int8"], retired="why")
    monkeypatch.setitem(records.RECORDS, built.name, built)
    assert resolve_model(built.name, "det") == FILES_DIR / built.file
    other = dataclasses.replace(built, sha256="0" * 64)  # a file that is not the recorded one
    monkeypatch.setitem(records.RECORDS, built.name, other)
    with pytest.raises(ModelFileError, match=r"ptq-int8: retired from the zoo \(why\); rebuild"):
        resolve_model(built.name, "det")


def _package_data() -> list[Path]:
    """The files under slimocr/ that pyproject's package-data globs ship."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["slimocr"]
    return sorted({p for g in globs for p in (ROOT / "slimocr").glob(g) if p.is_file()})


def test_package_data_stays_under_25_mb():
    files = _package_data()
    assert any(p.suffix == ".onnx" for p in files) and any(p.suffix == ".json" for p in files)
    total = sum(p.stat().st_size for p in files)
    assert total < 25e6, f"package data is {total / 1e6:.2f} MB"


def test_tampered_file_is_refused(tmp_path: Path):
    rec = RECORDS["ppocrv6t-det-ptq-int8"]
    copy = tmp_path / rec.file
    shutil.copyfile(FILES_DIR / rec.file, copy)
    with copy.open("r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    moved = dataclasses.replace(rec)
    object.__setattr__(moved, "file", str(copy))  # FILES_DIR / absolute path = the copy
    with pytest.raises(ModelFileError, match="sha256 mismatch"):
        verified_file(moved)


def test_pipelines_are_typed_and_a_bad_entry_names_the_file(tmp_path: Path):
    pipe = resolve_pipeline("slimocr-v6s-ptq")
    assert (pipe.det, pipe.rec) == ("ppocrv6s-det-ptq-int8", "ppocrv6s-rec-w8")
    assert pipe.reference == "rapidocr-ppocrv6-small"
    assert resolve_pipeline("rapidocr-ppocrv6-small") is PEER_PIPELINES[1]
    with pytest.raises(ModelFileError, match="no-such-row: unknown pipeline"):
        resolve_pipeline("no-such-row")
    bad = tmp_path / "records.json"
    bad.write_text(json.dumps({"pipelines": [{"name": "x", "det": "d", "recognizer": "r"}]}))
    with pytest.raises(ConfigError, match=r"records\.json: pipeline entry 0"):
        load_pipelines(bad)


def test_every_record_has_a_build_step_read_from_its_recipe():
    """The build table is derived from the records and the recipes' ``method``/``parent``."""
    from slimocr.toolkit.zoo.build import BUILDERS, zoo_recipes

    steps = zoo_recipes()
    assert set(steps) == set(RECORDS)
    for name, step in steps.items():
        assert step.method in BUILDERS, name
        assert step.overrides == tuple(RECORDS[name].build.get("overrides", ()))


def test_zoo_build_refuses_an_unknown_name():
    from typer.testing import CliRunner

    from slimocr.cli.main import app

    result = CliRunner().invoke(app, ["zoo", "build", "no-such-model"])
    assert result.exit_code != 0
    assert "no-such-model: no such zoo model" in result.output
