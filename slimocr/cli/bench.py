"""``slimocr bench --data DIR``: the SlimOCR table on real data."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from slimocr.cli.common import CliErrors, fail


def bench_cmd(
    data: Path = typer.Option(
        ..., "--data", help="data root: ic15_det_test, ic15_rec_test, td500_train, funsd"
    ),
    out: Path = typer.Option(..., help="output folder (bench.json, bench.md, pareto.png)"),
    rows: str | None = typer.Option(None, help="comma-separated row names (default: all)"),
    peers: bool = typer.Option(True, help="include the peers (RapidOCR's PP-OCRv4 / v6)"),
    threads: int = typer.Option(2, help="ONNX Runtime intra-op threads"),
    timing_images: int = typer.Option(50, help="test images per timing round"),
    timing_crops: int = typer.Option(300, help="word crops per timing round"),
    repeats: int = typer.Option(3, help="timing rounds"),
    limit: int | None = typer.Option(None, help="accuracy on the first N samples only"),
    cache: Path | None = typer.Option(
        None, help="model runs cache (default ~/.cache/slimocr/suite)"
    ),
) -> None:
    """Accuracy on every domain, latency, size and compression of every zoo pipeline and the
    peers; writes only to --out (the zoo records change by commit: slimocr zoo pick)."""
    # options first, before any model is loaded (exit 2: a bad option)
    from slimocr.bench.table import option_problems

    for problem in option_problems(timing_images, timing_crops, repeats, limit)[:1]:
        fail(problem, 2)
    from slimocr.errors import OptionError
    from slimocr.files import file_in_the_way
    from slimocr.infer.session import THREADS_RANGE, check_threads

    try:
        check_threads(threads)
    except OptionError:
        fail(f"--threads {threads}: must be {THREADS_RANGE}", 2)
    blocker = file_in_the_way(out)
    if blocker == out:
        fail(f"--out {out}: is a file; --out takes the output folder", 2)
    if blocker is not None:
        fail(f"--out {out}: {blocker} is a file, not a folder", 2)
    from slimocr.bench.table import PEERS, run_bench, to_markdown, zoo_rows
    from slimocr.eval.suite import default_cache
    from slimocr.official import OFFICIAL_FILES, official_available
    from slimocr.zoo.registry import OFFICIAL_NAMES

    all_rows = zoo_rows()
    for peer in PEERS if peers else ():
        key = OFFICIAL_NAMES[peer.det][1]
        if all(official_available(OFFICIAL_NAMES[m][1]) for m in (peer.det, peer.rec)):
            all_rows.append(peer)
        else:
            typer.echo(
                f"warning: skipping peer {peer.name}: its files are not installed "
                f"({OFFICIAL_FILES[key].install_hint})",
                err=True,
            )
    if rows:
        wanted = [r.strip() for r in rows.split(",")]
        unknown = sorted(set(wanted) - {r.name for r in all_rows})
        if unknown:
            fail(f"unknown row(s) {unknown}; known: {[r.name for r in all_rows]}")
        all_rows = [r for r in all_rows if r.name in wanted]
    for sub in ("ic15_det_test", "ic15_rec_test"):
        if not (data / sub).is_dir():
            fail(f"{data / sub}: missing (expected the IC15 test sets under --data)")
    kept = cache if cache is not None else default_cache()
    with CliErrors(
        f"interrupted; the finished model runs are kept in {kept}: the same command continues "
        "from them (the timing rounds start over)"
    ):
        report = run_bench(
            data,
            all_rows,
            out,
            threads=threads,
            timing_images=timing_images,
            timing_crops=timing_crops,
            repeats=repeats,
            limit=limit,
            cache=cache,
        )
    typer.echo(to_markdown(report))
    typer.echo(json.dumps({"written": [str(out / "bench.json"), str(out / "bench.md")]}))
