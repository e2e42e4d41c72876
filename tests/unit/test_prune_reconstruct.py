"""Least-squares reconstruction of pruned convs: exact where the removed channels are
redundant, never worse than before on the fitted samples, SE-like convs left alone."""

from __future__ import annotations

import pytest

from tests.conftest import needs_torch

pytestmark = needs_torch

torch = pytest.importorskip("torch")
nn = torch.nn


def _net(c_mid: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, c_mid, 3, padding=1), nn.Conv2d(c_mid, 4, 1))


def test_redundant_channels_are_recovered_exactly():
    from slimocr.toolkit.compress.prune.reconstruct import reconstruct, reconstruction_targets

    torch.manual_seed(0)
    parent = _net(8)
    with torch.no_grad():  # channels 4..7 duplicate channels 0..3
        parent[0].weight[4:] = parent[0].weight[:4]
        parent[0].bias[4:] = parent[0].bias[:4]
    pruned = _net(4)
    with torch.no_grad():  # plain pruning: keep channels 0..3 and the matching conv2 inputs
        pruned[0].weight.copy_(parent[0].weight[:4])
        pruned[0].bias.copy_(parent[0].bias[:4])
        pruned[1].weight.copy_(parent[1].weight[:, :4])
        pruned[1].bias.copy_(parent[1].bias)
    assert reconstruction_targets(parent, pruned) == ["0", "1"]
    batches = [torch.randn(2, 3, 12, 12) for _ in range(3)]
    report = reconstruct(parent, pruned, batches, {"0": [0, 1, 2, 3]}, ridge=1e-9, log=print)
    assert report["1"]["rel_err_before"] > 0.1 and report["1"]["rel_err_after"] < 1e-5
    x = torch.randn(1, 3, 9, 7)  # new input, other size: the refit is exact, not just fitted
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), parent(x), atol=1e-4, rtol=1e-4)
        want = parent[1].weight[:, :4] + parent[1].weight[:, 4:]
        torch.testing.assert_close(pruned[1].weight, want, atol=1e-4, rtol=1e-4)


def test_lossy_pruning_improves_and_small_sample_layers_are_skipped():
    from slimocr.toolkit.compress.prune.reconstruct import reconstruct

    torch.manual_seed(1)
    parent = _net(8).eval()
    pruned = _net(5)
    keep = [0, 2, 3, 5, 7]
    with torch.no_grad():
        pruned[0].weight.copy_(parent[0].weight[keep])
        pruned[0].bias.copy_(parent[0].bias[keep])
        pruned[1].weight.copy_(parent[1].weight[:, keep])
        pruned[1].bias.copy_(parent[1].bias)
    lines: list[str] = []
    report = reconstruct(
        parent, pruned, [torch.randn(1, 3, 10, 10) for _ in range(4)], {"0": keep}, log=lines.append
    )
    assert report["1"]["rel_err_after"] < report["1"]["rel_err_before"]
    assert report["0"]["rel_err_after"] <= report["0"]["rel_err_before"] < 1e-6  # kept as is
    tiny = reconstruct(parent, pruned, [torch.randn(1, 3, 1, 1)], {"0": keep}, log=lines.append)
    assert tiny == {} and any("left as is" in line for line in lines)
