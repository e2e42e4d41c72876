"""The SlimOCR table: accuracy, latency, size and compression of every pipeline, one command.

For each row (a detector + recognizer pair: our zoo pipelines and the peers a user would pick
instead) on the same images: IC15 det hmean, IC15 word-crop accuracy, det ms/image, rec ms/crop,
end-to-end ms/image (det + every crop of the image), speed-up vs the float baseline, total size
and compression ratio. Accuracy comes from full passes over the test sets (cached by the model
files' sha256 and the settings); latency from an interleaved timing run (warm-up excluded,
medians), so ratios come from one run.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from slimocr.bench.cpu_choice import fallback_sentence, loaded_fields
from slimocr.bench.latency import INT8_FLAGS, machine_info, time_rows
from slimocr.errors import SlimOCRError
from slimocr.eval.domains import DOMAINS, Kind, domains
from slimocr.eval.readers import load_det_dataset, load_rec_dataset
from slimocr.eval.suite import (
    AGREEMENT_BAR,
    DET_BAR_POINTS,
    REC_BAR_POINTS,
    compare,
    default_cache,
    run_domain,
)
from slimocr.infer.pipeline import OCR
from slimocr.zoo.records import SETTING_FIELDS, PipelineSpec, det_options
from slimocr.zoo.registry import PEER_PIPELINES, resolve_model, with_reference_settings

# the accuracy a default must reach besides holding its own parent's: RapidOCR's default
ACCURACY_FLOOR = "rapidocr-ppocrv6-small"


@dataclass(frozen=True)
class BenchRow:
    """One pipeline of the table.

    Attributes:
        name: row name.
        det: detector (zoo / official / peer name or path).
        rec: recognizer.
        group: ``zoo`` (ours) or ``peer``.
        note: a few words for the table.
        reference: the row its speed-up, compression and accuracy bar are measured against
            (the PP-OCRv6 rows name their float peer; None: none, the row is related to
            nothing).
        not_default: why the default pick passes this row over (empty: a candidate).
        settings: the pipeline's own pre/post-processing settings, by
            :class:`~slimocr.zoo.registry.PipelineSpec` field (``det_limit_side_len``,
            ``det_thresh``, ``rec_height``, …); the others are the OCR defaults.
    """

    name: str
    det: str
    rec: str
    group: str = "zoo"
    note: str = ""
    reference: str | None = None
    not_default: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: PipelineSpec, group: str) -> BenchRow:
        """The row of a zoo or peer pipeline, with the settings it runs with (a zoo pipeline
        measured against a peer inherits the peer's where it sets none)."""
        spec = with_reference_settings(spec)
        return cls(
            spec.name,
            spec.det,
            spec.rec,
            group,
            spec.note,
            spec.reference,
            spec.not_default,
            spec.settings(),
        )

    def ocr_kwargs(self) -> dict[str, Any]:
        """:attr:`settings` as :class:`~slimocr.infer.pipeline.OCR` keyword arguments."""
        return {SETTING_FIELDS[k]: v for k, v in self.settings.items()}


PEERS: tuple[BenchRow, ...] = tuple(BenchRow.from_spec(p, "peer") for p in PEER_PIPELINES)


def zoo_rows() -> list[BenchRow]:
    """The pipelines listed in the zoo's records file."""
    from slimocr.zoo.records import load_pipelines

    return [BenchRow.from_spec(p, "zoo") for p in load_pipelines()]


def _imread(path: Path) -> np.ndarray:
    """A timing image as ``cv2.imread`` reads it, under the input policy
    (:func:`slimocr.eval.runner.read_bgr`); an unreadable one is an error naming it."""
    from slimocr.eval.runner import read_bgr, read_error

    image = read_bgr(path)
    if image is None:
        raise SlimOCRError(read_error(path))
    return image


def domain_runs(
    row: BenchRow, cache: Path, threads: int, limit: int | None, root: Path | None
) -> dict[str, dict[str, dict[str, Any]]]:
    """The row's detector and recognizer on every domain of their kind, with the row's own
    settings (:func:`~slimocr.eval.suite.run_domain`, cached per model file and settings, so
    rows that share a model are evaluated once). A domain whose data is absent is left out."""
    det_opts = det_options(row.settings)
    rec_height = row.settings.get("rec_height")
    out: dict[str, dict[str, dict[str, Any]]] = {"det": {}, "rec": {}}
    pairs: tuple[tuple[Kind, str], ...] = (("det", row.det), ("rec", row.rec))
    for kind, model in pairs:
        for dom in domains(kind):
            try:
                out[kind][dom.name] = run_domain(
                    model,
                    kind,
                    dom,
                    cache,
                    threads,
                    det_opts,
                    rec_height,
                    limit,
                    root,  # type: ignore[arg-type]
                )
            except (OSError, ValueError):  # data or fonts missing on this machine
                continue
    return out


def fidelity(
    runs: dict[str, dict[str, dict[str, Any]]], ref: dict[str, dict[str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Per-domain comparison of a row's runs with its reference row's
    (:func:`~slimocr.eval.suite.compare`); a domain the reference lacks is not compared."""
    rows = []
    for kind in ("det", "rec"):
        for dom in domains(kind):  # type: ignore[arg-type]
            if dom.name in runs[kind] and dom.name in ref[kind]:
                cmp = compare(kind, dom, runs[kind][dom.name], ref[kind][dom.name])  # type: ignore[arg-type]
                rows.append({"kind": kind, **cmp})
    return rows


def option_problems(
    timing_images: int, timing_crops: int, repeats: int, limit: int | None
) -> list[str]:
    """The counts of :func:`run_bench` below 1, as ``--option value: ...`` lines (a table
    without timings would hold NaN latencies)."""
    counts = {
        "--timing-images": timing_images,
        "--timing-crops": timing_crops,
        "--repeats": repeats,
        "--limit": 1 if limit is None else limit,
    }
    return [f"{flag} {value}: must be at least 1" for flag, value in counts.items() if value < 1]


def run_bench(
    data: Path,
    rows: list[BenchRow],
    out_dir: Path,
    threads: int = 2,
    timing_images: int = 50,
    timing_crops: int = 300,
    repeats: int = 3,
    limit: int | None = None,
    cache: Path | None = None,
) -> dict[str, Any]:
    """Measure every row; write ``bench.json`` and ``bench.md`` (and ``pareto.png``).

    Accuracy is measured on every domain of the fidelity suite (:mod:`slimocr.eval.domains`,
    report splits) and compared domain by domain with the row's reference.

    Args:
        data: the data root (``ic15_det_test``, ``ic15_rec_test``, ``td500_train``, ``funsd``).
        rows: pipelines to measure; the float baseline row must be among them for ratios.
        out_dir: output folder (also holds the accuracy cache).
        threads: ONNX Runtime intra-op threads.
        timing_images: test images timed (det and end to end) per round.
        timing_crops: word crops timed (in batches of 6) per round.
        repeats: timing rounds.
        limit: evaluate accuracy on the first N samples only (quick runs).
        cache: where model runs are cached (default: :func:`~slimocr.eval.suite.default_cache`).

    Raises:
        ValueError: ``timing_images``, ``timing_crops``, ``repeats`` or ``limit`` below 1
            (a table without timings would hold NaN latencies).
        NotADirectoryError: ``out_dir`` is an existing file.
    """
    problems = option_problems(timing_images, timing_crops, repeats, limit)
    if problems:
        raise ValueError(problems[0])
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"{out_dir}: is a file, not an output folder")
    det_data, rec_data = data / "ic15_det_test", data / "ic15_rec_test"
    engines = {
        r.name: OCR(r.det, r.rec, threads=threads, reuse_memory=True, **r.ocr_kwargs())
        for r in rows
    }
    cache = default_cache() if cache is None else cache
    runs = {r.name: domain_runs(r, cache, threads, limit, data) for r in rows}
    det_imgs = [_imread(s.image) for s in load_det_dataset(det_data)[:timing_images]]
    crops = [_imread(s.image) for s in load_rec_dataset(rec_data)[:timing_crops]]
    batches = [crops[i : i + 6] for i in range(0, len(crops), 6)]

    def det_fn(engine: OCR):  # noqa: ANN202
        def run(i: int) -> None:
            engine.detector(det_imgs[i])

        return run

    def rec_fn(engine: OCR):  # noqa: ANN202
        def run(i: int) -> None:
            engine.recognizer(batches[i])

        return run

    # words each pipeline reads per timed image: its end-to-end time includes recognizing them
    words: dict[str, dict[int, int]] = {r.name: {} for r in rows}

    def e2e_fn(name: str, engine: OCR):  # noqa: ANN202
        def run(i: int) -> float:
            result = engine(det_imgs[i])
            words[name][i] = len(result.lines)
            return result.elapsed_ms["total"]

        return run

    det_t = time_rows({n: det_fn(e) for n, e in engines.items()}, len(det_imgs), repeats)
    rec_t = time_rows({n: rec_fn(e) for n, e in engines.items()}, len(batches), repeats)
    e2e_t = time_rows({n: e2e_fn(n, e) for n, e in engines.items()}, len(det_imgs), repeats)

    results = []
    for r in rows:
        det_path, rec_path = resolve_model(r.det, "det"), resolve_model(r.rec, "rec")
        size = det_path.stat().st_size + rec_path.stat().st_size
        results.append(
            {
                **asdict(r),
                "det_hmean": runs[r.name]["det"]["ic15"]["metrics"]["hmean"],
                "rec_acc": runs[r.name]["rec"]["ic15"]["metrics"]["acc"],
                "domains": {
                    kind: {d: v["metrics"] for d, v in runs[r.name][kind].items()}
                    for kind in ("det", "rec")
                },
                "det_ms": det_t[r.name].median(),
                "rec_ms_per_crop": rec_t[r.name].median() / 6,
                "e2e_ms": e2e_t[r.name].median(),
                "e2e_words_per_image": sum(words[r.name].values()) / max(len(words[r.name]), 1),
                "size_mb": size / 1e6,
                "det_mb": det_path.stat().st_size / 1e6,
                "rec_mb": rec_path.stat().st_size / 1e6,
                **loaded_fields(r.det, r.rec),
            }
        )
    relate_to_references(results, runs)
    report = {
        "machine": machine_info(),
        "settings": {
            "threads": threads,
            "timing_images": len(det_imgs),
            "timing_crops": len(crops),
            "repeats": repeats,
            "limit": limit,
            "det": "limit 960 max, thresh 0.3, box_thresh 0.6, unclip 1.5 unless the row's "
            "settings say otherwise",
            "rec": "batches of 6 sorted by width, min width 320",
        },
        "rows": results,
        "bar": {
            "det_hmean_points": DET_BAR_POINTS,
            "rec_acc_points": REC_BAR_POINTS,
            "agreement": AGREEMENT_BAR,
            "floor": ACCURACY_FLOOR,
        },
        "default_pick": default_pick(results),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "bench.md").write_text(to_markdown(report))
    try:
        from slimocr.bench.plot import pareto_plot

        pareto_plot(report, out_dir / "pareto.png")
    except ImportError:
        pass
    return report


def relate_to_references(
    rows: list[dict[str, Any]], runs: dict[str, dict[str, dict[str, dict[str, Any]]]]
) -> None:
    """Fill each row's ``speedup_e2e``, ``compression``, per-domain ``fidelity`` and
    ``meets_accuracy_bar`` against its reference row of the same run (``reference``; a row
    without one, or whose reference was not run, gets None and no fidelity), and
    ``meets_floor`` against :data:`ACCURACY_FLOOR`; None where that row was not measured."""
    by_name = {x["name"]: x for x in rows}
    for x in rows:
        x["reference"] = x.get("reference") or None
        ref = by_name.get(x["reference"]) if x["reference"] else None
        x["speedup_e2e"] = ref["e2e_ms"] / x["e2e_ms"] if ref else None
        x["compression"] = ref["size_mb"] / x["size_mb"] if ref else None
        x["fidelity"] = fidelity(runs[x["name"]], runs[ref["name"]]) if ref else []
        x["meets_accuracy_bar"] = meets_accuracy_bar(x["fidelity"]) if ref else None
        floor = by_name.get(ACCURACY_FLOOR)
        x["meets_floor"] = (
            meets_accuracy_bar(
                [f for f in fidelity(runs[x["name"]], runs[ACCURACY_FLOOR]) if f["labelled"]]
            )
            if floor
            else None
        )


def meets_accuracy_bar(per_domain: list[dict[str, Any]]) -> bool:
    """Whether every domain of a comparison meets the bar (det hmean at most
    :data:`DET_BAR_POINTS` below, rec exact and alphanumeric accuracy at most
    :data:`REC_BAR_POINTS` below, agreement at least :data:`AGREEMENT_BAR` without labels);
    False when nothing was compared."""
    return bool(per_domain) and all(f["meets_bar"] for f in per_domain)


SPEED_TIE = 0.05  # end-to-end times this close to the fastest count as a tie (timing noise)


def default_pick(rows: list[dict[str, Any]]) -> dict[str, str] | None:
    """The zoo pipeline the CLI should default to: among the zoo rows that meet the accuracy
    bar against their own float parent on every domain, and read as well as
    :data:`ACCURACY_FLOOR` (float PP-OCRv6 small: within the same bar on every labelled domain;
    when that peer was not measured, this second test is skipped), the fastest end to end;
    rows within :data:`SPEED_TIE` of it tie, and the smallest of those (total file size) wins.
    Rows without a finite end-to-end time (not timed) and rows whose pipeline entry gives a
    ``not_default`` reason are not candidates; None when no row qualifies."""
    ok = [
        x
        for x in rows
        if x.get("group") == "zoo"
        and x.get("meets_accuracy_bar")
        and x.get("meets_floor") is not False
        and not x.get("not_default")
        and isinstance(x.get("e2e_ms"), (int, float))
        and math.isfinite(x["e2e_ms"])
    ]
    if not ok:
        return None
    fastest = min(x["e2e_ms"] for x in ok)
    tied = [x for x in ok if x["e2e_ms"] <= fastest * (1 + SPEED_TIE)]
    best = min(tied, key=lambda x: (x.get("size_mb", float("inf")), x["e2e_ms"]))
    return {"pipeline": best["name"], "det": best["det"], "rec": best["rec"]}


def det_settings_text(settings: dict[str, Any]) -> str:
    """A row's detector settings in a few characters: ``736 min, 0.2/0.4/1.4`` (resize limit
    and type, then ``≤2000`` where the longer side is capped below 4000; binarization / box /
    unclip thresholds; OCR defaults where unset).

    >>> det_settings_text({})
    '960 max, 0.3/0.6/1.5'
    >>> det_settings_text({"det_limit_type": "min", "det_max_side": 2000})
    '960 min ≤2000, 0.3/0.6/1.5'
    """
    s = settings
    cap = f" ≤{s['det_max_side']}" if s.get("det_max_side") else ""
    return (
        f"{s.get('det_limit_side_len', 960)} {s.get('det_limit_type', 'max')}{cap}, "
        f"{s.get('det_thresh', 0.3)}/{s.get('det_box_thresh', 0.6)}/"
        f"{s.get('det_unclip_ratio', 1.5)}"
    )


DOMAIN_COLUMNS: tuple[tuple[str, str], ...] = tuple((d.kind, d.name) for d in DOMAINS)


def _domain_cell(x: dict[str, Any], kind: str, name: str) -> str:
    """One domain's cell: the row's metric and its change from the reference in points, or
    its agreement where the domain has no labels; ✗ marks a miss of the bar."""
    metrics = (x.get("domains") or {}).get(kind, {}).get(name)
    if metrics is None:
        return "–"
    cmp = next((f for f in x.get("fidelity", []) if (f["kind"], f["domain"]) == (kind, name)), None)
    miss = " ✗" if cmp is not None and not cmp["meets_bar"] else ""
    if cmp is not None and not cmp["labelled"]:
        value = cmp.get("char_agreement", cmp["agreement"])
        return f"agr {value:.3f}{miss}"
    if kind == "det":
        value = f"{metrics['hmean']:.4f}"
        delta = f" ({cmp['delta_hmean']:+.2f})" if cmp and x["name"] != x["reference"] else ""
    elif "acc" in metrics:
        value = f"{100 * metrics['acc']:.2f}%"
        delta = f" ({cmp['delta_acc']:+.2f})" if cmp and x["name"] != x["reference"] else ""
    else:
        return "–"
    return value + delta + miss


def to_markdown(report: dict[str, Any]) -> str:
    """Two tables as markdown (speed and size; accuracy per domain), machine and settings
    stated."""
    m, s = report["machine"], report["settings"]
    flags = m.get("cpu_flags")
    flag_text = ""
    if flags is not None:
        flag_text = f" ({', '.join(flags) or 'none of ' + ', '.join(INT8_FLAGS)})"
    if "int8_dot" in m:  # reports before the per-CPU file choice lack it
        flag_text += (
            f", int8-activation files {'loaded' if m['int8_dot'] else 'not loaded'} "
            f"(SLIMOCR_INT8={m.get('int8_setting', 'auto')})"
        )
    lines = [
        f"Machine: {m['cpu']}{flag_text}, {m['logical_cpus']} logical CPUs, ONNX Runtime "
        f"{m['onnxruntime']}, {s['threads']} threads. Latency: medians over {s['repeats']} "
        f"interleaved rounds of {s['timing_images']} IC15 test images (det, end to end) and "
        f"{s['timing_crops']} word crops in batches of 6 (rec); warm-up excluded. words/img: "
        "text lines the pipeline reads per timed image (its end-to-end time includes them).",
        "",
        "| pipeline | det settings | det ms/img | rec ms/crop | e2e ms/img | words/img | "
        "speed-up | size MB (det + rec) | compression | bar | v6 small | against |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    marks = {True: "✓", False: "✗"}
    for x in report["rows"]:
        sp = f"{x['speedup_e2e']:.2f}×" if x["speedup_e2e"] else "–"
        cr = f"{x['compression']:.2f}×" if x["compression"] else "–"
        wpi = x.get("e2e_words_per_image")
        wpi = f"{wpi:.2f}" if wpi is not None else "–"
        lines.append(
            f"| {x['name']} | {det_settings_text(x.get('settings') or {})} | "
            f"{x['det_ms']:.1f} | {x['rec_ms_per_crop']:.2f} | {x['e2e_ms']:.1f} | {wpi} | {sp} | "
            f"{x['size_mb']:.2f} ({x['det_mb']:.2f} + {x['rec_mb']:.2f}) | {cr} | "
            f"{marks.get(x.get('meets_accuracy_bar'), '–')} | "
            f"{marks.get(x.get('meets_floor'), '–')} | {x.get('reference') or '–'} |"
        )
    choice = fallback_sentence(report["rows"])
    if choice:
        lines += ["", choice]
    heads = [f"{kind} {name}" for kind, name in DOMAIN_COLUMNS]
    lines += [
        "",
        "Accuracy per domain (report splits): det hmean, rec exact accuracy (spaces removed), "
        "and in brackets the change from the row under 'against' in points; 'agr': agreement "
        "with that row where the domain has no labels (det: hmean against its boxes; rec: "
        "1 - CER against its readings); ✗: the domain misses the bar.",
        "",
        "| pipeline | " + " | ".join(heads) + " |",
        "|---" * (len(heads) + 1) + "|",
    ]
    for x in report["rows"]:
        cells = [_domain_cell(x, kind, name) for kind, name in DOMAIN_COLUMNS]
        lines.append(f"| {x['name']} | " + " | ".join(cells) + " |")
    bar = report.get("bar")
    if bar:
        lines += [
            "",
            f"Accuracy bar, on every domain: det hmean within {bar['det_hmean_points']} point, "
            f"rec exact and case-insensitive alphanumeric accuracy within "
            f"{bar['rec_acc_points']} point of the row under 'against', or agreement with it of "
            f"at least {bar.get('agreement', AGREEMENT_BAR)} where a domain has no labels. "
            f"'v6 small': the same bar against {ACCURACY_FLOOR} on the labelled domains. Default "
            "pick (the fastest zoo row end to end that meets both; rows within "
            f"{100 * SPEED_TIE:.0f}% of the fastest tie and the smallest wins): "
            + (report["default_pick"] or {}).get("pipeline", "none")
            + ".",
        ]
        for x in report["rows"]:
            if x.get("not_default"):
                lines += ["", f"Not a default candidate: {x['name']}: {x['not_default']}"]
    return "\n".join(lines) + "\n"
