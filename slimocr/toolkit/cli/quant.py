"""``slimocr quant det|rec --recipe FILE --out FILE``: PACT QAT or PTQ to an int8 ONNX file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import typer

from slimocr.cli.common import CliErrors, check_out_file, fail, require_torch


def quant_cmd(
    kind: str = typer.Argument(..., help="det or rec"),
    method: str | None = typer.Option(
        None, help="pact (quantization-aware training) or ptq; default the recipe's method"
    ),
    recipe: Path = typer.Option(..., help="YAML recipe (recipes/quant_*.yaml)"),
    out: Path = typer.Option(..., "--out", "-o", help="int8 ONNX file to write"),
    set_: list[str] = typer.Option([], "--set", help="override, e.g. --set calib.images=64"),
    resume: bool = typer.Option(True, help="continue a PACT run from its last.pt"),
    check_data: Path | None = typer.Option(
        None, help="labelled test set: score the fake-quant model and the file on it"
    ),
    check_limit: int | None = typer.Option(None, help="first N samples of --check-data"),
) -> None:
    """Quantize a float model to int8 (QDQ ONNX that ONNX Runtime runs on int8 kernels).

    PTQ calibrates activation scales on a few images; PACT then trains with learnable clips,
    distilling from the float parent. Prints a JSON report (int8 kernels, size, parity; with
    --check-data, the metrics of the PyTorch fake-quant model and of the file side by side).
    """
    require_torch("quant")
    from slimocr.toolkit.compress.quant.recipe import METHODS, run_quant
    from slimocr.toolkit.recipes import QUANT_METHODS, load_recipe

    if kind not in ("det", "rec"):
        fail(f"kind must be det or rec, not {kind!r}", code=2)
    if method is not None and method not in METHODS:
        fail(f"--method must be one of {', '.join(METHODS)}, not {method!r}", code=2)
    if check_limit is not None and check_limit < 1:
        fail(f"--check-limit must be >= 1, got {check_limit}", code=2)
    check_out_file(out)  # before the work whose result it holds
    with CliErrors():
        loaded = load_recipe(recipe, set_, methods=QUANT_METHODS)
        cfg, method = loaded.config, method or loaded.head.method or "pact"
        loaded.check_parent_built(cfg.weights)
        if cfg.kind != kind:
            fail(f"{recipe}: is a {cfg.kind} recipe, not {kind}")
        report = run_quant(
            cfg,
            method=method,
            out=out,
            resume=resume,
            recipe_id=str(recipe),
            check_data=check_data,
            check_limit=check_limit,
        )
    typer.echo(json.dumps(report, indent=2, default=str))


def quant_weights_cmd(
    kind: str = typer.Argument(..., help="det or rec"),
    model: str = typer.Argument(..., help="zoo name, official name or float .onnx file"),
    out: Path = typer.Option(..., "--out", "-o", help="ONNX file to write"),
) -> None:
    """Weight-only int8: int8 conv/matmul weights, float compute; about 4× smaller.

    The same speed as the float file (ONNX Runtime rebuilds the float weights when it opens
    it); no data or training needed. Prints a JSON summary.
    """
    from slimocr.zoo.registry import Kind, resolve_model

    if kind not in ("det", "rec"):
        fail(f"kind must be det or rec, not {kind!r}", code=2)
    model_kind = cast(Kind, kind)  # checked just above
    check_out_file(out)
    try:
        from slimocr.toolkit.compress.quant.weight_only import weight_only_file
    except ImportError:
        fail("`slimocr quant-weights` needs the onnx package: pip install 'slimocr[train]'")
    with CliErrors():
        src = resolve_model(model, model_kind)
        if out.resolve() == src.resolve():
            fail(f"{out}: is the source model; write the int8 file elsewhere", code=2)
        from slimocr.infer.session import OnnxSession, check_model_kind

        check_model_kind(OnnxSession(src, threads=1), kind)
        source_bytes = src.stat().st_size
        try:
            converted = weight_only_file(src, out, extra={"parent": model})
        except ValueError as exc:
            fail(f"{src}: {exc}")
    summary = {"source": str(src), "out": str(out), "source_bytes": source_bytes}
    summary["out_bytes"] = out.stat().st_size
    summary["weight_only"] = converted
    typer.echo(json.dumps(summary, indent=2))
