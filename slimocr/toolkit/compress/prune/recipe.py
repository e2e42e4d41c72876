"""The prune recipe: sensitivity → ratios → structural pruning → finetuning → ONNX → evaluation.

A YAML recipe fills :class:`PruneRecipe`; its ``finetune`` section is an ordinary
:class:`~slimocr.toolkit.train.config.TrainConfig` (model, data, distillation from the float
parent).
Sensitivity is scored on the same held-out slice of the TRAIN split that the trainer validates
on (``finetune.data.val_fraction`` / ``val_max`` / ``seed``), never on a test set.

Every stage resumes: the sensitivity table skips measured points, the pruned model is rebuilt
from ``OUT/pruned/`` (channel spec + weights), the trainer continues from its ``last.pt``.

Outputs in ``out_dir``::

    sensitivity.json / .png   the table and its heat map
    ratios.json               the chosen per-group ratios, budget, MACs before/after
    pruned/                   weights.pt + channels.json right after pruning (no finetuning)
    finetune/                 the trainer's run folder
    model/                    weights.pt + channels.json + model.onnx of the finetuned model;
                              the input of the quantization recipe (prune + PACT):
                              ``Trainer(cfg, model=load_pruned("OUT/model"), model_hook=...)``
    eval.json                 ONNX Runtime metrics on ``export.eval_data`` (optional)
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from slimocr.errors import ConfigError
from slimocr.eval.pool import resolve_data
from slimocr.toolkit.compress.prune import ratios as rt
from slimocr.toolkit.compress.prune.config import PruneRecipe, check_table
from slimocr.toolkit.compress.prune.measure import (
    compare_latency,
    count_macs,
    count_params,
    model_latency_ms,
)
from slimocr.toolkit.compress.prune.sensitivity import (
    analyze_sensitivity,
    group_macs,
    is_complete,
    load_table,
    merge_tables,
    plot_sensitivity,
)
from slimocr.toolkit.compress.prune.spec import (
    SPEC_FILE,
    load_pruned,
    save_pruned,
    write_json_atomic,
)
from slimocr.toolkit.compress.prune.structural import (
    StructuralPruner,
    default_ignored_layers,
    example_input,
)
from slimocr.toolkit.train.config import TrainConfig

Log = Callable[[str], None]


# ---------------------------------------------------------------- stages
def _finetune_cfg(recipe: PruneRecipe, out_dir: Path) -> TrainConfig:
    return replace(recipe.finetune, out_dir=str(out_dir / "finetune"))


def held_out_evaluator(recipe: PruneRecipe, out_dir: Path) -> tuple[Callable, dict[str, Any]]:
    """``evaluate(model) -> metric`` on the first ``sensitivity.images`` samples of the
    trainer's held-out slice of the TRAIN split, and a description of that setup."""
    from slimocr.toolkit.train.tasks import make_task

    cfg = _finetune_cfg(recipe, out_dir)
    task = make_task(cfg)
    _, val = task.datasets()
    val = val[: recipe.sensitivity.images]
    if not val:
        raise ConfigError("the held-out slice is empty: set finetune.data.val_fraction > 0")
    device = torch.device("cpu")

    def evaluate(model: torch.nn.Module) -> float:
        return float(task.evaluate(model, val, device)[task.metric])

    setup = {
        "data": str(cfg.data.val or cfg.data.train),
        "held_out": [Path(str(s.image)).name for s in val],
        "val_fraction": cfg.data.val_fraction,
        "seed": cfg.seed,
        "skip_first": recipe.skip_first,
    }
    return evaluate, {"metric": task.metric, **setup}


def check_out_dir(recipe: PruneRecipe, where: str = "recipe") -> None:
    """Refuse an ``out_dir`` that cannot be a folder (it, or a folder on its way, is a file)
    before any work, rather than when the first result is written."""
    from slimocr.files import file_in_the_way

    blocker = file_in_the_way(recipe.out_dir)
    if blocker is not None:
        raise ConfigError(f"{where}.out_dir: {blocker} is a file, not a folder")


def shard_path(out: Path, shard: tuple[int, int]) -> Path:
    i, n = shard
    return out if n == 1 else out.with_name(f"{out.stem}.shard{i}of{n}{out.suffix}")


def run_sensitivity(
    recipe: PruneRecipe,
    out: str | Path | None = None,
    shard: tuple[int, int] = (0, 1),
    log: Log = print,
) -> dict[str, Any]:
    """Measure (resuming) the table; a finished shard merges all shards once they are done."""
    from slimocr.toolkit.models import create_model

    check_out_dir(recipe)
    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    out_dir = Path(recipe.out_dir)
    out = Path(out) if out is not None else out_dir / "sensitivity.json"
    model = create_model(recipe.arch, pretrained=True).eval()
    evaluate, setup = held_out_evaluator(recipe, out_dir)
    metric = setup.pop("metric")
    example = example_input(recipe.arch)
    groups = None
    if recipe.sensitivity.min_macs_share > 0:
        groups = _big_groups(recipe, model)
    table = analyze_sensitivity(
        model,
        evaluate,
        shard_path(out, shard),
        example,
        ratios=recipe.sensitivity.ratios,
        arch=recipe.arch,
        metric=metric,
        setup=setup,
        groups=groups,
        shard=shard,
        macs_input=recipe.input_shape(),
        pruner_kwargs={"ignored_layers": _ignored(recipe, model)},
        progress=log,
    )
    if shard[1] > 1:
        parts = [shard_path(out, (i, shard[1])) for i in range(shard[1])]
        tables = [load_table(p) for p in parts if p.exists()]
        if len(tables) < shard[1] or not all(is_complete(t) for t in tables):
            log(f"shard {shard[0]}/{shard[1]} done; waiting for the other shards to merge")
            return table
        table = merge_tables(tables)
        write_json_atomic(out, table)
    plot_sensitivity(table, out.with_suffix(".png"))
    return table


def _big_groups(recipe: PruneRecipe, model: torch.nn.Module) -> list[str]:
    probe, pruner = _pruner(recipe, model)
    total = count_macs(model, recipe.input_shape())
    share = group_macs(probe, pruner, recipe.input_shape())
    return [n for n in pruner.prunable if share[n] >= recipe.sensitivity.min_macs_share * total]


def _ignored(recipe: PruneRecipe, model: torch.nn.Module) -> list[torch.nn.Module]:
    return default_ignored_layers(model, recipe.skip_first)


def pruned_copy(
    recipe: PruneRecipe, model: torch.nn.Module, ratios: dict[str, float]
) -> torch.nn.Module:
    """A deep copy of ``model`` pruned by ``ratios`` with the recipe's settings."""
    return _prune(recipe, model, ratios)[0]


def _pruner(
    recipe: PruneRecipe, model: torch.nn.Module, **kwargs: Any
) -> tuple[torch.nn.Module, StructuralPruner]:
    """A deep copy of ``model`` and a pruner over it with the recipe's ignored layers."""
    copied = copy.deepcopy(model)
    pruner = StructuralPruner(
        copied, example_input(recipe.arch), ignored_layers=_ignored(recipe, copied), **kwargs
    )
    return copied, pruner


def _prune(
    recipe: PruneRecipe, model: torch.nn.Module, ratios: dict[str, float]
) -> tuple[torch.nn.Module, StructuralPruner]:
    pruned, pruner = _pruner(recipe, model, ratios=ratios, round_to=recipe.select.round_to)
    pruner.step()
    return pruned, pruner


def choose_ratios(
    recipe: PruneRecipe, model: torch.nn.Module, table: dict[str, Any] | None, log: Log = print
) -> tuple[dict[str, float], dict[str, Any]]:
    """Per-group ratios by the recipe's ``select`` section; returns them and how they were got."""
    sel = recipe.select
    if sel.ratios is not None:
        prunable = _pruner(recipe, model)[1].prunable
        unknown = sorted(set(sel.ratios) - set(prunable))
        if unknown:
            raise ConfigError(f"select.ratios: not prunable groups {unknown}; see {prunable}")
        return {n: float(sel.ratios.get(n, 0.0)) for n in prunable}, {"mode": "explicit"}
    if sel.uniform_ratio is not None:
        prunable = _pruner(recipe, model)[1].prunable
        return {n: sel.uniform_ratio for n in prunable}, {"mode": "uniform"}
    if table is None:
        raise ConfigError("select: a loss budget or target needs a sensitivity table")
    skip, cap = sel.skip_most_sensitive, sel.max_ratio
    if sel.flops_reduction is not None:
        shape = recipe.input_shape()

        def macs(ratios: dict[str, float]) -> float:
            return count_macs(pruned_copy(recipe, model, ratios), shape)

        try:
            budget = rt.budget_for_flops(
                table, macs, sel.flops_reduction, tol=1e-3, skip_most_sensitive=skip, max_ratio=cap
            )
        except ValueError as exc:
            raise ConfigError(
                f"select: a {sel.flops_reduction:.0%} MACs reduction is out of reach with this "
                f"table and skip settings ({exc}); lower it or allow larger ratios"
            ) from None
        info = {"mode": "flops", "target_reduction": sel.flops_reduction}
    elif sel.latency_ms is not None or sel.latency_speedup is not None:
        shape = recipe.input_shape(latency=True)
        threads = recipe.threads or 2

        def latency(ratios: dict[str, float]) -> float:
            pruned = pruned_copy(recipe, model, ratios)
            return model_latency_ms(pruned, recipe.kind, shape, threads, runs=10)["median_ms"]

        info = {"mode": "latency", "input": list(shape), "threads": threads}
        if sel.latency_speedup is not None:
            # the parent is timed in this process, so the target is a ratio of the same run
            parent_ms = model_latency_ms(model, recipe.kind, shape, threads, runs=20)["median_ms"]
            target = parent_ms / sel.latency_speedup
            info.update(parent_ms=parent_ms, target_speedup=sel.latency_speedup)
            log(f"parent {parent_ms:.1f} ms at {tuple(shape)}; target {target:.1f} ms")
        else:
            target = float(sel.latency_ms)  # type: ignore[arg-type]
        try:
            budget = rt.budget_for_latency(
                table, latency, target, tol=2e-3, skip_most_sensitive=skip, max_ratio=cap
            )
        except ValueError as exc:
            raise ConfigError(
                f"select: {target:.1f} ms at {tuple(shape)} is out of reach with this table "
                f"and skip settings ({exc}); lower the target or allow larger ratios"
            ) from None
        info["target_ms"] = target
    elif sel.loss_budget is not None:
        budget, info = sel.loss_budget, {"mode": "loss_budget"}
    else:
        raise ConfigError(
            "select: set one of loss_budget, flops_reduction, latency_ms, latency_speedup, "
            "uniform_ratio"
        )
    log(f"loss budget {budget:.4f}")
    ratios = rt.ratios_for_budget(table, budget, skip_most_sensitive=skip, max_ratio=cap)
    return ratios, {**info, "loss_budget": budget}


def _parent(recipe: PruneRecipe) -> str:
    from slimocr.toolkit.models import model_spec

    return recipe.export.parent or f"official:{model_spec(recipe.arch).official}"


def prune_stage(
    recipe: PruneRecipe, table: dict[str, Any] | None, log: Log = print
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Choose ratios and prune the float model; resumes from ``OUT/pruned`` when present."""
    from slimocr.toolkit.models import create_model

    out_dir = Path(recipe.out_dir)
    model = create_model(recipe.arch, pretrained=True).eval()
    ratios, how = choose_ratios(recipe, model, table, log)
    pruned_dir = out_dir / "pruned"
    if (pruned_dir / SPEC_FILE).exists():
        log(f"rebuilding the pruned model from {pruned_dir}")
        pruned = load_pruned(pruned_dir)
    else:
        pruned, pruner = _prune(recipe, model, ratios)
        if recipe.reconstruct.images > 0:
            summary_recon = reconstruct_stage(recipe, model, pruned, pruner, log)
            write_json_atomic(out_dir / "reconstruct.json", summary_recon)
    shape = recipe.input_shape()
    summary = {
        **how,
        "ratios": {n: r for n, r in ratios.items() if r > 0},
        "macs_input": list(shape),
        "macs": {"parent": count_macs(model, shape), "pruned": count_macs(pruned, shape)},
        "params": {"parent": count_params(model), "pruned": count_params(pruned)},
    }
    summary["macs"]["reduction"] = 1 - summary["macs"]["pruned"] / summary["macs"]["parent"]
    write_json_atomic(out_dir / "ratios.json", summary)
    if not (pruned_dir / SPEC_FILE).exists():
        save_pruned(pruned, recipe.arch, pruned_dir, {"parent": _parent(recipe), **summary})
    log(
        f"MACs {summary['macs']['parent'] / 1e9:.3f} G -> {summary['macs']['pruned'] / 1e9:.3f} G "
        f"({100 * summary['macs']['reduction']:.1f}% fewer) at {tuple(shape)}"
    )
    return pruned, summary


def _calibration_inputs(recipe: PruneRecipe) -> list[torch.Tensor]:
    from slimocr.toolkit.compress.quant.ptq import det_calibration_batches, rec_calibration_batches
    from slimocr.toolkit.models import model_spec

    rc, data = recipe.reconstruct, resolve_data(recipe.finetune.data.train)
    if recipe.kind == "det":
        seed = recipe.finetune.seed
        return list(det_calibration_batches(data, rc.images, rc.limit_side_len, seed))
    height = model_spec(recipe.arch).input_height or 32
    crops = Path(recipe.out_dir) / "calib_crops"
    return list(rec_calibration_batches(data, rc.images, crops, height, seed=recipe.finetune.seed))


def reconstruct_stage(
    recipe: PruneRecipe,
    parent: torch.nn.Module,
    pruned: torch.nn.Module,
    pruner: StructuralPruner,
    log: Log = print,
) -> dict[str, Any]:
    """Refit the pruned model's convs to the parent's outputs on a few TRAIN images."""
    from slimocr.toolkit.compress.prune.reconstruct import kept_channels, reconstruct

    rc = recipe.reconstruct
    batches = _calibration_inputs(recipe)
    if not batches:
        raise ConfigError(f"{recipe.finetune.data.train}: no images for reconstruction")
    layers = reconstruct(
        parent,
        pruned,
        batches,
        kept_channels(pruner),
        samples=rc.samples,
        ridge=rc.ridge,
        seed=recipe.finetune.seed,
        log=log,
    )
    return {"images": len(batches), "samples": rc.samples, "ridge": rc.ridge, "layers": layers}


def finetune_stage(recipe: PruneRecipe, pruned: torch.nn.Module, log: Log = print) -> dict:
    """Finetune the pruned model with the Trainer (resumable); loads its best held-out
    weights (``best.pt``), or its final ones when ``export.use_best`` is off or no evaluation
    ran."""
    from slimocr.toolkit.train.checkpoint import load_checkpoint
    from slimocr.toolkit.train.trainer import Trainer

    cfg = _finetune_cfg(recipe, Path(recipe.out_dir))
    if cfg.steps <= 0:
        return {"step": 0}
    run = Path(cfg.out_dir)
    if (run / "final.pt").exists():
        log(f"finetuning already finished in {run}")
        result: dict[str, Any] = {"resumed": True}
    else:
        result = Trainer(cfg, model=pruned).fit(resume=True)
    use_best = recipe.export.use_best and (run / "best.pt").exists()
    weights = run / "best.pt" if use_best else run / "final.pt"
    pruned.load_state_dict(load_checkpoint(weights)["model"])
    return {**result, "weights": str(weights)}


def export_stage(
    recipe: PruneRecipe, model: torch.nn.Module, summary: dict[str, Any], recipe_name: str = ""
) -> Path:
    """Write ``OUT/model/`` (weights, channel spec, ONNX with lineage metadata)."""
    from slimocr.official import official_charset
    from slimocr.toolkit.export.onnx_export import build_metadata, export_onnx
    from slimocr.toolkit.models import model_spec

    model_dir = Path(recipe.out_dir) / "model"
    save_pruned(model, recipe.arch, model_dir, {"parent": _parent(recipe), **summary})
    if not recipe.export.onnx:
        return model_dir
    spec = model_spec(recipe.arch)
    charset = official_charset(spec.charset) if spec.charset else None
    extra = {
        "compression": "prune:fpgm",
        "prune": {k: summary[k] for k in ("mode", "loss_budget", "macs", "ratios") if k in summary},
        "channel_spec": json.loads((model_dir / SPEC_FILE).read_text(encoding="utf-8"))["modules"],
    }
    meta = build_metadata(recipe.kind, recipe.arch, charset, _parent(recipe), recipe_name, extra)
    return export_onnx(model.eval(), model_dir / "model.onnx", recipe.kind, meta)


def latency_stage(recipe: PruneRecipe, pruned: torch.nn.Module, log: Log = print) -> dict:
    """ONNX Runtime latency of the float parent and the pruned model, interleaved in one run
    (medians at ``latency_input``, the recipe's threads)."""
    from slimocr.toolkit.models import create_model

    if recipe.latency_runs <= 0:
        return {}
    shape = recipe.input_shape(latency=True)
    threads = recipe.threads or 2
    parent = create_model(recipe.arch, pretrained=True).eval()
    times = compare_latency(
        {"parent": parent, "pruned": pruned.eval()},
        recipe.kind,
        shape,
        threads=threads,
        runs=recipe.latency_runs,
    )
    speedup = times["parent"]["median_ms"] / times["pruned"]["median_ms"]
    log(
        f"latency at {tuple(shape)}, {threads} threads: parent "
        f"{times['parent']['median_ms']:.1f} ms, pruned {times['pruned']['median_ms']:.1f} ms "
        f"({speedup:.2f}x)"
    )
    from slimocr.bench.latency import machine_info

    return {
        "input": list(shape),
        "threads": threads,
        "parent_ms": times["parent"]["median_ms"],
        "pruned_ms": times["pruned"]["median_ms"],
        "speedup": speedup,
        "runs": recipe.latency_runs,
        "machine": machine_info(),
    }


def evaluate_onnx(recipe: PruneRecipe, onnx_path: Path) -> dict[str, Any]:
    """Metrics of the exported file in ONNX Runtime on ``export.eval_data`` (a labelled set)."""
    from slimocr.eval.readers import load_det_dataset, load_rec_dataset
    from slimocr.eval.runner import run_det_eval, run_rec_eval

    ex = recipe.export
    assert ex.eval_data is not None
    if recipe.kind == "det":
        from slimocr.infer.det import TextDetector

        det = TextDetector(onnx_path, threads=ex.eval_threads)

        def detect(img):  # noqa: ANN001, ANN202
            res = det(img)
            return res.boxes, res.scores

        report = run_det_eval(load_det_dataset(ex.eval_data)[: ex.eval_limit], detect)
    else:
        from slimocr.infer.pipeline import resolve_charset
        from slimocr.infer.rec import TextRecognizer
        from slimocr.infer.session import OnnxSession

        session = OnnxSession(onnx_path, ex.eval_threads)
        rec = TextRecognizer(session, charset=resolve_charset(None, session), batch_size=6)

        def recognize(crops):  # noqa: ANN001, ANN202
            return [(r.text, r.score) for r in rec(crops)]

        report = run_rec_eval(load_rec_dataset(ex.eval_data)[: ex.eval_limit], recognize, batch=6)
    report["settings"] = {"data": ex.eval_data, "model": str(onnx_path), "threads": ex.eval_threads}
    write_json_atomic(Path(recipe.out_dir) / "eval.json", report)
    return report


def run_prune(recipe: PruneRecipe, recipe_name: str = "", log: Log = print) -> dict[str, Any]:
    """The whole recipe; every stage resumes from what ``out_dir`` already holds."""
    check_out_dir(recipe, recipe_name or "recipe")
    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    table = None
    if recipe.select.uniform_ratio is None:
        if recipe.sensitivity.table:
            table = check_table(recipe, recipe_name or "recipe")
        else:
            table = run_sensitivity(recipe, log=log)
    pruned, summary = prune_stage(recipe, table, log)
    result: dict[str, Any] = {"prune": summary, "finetune": finetune_stage(recipe, pruned, log)}
    out = export_stage(recipe, pruned, summary, recipe_name)
    result["model"] = str(out)
    result["latency"] = latency_stage(recipe, pruned, log)
    if recipe.export.eval_data and out.suffix == ".onnx":
        result["eval"] = evaluate_onnx(recipe, out).get("metrics")
    write_json_atomic(Path(recipe.out_dir) / "result.json", result)
    return result
