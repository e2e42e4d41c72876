"""Training throughput on this machine: detector images/s at 640×640 and recognizer crops/s at
32×320, measured on rendered data (data loading included, first steps excluded).

    python bench/train_throughput.py --threads 2 --out docs/results/train_throughput.json
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def _measure(
    kind: str,
    data: Path,
    out_dir: Path,
    batch: int,
    steps: int,
    warm: int,
    threads: int,
    teacher: bool,
) -> dict[str, float]:
    from slimocr.toolkit.train.config import config_from_dict
    from slimocr.toolkit.train.trainer import Trainer

    values = {
        "kind": kind,
        "model": "dbnet_mv3_ppocrv3" if kind == "det" else "crnn_ppocrv2",
        "pretrained": True,
        "teacher": "pretrained" if teacher else "none",
        "steps": steps,
        "log_every": 1,
        "ckpt_every": 10_000,
        "out_dir": str(out_dir),
        "threads": threads,
        "freeze_bn": True,
        "data": {
            "train": str(data),
            "batch_size": batch,
            "val_fraction": 0.0,
            "image_size": 640,
            "on_bad_label": "skip",
        },
        "loss": {"label": 1.0, "distill": 1.0 if teacher else 0.0},
    }
    trainer = Trainer(config_from_dict(values))
    t0 = time.perf_counter()
    trainer.fit(resume=False)
    total = time.perf_counter() - t0
    rates = [e["images_per_s"] for e in trainer.history if "images_per_s" in e][warm:]
    rates.sort()
    return {
        "batch_size": batch,
        "steps_timed": len(rates),
        "median_samples_per_s": rates[len(rates) // 2],
        "wall_s": total,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    import torch

    from slimocr.bench.latency import emit_report, machine_info
    from slimocr.toolkit.data.synth import SynthConfig, write_det_dataset, write_rec_dataset

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        det = write_det_dataset(tmp / "det", 24, SynthConfig(seed=1, det_size=(1280, 720)))
        rec = write_rec_dataset(tmp / "rec", 400, SynthConfig(seed=2))
        result = {
            "machine": {**machine_info(), "threads": args.threads, "torch": torch.__version__},
            "det_640": _measure("det", det, tmp / "r1", 4, args.steps, 2, args.threads, False),
            "det_640_distill": _measure(
                "det", det, tmp / "r2", 4, args.steps, 2, args.threads, True
            ),
            "rec_32x320": _measure("rec", rec, tmp / "r3", 32, args.steps, 2, args.threads, False),
            "rec_32x320_distill": _measure(
                "rec", rec, tmp / "r4", 32, args.steps, 2, args.threads, True
            ),
        }
    emit_report(result, args.out)


if __name__ == "__main__":
    main()
