"""The Pareto plot's labels never overlap, however crowded the markers."""

from __future__ import annotations

from pathlib import Path

import pytest

from slimocr.bench.plot import spread_positions


def test_spread_positions_keeps_order_gap_and_bounds():
    wanted = [0.5, 0.52, 0.1, 0.51, 0.99, 0.995, 0.0]
    got = spread_positions(wanted, 0.05, 0.0, 1.0)
    order = sorted(range(len(wanted)), key=lambda i: wanted[i])
    placed = [got[i] for i in order]
    assert all(b - a >= 0.05 - 1e-9 for a, b in zip(placed, placed[1:], strict=False))
    assert 0.0 <= min(got) and max(got) <= 1.0
    assert got[2] == pytest.approx(0.1)  # an uncrowded label stays where it is wanted


def test_pareto_labels_do_not_overlap(tmp_path: Path):
    pytest.importorskip("matplotlib")
    from slimocr.bench.plot import pareto_plot

    # 24 rows, most of them sharing an accuracy and close in latency
    rows = [
        {
            "name": f"slimocr-pipeline-number-{i}",
            "group": "zoo" if i % 3 else "peer",
            "e2e_ms": 60 + (i % 5) * 0.5,
            "rec_acc": 0.52 if i < 18 else 0.75 + i * 1e-3,
            "size_mb": 3.0,
        }
        for i in range(24)
    ]
    import matplotlib.pyplot as plt
    from matplotlib.text import Annotation

    captured = {}
    real_close = plt.close

    def keep(fig):  # noqa: ANN001, ANN202
        captured["fig"] = fig

    plt.close = keep
    try:
        out = pareto_plot({"rows": rows}, tmp_path / "p.png")
    finally:
        plt.close = real_close
    assert out.stat().st_size > 0
    fig = captured["fig"]
    labels = [t for t in fig.findobj(Annotation) if t.get_text().startswith("slimocr-pipeline")]
    assert len(labels) == len(rows)
    # one column of one-line labels: same x, centres at least a text height apart
    ax = fig.axes[0]
    centres = [ax.transAxes.transform(t.get_position()) for t in labels]
    assert len({round(float(x), 6) for x, _ in centres}) == 1
    text_px = labels[0].get_fontsize() * fig.dpi / 72
    ys = sorted(float(y) for _, y in centres)
    assert min(b - a for a, b in zip(ys, ys[1:], strict=False)) >= text_px
    # every label inside the figure
    assert 0 <= ys[0] - text_px / 2 and ys[-1] + text_px / 2 <= fig.bbox.height
    renderer = fig.canvas.get_renderer()
    assert all(t.get_window_extent(renderer).x1 <= fig.bbox.width for t in labels)
    real_close(fig)
