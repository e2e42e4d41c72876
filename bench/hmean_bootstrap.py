"""How much of a detector hmean difference is the test set's sampling noise: a paired bootstrap
over images of two ``slimocr eval det --out`` reports on the same images.

Each resample draws the test images with replacement and recomputes both models' hmean from
the drawn images' matched / detected / ground-truth counts (the ICDAR protocol's totals), so the
two models are compared on the same draw. Prints each model's hmean with its 95% interval and
the difference (B − A) with its standard error and 95% interval.

    python bench/hmean_bootstrap.py A.json B.json [--samples 2000] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from slimocr.bench.latency import emit_report


def _counts(report: Path) -> dict[str, np.ndarray]:
    data = json.loads(report.read_text(encoding="utf-8"))
    rows = data.get("per_image")
    if not rows:
        raise SystemExit(f"{report}: no per_image entries (write it with slimocr eval det --out)")
    return {
        "image": np.array([r["image"] for r in rows]),
        "gt": np.array([r["n_gt_care"] for r in rows], dtype=np.float64),
        "det": np.array([r["n_det_care"] for r in rows], dtype=np.float64),
        "match": np.array([r["n_matched"] for r in rows], dtype=np.float64),
    }


def _hmean(gt: np.ndarray, det: np.ndarray, match: np.ndarray) -> np.ndarray:
    """Hmean per resample (rows) from summed counts."""
    g, d, m = gt.sum(-1), det.sum(-1), match.sum(-1)
    p = np.divide(m, d, out=np.zeros_like(m), where=d > 0)
    r = np.divide(m, g, out=np.zeros_like(m), where=g > 0)
    return np.divide(2 * p * r, p + r, out=np.zeros_like(m), where=(p + r) > 0)


def bootstrap(a: dict, b: dict, samples: int, seed: int = 0) -> dict[str, object]:
    """Paired bootstrap of two per-image count tables over the same images."""
    if not np.array_equal(a["image"], b["image"]):
        raise SystemExit("the two reports do not cover the same images in the same order")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a["gt"]), size=(samples, len(a["gt"])))
    ha = _hmean(a["gt"][idx], a["det"][idx], a["match"][idx])
    hb = _hmean(b["gt"][idx], b["det"][idx], b["match"][idx])
    diff = hb - ha

    def ci(x: np.ndarray) -> list[float]:
        return [round(float(v), 4) for v in np.percentile(x, [2.5, 97.5])]

    full_a = float(_hmean(a["gt"], a["det"], a["match"]))
    full_b = float(_hmean(b["gt"], b["det"], b["match"]))
    return {
        "images": len(a["gt"]),
        "samples": samples,
        "hmean_a": round(full_a, 4),
        "hmean_a_ci95": ci(ha),
        "hmean_b": round(full_b, 4),
        "hmean_b_ci95": ci(hb),
        "diff_b_minus_a": round(full_b - full_a, 4),
        "diff_se": round(float(diff.std(ddof=1)), 4),
        "diff_ci95": ci(diff),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", type=Path, help="reference report (slimocr eval det --out)")
    ap.add_argument("b", type=Path, help="compared report, same images")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=None, help="JSON file for the result")
    args = ap.parse_args()
    result = {
        "a": str(args.a),
        "b": str(args.b),
        **bootstrap(_counts(args.a), _counts(args.b), args.samples),
    }
    emit_report(result, args.out)


if __name__ == "__main__":
    main()
