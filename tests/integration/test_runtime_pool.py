"""Worker processes: the same results as one process, and a run killed with SIGKILL resumes
with nothing lost and nothing written twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from slimocr.errors import ImageReadError
from slimocr.runtime.pool import ocr_many, ocr_to_jsonl

ROOT = Path(__file__).resolve().parents[2]


def _pages(folder: Path, n: int, size: tuple[int, int] = (240, 520)) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        img = np.full((*size, 3), 255, dtype=np.uint8)
        cv2.putText(img, f"PAGE {i}", (30, 140), cv2.FONT_HERSHEY_SIMPLEX, 2.2, (0, 0, 0), 6)
        path = folder / f"p{i:03d}.png"
        cv2.imwrite(str(path), img)
        paths.append(str(path))
    return paths


def _lines(result) -> list:  # noqa: ANN001
    return [(line.text, line.box) for line in result.lines]


def test_two_workers_give_the_one_process_results(tmp_path: Path) -> None:
    paths = _pages(tmp_path / "in", 6)
    bad = tmp_path / "in" / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    sources = [*paths, str(bad)]
    one = dict(ocr_many(sources, workers=1, threads=1))
    two = dict(ocr_many(sources, workers=2, threads=1))
    assert set(two) == set(sources)
    for source in paths:
        assert _lines(two[source]) == _lines(one[source])
        assert two[source].source == source
    assert isinstance(two[str(bad)], ImageReadError) and str(bad) in str(two[str(bad)])


def test_jsonl_run_writes_each_result_once(tmp_path: Path) -> None:
    paths = _pages(tmp_path / "in", 4)
    out = tmp_path / "r.jsonl"
    summary = ocr_to_jsonl([tmp_path / "in"], out, workers=2, threads=1)
    assert (summary.total, summary.done, summary.skipped, summary.failed) == (4, 4, 0, [])
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted(r["source"] for r in records) == paths
    again = ocr_to_jsonl([tmp_path / "in"], out, workers=2, threads=1, resume=True)
    assert (again.done, again.skipped) == (0, 4)
    assert len(out.read_text().splitlines()) == 4


def _run_until(tmp_path: Path, lines: int) -> tuple:
    """Start ``slimocr ocr FOLDER --out r.jsonl --workers 2`` on 40 pages in its own process
    group and return once ``lines`` results are written: ``(proc, cmd, env, out, paths)``."""
    paths = _pages(tmp_path / "in", 40, size=(600, 800))
    out = tmp_path / "r.jsonl"
    cmd = [sys.executable, "-m", "slimocr.cli.main", "ocr", str(tmp_path / "in")]
    cmd += ["--out", str(out), "--workers", "2", "--threads", "1"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= lines:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be stopped"
    return proc, cmd, env, out, paths


def _resume_writes_the_rest_once(cmd: list, env: dict, out: Path, paths: list) -> None:
    written = out.read_bytes().count(b"\n")
    done = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"{len(paths) - written} written, {written} already there" in done.stderr
    sources = [json.loads(x)["source"] for x in out.read_text().splitlines()]
    assert sorted(sources) == paths  # every image once


@pytest.mark.slow
def test_a_killed_run_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    proc, cmd, env, out, paths = _run_until(tmp_path, 3)
    os.killpg(proc.pid, signal.SIGKILL)  # the command and its workers, mid-run
    proc.wait()
    written = out.read_bytes().count(b"\n")
    assert 3 <= written < len(paths)
    with open(out, "ab") as fh:  # as if the kill had cut a line in half
        fh.write(b'{"source": "' + paths[-1].encode() + b'", "lin')
    _resume_writes_the_rest_once(cmd, env, out, paths)


def test_ctrl_c_says_where_the_results_are_and_how_to_go_on(tmp_path: Path) -> None:
    proc, cmd, env, out, paths = _run_until(tmp_path, 2)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the command and its workers
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == (
        f"error: interrupted; the results so far are in {out}: add --resume to continue"
    )
    assert "Traceback" not in err
    _resume_writes_the_rest_once(cmd, env, out, paths)


def test_cli_reads_a_list_and_pdf_pages_and_names_a_bad_input(tmp_path: Path) -> None:
    pytest.importorskip("pypdfium2", reason="needs the pdf extra")
    from PIL import Image
    from typer.testing import CliRunner

    from slimocr.cli.main import app

    (page,) = _pages(tmp_path / "in", 1)
    pdf = tmp_path / "doc.pdf"
    Image.open(page).save(pdf, resolution=150)
    listing = tmp_path / "list.txt"
    listing.write_text(f"{page}\n{tmp_path / 'missing.png'}\n")
    result = CliRunner().invoke(app, ["ocr", str(pdf), "--list", str(listing), "--json"])
    assert result.exit_code == 1
    records = [json.loads(x) for x in result.stdout.splitlines()]
    assert sorted(r["source"] for r in records) == sorted([f"{pdf}#page=1", page])
    texts = {r["source"]: "".join(ln["text"] for ln in r["lines"]) for r in records}
    assert texts[page].startswith("PAGE")
    assert texts[f"{pdf}#page=1"] == texts[page]  # the rendered page reads as the image
    assert "missing.png: image file not found" in result.stderr
