"""Quantization recipes: float parent → fold BN → fake-quant → calibrate → [PACT QAT] → int8 ONNX.

A recipe is YAML filling :class:`QuantRecipe` (``method: ptq`` or ``pact``, schema in
:mod:`slimocr.toolkit.recipes`); unknown keys are an error. ``train`` holds the fields of a
:class:`slimocr.toolkit.train.config.TrainConfig` (without ``kind``/``model``, taken from the top
level) and is used by ``method: pact`` only. Data paths use ``${data}`` (``$SLIMOCR_DATA``);
other relative paths are relative to the working directory (the repository root).

>>> run_quant("recipes/quant_det_ptq.yaml", "ptq", out="det_int8.onnx")  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from slimocr.errors import ConfigError, OptionError
from slimocr.eval.pool import resolve_data
from slimocr.toolkit.compress.quant.config import CalibConfig, QuantConfig
from slimocr.toolkit.train.config import TrainConfig, check_arch_kind, check_ranges

Method = Literal["pact", "ptq"]
METHODS = ("pact", "ptq")


@dataclass(frozen=True)
class ExportConfig:
    """How the int8 file is written.

    Attributes:
        opset: ONNX opset (>= 13).
        lstm: ``float`` (default, as the original recipe) or ``dynamic_int8`` (ONNX Runtime
            dynamic quantization of the LSTM nodes after export).
        use_best: export ``best.pt`` of the QAT run (needs ``train.eval_every``) instead of the
            final weights.
    """

    opset: int = 17
    lstm: Literal["float", "dynamic_int8"] = "float"
    use_best: bool = False

    def __post_init__(self) -> None:
        lo, hi = opset_range()
        check_ranges(self, {"opset": (lo, hi)})


def opset_range() -> tuple[int, int | None]:
    """The opsets :func:`~.export.export_qdq` can write: from its minimum (per-axis
    ``DequantizeLinear``) to the newest that torch's TorchScript exporter supports (None when
    this torch does not say)."""
    from slimocr.toolkit.compress.quant.export import QDQ_MIN_OPSET

    try:  # torch's own bounds; a private module, so read with care
        from torch.onnx import _constants
    except ImportError:
        return QDQ_MIN_OPSET, None
    hi = getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", None)
    hi = getattr(_constants, "ONNX_MAX_OPSET", None) if hi is None else hi
    return QDQ_MIN_OPSET, hi if isinstance(hi, int) else None


@dataclass(frozen=True)
class QuantRecipe:
    """A quantization run.

    Attributes:
        kind: ``det`` or ``rec``.
        model: registered architecture of the float parent.
        parent: lineage: the parent's zoo name, written into the file's metadata.
        weights: state dict of the parent, or a pruned model's folder (``channels.json`` +
            ``weights.pt``, see :func:`slimocr.toolkit.compress.prune.spec.load_pruned`); default
            the official import. A recipe file leaves it out: the loader takes it from the
            run folder of the recipe that builds ``parent``.
        threads: torch CPU threads for calibration and export.
        work_dir: scratch folder (calibration crops).
        quant: quantization choices.
        calib: calibration data and method.
        train: PACT QAT settings (a TrainConfig; in YAML without kind and model).
        export: file settings.
        teacher: with ``train.teacher: pretrained``, whom the QAT distills from: ``parent`` (the
            model being quantized, in float) or ``official`` (the unpruned float model with
            the official weights: a pruned parent then also learns back toward the model it
            was pruned from).
    """

    kind: Literal["det", "rec"]
    model: str
    parent: str | None = None
    weights: str | None = None
    threads: int | None = None
    work_dir: str = "runs/quant"
    quant: QuantConfig = field(default_factory=QuantConfig)
    calib: CalibConfig = field(default_factory=CalibConfig)
    train: TrainConfig | None = None
    export: ExportConfig = field(default_factory=ExportConfig)
    teacher: Literal["parent", "official"] = "parent"

    def __post_init__(self) -> None:
        check_ranges(self, {"threads": (1, None)})
        check_arch_kind(self.model, self.kind)
        if isinstance(self.train, dict):  # plain data: kind and model from the top level
            object.__setattr__(self, "train", _train_section(self.train, self.kind, self.model))


def _train_section(values: Any, kind: str, model: str, where: str = "recipe") -> TrainConfig:
    from slimocr.toolkit.train.config import config_from_dict

    if not isinstance(values, dict):
        raise ConfigError(f"{where}.train: expected a mapping")
    clash = sorted({"kind", "model"} & set(values))
    if clash:
        raise ConfigError(f"{where}.train: {clash} come from the recipe's top level")
    return config_from_dict({**values, "kind": kind, "model": model}, where=f"{where}.train")


def recipe_from_dict(values: dict[str, Any], where: str = "recipe") -> QuantRecipe:
    """Build and check a recipe (the ``train`` section is checked as a TrainConfig)."""
    from slimocr.toolkit.recipes import QUANT_METHODS, drop_method
    from slimocr.toolkit.train.config import build_config

    values = {k: v for k, v in drop_method(values, where, QUANT_METHODS).items()}
    values.pop("description", None)
    train = values.pop("train", None)
    recipe: QuantRecipe = build_config(QuantRecipe, values, where)
    if train is not None:
        section = _train_section(train, recipe.kind, recipe.model, where)
        recipe = dataclasses.replace(recipe, train=section)
    return recipe


def load_quant_recipe(path: str | Path, overrides: list[str] | None = None) -> QuantRecipe:
    """Read a YAML recipe; ``overrides`` are ``key.sub=value`` strings (YAML values).

    Raises:
        ConfigError: unreadable file, unknown key, wrong type, bad override.
    """
    from slimocr.toolkit.recipes import QUANT_METHODS, load_recipe

    return load_recipe(path, overrides, methods=QUANT_METHODS).config  # type: ignore[no-any-return]


def train_config(recipe: QuantRecipe, where: str = "recipe") -> TrainConfig:
    """The recipe's ``train`` section (a TrainConfig)."""
    if recipe.train is None:
        raise ConfigError(f"{where}: method pact needs a 'train' section")
    return recipe.train


def _parent_model(recipe: QuantRecipe) -> nn.Module:
    from slimocr.toolkit.models import create_model
    from slimocr.toolkit.train.checkpoint import load_model_weights

    if recipe.weights is not None and not Path(recipe.weights).exists():
        raise ConfigError(
            f"{recipe.weights}: the parent {recipe.parent or ''} is not built yet; run "
            f"`slimocr zoo build` on a model made by this recipe (it builds parents first), or "
            "the parent's recipe"
        )
    if recipe.weights is not None and Path(recipe.weights).is_dir():
        # a pruned parent: its folder holds the channel spec next to the weights
        from slimocr.toolkit.compress.prune.spec import load_pruned, read_spec

        arch = read_spec(recipe.weights)["arch"]
        if arch != recipe.model:
            raise ConfigError(
                f"{recipe.weights}: holds a pruned {arch}, the recipe says {recipe.model}"
            )
        return load_pruned(recipe.weights)
    model = create_model(recipe.model, pretrained=recipe.weights is None)
    if recipe.weights is not None:
        load_model_weights(model, recipe.weights)
    return model.eval()


def _calib_batches(recipe: QuantRecipe, data: str) -> list[torch.Tensor]:
    from slimocr.toolkit.compress.quant.ptq import det_calibration_batches, rec_calibration_batches
    from slimocr.toolkit.models import model_spec

    c = recipe.calib
    if recipe.kind == "det":
        return list(det_calibration_batches(data, c.images, c.limit_side_len, c.seed, c.limit_type))
    height = model_spec(recipe.model).input_height or 32
    crops = Path(recipe.work_dir) / "calib_crops"
    return list(rec_calibration_batches(data, c.images, crops, height, seed=c.seed))


def _metadata(
    recipe: QuantRecipe,
    method: str,
    recipe_id: str,
    model: nn.Module,
    qcfg: QuantConfig,
    extra: dict[str, Any],
) -> dict[str, str]:
    from slimocr.official import official_charset
    from slimocr.toolkit.compress.quant.prepare import quant_summary
    from slimocr.toolkit.export.onnx_export import build_metadata
    from slimocr.toolkit.models import model_spec

    spec = model_spec(recipe.model)
    charset = official_charset(spec.charset) if spec.charset else None
    quant = {
        "method": method,
        **qcfg.describe(),
        "calib": dataclasses.asdict(recipe.calib),
        "bn": "folded into conv weights (running statistics) before QAT",
        "layers": quant_summary(model),
        **extra,
    }
    if recipe.kind == "rec":
        quant["lstm"] = "float"
    return build_metadata(
        recipe.kind,
        recipe.model,
        charset=charset,
        parent=recipe.parent or f"official:{spec.official}",
        recipe=recipe_id,
        extra={"precision": "int8", "quant": quant},
    )


def run_quant(
    recipe: str | Path | QuantRecipe,
    method: str | None = None,
    out: str | Path = "model_int8.onnx",
    overrides: list[str] | None = None,
    resume: bool = True,
    recipe_id: str | None = None,
    check_data: str | Path | None = None,
    check_limit: int | None = None,
) -> dict[str, Any]:
    """Quantize a float parent by a recipe and write a QDQ int8 ONNX file.

    Steps: build the parent (official import or ``weights``), fold BatchNorm, insert fake-quant,
    calibrate on ``calib.images`` images, for ``pact`` train with the project's Trainer
    (distillation from the float parent when ``train.teacher: pretrained``; resumable from
    ``train.out_dir/last.pt``, which also skips calibration), export, then check the file in
    ONNX Runtime (int8 kernel counts, agreement with the fake-quant model on one calibration
    input).

    Args:
        recipe: YAML path or a :class:`QuantRecipe`.
        method: ``pact`` (QAT) or ``ptq`` (calibration only; PACT clips are left out);
            default the recipe file's ``method`` (``pact`` when it states none).
        out: the int8 ONNX file.
        overrides: ``key.sub=value`` recipe overrides.
        resume: continue a QAT run from its checkpoint.
        recipe_id: lineage name of the recipe for the metadata (default: its path).
        check_data: a labelled test set: score the fake-quant model (PyTorch) and the file
            (ONNX Runtime) on it, see :func:`~.check.check_parity` (before any dynamic LSTM).
        check_limit: the first N samples of ``check_data``.

    Returns:
        A report: file, size, int8 kernel counts, parity, calibration and training results.
    """
    from slimocr.toolkit.compress.quant.export import (
        export_qdq,
        int8_op_counts,
        parity,
        quantize_lstm_dynamic,
    )
    from slimocr.toolkit.compress.quant.prepare import prepare_qat
    from slimocr.toolkit.compress.quant.ptq import calibrate

    if method is not None and method not in METHODS:
        raise ConfigError(f"method must be one of {METHODS}, not {method!r}")
    if recipe_id is None:
        recipe_id = str(recipe) if not isinstance(recipe, QuantRecipe) else "(in-memory)"
    if not isinstance(recipe, QuantRecipe):
        from slimocr.toolkit.recipes import QUANT_METHODS, load_recipe

        loaded = load_recipe(recipe, overrides, methods=QUANT_METHODS)
        config = loaded.config
        assert isinstance(config, QuantRecipe)  # a quant method's recipe types as QuantRecipe
        recipe, method = config, method or loaded.head.method
    method = method or "pact"
    _check_outputs(recipe, out, check_data, check_limit)
    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    qcfg = recipe.quant if method == "pact" else dataclasses.replace(recipe.quant, pact=False)
    tcfg = train_config(recipe, recipe_id) if method == "pact" else None
    data = recipe.calib.data or (tcfg.data.train if tcfg is not None else None)
    if data is None:
        raise ConfigError(f"{recipe_id}: calib.data is not set (and there is no train.data.train)")
    report: dict[str, Any] = {"method": method, "recipe": recipe_id, "out": str(out)}
    t0 = time.perf_counter()
    parent = _parent_model(recipe)
    model = prepare_qat(copy.deepcopy(parent), qcfg)
    batches = _calib_batches(recipe, resolve_data(data))
    if not batches:
        raise ConfigError(f"{data}: no calibration images could be read")
    resuming = tcfg is not None and resume and (Path(tcfg.out_dir) / "last.pt").exists()
    if not resuming:
        calibrate(model, batches, recipe.calib.method, recipe.calib.percentile, qcfg)
    report["calib"] = {"images": len(batches), "seconds": round(time.perf_counter() - t0, 1)}
    extra: dict[str, Any] = {}
    if tcfg is not None:
        teacher = parent
        if recipe.teacher == "official":
            from slimocr.toolkit.models import create_model

            teacher = create_model(recipe.model, pretrained=True).eval()
        report["train"] = _train(model, teacher, tcfg, qcfg, resume, recipe.export.use_best)
        extra["train_steps"] = report["train"]["step"]
        extra["teacher"] = recipe.teacher
    model.eval()
    out = Path(out)
    meta = _metadata(recipe, method, recipe_id, model, qcfg, extra)
    export_qdq(model, out, recipe.kind, meta, opset=recipe.export.opset)
    report["parity_vs_fake_quant"] = parity(model, out, batches[0])
    if check_data is not None:
        from slimocr.toolkit.compress.quant.check import check_parity

        threads = recipe.threads or 2
        report["check"] = check_parity(
            model, out, recipe.kind, check_data, check_limit, threads=threads
        )
    if recipe.kind == "rec" and recipe.export.lstm == "dynamic_int8":
        quantize_lstm_dynamic(out, out)
    report["int8_kernels"] = int8_op_counts(out)
    report["size_bytes"] = out.stat().st_size
    report["seconds"] = round(time.perf_counter() - t0, 1)
    return report


def _check_outputs(
    recipe: QuantRecipe, out: str | Path, check_data: str | Path | None, check_limit: int | None
) -> None:
    """Refuse, before calibration and training, an ``out`` that cannot be written and a
    ``check_data`` set that cannot be read (its labels are read now)."""
    from slimocr.files import out_file_problem

    problem = out_file_problem(out)
    if problem:
        raise ConfigError(problem)
    if check_limit is not None and check_limit < 1:
        raise OptionError(f"check_limit: must be >= 1, got {check_limit}")
    if check_data is not None:
        from slimocr.eval.readers import load_det_dataset, load_rec_dataset

        (load_det_dataset if recipe.kind == "det" else load_rec_dataset)(check_data)


def _train(
    model: nn.Module,
    teacher_model: nn.Module,
    tcfg: Any,
    qcfg: QuantConfig,
    resume: bool,
    use_best: bool,
) -> dict[str, Any]:
    from slimocr.toolkit.compress.quant.pact import build_optimizer, param_groups
    from slimocr.toolkit.train.checkpoint import load_model_weights
    from slimocr.toolkit.train.schedule import make_scheduler
    from slimocr.toolkit.train.trainer import Trainer

    teacher = teacher_model if tcfg.teacher == "pretrained" else None
    trainer = Trainer(tcfg, model=model, teacher=teacher)
    # α gets its own decay: replace the Trainer's single-group optimizer before fit()
    groups = param_groups(model, tcfg.optim.weight_decay, qcfg.pact_decay)
    trainer.optimizer = build_optimizer(groups, tcfg.optim.name, tcfg.optim.lr)
    trainer.scheduler = make_scheduler(
        trainer.optimizer, tcfg.steps, tcfg.optim.warmup_steps, tcfg.optim.min_lr_ratio
    )
    result = trainer.fit(resume=resume)
    best = Path(tcfg.out_dir) / "best.pt"
    if use_best and best.exists():
        load_model_weights(model, best)
    return json.loads(json.dumps(result, default=str))
