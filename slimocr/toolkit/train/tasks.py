"""What differs between detector and recognizer training: data, losses, evaluation.

Evaluation uses the project's own inference pre/post-processing and metrics (the same code the
ONNX pipeline and ``slimocr eval`` use), with the torch model in place of the ONNX session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from slimocr.errors import ConfigError
from slimocr.eval.pool import resolve_data
from slimocr.toolkit.train.config import SynthDataConfig, TrainConfig


def split_train_val(
    samples: list[Any],
    fraction: float,
    val_max: int,
    seed: int,
    groups: list[str] | None = None,
) -> tuple[list[Any], list[Any]]:
    """Deterministic held-out slice of the TRAIN split (never the test split).

    With ``groups`` (one key per sample), whole groups are held out, in a seeded order, while
    they fit in the slice's size, so no group has samples on both sides; when not even one
    fits, the first group of that order is held out alone (the slice is never empty)."""
    if fraction <= 0 or len(samples) < 2:
        return list(samples), []
    rng = np.random.default_rng(seed)
    n_val = min(val_max, max(1, int(round(len(samples) * fraction))))
    if groups is None:
        val_idx = set(rng.permutation(len(samples))[:n_val].tolist())
    else:
        if len(groups) != len(samples):
            raise ValueError(f"{len(groups)} group keys for {len(samples)} samples")
        members: dict[str, list[int]] = {}
        for i, key in enumerate(groups):
            members.setdefault(key, []).append(i)
        keys = sorted(members)
        order = rng.permutation(len(keys)).tolist()
        val_idx = set()
        for k in order:
            if len(val_idx) + len(members[keys[k]]) <= n_val:
                val_idx.update(members[keys[k]])
        if not val_idx and len(keys) > 1:
            val_idx.update(members[keys[order[0]]])
    train = [s for i, s in enumerate(samples) if i not in val_idx]
    val = [samples[i] for i in sorted(val_idx)]
    return train, val


def rendered_lines(cfg: SynthDataConfig, out_dir: Path, charset: list[str]) -> list[Any]:
    """The rendered lines of ``cfg`` as rec samples, drawn only from characters of the
    recognizer's ``charset``; rendered once under ``out_dir``
    (:func:`slimocr.toolkit.data.synth.rec_dataset_once`: a resumed run reads the same lines back,
    changed settings render new ones)."""
    from slimocr.eval.readers import load_rec_dataset
    from slimocr.toolkit.data.synth import SynthConfig, rec_dataset_once

    fonts = tuple(Path(f) for f in cfg.fonts) or None
    synth = SynthConfig(seed=cfg.seed, lang=cfg.lang, charset=frozenset(charset), fonts=fonts)
    return list(load_rec_dataset(rec_dataset_once(out_dir, cfg.n, synth)))


class DetTask:
    """DB detector: DB loss on labels and/or distillation from the float teacher's map."""

    kind = "det"
    metric = "hmean"

    def __init__(self, cfg: TrainConfig) -> None:
        from slimocr.toolkit.train.losses_det import DBDistillLoss, DBLoss

        self.cfg = cfg
        self.db_loss = DBLoss()
        self.distill_loss = DBDistillLoss()

    def datasets(self) -> tuple[torch.utils.data.Dataset, list[Any]]:
        from slimocr.eval.readers import load_det_dataset
        from slimocr.toolkit.data.det_augment import DetAugment
        from slimocr.toolkit.data.det_dataset import DetTrainDataset

        d = self.cfg.data
        samples = list(load_det_dataset(resolve_data(d.train), on_error=d.on_bad_label))[: d.limit]
        if d.val:
            train, val = samples, list(load_det_dataset(d.val, on_error=d.on_bad_label))
        else:
            train, val = split_train_val(samples, d.val_fraction, d.val_max, self.cfg.seed)
        lo, hi = d.scale_range  # a YAML list or a tuple
        augmenter = DetAugment(size=d.image_size, scales=(lo, hi))
        ds = DetTrainDataset(
            train,
            size=d.image_size,
            augment=d.augment,
            seed=self.cfg.seed,
            with_targets=d.labels,
            augmenter=augmenter if d.augment else None,
        )
        return ds, val[: d.val_max]

    def losses(
        self, out: Any, batch: dict[str, torch.Tensor], teacher_out: Any
    ) -> dict[str, torch.Tensor]:
        w = self.cfg.loss
        terms: dict[str, torch.Tensor] = {}
        total = torch.zeros((), device=batch["image"].device)
        if w.label and self.cfg.data.labels:
            parts = self.db_loss(out["maps"], batch)
            terms.update({k: v.detach() for k, v in parts.items() if k != "loss"})
            total = total + w.label * parts["loss"]
        if w.distill and teacher_out is not None:
            parts = self.distill_loss(out, teacher_out)
            terms["loss_distill"] = parts["loss"].detach()
            total = total + w.distill * parts["loss"]
        terms["loss"] = total
        return terms

    @torch.no_grad()
    def evaluate(self, model: nn.Module, val: list[Any], device: torch.device) -> dict[str, float]:
        from slimocr.eval.det_metrics import DetEvaluator
        from slimocr.infer.det import DetPreprocess
        from slimocr.postprocess.db import DBPostProcess
        from slimocr.toolkit.train.config import det_eval_options

        opts = det_eval_options(self.cfg.eval_settings)  # {}: each class's own defaults
        resize = {k: opts.pop(k) for k in ("limit_side_len", "limit_type") if k in opts}
        pre, post, ev = DetPreprocess(**resize), DBPostProcess(**opts), DetEvaluator()
        model.eval()
        for sample in val:
            img = cv2.imread(str(sample.image), cv2.IMREAD_COLOR)
            if img is None:
                continue
            prob = model(torch.from_numpy(pre(img)).to(device))[0, 0].float().cpu().numpy()
            boxes, _ = post(prob, img.shape[0], img.shape[1])
            ev.add(sample.polys, sample.ignore, list(boxes))
        return ev.result().to_dict()


class RecTask:
    """CTC recognizer: CTC on labels and/or distillation from the float teacher."""

    kind = "rec"
    metric = "acc"

    def __init__(self, cfg: TrainConfig) -> None:
        from slimocr.official import official_charset
        from slimocr.toolkit.models import model_spec
        from slimocr.toolkit.train.losses_rec import RecLoss

        self.cfg = cfg
        spec = model_spec(cfg.model)
        if spec.charset is None:
            raise ValueError(f"{cfg.model}: no charset known for this recognizer")
        self.charset = official_charset(spec.charset)
        w = cfg.loss
        self.loss = RecLoss(
            ctc=w.label if cfg.data.labels else 0.0,
            kl=w.distill,
            teacher_ctc=w.teacher_ctc,
            temperature=w.temperature,
        )

    def datasets(self) -> tuple[torch.utils.data.Dataset, list[Any]]:
        from slimocr.eval.readers import load_det_dataset, load_rec_dataset
        from slimocr.toolkit.data.rec_dataset import (
            OnUnknown,
            RecTrainDataset,
            crop_source,
            crops_from_det_samples,
        )

        d = self.cfg.data
        cut = False
        try:
            samples = list(load_rec_dataset(resolve_data(d.train), on_error=d.on_bad_label))
        except Exception:  # noqa: BLE001 - not a rec layout: cut crops from a det dataset
            det = list(load_det_dataset(resolve_data(d.train), on_error=d.on_bad_label))
            samples, cut = crops_from_det_samples(det, Path(self.cfg.out_dir) / "crops"), True
        samples = samples[: d.limit]
        groups = None
        if d.val_split == "image" and not d.val:
            if not cut:
                raise ConfigError(
                    f"{d.train}: data.val_split 'image' needs a detection-labelled train set "
                    "(its word crops are grouped by the image they are cut from)"
                )
            groups = [crop_source(s.image) for s in samples]
        if d.val:
            train, val = samples, list(load_rec_dataset(d.val, on_error=d.on_bad_label))
        else:
            train, val = split_train_val(samples, d.val_fraction, d.val_max, self.cfg.seed, groups)
        if d.synth is not None:
            train = [*train, *rendered_lines(d.synth, Path(self.cfg.out_dir), self.charset)]
        # label-free distillation never reads the labels: unknown characters don't matter
        on_unknown: OnUnknown = (
            "drop_char" if not d.labels else ("skip" if d.on_bad_label == "skip" else "raise")
        )
        ds = RecTrainDataset(
            train,
            self.charset,
            image_height=d.image_height,
            max_width=d.max_width,
            augment=d.augment,
            seed=self.cfg.seed,
            on_unknown=on_unknown,
        )
        return ds, val[: d.val_max]

    def losses(
        self, out: torch.Tensor, batch: dict[str, torch.Tensor], teacher_out: Any
    ) -> dict[str, torch.Tensor]:
        return self.loss(out, batch.get("label"), batch.get("length"), teacher_out)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, val: list[Any], device: torch.device) -> dict[str, float]:
        from slimocr.eval.rec_metrics import RecMetrics
        from slimocr.infer.rec import resize_norm_img
        from slimocr.postprocess.ctc import ctc_greedy_decode

        d = self.cfg.data
        metrics = RecMetrics()
        model.eval()
        for sample in val:
            img = cv2.imread(str(sample.image), cv2.IMREAD_COLOR)
            if img is None:
                metrics.add("", sample.text)
                continue
            width = max(d.max_width, int(np.ceil(d.image_height * img.shape[1] / img.shape[0])))
            x, _ = resize_norm_img(img, d.image_height, width)
            probs = model(torch.from_numpy(x[None]).to(device)).float().cpu().numpy()
            metrics.add(ctc_greedy_decode(probs, self.charset)[0][0], sample.text)
        return metrics.result()


def make_task(cfg: TrainConfig) -> DetTask | RecTask:
    return DetTask(cfg) if cfg.kind == "det" else RecTask(cfg)
