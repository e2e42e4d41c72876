"""How much faster a detector gets when FPGM cuts every prunable channel group by one ratio.

An upper bound on what pruning can buy before any accuracy is paid: the float parent and its
uniform cuts (no reconstruction, no finetune: accuracy is not measured here) are exported to
ONNX and timed interleaved in one run on a random input, with the prune recipe's settings
(ignored first layers, channel counts rounded to 8).

    python bench/prune_speed_curve.py --recipe recipes/prune_det_v6t.yaml --ratios 0.25 0.5 \
        --out docs/results/v6_routes/prune_speed_curve_v6t.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", type=Path, required=True, help="a prune recipe (its model)")
    ap.add_argument("--ratios", type=float, nargs="+", required=True)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    import torch

    from slimocr.bench.latency import machine_info
    from slimocr.files import atomic_write
    from slimocr.toolkit.compress.prune import recipe as pr
    from slimocr.toolkit.compress.prune.config import load_recipe
    from slimocr.toolkit.compress.prune.measure import compare_latency, count_macs
    from slimocr.toolkit.models import create_model

    recipe = load_recipe(args.recipe)
    threads = recipe.threads or 2
    torch.set_num_threads(threads)
    parent = create_model(recipe.arch, pretrained=True).eval()
    groups = pr._pruner(recipe, parent)[1].prunable
    macs_shape = recipe.input_shape()
    models = {"parent": parent}
    macs = {"parent": count_macs(parent, macs_shape)}
    for r in args.ratios:
        name = f"uniform {r}"
        models[name] = pr.pruned_copy(recipe, parent, {g: r for g in groups})
        macs[name] = count_macs(models[name], macs_shape)
    shape = recipe.input_shape(latency=True)
    times = compare_latency(models, recipe.kind, shape, threads=threads, runs=args.runs)
    base = times["parent"]["median_ms"]
    result = {
        "recipe": str(args.recipe),
        "model": recipe.arch,
        "machine": machine_info(),
        "threads": threads,
        "latency_input": list(shape),
        "macs_input": list(macs_shape),
        "groups": len(groups),
        "rows": {
            n: {
                "median_ms": times[n]["median_ms"],
                "speedup": base / times[n]["median_ms"],
                "macs_share": macs[n] / macs["parent"],
            }
            for n in models
        },
    }
    atomic_write(args.out, lambda tmp: Path(tmp).write_text(json.dumps(result, indent=1)))
    print(json.dumps(result["rows"], indent=1))


if __name__ == "__main__":
    main()
