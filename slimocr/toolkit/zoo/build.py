"""Build zoo models from the official weights (needs the ``slimocr[train]`` extra).

``slimocr zoo build NAME`` runs the recipe of a zoo entry: import the official weights into our
torch modules, compress (per recipe), export ONNX with lineage metadata, and write the record
(file, sha256, size, parent, recipe). Metrics are added by ``slimocr zoo measure``/``bench``.

The build graph is read from two places only: the record's ``recipe`` (``import``,
``weight-only-int8`` or a YAML recipe, with the record's ``build.overrides``) and that recipe's
``parent``/``parent_recipe`` (:mod:`slimocr.toolkit.recipes`). A parent made by a recipe is
built first into the work folder (``${runs}``), or found there when an earlier build left it, so
every row rebuilds from a clean checkout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from slimocr.errors import ConfigError
from slimocr.zoo.records import (
    FILES_DIR,
    RECORDS_JSON,
    ZooRecord,
    load_defaults,
    load_records,
    save_records,
)

Log = Callable[[str], None]
WEIGHT_ONLY_RECIPE = "weight-only-int8"
# recipe ids that name a built-in step rather than a YAML file
BUILTIN_RECIPES = ("import", WEIGHT_ONLY_RECIPE)


@dataclass(frozen=True)
class ZooRecipe:
    """How a zoo entry is made, derived from its record and its recipe file.

    Attributes:
        name: zoo name (``ppocrv3-det-float``).
        kind: ``det`` or ``rec``.
        arch: registered model builder.
        parent: zoo name of the model it was compressed from (the record's lineage).
        recipe: recipe id (``import``, ``weight-only-int8`` or a YAML path relative to the
            repository root).
        method: ``import``, ``w8`` (weight-only int8 of the parent's shipped file) or the YAML
            recipe's ``method``.
        overrides: ``key=value`` overrides of the recipe (the record's ``build.overrides``).
    """

    name: str
    kind: str
    arch: str
    parent: str | None
    recipe: str
    method: str = "import"
    overrides: tuple[str, ...] = ()


def zoo_recipe(record: ZooRecord) -> ZooRecipe:
    """The build step of one record."""
    from slimocr.toolkit.recipes import read_recipe, repo_path

    if record.recipe == "import":
        method = "import"
    elif record.recipe == WEIGHT_ONLY_RECIPE:
        method = "w8"
    else:
        path = repo_path(record.recipe)
        if not path.is_file():
            raise ConfigError(
                f"{record.name}: recipe {record.recipe} not found; run `slimocr zoo build` from "
                "a SlimOCR source checkout (recipes/ is not part of the installed package)"
            )
        stated = read_recipe(path).get("method")
        if not isinstance(stated, str):
            raise ConfigError(f"{path}: missing 'method:'")
        method = stated
    overrides = tuple(record.build.get("overrides", ()))
    return ZooRecipe(
        record.name, record.kind, record.arch, record.parent, record.recipe, method, overrides
    )


def zoo_recipes(records_path: Path = RECORDS_JSON) -> dict[str, ZooRecipe]:
    """Every record's build step, by zoo name."""
    return {name: zoo_recipe(r) for name, r in load_records(records_path).items()}


def split_overrides(overrides: list[str] | tuple[str, ...]) -> tuple[list[str], dict[str, list]]:
    """``key=value`` overrides for the row built; ``METHOD:key=value`` for every recipe of that
    method in its build (its parents included).

    >>> split_overrides(["calib.images=2", "prune:finetune.steps=1"])
    (['calib.images=2'], {'prune': ['finetune.steps=1']})
    """
    from slimocr.toolkit.recipes import METHODS

    own: list[str] = []
    by_method: dict[str, list] = {}
    for item in overrides:
        prefix, sep, rest = item.partition(":")
        if sep and prefix in METHODS and "=" not in prefix:
            by_method.setdefault(prefix, []).append(rest)
        else:
            own.append(item)
    return own, by_method


def _build_import(recipe: ZooRecipe, out: Path) -> None:  # noqa: D103
    from slimocr.official import official_charset
    from slimocr.toolkit.export.onnx_export import build_metadata, export_onnx
    from slimocr.toolkit.models import create_model, model_spec

    spec = model_spec(recipe.arch)
    model = create_model(recipe.arch, pretrained=True)
    charset = official_charset(spec.charset) if spec.charset else None
    meta = build_metadata(
        recipe.kind,
        recipe.arch,
        charset=charset,
        parent=recipe.parent,
        recipe=recipe.recipe,
        extra={"zoo_name": recipe.name},
    )
    export_onnx(model, out, recipe.kind, meta)


@dataclass(frozen=True)
class _Context:
    """What one ``build`` call shares with the steps it runs."""

    files_dir: Path
    records_path: Path
    variables: dict[str, str]
    own: list[str]  # overrides of the row built
    by_method: dict[str, list]  # overrides of every recipe of a method
    log: Log


def _recipe_id(path: Path) -> str:
    """A recipe's id in lineage metadata: its path from the repository root when inside it."""
    from slimocr.toolkit.recipes import source_root

    try:
        return path.resolve().relative_to(source_root()).as_posix()
    except ValueError:
        return str(path)


def _load(path: Path, overrides: list[str], ctx: _Context) -> Any:
    from slimocr.toolkit.recipes import load_recipe

    return load_recipe(path, overrides, ctx.variables, ctx.records_path)


def _method_overrides(path: Path, ctx: _Context) -> list[str]:
    from slimocr.toolkit.recipes import read_recipe

    method = read_recipe(path, variables=ctx.variables).get("method")
    return list(ctx.by_method.get(str(method), []))


def ensure_parent(recipe: Any, ctx: _Context) -> str | None:
    """Build (or find built) the model ``recipe`` starts from; returns its weights path (None:
    the official import). Parents of parents come first."""
    from slimocr.toolkit.compress.prune.spec import SPEC_FILE

    head = recipe.head
    if head.parent_recipe is None:
        return None
    from slimocr.toolkit.recipes import repo_path

    record = load_records(ctx.records_path).get(head.parent or "")
    overrides: list[str] = []
    if record is not None and repo_path(record.recipe).resolve() == head.parent_recipe.resolve():
        overrides += record.build.get("overrides", ())  # the parent row's own settings
    overrides += _method_overrides(head.parent_recipe, ctx)
    parent = _load(head.parent_recipe, overrides, ctx)
    ensure_parent(parent, ctx)
    out = parent.output(head.parent_output)
    done = (out / SPEC_FILE).exists() if parent.method == "prune" else out.exists()
    name = head.parent or _recipe_id(head.parent_recipe)
    if done:
        ctx.log(f"parent {name}: found {out}")
        return str(out)
    ctx.log(f"parent {name}: building {out} by {_recipe_id(head.parent_recipe)}")
    if parent.method == "prune":
        from slimocr.toolkit.compress.prune.recipe import run_prune

        run_prune(parent.config, recipe_name=_recipe_id(head.parent_recipe), log=ctx.log)
    elif parent.method == "train":
        from slimocr.toolkit.train.trainer import Trainer

        Trainer(parent.config).fit(resume=True)
    if not out.exists():
        raise ConfigError(f"{head.parent_recipe}: the run did not leave {out}")
    return str(out)


def _recipe_of(zr: ZooRecipe, ctx: _Context) -> Any:
    """The row's recipe with its overrides, its parent built and wired in."""
    from slimocr.toolkit.recipes import repo_path

    path = repo_path(zr.recipe)
    overrides = [*zr.overrides, *ctx.by_method.get(zr.method, []), *ctx.own]
    recipe = _load(path, overrides, ctx)
    weights = ensure_parent(recipe, ctx)
    if weights is not None and recipe.method in ("ptq", "pact"):
        recipe = replace(recipe, config=replace(recipe.config, weights=weights))
    return recipe


def _build_prune(zr: ZooRecipe, out: Path, ctx: _Context) -> dict[str, Any]:
    import shutil

    from slimocr.toolkit.compress.prune.recipe import run_prune

    recipe = _recipe_of(zr, ctx)
    result = run_prune(recipe.config, recipe_name=zr.recipe, log=ctx.log)
    shutil.copyfile(result["model"], out)
    prune = result["prune"]
    return {
        f"ic15_{zr.kind}": result.get("eval"),
        "macs_reduction": round(prune["macs"]["reduction"], 4),
        "macs_input": prune["macs_input"],
        "latency": result.get("latency"),
    }


def _build_quant(zr: ZooRecipe, out: Path, ctx: _Context) -> dict[str, Any]:
    from slimocr.toolkit.compress.quant.recipe import run_quant

    recipe = _recipe_of(zr, ctx)
    report = run_quant(recipe.config, method=zr.method, out=out, recipe_id=zr.recipe)
    return {"int8_kernels": report.get("int8_kernels")}


def _parent_file(zr: ZooRecipe, ctx: _Context) -> Path:
    """The parent's ONNX file: official/peer, or the zoo file in ``files_dir`` (sha256
    checked), built first when it is missing."""
    from slimocr.official import sha256_file
    from slimocr.zoo.registry import resolve_model

    assert zr.parent is not None
    record = load_records(ctx.records_path).get(zr.parent)
    if record is None:
        return resolve_model(zr.parent, zr.kind)  # type: ignore[arg-type]
    path = ctx.files_dir / record.file
    if not (path.is_file() and sha256_file(path) == record.sha256):
        ctx.log(f"parent {zr.parent}: building {path}")
        record = _build(zr.parent, ctx)
        path = ctx.files_dir / record.file
    return path


def _build_w8(zr: ZooRecipe, out: Path, ctx: _Context) -> dict[str, Any]:
    from slimocr.toolkit.compress.quant.weight_only import weight_only_file

    parent = _parent_file(zr, ctx)
    extra = {"kind": zr.kind, "arch": zr.arch, "parent": zr.parent or ""}
    extra.update(recipe=zr.recipe, zoo_name=zr.name)
    return {"weight_only": weight_only_file(parent, out, extra=extra)}


def _build_import_step(zr: ZooRecipe, out: Path, ctx: _Context) -> dict[str, Any]:
    _build_import(zr, out)
    return {}


BUILDERS: dict[str, Callable[[ZooRecipe, Path, _Context], dict[str, Any]]] = {
    "import": _build_import_step,
    "prune": _build_prune,
    "ptq": _build_quant,
    "pact": _build_quant,
    "w8": _build_w8,
}


def _build_info(zr: ZooRecipe, built: dict[str, Any], ctx: _Context) -> dict[str, Any]:
    from slimocr.bench.latency import machine_info

    info = {"method": zr.method, **{k: v for k, v in built.items() if v is not None}}
    if zr.overrides:
        info["overrides"] = list(zr.overrides)
    extra = ctx.own + [f"{m}:{o}" for m, items in ctx.by_method.items() for o in items]
    if extra:  # one-off settings of this build (not part of the row's recipe)
        info["set"] = extra
    info["hardware"] = machine_info()
    return info


def _build(name: str, ctx: _Context) -> ZooRecord:
    from slimocr.official import sha256_file

    recipes = zoo_recipes(ctx.records_path)
    if name not in recipes:
        raise ConfigError(f"{name}: no such zoo model; known: {', '.join(sorted(recipes))}")
    zr = recipes[name]
    if zr.method not in BUILDERS:
        raise ConfigError(f"{zr.recipe}: method {zr.method} does not make a zoo file")
    ctx.files_dir.mkdir(parents=True, exist_ok=True)
    out = ctx.files_dir / f"{name}.onnx"
    built = BUILDERS[zr.method](zr, out, ctx)
    records = load_records(ctx.records_path)
    old = records.get(name)
    digest = sha256_file(out)
    record = ZooRecord(
        name=name,
        kind=zr.kind,
        arch=zr.arch,
        file=out.name,
        sha256=digest,
        size_bytes=out.stat().st_size,
        parent=zr.parent,
        recipe=zr.recipe,
        metrics=old.metrics if old and old.sha256 == digest else {},
        build=_build_info(zr, built, ctx) if zr.method != "import" else {},
        retired=old.retired if old else "",
        int8_fallback=old.int8_fallback if old else "",
    )
    records[name] = record
    save_records(records, load_defaults(ctx.records_path), ctx.records_path)
    return record


def build(
    name: str,
    files_dir: Path = FILES_DIR,
    records_path: Path = RECORDS_JSON,
    work_dir: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    log: Log = print,
) -> ZooRecord:
    """Run the recipe of zoo entry ``name`` and record the result (keeps measured metrics).

    Args:
        name: zoo model name.
        files_dir: where the ONNX file goes (and parents' zoo files are looked for).
        records_path: the records file to update.
        work_dir: run folders (``${runs}``; default ``$SLIMOCR_RUNS`` or ``runs``); parents
            built by recipes go there first.
        overrides: ``key=value`` for this row's recipe, ``METHOD:key=value`` for every recipe
            of that method in the build (e.g. ``prune:finetune.steps=10``).
        log: progress lines.
    """
    from slimocr.toolkit.recipes import recipe_variables

    own, by_method = split_overrides(overrides)
    ctx = _Context(
        Path(files_dir), Path(records_path), recipe_variables(work_dir), own, by_method, log
    )
    return _build(name, ctx)
