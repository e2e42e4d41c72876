"""Network latency of detector (or recognizer) ONNX files, timed interleaved in one process.

Each argument is a zoo name, an official name, an ``.onnx`` path or ``git:REV:PATH`` (a file as
an earlier commit holds it, e.g. ``git:HEAD~1:slimocr/zoo/files/X.onnx``); ``label=...`` names a
row. Sessions open the model as the pipeline's do (thin maps widened to the CPU's blocked-kernel
width, :func:`slimocr.infer.session.layout_rewritten`); a ``plain:`` prefix opens the file as
it is (``a=plain:NAME b=NAME`` times the rewrite).
One fixed random input (``--shape``; the IC15 detector input by default), ONNX Runtime's CPU
provider, ``--threads`` threads with spinning off (as the pipeline runs), warm-up excluded,
``--rounds`` rounds of ``--runs`` calls each, rows interleaved call by call; medians, and each
row's speed-up against the first row from the same run. Also the ORT-optimized graph's op
counts of each file (which kernels ONNX Runtime really runs).

    python bench/net_latency.py rapidocr-ppocrv6s-det ppocrv6s-det-ptq-int8 new=v6_det.onnx \
        --out docs/results/v6_det_latency.json
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from slimocr.bench.script import (
    check_counts,
    check_out_file,
    check_threads_arg,
    fail,
    parse_shape,
    random_input,
)


def from_git(spec: str, folder: Path) -> Path:
    """``REV:PATH`` → that file as commit REV holds it, written under ``folder``."""
    try:
        data = subprocess.run(["git", "show", spec], check=True, capture_output=True).stdout
    except subprocess.CalledProcessError as exc:
        fail(f"git:{spec}: {exc.stderr.decode().strip()}")
    except OSError as exc:
        fail(f"git:{spec}: cannot run git ({exc})")
    out = folder / f"{len(list(folder.iterdir()))}_{Path(spec.split(':', 1)[-1]).name}"
    out.write_bytes(data)
    return out


def _as_run(path: Path, rewritten: bool, folder: Path) -> Path:
    """The model a row's session runs: the file, or its layout-rewritten form written to
    ``folder`` (so that the op counts are those of the graph that was timed)."""
    if not rewritten:
        return path
    from slimocr.infer.session import cpu_flags, layout_rewritten, nchwc_block

    data = layout_rewritten(path, nchwc_block(cpu_flags()))
    if data is None:
        return path
    out = folder / f"rewritten_{len(list(folder.iterdir()))}_{path.name}"
    out.write_bytes(data)
    return out


def parse_models(items: list[str]) -> dict[str, str]:
    """``[label=]name`` arguments → label → name; exits with code 2 on an empty name or a
    repeated label."""
    out: dict[str, str] = {}
    for item in items:
        label, _, name = item.rpartition("=")
        if not name:
            fail(f"{item!r}: no model name (give NAME, a path or LABEL=NAME)", 2)
        label = label or name
        if label in out:
            fail(f"{item!r}: label {label!r} given twice (name the rows with LABEL=NAME)", 2)
        out[label] = name
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", help="zoo/official names or .onnx paths, label=... ok")
    ap.add_argument("--kind", choices=("det", "rec"), default="det")
    ap.add_argument("--shape", default=None, help="input N,C,H,W (det 1,3,544,960; rec 6,3,48,320)")
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads (0: ORT's default)")
    ap.add_argument("--runs", type=int, default=30, help="timed calls per row and round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="JSON file for the results")
    args = ap.parse_args(argv)

    # every argument is checked before a model is loaded or a call timed
    check_counts((("--runs", args.runs, 1), ("--rounds", args.rounds, 1)))
    check_threads_arg(args.threads)
    shape_text = args.shape or ("1,3,544,960" if args.kind == "det" else "6,3,48,320")
    shape = parse_shape(shape_text)
    models = parse_models(args.models)
    check_out_file(args.out)

    from slimocr.bench.latency import emit_report, machine_info, session_runner, time_rows
    from slimocr.errors import SlimOCRError
    from slimocr.infer.session import OnnxSession
    from slimocr.toolkit.compress.quant.export import optimized_op_counts
    from slimocr.zoo.registry import resolve_model

    x = random_input(shape, shape_text)
    with tempfile.TemporaryDirectory(prefix="net_latency_") as tmp:
        files: dict[str, Path] = {}
        sources: dict[str, str] = {}
        sessions: dict[str, OnnxSession] = {}
        rewritten: dict[str, bool] = {}
        for label, spec in models.items():
            plain = spec.startswith("plain:")
            name = spec.removeprefix("plain:")
            try:
                if name.startswith("git:"):
                    files[label] = from_git(name[4:], Path(tmp))
                    sources[label] = name
                else:
                    files[label] = resolve_model(name, args.kind)
                    sources[label] = str(files[label])
                sessions[label] = OnnxSession(
                    files[label], threads=args.threads, rewrite_layout=not plain
                )
                rewritten[label] = sessions[label].layout_rewritten
            except SlimOCRError as exc:
                fail(str(exc))
            try:  # one untimed call: a wrong input rank or size fails here, not mid-timing
                sessions[label].run(x)
            except Exception as exc:  # ONNX Runtime raises several pybind11 exception types
                text = " ".join(str(exc).split())
                fail(f"{name}: cannot run at input {list(shape)}: {text[:300]}")
        timers = time_rows(
            {n: session_runner(s, x) for n, s in sessions.items()},
            args.runs,
            repeats=args.rounds,
            warmup=3,
        )
        first = next(iter(timers.values())).median()
        result = {
            "machine": machine_info(),
            "threads": args.threads,
            "input": list(shape),
            "calls_per_row": args.runs * args.rounds,
            "files": sources,
            "layout_rewritten": rewritten,
            "median_ms": {n: round(t.median(), 2) for n, t in timers.items()},
            "speedup_vs_first": {n: round(first / t.median(), 3) for n, t in timers.items()},
            "optimized_ops": {
                n: dict(optimized_op_counts(_as_run(p, rewritten[n], Path(tmp))))
                for n, p in files.items()
            },
        }
    try:
        emit_report(result, args.out)
    except OSError as exc:
        fail(f"--out {args.out}: cannot write ({exc})")


if __name__ == "__main__":
    main()
