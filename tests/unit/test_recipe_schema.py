"""The recipe schema: stated method, one-level ``base:``, ``${data}``/``${runs}``, parents by
name (never ``runs/`` paths), errors naming the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from slimocr.errors import ConfigError
from tests.conftest import needs_torch

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))
BASES = sorted((ROOT / "recipes" / "base").glob("*.yaml"))

pytestmark = needs_torch


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("path", RECIPES + BASES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_recipe_states_its_method_and_names_no_run_or_data_folder(path: Path):
    import yaml

    from slimocr.toolkit.recipes import METHODS

    text = path.read_text(encoding="utf-8")
    assert yaml.safe_load(text)["method"] in METHODS
    assert "../shared" not in text and "shared/data" not in text  # data comes from ${data}
    for line in text.splitlines():  # inputs are parents, never run folders
        key = line.split(":", 1)[0].strip()
        if key in ("weights", "init", "table", "data", "train", "eval_data"):
            assert "runs/" not in line, line


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_shipped_recipe_loads_by_its_method(path: Path):
    from slimocr.toolkit.compress.prune.config import PruneRecipe
    from slimocr.toolkit.compress.quant.recipe import QuantRecipe
    from slimocr.toolkit.recipes import load_recipe
    from slimocr.toolkit.train.config import TrainConfig

    recipe = load_recipe(path)
    expected = {"train": TrainConfig, "prune": PruneRecipe, "ptq": QuantRecipe, "pact": QuantRecipe}
    assert isinstance(recipe.config, expected[recipe.method])
    if recipe.method == "pact":
        assert isinstance(recipe.config.train, TrainConfig)  # typed, not a dict
    if recipe.method == "ptq":
        assert recipe.config.train is None


def test_bases_are_one_level_and_merge_mappings_and_replace_lists(tmp_path: Path):
    from slimocr.toolkit.recipes import read_recipe

    _write(tmp_path / "b.yaml", "method: train\na: {x: 1, y: [1, 2]}\nkeep: 3\ndescription: b\n")
    leaf = _write(tmp_path / "leaf.yaml", "base: b.yaml\na: {y: [9]}\nnew: 4\n")
    assert read_recipe(leaf) == {"method": "train", "a": {"x": 1, "y": [9]}, "keep": 3, "new": 4}
    _write(tmp_path / "c.yaml", "base: b.yaml\nz: 1\n")
    deep = _write(tmp_path / "deep.yaml", "base: c.yaml\n")
    with pytest.raises(ConfigError, match=r"deep\.yaml\.base: .*c\.yaml has a base itself"):
        read_recipe(deep)
    missing = _write(tmp_path / "missing.yaml", "base: nowhere.yaml\n")
    with pytest.raises(ConfigError, match=r"nowhere\.yaml: cannot read recipe"):
        read_recipe(missing)


def test_unknown_key_names_the_recipe_file_and_key(tmp_path: Path):
    from slimocr.toolkit.compress.prune.config import load_recipe as load_prune
    from slimocr.toolkit.recipes import load_recipe

    base = ROOT / "recipes" / "base" / "prune_det.yaml"
    leaf = _write(tmp_path / "typo.yaml", f"base: {base}\nfinetune:\n  optim:\n    lrr: 1\n")
    with pytest.raises(ConfigError, match=r"typo\.yaml\.finetune\.optim: unknown key.*'lrr'"):
        load_recipe(leaf)
    with pytest.raises(ConfigError, match=r"typo\.yaml\.finetune\.optim: unknown key"):
        load_prune(leaf)
    quant = _write(tmp_path / "q.yaml", "method: ptq\nkind: det\nmodel: dbnet_mv3_ppocrv3\nx: 1\n")
    with pytest.raises(ConfigError, match=r"q\.yaml: unknown key\(s\) \['x'\]"):
        load_recipe(quant)


def test_method_is_stated_and_checked(tmp_path: Path):
    from slimocr.toolkit.compress.quant.recipe import load_quant_recipe
    from slimocr.toolkit.recipes import load_recipe

    bare = _write(tmp_path / "bare.yaml", "kind: det\nmodel: dbnet_mv3_ppocrv3\ndata: {train: x}\n")
    with pytest.raises(ConfigError, match=r"bare\.yaml: missing 'method:'"):
        load_recipe(bare)
    wrong = _write(tmp_path / "wrong.yaml", "method: distil\n")
    with pytest.raises(ConfigError, match=r"wrong\.yaml\.method: one of \['train', 'prune'"):
        load_recipe(wrong)
    with pytest.raises(ConfigError, match=r"prune_det\.yaml\.method: a prune recipe, not one of"):
        load_quant_recipe(ROOT / "recipes" / "prune_det.yaml")


def test_data_and_runs_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from slimocr.toolkit.compress.quant.recipe import load_quant_recipe
    from slimocr.toolkit.recipes import read_recipe

    monkeypatch.setenv("SLIMOCR_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("SLIMOCR_RUNS", str(tmp_path / "work"))
    recipe = load_quant_recipe(ROOT / "recipes" / "quant_det_pact.yaml")
    assert recipe.calib.data == str(tmp_path / "data" / "ic15_train")
    assert recipe.train is not None and recipe.train.data.train == recipe.calib.data
    assert recipe.work_dir == str(tmp_path / "work" / "quant_det_pact")
    monkeypatch.delenv("SLIMOCR_DATA")
    monkeypatch.delenv("SLIMOCR_RUNS")
    assert load_quant_recipe(ROOT / "recipes" / "quant_det_ptq.yaml").calib.data == (
        "../shared/data/ic15_train"  # the documented default data root
    )
    bad = _write(tmp_path / "v.yaml", "method: train\nout_dir: ${nope}/x\n")
    with pytest.raises(ConfigError, match=r"v\.yaml\.out_dir: unknown variable \$\{nope\}"):
        read_recipe(bad)


def test_parents_resolve_to_the_run_folder_of_the_recipe_that_builds_them(tmp_path: Path):
    from slimocr.toolkit.recipes import load_recipe, recipe_variables

    runs = tmp_path / "work"
    variables = recipe_variables(runs=runs)

    def load(name: str):  # noqa: ANN202
        return load_recipe(ROOT / "recipes" / name, variables=variables)

    prune_ptq = load("quant_det_prune_ptq.yaml")
    assert prune_ptq.parent_recipe is not None and prune_ptq.parent_recipe.name == "prune_det.yaml"
    assert prune_ptq.config.weights == str(runs / "prune_det" / "model")
    assert load("quant_det_prune_pact_direct.yaml").config.weights == str(
        runs / "prune_det" / "pruned"
    )
    assert load("quant_rec_prune_pact_hs_zh.yaml").config.weights == str(
        runs / "prune_rec_r125" / "model"
    )
    assert load("quant_det_pact.yaml").config.weights is None  # the official import
    assert load("quant_det_v6s_ptq.yaml").parent_recipe is None  # a peer's official weights
    finetune = load("finetune_det_ic15.yaml")
    assert finetune.config.init == str(runs / "finetune_det_ic15_thresh" / "final.pt")
    w8 = _write(
        tmp_path / "w8.yaml",
        "method: ptq\nkind: det\nmodel: dbnet_mv3_ppocrv3\nparent: ppocrv3-det-prune-w8\n",
    )
    with pytest.raises(ConfigError, match=r"w8\.yaml\.parent: ppocrv3-det-prune-w8 is made by"):
        load_recipe(w8)
    prune = _write(
        tmp_path / "p.yaml",
        f"base: {ROOT / 'recipes/base/prune_det.yaml'}\nparent: ppocrv3-det-prune\n",
    )
    with pytest.raises(ConfigError, match=r"p\.yaml\.parent: pruning starts from the official"):
        load_recipe(prune)
    train = _write(
        tmp_path / "t.yaml",
        f"base: {ROOT / 'recipes/base/train_det_ic15.yaml'}\nparent: ppocrv3-det-prune\n",
    )
    with pytest.raises(ConfigError, match=r"t\.yaml\.parent: a train recipe starts from a train"):
        load_recipe(train)


def test_zoo_records_and_recipes_name_the_same_parent():
    """The build graph is the recipes' ``parent``; the records' lineage must agree with it."""
    from slimocr.toolkit.recipes import load_recipe, repo_path
    from slimocr.zoo.records import load_records

    for record in load_records().values():
        if record.recipe.endswith(".yaml"):
            recipe = load_recipe(repo_path(record.recipe))
            assert recipe.head.parent == record.parent, record.name


def test_quant_command_runs_the_method_the_recipe_states(tmp_path: Path, monkeypatch):  # noqa: ANN001
    import typer
    from typer.testing import CliRunner

    from slimocr.toolkit.cli.quant import quant_cmd
    from slimocr.toolkit.compress.quant import recipe as quant_recipe

    seen: list[str] = []
    monkeypatch.setattr(quant_recipe, "run_quant", lambda cfg, method, **kw: seen.append(method))
    app = typer.Typer()
    app.command()(quant_cmd)
    bare = _write(tmp_path / "bare.yaml", "kind: det\nmodel: dbnet_mv3_ppocrv3\n")
    for recipe, extra in [
        (ROOT / "recipes" / "quant_det_ptq.yaml", []),
        (ROOT / "recipes" / "quant_det_pact.yaml", []),
        (ROOT / "recipes" / "quant_det_pact.yaml", ["--method", "ptq"]),
        (bare, []),  # no method stated: PACT, as before the schema
    ]:
        args = ["det", "--recipe", str(recipe), "--out", str(tmp_path / "x.onnx"), *extra]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    assert seen == ["ptq", "pact", "ptq", "pact"]
