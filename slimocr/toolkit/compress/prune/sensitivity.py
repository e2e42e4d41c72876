"""Sensitivity analysis: the metric lost when one channel group alone is pruned by each ratio.

For every prunable group (that runs at inference) and every ratio, a deep copy of the model has
only that group pruned (FPGM, no finetuning) and is scored by ``evaluate(model) -> float``
(hmean / accuracy on a held-out slice of the TRAIN split). The table is JSON::

    {"format": 1, "arch", "metric", "setup", "ratios", "base", "base_macs", "macs_input",
     "groups_planned": [...], "shard": [i, n],
     "groups": {name: {"channels", "macs", "producers",
                       "points": [{"ratio", "metric", "loss", "macs"}, ...]}}}

with ``loss = (base - metric) / base``. It is rewritten atomically after every point; a run
started again on the same file skips the points already there (a killed run resumes), and
refuses a file made with another setup. ``shard=(i, n)`` handles every n-th group, so that n
processes can share the work; :func:`merge_tables` combines their files.

>>> table = analyze_sensitivity(model, evaluate, "sens.json", example)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from slimocr.errors import ConfigError
from slimocr.toolkit.compress.prune.measure import count_macs, per_layer_macs
from slimocr.toolkit.compress.prune.spec import write_json_atomic
from slimocr.toolkit.compress.prune.structural import StructuralPruner

TABLE_FORMAT = 1
DEFAULT_RATIOS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
Evaluate = Callable[[nn.Module], float]


class SensitivityMismatch(ConfigError, ValueError):
    """An existing table was made with another model, metric, ratios or evaluation setup."""


def relative_loss(base: float, metric: float) -> float:
    """``(base - metric) / base``; the plain difference when the base is 0."""
    return (base - metric) / base if base else base - metric


def inference_groups(pruner: StructuralPruner, example_inputs: Any) -> list[str]:
    """Prunable groups whose producing layer runs in an eval-mode forward (e.g. not the DB
    head's threshold branch, used only in training: it costs nothing at inference)."""
    ran: set[nn.Module] = set()
    roots = {pruner._modules[name]: name for name in pruner.prunable}
    handles = [m.register_forward_hook(lambda m, i, o: ran.add(m)) for m in roots]
    was_training = pruner.model.training
    try:
        with torch.no_grad():
            pruner.model.eval()(example_inputs)
    finally:
        for h in handles:
            h.remove()
        pruner.model.train(was_training)
    return [name for m, name in roots.items() if m in ran]


def group_macs(
    model: nn.Module, pruner: StructuralPruner, input_shape: Sequence[int]
) -> dict[str, int]:
    """MACs of the layers each group touches (producers and consumers), at ``input_shape``."""
    per_layer = per_layer_macs(model, tuple(input_shape))
    return {
        name: sum(per_layer.get(layer, 0) for layer in set(g.producers + g.consumers))
        for name, g in pruner.groups.items()
    }


def _new_table(
    arch: str,
    metric: str,
    setup: Mapping[str, Any],
    ratios: Sequence[float],
    planned: list[str],
    shard: tuple[int, int],
    macs_input: Sequence[int],
) -> dict:
    return {
        "format": TABLE_FORMAT,
        "arch": arch,
        "metric": metric,
        "setup": dict(setup),
        "ratios": [float(r) for r in ratios],
        "macs_input": list(macs_input),
        "groups_planned": planned,
        "shard": list(shard),
        "base": None,
        "base_macs": None,
        "groups": {},
    }


def _check_compatible(old: Mapping[str, Any], new: Mapping[str, Any], where: str) -> None:
    for key in ("format", "arch", "metric", "setup", "ratios", "macs_input", "groups_planned"):
        if json.dumps(old.get(key), sort_keys=True) != json.dumps(new.get(key), sort_keys=True):
            raise SensitivityMismatch(
                f"{where}: '{key}' differs from this run's ({old.get(key)!r} vs {new.get(key)!r});"
                " use another output file or delete it"
            )


def _on_copy(kwargs: Mapping[str, Any], src: nn.Module, dst: nn.Module) -> dict[str, Any]:
    """Pruner arguments for a deep copy: ``ignored_layers`` given as modules of ``src`` are
    replaced by the modules of the same names in ``dst``."""
    out = dict(kwargs)
    if out.get("ignored_layers") is not None:
        ids = {id(m) for m in out["ignored_layers"]}
        names = [n for n, m in src.named_modules() if id(m) in ids]
        modules = dict(dst.named_modules())
        out["ignored_layers"] = [modules[n] for n in names]
    return out


def load_table(path: str | Path) -> dict[str, Any]:
    """Read a sensitivity table written by :func:`analyze_sensitivity` or :func:`merge_tables`.

    Raises:
        ConfigError: naming the file: missing, unreadable, not JSON, or not a table (see
            :func:`check_table_shape`).
    """
    path = Path(path)
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read the sensitivity table ({exc.strerror or exc})"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a sensitivity table (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not a sensitivity table (not JSON: {exc})") from None
    problem = check_table_shape(table)
    if problem:
        raise ConfigError(f"{path}: not a sensitivity table ({problem})")
    return table


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_table_shape(table: Any) -> str | None:
    """What keeps ``table`` from being a sensitivity table (None when it is one): a mapping
    whose ``groups`` maps names to ``{"points": [{"ratio", "loss", ...}, ...]}`` with numbers,
    and whose ``base``/``base_macs``, when present, are numbers or null."""
    if not isinstance(table, dict):
        return f"expected a JSON object, got {type(table).__name__}"
    groups = table.get("groups")
    if not isinstance(groups, dict):
        return "no 'groups' mapping"
    for key in ("base", "base_macs"):
        if table.get(key) is not None and not _number(table[key]):
            return f"'{key}' is not a number"
    for key in ("ratios", "groups_planned"):
        if key in table and not isinstance(table[key], list):
            return f"'{key}' is not a list"
    for name, group in groups.items():
        points = group.get("points") if isinstance(group, dict) else None
        if not isinstance(points, list):
            return f"group {name!r} has no 'points' list"
        for point in points:
            if not isinstance(point, dict) or not all(
                _number(point.get(k)) for k in ("ratio", "loss")
            ):
                return f"group {name!r}: a point without numeric 'ratio' and 'loss': {point!r}"
            if "macs" in point and not _number(point["macs"]):
                return f"group {name!r}: a point's 'macs' is not a number: {point!r}"
    return None


def _has_point(group: Mapping[str, Any], ratio: float) -> bool:
    return any(math.isclose(p["ratio"], ratio, abs_tol=1e-9) for p in group["points"])


def analyze_sensitivity(
    model: nn.Module,
    evaluate: Evaluate,
    out: str | Path | None,
    example_inputs: Any,
    ratios: Sequence[float] = DEFAULT_RATIOS,
    arch: str = "",
    metric: str = "metric",
    setup: Mapping[str, Any] | None = None,
    groups: Iterable[str] | Callable[[str], bool] | None = None,
    shard: tuple[int, int] = (0, 1),
    macs_input: Sequence[int] | None = None,
    pruner_kwargs: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure (or resume measuring) the sensitivity table of ``model``.

    Args:
        model: the float model (left untouched: each point prunes a deep copy).
        evaluate: ``model -> metric`` (higher is better), deterministic.
        out: the table's JSON file (rewritten after every point); None keeps it in memory.
        example_inputs: an input that traces the model (``structural.example_input``).
        ratios: pruning ratios to try per group.
        arch, metric: recorded in the table.
        setup: what else defines the measurement (data, slice, seed); a resumed run must match.
        groups: names (or a predicate) restricting the groups; default: every prunable group
            that runs at inference.
        shard: ``(i, n)``: measure only every n-th group starting at the i-th.
        macs_input: input shape for MACs counts (default: the example input's).
        pruner_kwargs: passed to :class:`StructuralPruner` (``ignored_layers`` as modules of
            ``model``, ``importance``, ...); each deep copy gets its own modules of those names.
        progress: called with one line per measured point.
    """
    i, n = shard
    if not 0 <= i < n:
        raise ValueError(f"shard must be (i, n) with 0 <= i < n, got {shard}")
    kwargs = dict(pruner_kwargs or {})
    macs_input = list(macs_input or example_inputs.shape)
    probe_model = copy.deepcopy(model)
    probe = StructuralPruner(probe_model, example_inputs, **_on_copy(kwargs, model, probe_model))
    candidates = inference_groups(probe, example_inputs)
    if groups is not None:
        keep = groups if callable(groups) else set(groups).__contains__
        candidates = [g for g in candidates if keep(g)]
    mine = candidates[i::n]
    table = _new_table(arch, metric, setup or {}, ratios, candidates, (i, n), macs_input)
    out = Path(out) if out is not None else None
    if out is not None and out.exists():
        old = load_table(out)
        _check_compatible(old, table, str(out))
        table = old

    def save() -> None:
        if out is not None:
            write_json_atomic(out, table)

    if table["base"] is None:
        table["base"] = float(evaluate(model))
        table["base_macs"] = count_macs(model, tuple(macs_input))
        save()
    footprint = group_macs(model, probe, macs_input)
    for name in mine:
        info = probe.groups[name]
        entry = table["groups"].setdefault(
            name,
            {
                "channels": info.channels,
                "macs": footprint[name],
                "producers": list(info.producers),
                "points": [],
            },
        )
        for ratio in ratios:
            if _has_point(entry, ratio):
                continue
            pruned = copy.deepcopy(model)
            StructuralPruner(
                pruned, example_inputs, ratios={name: ratio}, **_on_copy(kwargs, model, pruned)
            ).step()
            try:  # a small forward first: a shape the pruned layers no longer fit
                with torch.no_grad():
                    pruned.eval()(example_inputs)
            except RuntimeError as exc:
                raise ConfigError(
                    f"group {name} pruned at ratio {ratio:g} no longer runs ({exc}); leave it out "
                    "of pruning (ignored layers) — the table so far is saved and resumes"
                ) from exc
            value = float(evaluate(pruned))
            entry["points"].append(
                {
                    "ratio": float(ratio),
                    "metric": value,
                    "loss": relative_loss(table["base"], value),
                    "macs": count_macs(pruned, tuple(macs_input)),
                }
            )
            entry["points"].sort(key=lambda p: p["ratio"])
            save()
            if progress is not None:
                loss = relative_loss(table["base"], value)
                progress(f"{name} @ {ratio:.2f}: {metric} {value:.4f} (loss {loss:+.4f})")
    return table


def is_complete(table: Mapping[str, Any]) -> bool:
    """Whether every planned group has every ratio measured."""
    return all(
        name in table["groups"]
        and all(_has_point(table["groups"][name], r) for r in table["ratios"])
        for name in table["groups_planned"]
    )


def merge_tables(tables: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Combine shard tables of one measurement into one table (shard ``[0, 1]``).

    Raises:
        SensitivityMismatch: the tables come from different setups or disagree on the base.
    """
    tables = list(tables)
    if not tables:
        raise ValueError("no tables to merge")
    merged = copy.deepcopy(dict(tables[0]))
    merged["shard"] = [0, 1]
    merged["groups"] = {}
    for t in tables:
        _check_compatible(tables[0], t, "merge")
        if t["base"] is not None and merged["base"] is None:
            merged["base"], merged["base_macs"] = t["base"], t["base_macs"]
        elif t["base"] is not None and not math.isclose(t["base"], merged["base"], rel_tol=1e-6):
            raise SensitivityMismatch(
                f"merge: base metrics differ ({t['base']} vs {merged['base']})"
            )
        for name, g in t["groups"].items():
            entry = merged["groups"].setdefault(name, {**copy.deepcopy(g), "points": []})
            for p in g["points"]:
                if not _has_point(entry, p["ratio"]):
                    entry["points"].append(dict(p))
            entry["points"].sort(key=lambda p: p["ratio"])
    order = {n: k for k, n in enumerate(merged["groups_planned"])}
    merged["groups"] = dict(sorted(merged["groups"].items(), key=lambda kv: order.get(kv[0], 1e9)))
    return merged


def plot_sensitivity(table: Mapping[str, Any], out: str | Path, max_loss: float = 0.5) -> Path:
    """A PNG heat map: one row per group, one column per ratio, colour = relative loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(table["groups"])
    ratios = list(table["ratios"])
    grid = np.full((len(names), len(ratios)), np.nan)
    for r, name in enumerate(names):
        for p in table["groups"][name]["points"]:
            for c, ratio in enumerate(ratios):
                if math.isclose(p["ratio"], ratio, abs_tol=1e-9):
                    grid[r, c] = p["loss"]
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(ratios) + 3.5, 1.5 + 0.28 * len(names)))
    im = ax.imshow(
        np.clip(grid, -max_loss, max_loss),
        cmap="RdYlGn_r",
        vmin=-max_loss,
        vmax=max_loss,
        aspect="auto",
    )
    for r in range(len(names)):
        for c in range(len(ratios)):
            if not np.isnan(grid[r, c]):
                ax.text(c, r, f"{100 * grid[r, c]:.0f}", ha="center", va="center", fontsize=6)
    ax.set_xticks(range(len(ratios)), [f"{x:g}" for x in ratios])
    ax.set_yticks(
        range(len(names)), [f"{n} ({table['groups'][n]['channels']})" for n in names], fontsize=6
    )
    ax.set_xlabel("pruning ratio (FPGM, this group only, no finetuning)")
    base = table.get("base")
    ax.set_title(
        f"{table.get('arch', '')}: relative {table.get('metric', '')} loss in % (base {base:.4f})"
        if base is not None
        else "relative loss",
        fontsize=8,
    )
    fig.colorbar(im, ax=ax, fraction=0.03, label="relative loss")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return out
