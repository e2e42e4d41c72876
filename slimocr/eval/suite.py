"""The multi-domain fidelity suite: a model against its float parent on every domain.

For each domain of the model's kind (:mod:`slimocr.eval.domains`, report splits only) the model
and its parent are run on the same inputs. Per domain the suite reports both models' metrics,
the change in points, and the label-free agreement of the model with its parent. A model
**meets the bar** on a domain when

* det, labelled: hmean at most :data:`DET_BAR_POINTS` below the parent's;
* rec, labelled: exact accuracy and case-insensitive alphanumeric accuracy each at most
  :data:`REC_BAR_POINTS` below the parent's;
* unlabelled: agreement with the parent at least :data:`AGREEMENT_BAR` (det: agreement hmean;
  rec: character agreement, 1 − the CER against the parent's reading. Whole-string agreement is
  reported too, but it is no bar: on long lines one changed character breaks it, and even
  weight-only int8 of PP-OCRv6 tiny, within 0.43 point of float on every labelled domain, agrees
  on only 82–87% of whole strings, docs/results/suite_v6t_rec_w8.json);

and meets the bar when it does so on every domain. Results are cached per model file (sha256),
domain, sample list and settings, so a parent shared by many models is run once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from slimocr.errors import ImageReadError, LabelError
from slimocr.eval.agreement import det_agreement, rec_agreement
from slimocr.eval.domains import Domain, Kind, det_samples, domains, rec_samples
from slimocr.eval.runner import run_det_eval, run_rec_eval
from slimocr.files import atomic_write
from slimocr.infer.det import TextDetector
from slimocr.infer.pipeline import open_recognizer
from slimocr.official import sha256_file
from slimocr.zoo.registry import PEER_PIPELINES, effective_record, resolve_model

DET_BAR_POINTS = 0.5
REC_BAR_POINTS = 1.0
AGREEMENT_BAR = 0.97
SUITE_VERSION = 1  # bump when what is cached changes


def cache_root() -> Path:
    """Where the suite's runs and sets and the selection pool are kept: ``$SLIMOCR_CACHE``, else
    ``~/.cache/slimocr``."""
    return Path(os.environ.get("SLIMOCR_CACHE") or Path.home() / ".cache" / "slimocr")


def default_cache() -> Path:
    """``cache_root() / "suite"``."""
    return cache_root() / "suite"


def root_parent(name: str) -> str:
    """The float model a zoo model descends from (its record's ``parent``, followed up to the
    first name that is not a zoo record: an official file). A non-zoo name is its own root."""
    from slimocr.zoo.records import RECORDS

    seen = set()
    while name in RECORDS and RECORDS[name].parent and name not in seen:
        seen.add(name)
        name = RECORDS[name].parent  # type: ignore[assignment]
    return name


def peer_settings(model: str, kind: Kind) -> tuple[dict[str, Any], int | None]:
    """The detector options and recognizer height a model runs with when it is a peer's
    file or descends from one (a PP-OCRv6 small row runs with v6 small's post-processing, as
    its pipeline does in the bench); the OCR defaults otherwise."""
    root = root_parent(model)
    for peer in PEER_PIPELINES:
        if (peer.det if kind == "det" else peer.rec) == root:
            return peer.det_kwargs(), peer.rec_height
    return {}, None


def _cached(path: Path, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    result = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, ensure_ascii=False)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return result


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps([SUITE_VERSION, *parts], default=str).encode()).hexdigest()[
        :16
    ]


def run_domain(
    model: str,
    kind: Kind,
    domain: Domain,
    cache: Path,
    threads: int | None = 2,
    det_options: dict[str, Any] | None = None,
    rec_height: int | None = None,
    limit: int | None = None,
    root: Path | None = None,
) -> dict[str, Any]:
    """One model on one domain: ``{"metrics": {...}, "boxes" | "texts": [...]}`` (cached by
    the file's sha256, the samples and the settings; the cache is this machine's, so the
    session's layout rewrite, which depends on the CPU, is the same for every entry)."""
    path = resolve_model(model, kind)
    opts = dict(det_options or {})
    if kind == "det":
        samples = det_samples(domain.name, root)[:limit]
        names = [str(s.image) for s in samples]
        key = _key(sha256_file(path), "det", domain.name, names, opts)

        def compute() -> dict[str, Any]:
            det = TextDetector(path, threads=threads, **opts)

            def detect(img: np.ndarray) -> tuple[Any, Any]:
                res = det(img)
                return res.boxes, res.scores

            rep = run_det_eval(samples, detect, progress=False)
            boxes = [
                [np.round(np.asarray(b), 1).tolist() for b in x["boxes"]] for x in rep["per_image"]
            ]
            return {"metrics": rep["metrics"], "boxes": boxes, "errors": rep["errors"]}

        return _cached(cache / "runs" / f"det-{domain.name}-{key}.json", compute)
    if rec_height is None:  # a peer's recognizer whose file does not fix its input height
        rec_height = next((p.rec_height for p in PEER_PIPELINES if p.rec == model), None)
    samples_r = rec_samples(domain.name, cache / "sets", root)[:limit]
    names = [str(s.image) for s in samples_r]
    key = _key(sha256_file(path), "rec", domain.name, names, rec_height)

    def compute_rec() -> dict[str, Any]:
        rec = open_recognizer(path, threads=threads, image_height=rec_height)
        rep = run_rec_eval(
            samples_r,
            lambda crops: [(r.text, r.score) for r in rec(crops)],
            batch=6,
            progress=False,
        )
        texts = [x["pred"] for x in rep["per_sample"]]
        metrics = rep["metrics"] if domain.labelled else {"n": len(texts)}
        return {"metrics": metrics, "texts": texts, "errors": rep["errors"]}

    return _cached(cache / "runs" / f"rec-{domain.name}-{key}.json", compute_rec)


def compare(
    kind: Kind, domain: Domain, run: dict[str, Any], parent: dict[str, Any]
) -> dict[str, Any]:
    """Deltas (points), agreement and the bar for one domain."""
    out: dict[str, Any] = {"domain": domain.name, "labelled": domain.labelled}
    if kind == "det":
        agree = det_agreement(parent["boxes"], run["boxes"])
        out["agreement"] = agree["hmean"]
        out["hmean"], out["parent_hmean"] = run["metrics"]["hmean"], parent["metrics"]["hmean"]
        out["delta_hmean"] = 100 * (out["hmean"] - out["parent_hmean"])
        out["meets_bar"] = (
            out["delta_hmean"] >= -DET_BAR_POINTS - 1e-9
            if domain.labelled
            else agree["hmean"] >= AGREEMENT_BAR
        )
        return out
    agree = rec_agreement(parent["texts"], run["texts"])
    out["agreement"], out["cer"] = agree["agreement"], agree["cer"]
    if domain.labelled:
        for m in ("acc", "acc_alnum_ci"):
            out[m], out[f"parent_{m}"] = run["metrics"][m], parent["metrics"][m]
            out[f"delta_{m}"] = 100 * (run["metrics"][m] - parent["metrics"][m])
        out["meets_bar"] = all(
            out[f"delta_{m}"] >= -REC_BAR_POINTS - 1e-9 for m in ("acc", "acc_alnum_ci")
        )
    else:  # character agreement: a whole long line is too coarse a unit (see the module doc)
        out["char_agreement"] = 1.0 - agree["cer"]
        out["meets_bar"] = out["char_agreement"] >= AGREEMENT_BAR
    return out


def model_suite(
    model: str,
    kind: Kind,
    parent: str | None = None,
    domain_names: list[str] | None = None,
    cache: Path | None = None,
    threads: int | None = 2,
    det_options: dict[str, Any] | None = None,
    parent_det_options: dict[str, Any] | None = None,
    rec_height: int | None = None,
    parent_rec_height: int | None = None,
    limit: int | None = None,
    root: Path | None = None,
) -> dict[str, Any]:
    """``model`` and its ``parent`` (default: :func:`root_parent`) on every domain of ``kind``.

    Returns ``{"model", "parent", "kind", "loaded", "domains": [per-domain comparison],
    "meets_bar"}`` (``loaded``: the records that ran for model and parent on this CPU,
    :func:`~slimocr.zoo.registry.effective_record`);
    a domain whose data is missing is listed under ``"skipped"`` with the reason and makes
    ``meets_bar`` False (a bar not checked is not met).
    """
    cache = default_cache() if cache is None else cache
    parent = parent or root_parent(model)
    if parent_det_options is None and parent_rec_height is None:
        parent_det_options, parent_rec_height = peer_settings(parent, kind)
    if det_options is None and rec_height is None:
        # a compressed model runs with its parent's pre/post-processing unless it has its own
        det_options, rec_height = peer_settings(model, kind)
        if not det_options and rec_height is None:
            det_options, rec_height = parent_det_options, parent_rec_height
    rows, skipped = [], []
    for domain in domains(kind, domain_names):
        try:
            run = run_domain(
                model, kind, domain, cache, threads, det_options, rec_height, limit, root
            )
            ref = run_domain(
                parent,
                kind,
                domain,
                cache,
                threads,
                parent_det_options,
                parent_rec_height,
                limit,
                root,
            )
        except (OSError, ValueError, LabelError, ImageReadError) as exc:  # missing data, fonts
            skipped.append({"domain": domain.name, "reason": str(exc)})
            continue
        rows.append(compare(kind, domain, run, ref))
    return {
        "model": model,
        "parent": parent,
        "kind": kind,
        "loaded": {"model": effective_record(model), "parent": effective_record(parent)},
        "limit": limit,
        "bar": {
            "det_points": DET_BAR_POINTS,
            "rec_points": REC_BAR_POINTS,
            "agreement": AGREEMENT_BAR,
        },
        "domains": rows,
        "skipped": skipped,
        "meets_bar": bool(rows) and not skipped and all(r["meets_bar"] for r in rows),
    }


def pipeline_agreement(
    candidate: Any, parent: Any, images: list[Path], progress: bool = True
) -> dict[str, Any]:
    """Label-free agreement of two :class:`~slimocr.infer.pipeline.OCR` pipelines on images:
    detector agreement (the candidate's boxes against the parent's), recognizer agreement (both
    recognizers on the crops of the parent's boxes) and end-to-end line agreement.

    An image either pipeline cannot read is listed under ``"errors"`` and left out.
    """
    from tqdm import tqdm

    from slimocr.errors import SlimOCRError
    from slimocr.eval.agreement import e2e_agreement
    from slimocr.infer.crop import crop_quad, sorted_boxes
    from slimocr.infer.image import load_image

    ref_boxes, cand_boxes, ref_texts, cand_texts = [], [], [], []
    ref_lines, cand_lines, errors = [], [], []
    for image in tqdm(images, desc="agreement", unit="img", disable=not progress):
        try:
            img = load_image(image)
            pd, cd = parent.detector(img), candidate.detector(img)
            crops = [crop_quad(img, b) for b in sorted_boxes(pd.boxes)]
            pr = parent.recognizer(crops) if crops else []
            cr = candidate.recognizer(crops) if crops else []
            pl, cl = parent(img), candidate(img)
        except SlimOCRError as exc:
            errors.append({"image": str(image), "error": str(exc)})
            continue
        ref_boxes.append(list(pd.boxes))
        cand_boxes.append(list(cd.boxes))
        ref_texts += [r.text for r in pr]
        cand_texts += [r.text for r in cr]
        ref_lines.append([(np.asarray(x.box), x.text) for x in pl.lines])
        cand_lines.append([(np.asarray(x.box), x.text) for x in cl.lines])
    return {
        "n_images": len(ref_boxes),
        "det": det_agreement(ref_boxes, cand_boxes),
        "rec": rec_agreement(ref_texts, cand_texts),
        "e2e": e2e_agreement(ref_lines, cand_lines),
        "errors": errors,
    }
