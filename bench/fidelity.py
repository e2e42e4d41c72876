"""Every zoo model against its float parent on every domain (``slimocr eval suite`` in a loop).

Writes one JSON per model under ``--out`` and a summary ``fidelity.json`` (and its table,
``fidelity.md``) there; results are
cached (``--cache``), so an interrupted run resumes where it stopped.

    python bench/fidelity.py --out docs/results/fidelity            # every shipped zoo model
    python bench/fidelity.py --out docs/results/fidelity ppocrv3-det-ptq-int8
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from slimocr.bench.latency import machine_info
from slimocr.eval.domains import DOMAINS
from slimocr.eval.splits import data_root
from slimocr.eval.suite import default_cache, model_suite
from slimocr.files import atomic_write
from slimocr.zoo.records import RECORDS


def to_markdown(summary: dict, machine: dict) -> str:
    """The summary as a table: per model and domain the change from the parent in points
    (det hmean; rec exact accuracy) or the agreement where a domain has no labels."""
    cols = [(d.kind, d.name) for d in DOMAINS]
    lines = [
        f"Every zoo model against its float parent, report splits only ({machine.get('cpu')}). "
        "det: hmean change in points; rec: exact-accuracy change in points (alphanumeric in "
        "brackets when it is the one that misses); agr: agreement with the parent where the "
        "domain has no labels; ✗: misses the bar on that domain.",
        "",
        "| model | parent | " + " | ".join(f"{k} {n}" for k, n in cols) + " | bar |",
        "|---" * (len(cols) + 3) + "|",
    ]
    for name, row in sorted(summary.items()):
        cells = []
        for kind, dom in cols:
            d = row["domains"].get(dom) if row["kind"] == kind else None
            if d is None:
                cells.append("")
                continue
            miss = "" if d["meets_bar"] else " ✗"
            if "delta_hmean" in d:
                cells.append(f"{d['delta_hmean']:+.2f}{miss}")
            elif "delta_acc" in d:
                extra = ""
                if not d["meets_bar"] and d["delta_acc"] >= -1.0:
                    extra = f" ({d['delta_acc_alnum_ci']:+.2f})"
                cells.append(f"{d['delta_acc']:+.2f}{extra}{miss}")
            else:
                cells.append(f"agr {d.get('char_agreement', d['agreement']):.3f}{miss}")
        lines.append(
            f"| {name} | {row['parent']} | "
            + " | ".join(cells)
            + f" | {'✓' if row['meets_bar'] else '✗'} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "models",
        nargs="*",
        help="zoo model names (default: every shipped record; a retired one "
        "needs its file rebuilt by slimocr zoo build first)",
    )
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--default-settings",
        action="store_true",
        help="run every model and its parent at the OCR defaults (960 max, 0.3/0.6/1.5) "
        "instead of the settings of the peer they descend from",
    )
    args = ap.parse_args()
    names = args.models or sorted(n for n, r in RECORDS.items() if not r.retired)
    summary = {}
    summary_file = args.out / "fidelity.json"
    if summary_file.is_file():
        summary = json.loads(summary_file.read_text(encoding="utf-8")).get("models", {})
    for name in names:
        rec = RECORDS[name]
        t0 = time.time()
        fixed = {"det_options": {}, "parent_det_options": {}} if args.default_settings else {}
        report = model_suite(
            name, rec.kind, cache=args.cache or default_cache(), threads=args.threads, **fixed
        )
        report["settings"] = "OCR defaults" if args.default_settings else "the parent peer's"
        if report["parent"] == name:
            continue  # a float root: nothing to compare with
        report["data_root"] = str(data_root())
        text = json.dumps(report, indent=1, ensure_ascii=False) + "\n"
        atomic_write(args.out / f"{name}.json", lambda tmp, t=text: Path(tmp).write_text(t))
        summary[name] = {
            "kind": rec.kind,
            "parent": report["parent"],
            "meets_bar": report["meets_bar"],
            "domains": {
                r["domain"]: {
                    k: r[k]
                    for k in r
                    if k.startswith("delta")
                    or k in ("agreement", "char_agreement", "cer", "meets_bar")
                }
                for r in report["domains"]
            },
        }
        print(
            f"{name}: {'meets' if report['meets_bar'] else 'misses'} ({time.time() - t0:.0f} s)",
            flush=True,
        )
        out = {"machine": machine_info(), "models": summary}
        blob = json.dumps(out, indent=1) + "\n"
        atomic_write(summary_file, lambda tmp, b=blob: Path(tmp).write_text(b))
        md = to_markdown(summary, out["machine"])
        atomic_write(args.out / "fidelity.md", lambda tmp, t=md: Path(tmp).write_text(t))


if __name__ == "__main__":
    main()
