"""Build zoo models from the official weights (needs the ``slimocr[train]`` extra).

``slimocr zoo build NAME`` runs the recipe of a zoo entry: import the official weights into our
torch modules, compress (per recipe), export ONNX with lineage metadata, and write the record
(file, sha256, size, parent, recipe). Metrics are added by ``slimocr zoo measure``/``bench``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slimocr.zoo.records import (
    FILES_DIR,
    RECORDS_JSON,
    ZooRecord,
    load_defaults,
    load_records,
    save_records,
)


@dataclass(frozen=True)
class ZooRecipe:
    """How a zoo entry is made.

    Attributes:
        name: zoo name (``ppocrv3-det-float``).
        kind: ``det`` or ``rec``.
        arch: registered model builder.
        parent: zoo name of the model it was compressed from (None for the import of official
            weights).
        recipe: recipe id (``import`` for a plain float import; a YAML path for compression,
            relative to the repository root).
        method: how the YAML recipe runs: ``prune``
            (:func:`slimocr.toolkit.compress.prune.run_prune`), ``ptq`` or ``pact``
            (:func:`slimocr.toolkit.compress.quant.recipe.run_quant`); ``w8`` converts
            the parent's shipped file to weight-only int8
            (:mod:`slimocr.toolkit.compress.quant.weight_only`, recipe id ``weight-only-int8``).
        overrides: ``key=value`` overrides of the recipe.
    """

    name: str
    kind: str
    arch: str
    parent: str | None
    recipe: str
    method: str = "import"
    overrides: tuple[str, ...] = ()


WEIGHT_ONLY_RECIPE = "weight-only-int8"
# recipe ids that name a built-in step rather than a YAML file
BUILTIN_RECIPES = ("import", WEIGHT_ONLY_RECIPE)


RECIPES: dict[str, ZooRecipe] = {
    r.name: r
    for r in (
        ZooRecipe(
            "ppocrv3-det-float", "det", "dbnet_mv3_ppocrv3", "official-ppocrv3-det", "import"
        ),
        ZooRecipe("ppocrv2-rec-float", "rec", "crnn_ppocrv2", "official-ppocrv2-rec", "import"),
        ZooRecipe(
            "ppocrv3-det-ptq-int8",
            "det",
            "dbnet_mv3_ppocrv3",
            "ppocrv3-det-float",
            "recipes/quant_det_ptq.yaml",
            "ptq",
        ),
        ZooRecipe(
            "ppocrv3-det-prune",
            "det",
            "dbnet_mv3_ppocrv3",
            "ppocrv3-det-float",
            "recipes/prune_det.yaml",
            "prune",
        ),
        ZooRecipe(
            "ppocrv3-det-prune-w8",
            "det",
            "dbnet_mv3_ppocrv3",
            "ppocrv3-det-prune",
            WEIGHT_ONLY_RECIPE,
            "w8",
        ),
        ZooRecipe(
            "ppocrv3-det-prune-l50",
            "det",
            "dbnet_mv3_ppocrv3",
            "ppocrv3-det-float",
            "recipes/prune_det_l50.yaml",
            "prune",
        ),
        ZooRecipe(
            "ppocrv3-det-prune-l50-w8",
            "det",
            "dbnet_mv3_ppocrv3",
            "ppocrv3-det-prune-l50",
            WEIGHT_ONLY_RECIPE,
            "w8",
        ),
        ZooRecipe(
            "ppocrv3-det-prune-ptq-int8",
            "det",
            "dbnet_mv3_ppocrv3",
            "ppocrv3-det-prune",
            "recipes/quant_det_prune_ptq.yaml",
            "ptq",
        ),
        ZooRecipe(
            "ppocrv3-det-pact-int8",
            "det",
            "dbnet_mv3_ppocrv3",
            "ppocrv3-det-float",
            "recipes/quant_det_pact.yaml",
            "pact",
        ),
        ZooRecipe(
            "ppocrv3-det-prune-pact-int8",
            "det",
            "dbnet_mv3_ppocrv3",
            "ppocrv3-det-prune",
            "recipes/quant_det_prune_pact_direct.yaml",
            "pact",
        ),
        ZooRecipe(
            "ppocrv6s-det-ptq-int8",
            "det",
            "dbnet_ppocrv6s",
            "rapidocr-ppocrv6s-det",
            "recipes/quant_det_v6s_ptq.yaml",
            "ptq",
        ),
        ZooRecipe(
            "ppocrv6s-rec-ptq-int8",
            "rec",
            "svtr_ppocrv6s",
            "rapidocr-ppocrv6s-rec",
            "recipes/quant_rec_v6s_ptq.yaml",
            "ptq",
        ),
        ZooRecipe(
            "ppocrv6s-det-prune",
            "det",
            "dbnet_ppocrv6s",
            "rapidocr-ppocrv6s-det",
            "recipes/prune_det_v6s.yaml",
            "prune",
        ),
        ZooRecipe(
            "ppocrv6s-det-prune-ptq-int8",
            "det",
            "dbnet_ppocrv6s",
            "ppocrv6s-det-prune",
            "recipes/quant_det_v6s_prune_ptq.yaml",
            "ptq",
        ),
        ZooRecipe(
            "ppocrv6s-det-prune-w8",
            "det",
            "dbnet_ppocrv6s",
            "ppocrv6s-det-prune",
            WEIGHT_ONLY_RECIPE,
            "w8",
        ),
        ZooRecipe(
            "ppocrv6s-det-w8",
            "det",
            "dbnet_ppocrv6s",
            "rapidocr-ppocrv6s-det",
            WEIGHT_ONLY_RECIPE,
            "w8",
        ),
        ZooRecipe(
            "ppocrv6s-rec-w8",
            "rec",
            "svtr_ppocrv6s",
            "rapidocr-ppocrv6s-rec",
            WEIGHT_ONLY_RECIPE,
            "w8",
        ),
        ZooRecipe(
            "ppocrv2-rec-pact-int8",
            "rec",
            "crnn_ppocrv2",
            "ppocrv2-rec-float",
            "recipes/quant_rec_pact.yaml",
            "pact",
        ),
        ZooRecipe(
            "ppocrv2-rec-pact-int8-lstm",
            "rec",
            "crnn_ppocrv2",
            "ppocrv2-rec-float",
            "recipes/quant_rec_pact.yaml",
            "pact",
            ("export.lstm=dynamic_int8",),
        ),
        ZooRecipe(
            "ppocrv2-rec-pact-int8-hs-lstm",
            "rec",
            "crnn_ppocrv2",
            "ppocrv2-rec-float",
            "recipes/quant_rec_pact_hs.yaml",
            "pact",
            ("export.lstm=dynamic_int8",),
        ),
        ZooRecipe(
            "ppocrv2-rec-pact-int8-hs-lstm-zh",
            "rec",
            "crnn_ppocrv2",
            "ppocrv2-rec-float",
            "recipes/quant_rec_pact_hs_zh.yaml",
            "pact",
            ("export.lstm=dynamic_int8",),
        ),
        ZooRecipe(
            "ppocrv2-rec-prune",
            "rec",
            "crnn_ppocrv2",
            "ppocrv2-rec-float",
            "recipes/prune_rec_r125.yaml",
            "prune",
        ),
        ZooRecipe(
            "ppocrv2-rec-prune-pact-int8-hs-lstm",
            "rec",
            "crnn_ppocrv2",
            "ppocrv2-rec-prune",
            "recipes/quant_rec_prune_pact_hs.yaml",
            "pact",
            ("export.lstm=dynamic_int8",),
        ),
        ZooRecipe(
            "ppocrv2-rec-prune-pact-int8-hs-lstm-zh",
            "rec",
            "crnn_ppocrv2",
            "ppocrv2-rec-prune",
            "recipes/quant_rec_prune_pact_hs_zh.yaml",
            "pact",
            ("export.lstm=dynamic_int8",),
        ),
    )
}


def _build_import(recipe: ZooRecipe, out: Path) -> None:
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


def _recipe_file(recipe: ZooRecipe) -> Path:
    path = Path(recipe.recipe)
    if not path.is_file():
        from slimocr.errors import ConfigError

        raise ConfigError(
            f"{recipe.name}: recipe {path} not found; run `slimocr zoo build` from the root of "
            "a SlimOCR source checkout (recipes/ is not part of the installed package)"
        )
    return path


def _build_prune(recipe: ZooRecipe, out: Path) -> dict[str, Any]:
    import shutil

    from slimocr.toolkit.compress.prune.config import load_recipe
    from slimocr.toolkit.compress.prune.recipe import run_prune

    cfg = load_recipe(_recipe_file(recipe), list(recipe.overrides))
    result = run_prune(cfg, recipe_name=recipe.recipe)
    shutil.copyfile(result["model"], out)
    prune = result["prune"]
    return {
        f"ic15_{recipe.kind}": result.get("eval"),
        "macs_reduction": round(prune["macs"]["reduction"], 4),
        "macs_input": prune["macs_input"],
        "latency": result.get("latency"),
    }


def _build_quant(recipe: ZooRecipe, out: Path) -> dict[str, Any]:
    from slimocr.toolkit.compress.quant.recipe import run_quant

    report = run_quant(
        _recipe_file(recipe),
        method=recipe.method,
        out=out,
        overrides=list(recipe.overrides),
        recipe_id=recipe.recipe,
    )
    return {"int8_kernels": report.get("int8_kernels")}


def _build_w8(recipe: ZooRecipe, out: Path) -> dict[str, Any]:
    from slimocr.toolkit.compress.quant.weight_only import weight_only_file
    from slimocr.zoo.registry import resolve_model

    parent = resolve_model(recipe.parent, recipe.kind)  # sha256-verified
    extra = {"kind": recipe.kind, "arch": recipe.arch, "parent": recipe.parent or ""}
    extra.update(recipe=recipe.recipe, zoo_name=recipe.name)
    return {"weight_only": weight_only_file(parent, out, extra=extra)}


BUILDERS: dict[str, Callable[[ZooRecipe, Path], dict[str, Any] | None]] = {
    "import": _build_import,
    "prune": _build_prune,
    "ptq": _build_quant,
    "pact": _build_quant,
    "w8": _build_w8,
}


def _build_info(recipe: ZooRecipe, built: dict[str, Any]) -> dict[str, Any]:
    from slimocr.bench.latency import machine_info

    info = {"method": recipe.method, **{k: v for k, v in built.items() if v is not None}}
    if recipe.overrides:
        info["overrides"] = list(recipe.overrides)
    info["hardware"] = machine_info()
    return info


def build(name: str, files_dir: Path = FILES_DIR, records_path: Path = RECORDS_JSON) -> ZooRecord:
    """Run the recipe of zoo entry ``name`` and record the result (keeps measured metrics)."""
    from slimocr.official import sha256_file

    if name not in RECIPES:
        raise KeyError(f"no recipe for {name!r}; known: {', '.join(sorted(RECIPES))}")
    recipe = RECIPES[name]
    out = files_dir / f"{name}.onnx"
    built = BUILDERS[recipe.method](recipe, out) or {}
    records = load_records(records_path)
    old = records.get(name)
    record = ZooRecord(
        name=name,
        kind=recipe.kind,
        arch=recipe.arch,
        file=out.name,
        sha256=sha256_file(out),
        size_bytes=out.stat().st_size,
        parent=recipe.parent,
        recipe=recipe.recipe,
        metrics=old.metrics if old and old.sha256 == sha256_file(out) else {},
        build=_build_info(recipe, built) if recipe.method != "import" else {},
    )
    records[name] = record
    save_records(records, load_defaults(records_path), records_path)
    return record
