"""From a sensitivity table to per-group pruning ratios: pure functions.

The table is what :func:`slimocr.toolkit.compress.prune.sensitivity.analyze_sensitivity` writes:
``table["groups"][name]["points"]`` is a list of ``{"ratio", "metric", "loss"}`` with the
relative loss ``(base - metric) / base`` of pruning only that group.

Losses measured on a small held-out set are noisy and not always monotone in the ratio. A
curve is therefore made monotone (running maximum over increasing ratios) before the choice:
a dip after a crossing of the budget is taken for noise, so the ratio chosen is the last one
before the loss first exceeds the budget, interpolated linearly between measured ratios.

>>> table = {"groups": {"conv": {"points": [
...     {"ratio": 0.1, "loss": 0.0}, {"ratio": 0.2, "loss": 0.02}, {"ratio": 0.3, "loss": 0.06}]}}}
>>> ratios_for_budget(table, 0.04)
{'conv': 0.25}
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from typing import Any

Table = Mapping[str, Any]
Skip = Container[str] | Callable[[str], bool]
CostFn = Callable[[dict[str, float]], float]


def curve(table: Table, name: str) -> list[tuple[float, float]]:
    """``[(ratio, loss), ...]`` of one group, ratios increasing, losses made monotone."""
    points = sorted((float(p["ratio"]), float(p["loss"])) for p in table["groups"][name]["points"])
    out: list[tuple[float, float]] = []
    worst = float("-inf")
    for ratio, loss in points:
        worst = max(worst, loss)
        out.append((ratio, worst))
    return out


def ratio_for_loss(points: list[tuple[float, float]], budget: float) -> float:
    """The largest ratio of a monotone curve whose loss stays within ``budget``.

    Linear interpolation between the last ratio within the budget and the first beyond it;
    0 when even the smallest measured ratio exceeds the budget.

    >>> ratio_for_loss([(0.1, 0.01), (0.2, 0.03), (0.4, 0.07)], 0.05)
    0.3
    >>> ratio_for_loss([(0.1, 0.01), (0.2, 0.03)], 0.005), ratio_for_loss([(0.1, 0.01)], 0.5)
    (0.0, 0.1)
    """
    if not points or points[0][1] > budget:
        return 0.0
    for (r0, l0), (r1, l1) in zip(points, points[1:], strict=False):
        if l1 > budget:
            return round(r0 + (budget - l0) / (l1 - l0) * (r1 - r0), 10)
    return points[-1][0]


def _skipped(skip: Skip | None) -> Callable[[str], bool]:
    if skip is None:
        return lambda name: False
    if callable(skip):
        return skip
    return lambda name: name in skip


def mean_loss(table: Table, name: str) -> float:
    """Average relative loss of a group over its measured ratios (its overall sensitivity)."""
    points = table["groups"][name]["points"]
    return sum(float(p["loss"]) for p in points) / len(points) if points else 0.0


def most_sensitive(table: Table, k: int) -> list[str]:
    """The ``k`` groups with the largest mean loss, most sensitive first."""
    names = [n for n, g in table["groups"].items() if g["points"]]
    return sorted(names, key=lambda n: mean_loss(table, n), reverse=True)[: max(0, k)]


def ratios_for_budget(
    table: Table,
    loss_budget: float,
    skip: Skip | None = None,
    skip_most_sensitive: int = 0,
    max_ratio: float | None = None,
) -> dict[str, float]:
    """Per group, the largest ratio whose relative loss stays within ``loss_budget``.

    Args:
        table: a sensitivity table.
        loss_budget: allowed relative loss of each group pruned alone (0.03 = 3% of the base).
        skip: group names (or a predicate on them) that keep all their channels.
        skip_most_sensitive: also keep the ``k`` most sensitive groups (:func:`most_sensitive`).
        max_ratio: cap on any group's ratio.

    Returns:
        ``{group: ratio}`` for every group of the table (0.0 for skipped ones).
    """
    skipped = _skipped(skip)
    sensitive = set(most_sensitive(table, skip_most_sensitive))
    out: dict[str, float] = {}
    for name in table["groups"]:
        if skipped(name) or name in sensitive:
            out[name] = 0.0
            continue
        ratio = ratio_for_loss(curve(table, name), loss_budget)
        out[name] = min(ratio, max_ratio) if max_ratio is not None else ratio
    return out


def _loss_range(table: Table) -> tuple[float, float]:
    losses = [float(p["loss"]) for g in table["groups"].values() for p in g["points"]]
    if not losses:
        raise ValueError("the sensitivity table has no measured points")
    return min(0.0, min(losses)) - 1e-9, max(losses) + 1e-9


def _bisect_budget(
    table: Table,
    reached: Callable[[dict[str, float]], bool],
    tol: float,
    max_iter: int,
    **select: Any,
) -> float:
    lo, hi = _loss_range(table)
    if not reached(ratios_for_budget(table, hi, **select)):
        raise ValueError("the goal is out of reach even with every group at its largest ratio")
    if reached(ratios_for_budget(table, lo, **select)):
        return lo
    for _ in range(max_iter):
        if hi - lo <= tol:
            break
        mid = (lo + hi) / 2
        if reached(ratios_for_budget(table, mid, **select)):
            hi = mid
        else:
            lo = mid
    return hi


def budget_for_flops(
    table: Table,
    flops_fn: CostFn,
    target_reduction: float,
    tol: float = 1e-4,
    max_iter: int = 50,
    **select: Any,
) -> float:
    """The smallest loss budget whose ratios cut FLOPs (or MACs) by ``target_reduction``.

    Args:
        table: a sensitivity table.
        flops_fn: ``ratios -> FLOPs`` of the model pruned by those ratios (``{}`` = unpruned),
            e.g. :func:`table_macs_fn` (fast estimate) or an exact count of a pruned copy.
        target_reduction: wanted fraction removed, e.g. 0.3 for 30% fewer FLOPs.
        tol: stop when the budget is known to within this.
        **select: passed on to :func:`ratios_for_budget` (``skip``, ``max_ratio``, ...).

    Raises:
        ValueError: the target is out of reach even at the largest measured ratios.
    """
    base = flops_fn({})

    def reached(ratios: dict[str, float]) -> bool:
        return 1.0 - flops_fn(ratios) / base >= target_reduction

    return _bisect_budget(table, reached, tol, max_iter, **select)


def budget_for_latency(
    table: Table,
    latency_fn: CostFn,
    target_ms: float,
    tol: float = 1e-3,
    max_iter: int = 12,
    **select: Any,
) -> float:
    """The smallest loss budget whose pruned model runs within ``target_ms``.

    ``latency_fn(ratios)`` measures the model pruned by ``ratios`` (e.g. exported to ONNX and
    timed in ONNX Runtime:
    :func:`slimocr.toolkit.compress.prune.measure.model_latency_ms`). Timings are noisy, so keep
    ``max_iter`` small and measure with enough runs.
    """
    return _bisect_budget(table, lambda r: latency_fn(r) <= target_ms, tol, max_iter, **select)


def table_macs_fn(table: Table) -> CostFn:
    """An additive MACs estimate from the table's per-point counts (no model needed).

    Each group's saving at a ratio is interpolated from its measured points and the savings
    are summed. Pruning two adjacent groups saves a little less than the sum (a layer between
    them shrinks as ``(1 - a)(1 - b)``), so check the final model with an exact count.
    """
    base = float(table["base_macs"])

    def saving(name: str, ratio: float) -> float:
        pts = [(0.0, 0.0)] + sorted(
            (float(p["ratio"]), base - float(p["macs"])) for p in table["groups"][name]["points"]
        )
        if ratio >= pts[-1][0]:
            return pts[-1][1]
        for (r0, s0), (r1, s1) in zip(pts, pts[1:], strict=False):
            if r0 <= ratio <= r1:
                return s0 + (s1 - s0) * (ratio - r0) / (r1 - r0) if r1 > r0 else s1
        return 0.0

    def macs(ratios: dict[str, float]) -> float:
        return base - sum(saving(n, r) for n, r in ratios.items() if r > 0)

    return macs
