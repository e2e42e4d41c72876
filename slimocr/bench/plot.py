"""Pareto plot of the table: end-to-end latency vs accuracy, marker area ∝ size (matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pareto_plot(report: dict[str, Any], out: Path) -> Path:
    """Write the plot; needs matplotlib (in the ``train`` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for x in report["rows"]:
        color = "tab:blue" if x["group"] == "zoo" else "tab:gray"
        ax.scatter(x["e2e_ms"], 100 * x["rec_acc"], s=30 * x["size_mb"], alpha=0.6, c=color)
        ax.annotate(
            x["name"],
            (x["e2e_ms"], 100 * x["rec_acc"]),
            fontsize=7,
            xytext=(4, 4),
            textcoords="offset points",
        )
    ax.set_xlabel("end-to-end ms / image (IC15 test)")
    ax.set_ylabel("IC15 word accuracy (%)")
    ax.set_title("SlimOCR pipelines (marker area ∝ size; blue = ours, gray = peers)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
