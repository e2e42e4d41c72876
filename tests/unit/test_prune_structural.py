"""Structural pruning: coupled channels, ignored groups, shapes, rebuild from the channel spec."""

from __future__ import annotations

import pytest

from tests.conftest import needs_torch

pytestmark = [needs_torch, pytest.mark.usefixtures("one_torch_thread")]


def test_inverted_residual_with_se_keeps_its_output_shape():
    import torch

    from slimocr.toolkit.compress.prune.structural import StructuralPruner
    from slimocr.toolkit.models.backbones.mobilenet_v3 import InvertedResidual

    torch.manual_seed(0)
    block = InvertedResidual(16, 48, 16, 3, 1, use_se=True, act="hardswish").eval()
    x = torch.randn(2, 16, 12, 12)
    pruner = StructuralPruner(block, x[:1], ignored_layers=[])
    expand = pruner.groups["expand.0"]
    assert expand.prunable and expand.channels == 48
    assert "se.conv2" in expand.producers and "project.0" in expand.consumers
    # the residual ties the project conv's outputs to the block input: the output width stays
    assert pruner.groups["project.0"].reason == "model output"
    pruner.ratios = {"expand.0": 0.5, "se.conv1": 0.5}
    pruner.step()
    assert block.expand[0].out_channels == 24 and block.depthwise[0].groups == 24
    assert block.se.conv1.out_channels == 6 and block.se.conv2.out_channels == 24
    with torch.no_grad():
        assert block(x).shape == (2, 16, 12, 12)


@pytest.mark.parametrize(
    ("arch", "shape"),
    [("dbnet_mv3_ppocrv3", (1, 3, 96, 128)), ("crnn_ppocrv2", (2, 3, 32, 96))],
)
def test_whole_models_prune_at_30_percent_and_keep_output_shapes(arch, shape):
    import torch

    from slimocr.toolkit.compress.prune.measure import count_macs
    from slimocr.toolkit.compress.prune.structural import example_input, prune_model
    from slimocr.toolkit.models import create_model

    torch.manual_seed(0)
    model = create_model(arch).eval()
    x = torch.randn(shape)
    with torch.no_grad():
        before = model(x).shape
    macs = count_macs(model, shape)
    pruner = prune_model(model, 0.3, example_input(arch))
    with torch.no_grad():
        assert model(x).shape == before
    assert count_macs(model, shape) < 0.85 * macs
    model.train()  # training-only branches (DB threshold map) were pruned consistently
    out = model(x)
    assert (out["maps"] if isinstance(out, dict) else out).shape[0] == shape[0]
    names = list(pruner.groups)
    assert names == sorted(names, key=[n for n, _ in model.named_modules()].index)


def test_default_groups_left_alone():
    import torch

    from slimocr.toolkit.compress.prune.structural import example_input, prune_model
    from slimocr.toolkit.models import create_model

    det = create_model("dbnet_mv3_ppocrv3")
    groups = prune_model(det, 0.5, example_input("dbnet_mv3_ppocrv3")).groups
    assert groups["head.binarize.up2"].reason == "model output"
    assert det.head.binarize.up2.out_channels == 1
    ignored = [n for n, g in groups.items() if g.reason == "ignored layer"]
    assert ignored == [
        "backbone.stem.0",
        "backbone.stages.0.0.expand.0",
        "backbone.stages.0.1.expand.0",
    ]
    assert det.backbone.stem[0].out_channels == 8

    rec = create_model("crnn_ppocrv2")
    groups = prune_model(rec, 0.5, example_input("crnn_ppocrv2")).groups
    assert "encoder.lstm" in groups["backbone.blocks.12.pointwise.0"].reason
    assert rec.backbone.blocks[12].pointwise[0].out_channels == 512
    assert rec.encoder.lstm.input_size == 512 and rec.encoder.lstm.hidden_size == 64
    assert rec.head.fc2.out_features == 6625 and rec.head.fc1.out_features == 48
    with torch.no_grad():
        assert rec.eval()(torch.zeros(1, 3, 32, 64)).shape == (1, 16, 6625)


def test_unknown_or_unprunable_group_names_are_refused():
    from slimocr.toolkit.compress.prune.structural import StructuralPruner, example_input
    from slimocr.toolkit.models import create_model

    model = create_model("dbnet_mv3_ppocrv3")
    with pytest.raises(KeyError, match="unknown channel group"):
        StructuralPruner(model, example_input("dbnet_mv3_ppocrv3"), ratios={"conv2d_57": 0.5})
    with pytest.raises(ValueError, match="model output"):
        StructuralPruner(
            model, example_input("dbnet_mv3_ppocrv3"), ratios={"head.binarize.up2": 0.5}
        )


@pytest.mark.parametrize("arch", ["dbnet_mv3_ppocrv3", "crnn_ppocrv2"])
def test_rebuilt_from_channel_spec_gives_identical_outputs(arch, tmp_path):
    import json

    import torch

    from slimocr.toolkit.compress.prune.spec import (
        channel_spec,
        load_pruned,
        rebuild_pruned,
        save_pruned,
    )
    from slimocr.toolkit.compress.prune.structural import (
        StructuralPruner,
        example_input,
        prune_model,
    )
    from slimocr.toolkit.models import create_model

    torch.manual_seed(0)
    model = create_model(arch).eval()
    groups = StructuralPruner(create_model(arch), example_input(arch)).prunable
    prune_model(model, {n: (0.2, 0.6)[i % 2] for i, n in enumerate(groups)}, example_input(arch))
    save_pruned(model, arch, tmp_path, {"note": "test"})
    doc = json.loads((tmp_path / "channels.json").read_text())
    assert doc["arch"] == arch and doc["note"] == "test" and doc["modules"] == channel_spec(model)
    rebuilt = load_pruned(tmp_path)
    x = torch.randn(2, 3, 32, 96) if arch == "crnn_ppocrv2" else torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(model(x), rebuilt(x))
    empty = rebuild_pruned(arch, doc)
    assert channel_spec(empty) == channel_spec(model)


def test_channels_to_prune_rounding():
    from slimocr.toolkit.compress.prune.structural import channels_to_prune

    assert channels_to_prune(96, 0.3) == 28
    assert channels_to_prune(96, 0.3, round_to=8) == 32
    assert channels_to_prune(1, 0.9) == 0
    with pytest.raises(ValueError):
        channels_to_prune(8, 1.5)


def test_attention_qkv_is_left_alone_and_the_encoder_width_still_prunes():
    import torch

    from slimocr.toolkit.compress.prune.structural import StructuralPruner, default_ignored_layers
    from slimocr.toolkit.models.necks.svtr_encoder import SVTREncoder

    torch.manual_seed(0)
    enc = SVTREncoder(16, dims=24, depth=1, num_heads=2).eval()
    x = torch.randn(1, 16, 1, 10)
    ignored = default_ignored_layers(enc, skip_first=0)
    assert enc.blocks[0].attn.qkv in ignored
    pruner = StructuralPruner(enc, x, ignored_layers=ignored)
    assert not any("qkv" in g for g in pruner.prunable)
    width = [g for g in pruner.prunable if g.startswith("shortcut")]
    assert width, pruner.prunable
    StructuralPruner(enc, x, ratios={width[0]: 0.5}, ignored_layers=ignored).step()
    assert enc.blocks[0].attn.qkv.out_features == 72  # q, k, v of 2 heads × 12 untouched
    assert enc(x).shape[:2] == (1, 10)
