"""Quantization recipes: the shipped YAML files load, overrides apply, mistakes are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import needs_torch

pytestmark = needs_torch

pytest.importorskip("torch")

from slimocr.errors import ConfigError  # noqa: E402
from slimocr.toolkit.compress.quant.recipe import (  # noqa: E402
    load_quant_recipe,
    recipe_from_dict,
    run_quant,
    train_config,
)

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.mark.parametrize("kind", ["det", "rec"])
@pytest.mark.parametrize("method", ["pact", "ptq"])
def test_shipped_recipes_load(kind: str, method: str):
    recipe = load_quant_recipe(RECIPES / f"quant_{kind}_{method}.yaml")
    assert recipe.kind == kind
    assert recipe.quant.per_channel and not recipe.quant.act_signed
    assert recipe.calib.data == "../shared/data/ic15_train"
    if method == "pact":
        cfg = train_config(recipe)
        assert cfg.kind == kind and cfg.teacher == "pretrained" and recipe.quant.pact
        assert cfg.loss.distill > 0 and not cfg.data.labels
    else:
        assert recipe.train is None and not recipe.quant.pact


def test_overrides_and_errors(tmp_path: Path):
    recipe = load_quant_recipe(
        RECIPES / "quant_det_pact.yaml",
        ["calib.images=8", "train.steps=3", "quant.pact_decay=0.001"],
    )
    assert recipe.calib.images == 8 and recipe.quant.pact_decay == 0.001
    assert train_config(recipe).steps == 3
    cases = {"[LSTM]": ("LSTM",), "[LSTM, GRU, RNN]": ("LSTM", "GRU", "RNN"), "[]": ()}
    for raw, want in cases.items():
        recipe = load_quant_recipe(RECIPES / "quant_rec_ptq.yaml", [f"quant.skip_types={raw}"])
        assert recipe.quant.skip_types == want
    with pytest.raises(ConfigError, match="skip_types"):
        load_quant_recipe(RECIPES / "quant_rec_ptq.yaml", ["quant.skip_types=LSTM"])
    base = {"kind": "det", "model": "dbnet_mv3_ppocrv3"}
    with pytest.raises(ConfigError, match="unknown key"):
        recipe_from_dict({**base, "quant": {"bits": 4}})
    with pytest.raises(ConfigError, match="unknown key"):
        recipe_from_dict({**base, "train": {"data": {"train": "x"}, "stepz": 3}})
    with pytest.raises(ConfigError, match="top level"):
        recipe_from_dict({**base, "train": {"data": {"train": "x"}, "model": "m"}})
    assert load_quant_recipe(RECIPES / "quant_det_pact.yaml").teacher == "parent"
    official = load_quant_recipe(RECIPES / "quant_det_prune_pact.yaml", ["teacher=official"])
    assert official.teacher == "official"
    with pytest.raises(ConfigError, match="teacher"):
        recipe_from_dict({**base, "teacher": "grandparent"})
    # YAML reads 2e-5 as text; a number field takes it, and refuses what is not a number
    lr = load_quant_recipe(RECIPES / "quant_det_pact.yaml", ["train.optim.lr=2e-5"])
    assert train_config(lr).optim.lr == 2e-5
    with pytest.raises(ConfigError, match=r"optim\.lr: expected a number"):
        train_config(load_quant_recipe(RECIPES / "quant_det_pact.yaml", ["train.optim.lr=fast"]))
    with pytest.raises(ConfigError, match="expected a number"):
        recipe_from_dict({**base, "calib": {"percentile": True}})
    with pytest.raises(ConfigError, match="calib.method"):
        recipe_from_dict({**base, "calib": {"method": "kl"}})
    with pytest.raises(ConfigError, match="train"):
        run_quant(RECIPES / "quant_det_ptq.yaml", method="pact", out=tmp_path / "x.onnx")
    with pytest.raises(ConfigError, match="method"):
        run_quant(RECIPES / "quant_det_ptq.yaml", method="qat", out=tmp_path / "x.onnx")
    with pytest.raises(ConfigError, match="key=value"):
        load_quant_recipe(RECIPES / "quant_det_ptq.yaml", ["calib.images"])


def test_pruned_parent_recipe_loads_and_checks_the_spec(tmp_path: Path):
    import torch

    from slimocr.toolkit.compress.prune.spec import save_pruned
    from slimocr.toolkit.compress.quant.recipe import _parent_model
    from slimocr.toolkit.models import create_model

    recipe = load_quant_recipe(RECIPES / "quant_det_prune_ptq.yaml")
    assert recipe.weights == "runs/prune_det/model" and recipe.parent == "ppocrv3-det-prune"
    model = create_model("crnn_ppocrv2").eval()
    save_pruned(model, "crnn_ppocrv2", tmp_path / "pruned")
    rec = load_quant_recipe(RECIPES / "quant_rec_ptq.yaml", [f"weights={tmp_path / 'pruned'}"])
    parent = _parent_model(rec)
    x = torch.zeros(1, 3, 32, 64)
    with torch.no_grad():
        assert torch.equal(parent(x), model(x))
    wrong = load_quant_recipe(RECIPES / "quant_det_ptq.yaml", [f"weights={tmp_path / 'pruned'}"])
    with pytest.raises(ConfigError, match="holds a pruned crnn_ppocrv2"):
        _parent_model(wrong)


def test_run_time_recipe_errors_name_the_recipe(tmp_path: Path):
    no_train = tmp_path / "no_train.yaml"
    no_train.write_text("kind: det\nmodel: dbnet_mv3_ppocrv3\ncalib:\n  data: x\n")
    with pytest.raises(ConfigError, match=rf"{no_train}: method pact needs a 'train' section"):
        run_quant(no_train, method="pact", out=tmp_path / "o.onnx")
    no_data = tmp_path / "no_data.yaml"
    no_data.write_text("kind: det\nmodel: dbnet_mv3_ppocrv3\n")
    with pytest.raises(ConfigError, match=rf"{no_data}: calib.data is not set"):
        run_quant(no_data, method="ptq", out=tmp_path / "o.onnx")
