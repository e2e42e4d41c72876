"""Build zoo models from the official weights (needs the ``slimocr[train]`` extra).

``slimocr zoo build NAME`` runs the recipe of a zoo entry: import the official weights into our
torch modules, compress (per recipe), export ONNX with lineage metadata, and write the record
(file, sha256, size, parent, recipe). Metrics are added by ``slimocr zoo measure``/``bench``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from slimocr.zoo.records import (
    FILES_DIR,
    RECORDS_JSON,
    ZooRecord,
    load_defaults,
    load_pipelines,
    load_records,
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
        recipe: recipe id (``import`` for a plain float import; a YAML path for compression).
    """

    name: str
    kind: str
    arch: str
    parent: str | None
    recipe: str


RECIPES: dict[str, ZooRecipe] = {
    r.name: r
    for r in (
        ZooRecipe(
            "ppocrv3-det-float", "det", "dbnet_mv3_ppocrv3", "official-ppocrv3-det", "import"
        ),
        ZooRecipe("ppocrv2-rec-float", "rec", "crnn_ppocrv2", "official-ppocrv2-rec", "import"),
    )
}


def save_records(
    records: dict[str, ZooRecord], defaults: dict[str, str], path: Path = RECORDS_JSON
) -> None:
    """Write the records file (sorted, stable formatting, so diffs stay readable)."""
    data = {
        "defaults": defaults,
        "pipelines": load_pipelines(path),
        "records": [asdict(records[k]) for k in sorted(records)],
    }
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _build_import(recipe: ZooRecipe, out: Path) -> None:
    from slimocr.charset import load_charset
    from slimocr.export.onnx_export import build_metadata, export_onnx
    from slimocr.models import create_model, model_spec
    from slimocr.pretrained.official import official_path

    spec = model_spec(recipe.arch)
    model = create_model(recipe.arch, pretrained=True)
    charset = load_charset(official_path(spec.charset)) if spec.charset else None
    meta = build_metadata(
        recipe.kind,
        recipe.arch,
        charset=charset,
        parent=recipe.parent,
        recipe=recipe.recipe,
        extra={"zoo_name": recipe.name},
    )
    export_onnx(model, out, recipe.kind, meta)


BUILDERS: dict[str, Callable[[ZooRecipe, Path], None]] = {"import": _build_import}


def build(name: str, files_dir: Path = FILES_DIR, records_path: Path = RECORDS_JSON) -> ZooRecord:
    """Run the recipe of zoo entry ``name`` and record the result (keeps measured metrics)."""
    from slimocr.pretrained.official import sha256_file

    if name not in RECIPES:
        raise KeyError(f"no recipe for {name!r}; known: {', '.join(sorted(RECIPES))}")
    recipe = RECIPES[name]
    out = files_dir / f"{name}.onnx"
    BUILDERS[recipe.recipe](recipe, out)
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
    )
    records[name] = record
    save_records(records, load_defaults(records_path), records_path)
    return record
