"""``slimocr ocr ... --out results.jsonl --workers N``: many images, worker processes, a
progress bar, a resumable JSON lines file (:mod:`slimocr.runtime.pool`)."""

from __future__ import annotations

import sys
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import typer

from slimocr.cli.common import CliErrors, check_out_file, error, fail
from slimocr.infer.results import OCRResult
from slimocr.inputs import printable


def format_result(result: OCRResult, as_json: bool) -> str:
    """The ``slimocr ocr`` printout of one result: a JSON line, or a header and one
    ``score<TAB>box<TAB>text`` line per text line."""
    if as_json:
        return result.to_json()
    ms = result.elapsed_ms.get("total", 0.0)
    rows = [f"# {printable(result.source)}: {len(result.lines)} lines, {ms:.0f} ms"]
    for line in result.lines:
        box = " ".join(f"{x:.0f},{y:.0f}" for x, y in line.box)
        rows.append(f"{line.score:.3f}\t{box}\t{line.text}")
    return "\n".join(rows)


def run_batch(
    inputs: list[Path],
    out: Path | None,
    workers: int,
    resume: bool,
    recursive: bool,
    list_file: Path | None,
    as_json: bool,
    pipeline: str | None,
    options: dict[str, Any],
) -> None:
    """Read the inputs with ``workers`` processes; results go to ``out`` (JSON lines, with a
    progress bar) or, without ``out``, to stdout as they finish. Exit 1 when any input failed."""
    from slimocr.runtime.pool import check_run_options, ocr_many, ocr_to_jsonl
    from slimocr.runtime.sources import collect_sources

    if resume and out is None:
        fail("--resume needs --out (the results file to continue)", code=2)
    if out is not None:
        check_out_file(out)  # before any work: a file where a folder of the path should be
    options = dict(options)
    threads = options.pop("threads", None)
    with CliErrors():  # before the results file is created or any folder is listed
        check_run_options(workers, threads, pipeline, options)
    failures = 0

    def report(source: str, result: object) -> None:
        nonlocal failures
        if isinstance(result, OCRResult):
            if out is None:
                typer.echo(format_result(result, as_json))
        else:
            failures += 1
            error(result)

    # every finished image is already in the results file (one JSON line each)
    interrupted = "interrupted"
    if out is not None:
        interrupted = f"interrupted; the results so far are in {out}: add --resume to continue"
    try:
        with CliErrors(interrupted):
            if out is None:
                sources, problems = collect_sources(inputs, recursive, list_file)
                for message in problems:
                    failures += 1
                    error(message)
                for source, result in ocr_many(sources, workers, threads, pipeline, **options):
                    report(source, result)
            else:
                summary = ocr_to_jsonl(
                    inputs,
                    out,
                    workers=workers,
                    resume=resume,
                    recursive=recursive,
                    list_file=list_file,
                    progress=sys.stderr.isatty(),
                    on_result=report,
                    threads=threads,
                    pipeline=pipeline,
                    **options,
                )
                for source, message in summary.failed:
                    if not source:  # an input that gave no source (reported once here)
                        failures += 1
                        error(message)
                typer.echo(
                    f"{out}: {summary.done} written, {summary.skipped} already there, "
                    f"{len(summary.failed)} failed, {summary.images_per_s:.2f} images/s",
                    err=True,
                )
    except BrokenProcessPool:
        fail("a worker process died (out of memory or killed?); rerun with --resume")
    if failures:
        raise typer.Exit(1)
