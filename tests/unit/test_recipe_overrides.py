"""``--set key.sub=value`` overrides of YAML recipes (slimocr.toolkit.train.config.read_recipe)."""

from __future__ import annotations

from pathlib import Path

import pytest

from slimocr.errors import ConfigError
from slimocr.toolkit.train.config import read_recipe
from tests.conftest import needs_torch

RECIPE = """\
description: dropped
steps: 300
select:
  round_to: 8
  ratios:
    neck.levels.0.output.conv: 0.67
    head.binarize.conv: 0.34
finetune:
  optim: {lr: 0.0001}
"""


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE, encoding="utf-8")
    return path


def test_plain_and_nested_keys(recipe: Path):
    values = read_recipe(recipe, ["steps=600", "finetune.optim.lr=2e-4", "finetune.new.x=[1, 2]"])
    assert "description" not in values
    assert values["steps"] == 600
    assert values["finetune"]["optim"]["lr"] == "2e-4"  # YAML 1.1 reads it as text
    assert values["finetune"]["new"] == {"x": [1, 2]}


def test_existing_keys_holding_dots_are_matched(recipe: Path):
    values = read_recipe(
        recipe,
        ["select.ratios.head.binarize.conv=0", "select.ratios.neck.levels.0.output.conv=0.5"],
    )
    assert values["select"]["ratios"] == {"neck.levels.0.output.conv": 0.5, "head.binarize.conv": 0}
    assert values["select"]["round_to"] == 8


def test_new_keys_in_a_mapping_of_dotted_names_stay_whole(recipe: Path):
    values = read_recipe(recipe, ["select.ratios.backbone.stages.1.0.expand.0=0.5", "a.b=1"])
    assert values["select"]["ratios"]["backbone.stages.1.0.expand.0"] == 0.5
    assert values["a"] == {"b": 1}  # elsewhere a dot still opens a section
    numbered = recipe.parent / "n.yaml"
    numbered.write_text("table:\n  1: a\n  2: b\n", encoding="utf-8")  # YAML int keys
    assert read_recipe(numbered, ["table.x=c"])["table"] == {1: "a", 2: "b", "x": "c"}


def test_malformed_overrides_are_refused(recipe: Path):
    with pytest.raises(ConfigError, match="expected key=value"):
        read_recipe(recipe, ["steps"])
    with pytest.raises(ConfigError, match="steps is not a section"):
        read_recipe(recipe, ["steps.x=1"])


@needs_torch
def test_prune_ratios_are_numbers_in_range(monkeypatch: pytest.MonkeyPatch):
    from slimocr.toolkit.compress.prune.config import recipe_from_dict

    monkeypatch.chdir(Path(__file__).parents[2])  # recipe paths are relative to the repo
    base = read_recipe(Path(__file__).parents[2] / "recipes" / "prune_det_lat.yaml")
    ok = recipe_from_dict(base)
    assert ok.select.ratios["head.binarize.conv"] == 0.34
    bad = {**base, "select": {**base["select"], "ratios": {"head.binarize.conv": "abc"}}}
    with pytest.raises(
        ConfigError, match=r"select\.ratios\.head\.binarize\.conv: expected a number"
    ):
        recipe_from_dict(bad)
    for value in (1.5, -0.1):
        bad["select"]["ratios"] = {"head.binarize.conv": value}
        with pytest.raises(
            ConfigError, match=r"select\.ratios\.head\.binarize\.conv: a pruning ratio"
        ):
            recipe_from_dict(bad)
    with pytest.raises(ConfigError, match="select.uniform_ratio: a pruning ratio"):
        recipe_from_dict({**base, "select": {"uniform_ratio": 2}})
    with pytest.raises(ConfigError, match=r"select\.ratios: expected a mapping"):
        recipe_from_dict({**base, "select": {"ratios": [0.5]}})


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("steps=-5", r"\.steps: must be >= 0, got -5"),
        ("data.batch_size=0", r"\.data\.batch_size: must be >= 1, got 0"),
        ("data.val_fraction=1", r"\.data\.val_fraction: must be in \[0\.0, 0\.9\]"),
        ("data.scale_range=[2, 1]", r"\.data\.scale_range: expected 0 < low <= high"),
        ("optim.lr=-1", r"\.optim\.lr: must be > 0"),
        ("loss.temperature=0", r"\.loss\.temperature: must be > 0"),
        ("ckpt_every=0", r"\.ckpt_every: must be >= 1"),
    ],
)
def test_out_of_range_training_values_name_their_key(override: str, message: str):
    from slimocr.toolkit.train.config import load_config

    path = Path(__file__).parents[2] / "recipes" / "finetune_det_ic15.yaml"
    assert load_config(path, ["steps=0", "optim.grad_clip=null"]).steps == 0  # edges are fine
    with pytest.raises(ConfigError, match=message):
        load_config(path, [override])
