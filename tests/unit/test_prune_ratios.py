"""Ratio selection from a sensitivity table: pure functions on hand-made tables."""

from __future__ import annotations

import pytest


def _table():
    def pts(*losses):
        return [{"ratio": 0.1 * (i + 1), "loss": x} for i, x in enumerate(losses)]

    return {
        "groups": {
            "robust": {"points": pts(0.0, 0.0, 0.01, 0.02)},  # never exceeds 3%
            "middle": {"points": pts(0.0, 0.02, 0.04, 0.08)},  # crosses 3% between 0.2 and 0.3
            "fragile": {"points": pts(0.05, 0.1, 0.2, 0.4)},  # exceeds at the smallest ratio
            "noisy": {"points": pts(0.01, 0.05, 0.0, 0.0)},  # a dip after the crossing is noise
        }
    }


def test_ratios_for_budget_interpolates_between_measured_ratios():
    from slimocr.toolkit.compress.prune.ratios import ratios_for_budget

    ratios = ratios_for_budget(_table(), 0.03)
    assert ratios["robust"] == pytest.approx(0.4)
    assert ratios["middle"] == pytest.approx(0.25)  # 0.2 + (0.03 - 0.02) / (0.04 - 0.02) * 0.1
    assert ratios["fragile"] == 0.0
    assert ratios["noisy"] == pytest.approx(0.15)  # 0.1 + (0.03 - 0.01) / (0.05 - 0.01) * 0.1


def test_skips_and_caps():
    from slimocr.toolkit.compress.prune.ratios import most_sensitive, ratios_for_budget

    assert most_sensitive(_table(), 2) == ["fragile", "middle"]
    ratios = ratios_for_budget(_table(), 0.5, skip={"robust"}, skip_most_sensitive=1, max_ratio=0.3)
    assert ratios == {"robust": 0.0, "middle": 0.3, "fragile": 0.0, "noisy": 0.3}
    by_predicate = ratios_for_budget(_table(), 0.5, skip=lambda name: name.startswith("n"))
    assert by_predicate["noisy"] == 0.0 and by_predicate["robust"] == pytest.approx(0.4)


def test_budget_for_flops_bisection_converges():
    from slimocr.toolkit.compress.prune.ratios import budget_for_flops, ratios_for_budget

    table = _table()
    weights = {"robust": 100.0, "middle": 50.0, "fragile": 30.0, "noisy": 20.0}

    def flops(ratios):  # monotone: each group's FLOPs shrink linearly with its ratio
        return 1000.0 - sum(weights[n] * r for n, r in ratios.items())

    calls = []
    budget = budget_for_flops(table, lambda r: calls.append(1) or flops(r), 0.05, tol=1e-6)
    reduction = 1 - flops(ratios_for_budget(table, budget)) / 1000.0
    assert reduction == pytest.approx(0.05, abs=1e-4)
    assert 1 - flops(ratios_for_budget(table, budget - 1e-5)) / 1000.0 < 0.05
    assert len(calls) < 60
    with pytest.raises(ValueError, match="out of reach"):
        budget_for_flops(table, flops, 0.5)


def test_budget_for_latency_uses_the_same_bisection():
    from slimocr.toolkit.compress.prune.ratios import budget_for_latency, ratios_for_budget

    def latency(ratios):
        return 100.0 * (1 - 0.5 * sum(ratios.values()) / 4)

    budget = budget_for_latency(_table(), latency, 95.0, tol=1e-6, max_iter=60)
    assert latency(ratios_for_budget(_table(), budget)) <= 95.0
    assert latency(ratios_for_budget(_table(), budget - 1e-5)) > 95.0


def test_table_macs_estimate_is_additive():
    from slimocr.toolkit.compress.prune.ratios import table_macs_fn

    table = {
        "base_macs": 1000,
        "groups": {
            "a": {"points": [{"ratio": 0.2, "macs": 900}, {"ratio": 0.4, "macs": 800}]},
            "b": {"points": [{"ratio": 0.5, "macs": 950}]},
        },
    }
    macs = table_macs_fn(table)
    assert macs({}) == 1000
    assert macs({"a": 0.3}) == pytest.approx(850)
    assert macs({"a": 0.1, "b": 0.5}) == pytest.approx(1000 - 50 - 50)
    assert macs({"a": 0.9}) == pytest.approx(800)  # beyond the last measured point: its saving
