"""Recognizers on rendered text lines, one test set per font: how each reads a script that the
benchmark's IC15 set (English) does not hold, and in fonts its training did not draw from.

For every ``--font`` a set of ``--n`` lines is rendered with that font only (``slimocr synth rec
--lang LANG --seed SEED --font FONT`` into ``--work/<lang>_<font stem>_seed<seed>_n<n>_<key>``,
``key`` a hash of the font's full path; an existing set with the same label count is reused),
then every model is scored on every set, and on the labelled sets named
by ``--also`` (e.g. IC15's word crops), with the settings of ``slimocr eval rec`` (batches of 6,
minimum width 320). Printed and written (``--out``): accuracy, alphanumeric case-insensitive
accuracy and 1 - normalized edit distance per model and set.

    python bench/rec_fonts.py ppocrv2-rec-float ppocrv2-rec-pact-int8-lstm --lang zh \\
        --font /usr/share/fonts/truetype/wqy/wqy-microhei.ttc --out FILE
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path


def _render(font: Path, args: argparse.Namespace) -> Path:
    from slimocr.data.synth import synth_main

    key = hashlib.sha256(str(font.resolve()).encode("utf-8")).hexdigest()[:8]
    folder = args.work / f"{args.lang}_{font.stem}_seed{args.seed}_n{args.n}_{key}"
    label = folder / "label.txt"
    if label.is_file() and len(label.read_text(encoding="utf-8").splitlines()) == args.n:
        return label
    return synth_main("rec", folder, args.n, seed=args.seed, lang=args.lang, fonts=[font])


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
    from slimocr.infer.pipeline import model_input_height, resolve_charset
    from slimocr.infer.rec import TextRecognizer
    from slimocr.infer.session import OnnxSession
    from slimocr.zoo.registry import resolve_model

    if len({f.name for f in args.font}) < len(args.font):
        parser.error("two --font files share a file name: the report names sets by file name")
    sets = {font.name: load_rec_dataset(_render(font, args)) for font in args.font}
    sets.update({str(path): load_rec_dataset(path) for path in args.also})
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    for model in args.models:
        session = OnnxSession(resolve_model(model, "rec"), args.threads)
        rec = TextRecognizer(
            session,
            charset=resolve_charset(None, session),
            batch_size=6,
            image_height=model_input_height(session, 32),
            image_width=320,
        )

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
            "data": {
                name: f"slimocr synth rec --n {args.n} --lang {args.lang} --seed {args.seed} "
                f"--font {font}"
                for name, font in zip(sets, args.font, strict=False)
            }
            | {str(path): "labelled set (--also)" for path in args.also},
            "settings": {"batch_size": 6, "image_width": 320, "threads": args.threads},
            "metrics": metrics,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
