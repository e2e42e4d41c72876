"""The bench's per-domain bar, its floor and the default pick, on hand-made runs."""

from __future__ import annotations

import numpy as np
import pytest

from slimocr.bench.table import (
    ACCURACY_FLOOR,
    default_pick,
    relate_to_references,
    to_markdown,
)

BASELINE = "float"  # the float row the compressed rows of these tests name as reference
BOX = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float).tolist()


def _runs(det: dict[str, float], rec: dict[str, float], texts: list[str] | None = None) -> dict:
    texts = texts or ["a"] * 100
    return {
        "det": {d: {"metrics": {"hmean": h}, "boxes": [[BOX]]} for d, h in det.items()},
        "rec": {
            **{
                d: {"metrics": {"acc": a, "acc_alnum_ci": a}, "texts": texts}
                for d, a in rec.items()
            },
            "td500": {"metrics": {"n": len(texts)}, "texts": texts},
        },
    }


def _row(name: str, ms: float, mb: float, group: str = "zoo", **kw: str) -> dict:
    return {"name": name, "group": group, "det": "d", "rec": "r", "e2e_ms": ms, "size_mb": mb, **kw}


DET = {"ic15": 0.42, "td500": 0.80, "funsd": 0.66}
REC = {"ic15": 0.52, "funsd": 0.45, "render_en": 0.80, "render_zh": 0.70}
V6 = {"ic15": 0.44, "td500": 0.82, "funsd": 0.70}
V6R = {"ic15": 0.75, "funsd": 0.60, "render_en": 0.90, "render_zh": 0.85}


def test_a_row_that_holds_ic15_but_drops_elsewhere_misses_the_bar():
    runs = {
        BASELINE: _runs(DET, REC),
        "ic15-only": _runs({**DET, "td500": 0.79}, REC),  # -1.0 on td500
        "everywhere": _runs({k: v - 0.004 for k, v in DET.items()}, REC),  # -0.4 each
        "agree-low": _runs(DET, REC, ["a"] * 96 + ["b"] * 4),  # 0.96 agreement on td500 crops
    }
    rows = [_row(n, 50.0, 3.0, reference=BASELINE) for n in runs]
    rows[0].pop("reference")
    relate_to_references(rows, runs)
    by = {x["name"]: x for x in rows}
    # a row without a reference is related to nothing
    assert by[BASELINE]["reference"] is None and by[BASELINE]["meets_accuracy_bar"] is None
    assert by[BASELINE]["speedup_e2e"] is None and by[BASELINE]["fidelity"] == []
    assert by["everywhere"]["meets_accuracy_bar"]
    assert not by["ic15-only"]["meets_accuracy_bar"]
    assert not by["agree-low"]["meets_accuracy_bar"]
    missed = [(f["kind"], f["domain"]) for f in by["ic15-only"]["fidelity"] if not f["meets_bar"]]
    assert missed == [("det", "td500")]
    assert by["everywhere"]["meets_floor"] is None  # the floor row was not measured


def test_default_needs_its_own_bar_and_the_v6_small_floor_fastest_then_smallest():
    v6 = {"reference": ACCURACY_FLOOR}
    runs = {
        BASELINE: _runs(DET, REC),
        "v3-fast": _runs(DET, REC),  # holds its parent but reads far below v6 small
        ACCURACY_FLOOR: _runs(V6, V6R),
        "v6-int8": _runs(
            {k: v - 0.003 for k, v in V6.items()}, {k: v - 0.005 for k, v in V6R.items()}
        ),
        "v6-tie": _runs(V6, V6R),
        "v6-lossy": _runs(V6, {**V6R, "render_zh": 0.80}),  # -5 on Chinese lines
    }
    rows = [
        _row(BASELINE, 80.0, 10.0),
        _row("v3-fast", 20.0, 3.0, reference=BASELINE),
        _row(ACCURACY_FLOOR, 160.0, 30.0, group="peer"),
        _row("v6-int8", 100.0, 9.0, **v6),
        _row("v6-tie", 103.0, 8.0, **v6),  # 3% slower: a tie, and smaller
        _row("v6-lossy", 40.0, 7.0, **v6),
    ]
    relate_to_references(rows, runs)
    by = {x["name"]: x for x in rows}
    assert by["v3-fast"]["meets_accuracy_bar"] and by["v3-fast"]["meets_floor"] is False
    assert by["v6-int8"]["meets_floor"] and not by["v6-lossy"]["meets_accuracy_bar"]
    assert by["v6-int8"]["speedup_e2e"] == pytest.approx(1.6)
    assert default_pick(rows)["pipeline"] == "v6-tie"
    barred = [{**x, "not_default": "why"} if x["name"] == "v6-tie" else x for x in rows]
    assert default_pick(barred)["pipeline"] == "v6-int8"
    assert default_pick([by["v3-fast"]]) is None
    # the table has a column per domain and marks the miss
    report = {
        "machine": {"cpu": "cpu", "logical_cpus": 2, "onnxruntime": "x"},
        "settings": {"threads": 2, "repeats": 3, "timing_images": 50, "timing_crops": 300},
        "rows": [
            {
                **x,
                "det_ms": 1.0,
                "rec_ms_per_crop": 1.0,
                "det_mb": 1.0,
                "rec_mb": 1.0,
                "domains": {
                    k: {d: v["metrics"] for d, v in runs[x["name"]][k].items()}
                    for k in ("det", "rec")
                },
            }
            for x in rows
        ],
        "bar": {"det_hmean_points": 0.5, "rec_acc_points": 1.0, "agreement": 0.97},
        "default_pick": default_pick(rows),
    }
    md = to_markdown(report)
    header = next(line for line in md.splitlines() if line.startswith("| pipeline | det ic15"))
    assert "rec render_zh" in header and "rec td500" in header
    lossy = next(line for line in md.splitlines() if line.startswith("| v6-lossy | 0."))
    assert "80.00% (-5.00) ✗" in lossy
    assert "Default pick" in md and md.rstrip().endswith("v6-tie.")
