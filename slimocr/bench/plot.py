"""Pareto plot of the table: end-to-end latency vs accuracy, marker area ∝ size (matplotlib).

Rows crowd together (pipelines that share a recognizer sit at one accuracy), so labels are not
put next to their markers: they stand in one column right of the axes, in the order of their
markers' heights, at least a line apart, each joined to its marker by a thin leader line. No
two labels can overlap, however close the markers are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

FONT_PT = 7.0
LINE_GAP = 1.35  # label pitch in font heights


def spread_positions(
    wanted: list[float], gap: float, low: float, high: float, tiebreak: list[float] | None = None
) -> list[float]:
    """Positions as close to ``wanted`` as possible, at least ``gap`` apart, inside
    [``low``, ``high``] when they fit (else from ``low`` upward), in the order of ``wanted``
    (equal ones in the order of ``tiebreak``).

    >>> spread_positions([0.5, 0.5, 0.5], 0.1, 0.0, 1.0)
    [0.4, 0.5, 0.6]
    """
    ties = tiebreak or [0.0] * len(wanted)
    order = sorted(range(len(wanted)), key=lambda i: (wanted[i], ties[i]))
    pos = [wanted[i] for i in order]
    # pull each run of crowded positions apart around its mean, merging runs that then touch
    runs: list[list[float]] = []  # [start, count, mean wanted]
    for p in pos:
        runs.append([p, 1, p])
        while len(runs) > 1 and runs[-2][0] + runs[-2][1] * gap > runs[-1][0]:
            b = runs.pop()
            a = runs[-1]
            n = a[1] + b[1]
            mean = (a[2] * a[1] + b[2] * b[1]) / n
            a[:] = [mean - (n - 1) * gap / 2, n, mean]
    placed = [start + k * gap for start, count, _ in runs for k in range(int(count))]
    # then inside the bounds: shift down off the top, up off the bottom (bottom wins)
    for k in range(len(placed) - 1, -1, -1):
        ceiling = high - (len(placed) - 1 - k) * gap
        placed[k] = min(placed[k], ceiling)
    for k in range(len(placed)):
        placed[k] = max(placed[k], low + k * gap)
    out = [0.0] * len(wanted)
    for k, i in enumerate(order):
        out[i] = round(placed[k], 12)
    return out


def pareto_plot(report: dict[str, Any], out: Path) -> Path:
    """Write the plot; needs matplotlib (in the ``train`` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["rows"]
    line_in = FONT_PT * LINE_GAP / 72.0
    height = max(4.5, 1.4 + len(rows) * line_in)
    fig = plt.figure(figsize=(10, height), dpi=120)
    ax = fig.add_axes((0.08, 0.7 / height, 0.55, 1 - 1.2 / height))
    xs = [x["e2e_ms"] for x in rows]
    ys = [100 * x["rec_acc"] for x in rows]
    for x, px, py in zip(rows, xs, ys, strict=True):
        color = "tab:blue" if x["group"] == "zoo" else "tab:gray"
        ax.scatter(px, py, s=30 * x["size_mb"], alpha=0.6, c=color)
    ax.set_xlabel("end-to-end ms / image (IC15 test)")
    ax.set_ylabel("IC15 word accuracy (%)")
    ax.set_title("SlimOCR pipelines (marker area ∝ size; blue = ours, gray = peers)", fontsize=9)
    ax.grid(alpha=0.3)
    if rows:
        ax.margins(0.08)
        fig.canvas.draw()  # fixes the limits, so data → axes fractions are final
        to_axes = ax.transAxes.inverted()
        wanted = [
            float(to_axes.transform(ax.transData.transform((px, py)))[1])
            for px, py in zip(xs, ys, strict=True)
        ]
        axes_h_in = ax.get_position().height * height
        # at one height, the label of the marker farthest right (shortest leader) sits lowest
        ys_lab = spread_positions(wanted, line_in / axes_h_in, 0.0, 1.0, [-px for px in xs])
        for x, px, py, ly in zip(rows, xs, ys, ys_lab, strict=True):
            ax.annotate(
                x["name"],
                (px, py),
                xytext=(1.04, ly),
                textcoords="axes fraction",
                fontsize=FONT_PT,
                va="center",
                annotation_clip=False,
                arrowprops={
                    "arrowstyle": "-",
                    "lw": 0.5,
                    "color": "0.55",
                    "shrinkA": 0,
                    "shrinkB": 3,
                },
            )
    fig.savefig(out)
    plt.close(fig)
    return out
