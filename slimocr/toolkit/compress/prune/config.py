"""Typed prune recipes: frozen dataclasses filled from YAML; unknown keys are an error.

>>> r = recipe_from_dict({"finetune": {"kind": "det", "model": "dbnet_mv3_ppocrv3",
...                                    "data": {"train": "train_dir"}},
...                       "select": {"loss_budget": 0.05}})
>>> r.select.loss_budget, r.sensitivity.ratios[:2], r.input_shape()
(0.05, (0.1, 0.2), (1, 3, 640, 640))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slimocr.errors import ConfigError
from slimocr.toolkit.compress.prune.sensitivity import DEFAULT_RATIOS, load_table
from slimocr.toolkit.train.config import (
    FieldValueError,
    TrainConfig,
    build_config,
    check_ranges,
)


@dataclass(frozen=True)
class SensitivitySection:
    """How the table is measured.

    Attributes:
        ratios: ratios tried per group.
        images: held-out samples scored per point (det: images, rec: crops).
        min_macs_share: leave out groups whose layers carry less than this share of the MACs.
        table: use this (e.g. merged) table instead of measuring ``out_dir/sensitivity.json``.
    """

    ratios: tuple[float, ...] = DEFAULT_RATIOS
    images: int = 40
    min_macs_share: float = 0.0
    table: str | None = None

    def __post_init__(self) -> None:
        if not self.ratios:
            raise FieldValueError("ratios: need at least one pruning ratio in (0, 1]")
        bad = [r for r in self.ratios if not 0.0 < r <= 1.0]
        if bad:
            raise FieldValueError(f"ratios: pruning ratios are in (0, 1], got {bad}")
        check_ranges(self, {"images": (1, None), "min_macs_share": (0.0, 1.0)})


@dataclass(frozen=True)
class SelectSection:
    """How ratios are chosen: a uniform ratio, a loss budget, or a MACs / latency target."""

    loss_budget: float | None = 0.02
    flops_reduction: float | None = None
    latency_ms: float | None = None
    latency_speedup: float | None = None
    uniform_ratio: float | None = None
    ratios: dict[str, float] | None = None  # explicit per-group ratios read off the table
    skip_most_sensitive: int = 0
    max_ratio: float | None = None
    round_to: int = 1

    def __post_init__(self) -> None:
        if self.ratios is not None and self.uniform_ratio is not None:
            # explicit ratios (even none: {}) would win without a word
            raise FieldValueError(
                "ratios: give ratios or uniform_ratio, not both (ratios: null to use "
                f"uniform_ratio {self.uniform_ratio})"
            )
        named = {f"ratios.{k}": v for k, v in (self.ratios or {}).items()}
        for key, value in {"uniform_ratio": self.uniform_ratio, **named}.items():
            if value is not None and not 0.0 <= value <= 1.0:
                raise FieldValueError(f"{key}: a pruning ratio is in [0, 1], got {value}")
        check_ranges(
            self,
            {"loss_budget": (0.0, None), "skip_most_sensitive": (0, None), "round_to": (1, None)},
            positive=("latency_ms", "latency_speedup", "max_ratio", "flops_reduction"),
        )
        if self.max_ratio is not None and self.max_ratio > 1.0:
            raise FieldValueError(f"max_ratio: a pruning ratio is in (0, 1], got {self.max_ratio}")
        if self.flops_reduction is not None and self.flops_reduction >= 1.0:
            raise FieldValueError(
                f"flops_reduction: a share of the MACs removed is in (0, 1), "
                f"got {self.flops_reduction}"
            )


@dataclass(frozen=True)
class ReconstructSection:
    """Least-squares refit of the pruned convs to the parent's outputs before finetuning
    (:mod:`slimocr.toolkit.compress.prune.reconstruct`); ``images: 0`` turns it off."""

    images: int = 8
    samples: int = 2048
    ridge: float = 1e-3
    limit_side_len: int = 960

    def __post_init__(self) -> None:
        check_ranges(
            self,
            {"images": (0, None), "samples": (1, None), "ridge": (0.0, None)},
            positive=("limit_side_len",),
        )


@dataclass(frozen=True)
class ExportSection:
    """ONNX export and the optional evaluation of the exported file on a labelled set.

    ``use_best``: export the finetune's ``best.pt`` (its best held-out score, when
    ``finetune.eval_every`` is set) rather than its final weights ``final.pt``.
    """

    onnx: bool = True
    use_best: bool = True
    parent: str | None = None
    eval_data: str | None = None
    eval_limit: int | None = None
    eval_threads: int = 2

    def __post_init__(self) -> None:
        from slimocr.infer.session import MAX_THREADS

        check_ranges(self, {"eval_limit": (1, None), "eval_threads": (0, MAX_THREADS)})


@dataclass(frozen=True)
class PruneRecipe:
    """A whole prune run (see the module docstring)."""

    finetune: TrainConfig
    out_dir: str = "runs/prune"
    skip_first: int = 4
    threads: int | None = None
    macs_input: tuple[int, ...] | None = None
    latency_input: tuple[int, ...] | None = None
    latency_runs: int = 30  # timed runs of parent and pruned after export (0: skip)
    sensitivity: SensitivitySection = field(default_factory=SensitivitySection)
    select: SelectSection = field(default_factory=SelectSection)
    reconstruct: ReconstructSection = field(default_factory=ReconstructSection)
    export: ExportSection = field(default_factory=ExportSection)

    def __post_init__(self) -> None:
        check_ranges(
            self, {"skip_first": (0, None), "threads": (1, None), "latency_runs": (0, None)}
        )
        for name in ("macs_input", "latency_input"):
            shape = getattr(self, name)
            if shape is not None and (
                len(shape) != 4 or shape[1] != 3 or not all(d >= 1 for d in shape)
            ):
                raise FieldValueError(
                    f"{name}: an input shape is [batch, 3, height, width] of positive ints, "
                    f"got {list(shape)}"
                )

    @property
    def kind(self) -> str:
        return self.finetune.kind

    @property
    def arch(self) -> str:
        return self.finetune.model

    def input_shape(self, latency: bool = False) -> tuple[int, ...]:
        shape = self.latency_input if latency else self.macs_input
        if shape:
            return tuple(shape)
        if self.kind == "det":
            return (1, 3, 736, 960) if latency else (1, 3, 640, 640)
        return (6, 3, 32, 320) if latency else (1, 3, 32, 320)


# ---------------------------------------------------------------- reading recipes
def recipe_from_dict(values: dict[str, Any], where: str = "recipe") -> PruneRecipe:
    """Build a :class:`PruneRecipe`, refusing unknown keys and wrong types."""
    from slimocr.toolkit.recipes import drop_method

    values = drop_method(values, where, ("prune",))
    values.pop("description", None)
    if "finetune" not in values:
        raise ConfigError(f"{where}: missing the 'finetune' section (model, data, steps, ...)")
    return build_config(PruneRecipe, values, where)


def check_table(recipe: PruneRecipe, where: str = "recipe") -> dict[str, Any]:
    """Read ``sensitivity.table``, refusing a missing or malformed file (see
    :func:`~slimocr.toolkit.compress.prune.sensitivity.load_table`) or a table of another model.
    :func:`~slimocr.toolkit.compress.prune.recipe.run_prune` calls it before any work (not the
    recipe loader: ``slimocr sensitivity`` may be about to write that file)."""
    from slimocr.toolkit.recipes import repo_path

    path = recipe.sensitivity.table
    assert path is not None
    try:  # a committed table (docs/results/...) is found from outside the checkout too
        table = load_table(repo_path(path))
    except ConfigError as exc:
        raise ConfigError(f"{where}.sensitivity.table: {exc}") from None
    arch = table.get("arch")
    if arch and arch != recipe.arch:
        raise ConfigError(
            f"{where}.sensitivity.table: {path} was measured on {arch}, the recipe prunes "
            f"{recipe.arch}"
        )
    return table


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> PruneRecipe:
    """Read a YAML prune recipe (``method: prune``; see :mod:`slimocr.toolkit.recipes`);
    ``overrides`` are ``key.sub=value`` strings (YAML values)."""
    from slimocr.toolkit.recipes import load_recipe as load

    return load(path, overrides, default_method="prune", methods=("prune",)).config  # type: ignore[no-any-return]
