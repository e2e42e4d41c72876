"""FPGM importance: hand-computed distances, no normalization before distance, group sums."""

from __future__ import annotations

import pytest

from tests.conftest import needs_torch

pytestmark = [needs_torch, pytest.mark.usefixtures("one_torch_thread")]


def _group(model, layer, example):
    import torch_pruning as tp

    dg = tp.DependencyGraph().build_dependency(model, example_inputs=example, verbose=False)
    n = layer.out_channels
    return dg.get_pruning_group(layer, tp.prune_conv_out_channels, list(range(n)))


def test_scores_are_sums_of_distances_to_the_other_filters():
    import torch

    from slimocr.toolkit.compress.prune.fpgm import FPGMImportance

    conv = torch.nn.Conv2d(2, 3, 1, bias=False)
    with torch.no_grad():  # filters (0, 0), (3, 4), (6, 8): distances 5, 10 and 5
        conv.weight.copy_(torch.tensor([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]]).view(3, 2, 1, 1))
    scores = FPGMImportance()(_group(conv, conv, torch.zeros(1, 2, 4, 4)))
    assert scores.tolist() == pytest.approx([15.0, 10.0, 15.0])
    assert int(scores.argmin()) == 1  # the geometric median goes first


def test_signed_weights_are_not_normalized_before_distance():
    import torch

    from slimocr.toolkit.compress.prune.fpgm import FPGMImportance

    conv = torch.nn.Conv2d(2, 3, 1, bias=False)
    with torch.no_grad():  # (1, 0), (-1, 0), (0, 0): d01 = 2, d02 = 1, d12 = 1
        conv.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]]).view(3, 2, 1, 1))
    scores = FPGMImportance()(_group(conv, conv, torch.zeros(1, 2, 4, 4)))
    # with |w| first (Torch-Pruning's variant) filters 0 and 1 would coincide and go first
    assert scores.tolist() == pytest.approx([3.0, 3.0, 2.0])


def test_coupled_layers_sum_their_scores():
    import torch

    from slimocr.toolkit.compress.prune.fpgm import FPGMImportance, geometric_median_scores

    class TwoBranches(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = torch.nn.Conv2d(3, 4, 1)
            self.b = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.depthwise = torch.nn.Conv2d(4, 4, 3, padding=1, groups=4)
            self.head = torch.nn.Conv2d(4, 2, 1)

        def forward(self, x):
            return self.head(self.depthwise(self.a(x) + self.b(x)))

    torch.manual_seed(0)
    model = TwoBranches()
    scores = FPGMImportance()(_group(model, model.a, torch.zeros(1, 3, 8, 8)))
    expected = geometric_median_scores(model.a.weight.flatten(1)) + geometric_median_scores(
        model.b.weight.flatten(1)
    )  # the depthwise conv follows, it is not a filter bank of its own
    assert torch.allclose(scores, expected)
