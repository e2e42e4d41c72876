"""Ctrl-C in a long command: one ``error:`` line saying what the finished work left behind and
how to go on, exit code 130 (not a silent exit 130 that leaves the user guessing)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import NoReturn

import pytest
from typer.testing import CliRunner

from slimocr.cli.main import app

ROOT = Path(__file__).resolve().parents[2]


def _ctrl_c(*_args: object, **_kwargs: object) -> NoReturn:
    raise KeyboardInterrupt


def _last_line(result) -> str:  # noqa: ANN001
    return result.output.strip().splitlines()[-1]


def test_bench_names_the_cache_that_keeps_the_finished_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import slimocr.bench.table as table

    monkeypatch.setattr(table, "run_bench", _ctrl_c)
    for sub in ("ic15_det_test", "ic15_rec_test"):
        (tmp_path / "data" / sub).mkdir(parents=True)
    cache = tmp_path / "cache"
    result = CliRunner().invoke(
        app,
        ["bench", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out")]
        + ["--cache", str(cache), "--no-peers"],
    )
    assert result.exit_code == 130
    assert _last_line(result) == (
        f"error: interrupted; the finished model runs are kept in {cache}: the same command "
        "continues from them (the timing rounds start over)"
    )


def test_eval_suite_names_its_default_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import slimocr.eval.suite as suite

    monkeypatch.setattr(suite, "model_suite", _ctrl_c)
    monkeypatch.setenv("SLIMOCR_CACHE", str(tmp_path / "c"))
    result = CliRunner().invoke(app, ["eval", "suite", "ppocrv6t-det-w8"])
    assert result.exit_code == 130
    assert _last_line(result).startswith(
        f"error: interrupted; the finished model runs are kept in {tmp_path / 'c' / 'suite'}:"
    )


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs the train extra")
def test_sensitivity_says_the_table_keeps_every_finished_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import slimocr.toolkit.compress.prune.recipe as recipe

    monkeypatch.setattr(recipe, "run_sensitivity", _ctrl_c)
    result = CliRunner().invoke(
        app, ["sensitivity", "det", "--recipe", str(ROOT / "recipes" / "prune_det_v6t.yaml")]
    )
    assert result.exit_code == 130
    assert _last_line(result) == (
        "error: interrupted; the table keeps every finished point: the same command continues "
        "from it"
    )


def test_a_command_without_saved_work_just_says_interrupted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from slimocr.infer.pipeline import OCR

    monkeypatch.setattr(OCR, "from_pipeline", _ctrl_c)  # while the models load
    image = ROOT / "examples" / "sample.png"
    result = CliRunner().invoke(app, ["ocr", str(image), "--model", "slimocr-v6t-w8"])
    assert result.exit_code == 130
    assert _last_line(result) == "error: interrupted"
