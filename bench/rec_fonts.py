"""Recognizers on rendered text lines, one test set per font: how each reads a script that the
benchmark's IC15 set (English) does not hold, and in fonts its training did not draw from.

For every ``--font`` a set of ``--n`` lines is rendered with that font only (as ``slimocr synth
rec --lang LANG --seed SEED --font FONT``) under ``--work``, once
(:func:`slimocr.toolkit.data.synth.rec_dataset_once`: a later run with the same settings reuses it),
then every model is scored on every set, and on the labelled sets named
by ``--also`` (e.g. IC15's word crops), with the settings of ``slimocr eval rec`` (batches of 6,
minimum width 320). Printed and written (``--out``): accuracy, alphanumeric case-insensitive
accuracy and 1 - normalized edit distance per model and set.

    python bench/rec_fonts.py ppocrv2-rec-float ppocrv2-rec-pact-int8-lstm --lang zh \\
        --font /usr/share/fonts/truetype/wqy/wqy-microhei.ttc --out FILE
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="zoo names or .onnx files of recognizers")
    parser.add_argument("--font", type=Path, action="append", required=True, help="repeatable")
    parser.add_argument("--lang", default="zh", choices=("en", "zh", "mix"))
    parser.add_argument("--n", type=int, default=600, help="lines per font")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("runs/rec_fonts"), help="set folder")
    parser.add_argument(
        "--also", type=Path, action="append", default=[], help="a labelled rec set scored too"
    )
    parser.add_argument("--out", type=Path, help="also write the report as JSON")
    args = parser.parse_args()

    from slimocr.bench.latency import emit_report, machine_info
    from slimocr.eval.readers import load_rec_dataset
    from slimocr.eval.runner import run_rec_eval
    from slimocr.infer.pipeline import open_recognizer
    from slimocr.toolkit.data.synth import SynthConfig, rec_dataset_once
    from slimocr.zoo.registry import resolve_model

    if len({f.name for f in args.font}) < len(args.font):
        parser.error("two --font files share a file name: the report names sets by file name")
    sets, data = {}, {}
    for font in args.font:
        cfg = SynthConfig(seed=args.seed, lang=args.lang, fonts=(font,))
        sets[font.name] = load_rec_dataset(rec_dataset_once(args.work, args.n, cfg))
        data[font.name] = (
            f"slimocr synth rec --n {args.n} --lang {args.lang} --seed {args.seed} --font {font}"
        )
    for path in args.also:
        sets[str(path)] = load_rec_dataset(path)
        data[str(path)] = "labelled set (--also)"
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    for model in args.models:
        rec = open_recognizer(resolve_model(model, "rec"), args.threads)

        def recognize(crops, rec=rec):  # noqa: ANN001, ANN202
            return [(r.text, r.score) for r in rec(crops)]

        metrics[model] = {
            name: run_rec_eval(samples, recognize, batch=6, progress=False)["metrics"]
            for name, samples in sets.items()
        }
        print(model, {k: round(v["acc"], 4) for k, v in metrics[model].items()}, flush=True)
    emit_report(
        {
            "what": f"recognition of rendered {args.lang} text lines, one set per font",
            "machine": machine_info(),
            "data": data,
            "settings": {"batch_size": 6, "image_width": 320, "threads": args.threads},
            "metrics": metrics,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
