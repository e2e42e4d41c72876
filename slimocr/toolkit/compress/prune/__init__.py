"""FPGM filter pruning chosen by sensitivity analysis (needs the ``slimocr[train]`` extra).

* :class:`FPGMImportance` — geometric-median importance of coupled channel groups.
* :class:`StructuralPruner` / :func:`prune_model` — dependency-aware channel removal by
  per-group ratios (Torch-Pruning's dependency graph); groups named by module path.
* :func:`analyze_sensitivity` / :func:`merge_tables` / :func:`plot_sensitivity` — the
  resumable, shardable sensitivity table.
* :func:`ratios_for_budget`, :func:`budget_for_flops`, :func:`budget_for_latency` — pure
  functions from a table to ratios.
* :func:`channel_spec`, :func:`save_pruned`, :func:`load_pruned`, :func:`rebuild_pruned` — a
  pruned model rebuilt from data.
* :func:`count_macs`, :func:`model_latency_ms` — cost of a model.

The recipe runner lives in :mod:`slimocr.toolkit.compress.prune.recipe` (``slimocr prune det|rec``).
"""

from slimocr.toolkit.compress.prune.fpgm import FPGMImportance
from slimocr.toolkit.compress.prune.measure import count_macs, count_params, model_latency_ms
from slimocr.toolkit.compress.prune.ratios import (
    budget_for_flops,
    budget_for_latency,
    most_sensitive,
    ratios_for_budget,
    table_macs_fn,
)
from slimocr.toolkit.compress.prune.sensitivity import (
    analyze_sensitivity,
    load_table,
    merge_tables,
    plot_sensitivity,
)
from slimocr.toolkit.compress.prune.spec import (
    channel_spec,
    load_pruned,
    rebuild_pruned,
    save_pruned,
)
from slimocr.toolkit.compress.prune.structural import (
    ChannelGroup,
    StructuralPruner,
    example_input,
    prune_model,
)

__all__ = [
    "ChannelGroup",
    "FPGMImportance",
    "StructuralPruner",
    "analyze_sensitivity",
    "budget_for_flops",
    "budget_for_latency",
    "channel_spec",
    "count_macs",
    "count_params",
    "example_input",
    "load_pruned",
    "load_table",
    "merge_tables",
    "model_latency_ms",
    "most_sensitive",
    "plot_sensitivity",
    "prune_model",
    "ratios_for_budget",
    "rebuild_pruned",
    "save_pruned",
    "table_macs_fn",
]
