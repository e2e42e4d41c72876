"""Experiment: can a v6 tiny detector read a smaller input as well as float v6 tiny reads the
full one?

Float v6 tiny (teacher) sees 640x640 crops of the selection pool; a copy of it (student) sees
the same crops downscaled by ``SCALE`` and learns the teacher's map resized to its own
(label-free, frozen BatchNorm, Adam with warm-up and cosine decay). Every 100 steps the student
is scored at max-960 on the 150 IC15 train images outside the pool
(``bench/det_settings_selection.py``), beside the teacher at its own 736-min and at max-960.
Checkpoints go to ``OUT`` (never the repository).

    SCALE=0.75 STEPS=300 LR=1e-4 OUT=/tmp/lowres python bench/det_lowres_distill.py

The run reported in docs/reports/2026-12-06-v6-tiny-routes.md:
docs/results/v6_routes/det_lowres_distill.json.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import cv2
import torch
import torch.nn.functional as F  # noqa: N812
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).parent))

from det_settings_selection import ic15_outside_pool  # noqa: E402

from slimocr.eval.det_metrics import DetEvaluator  # noqa: E402
from slimocr.infer.det import DetPreprocess  # noqa: E402
from slimocr.postprocess.db import DBPostProcess  # noqa: E402

SCALE = float(os.environ.get("SCALE", 0.75))
STEPS = int(os.environ.get("STEPS", 300))
LR = float(os.environ.get("LR", 1e-4))
OUT = Path(os.environ.get("OUT", "/tmp/slimocr_lowres"))
POST = DBPostProcess(thresh=0.2, box_thresh=0.4, unclip_ratio=1.4)  # v6 tiny's own settings


@torch.no_grad()
def hmean(model: torch.nn.Module, pre: DetPreprocess, samples: list) -> float:
    model.eval()
    ev = DetEvaluator()
    for s in samples:
        img = cv2.imread(str(s.image))
        prob = model(torch.from_numpy(pre(img)))[0, 0].numpy()
        boxes, _ = POST(prob, *img.shape[:2])
        ev.add(s.polys, s.ignore, list(boxes))
    return float(ev.result().to_dict()["hmean"])


def main() -> None:
    from slimocr.toolkit.compress.prune.config import load_recipe
    from slimocr.toolkit.models import create_model
    from slimocr.toolkit.train.losses_det import DBDistillLoss
    from slimocr.toolkit.train.tasks import make_task

    torch.set_num_threads(2)
    torch.manual_seed(0)
    OUT.mkdir(parents=True, exist_ok=True)
    # the finetune section of the v6 tiny prune recipe: pool:det, 640 crops, batch 4
    cfg = load_recipe(Path(__file__).parents[1] / "recipes/prune_det_v6t.yaml").finetune
    train, _ = make_task(cfg).datasets()
    teacher = create_model("dbnet_ppocrv6t", pretrained=True).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    student = create_model("dbnet_ppocrv6t", pretrained=True)
    ic15 = ic15_outside_pool()
    result = {
        "scale": SCALE,
        "steps": STEPS,
        "lr": LR,
        "teacher_736min": hmean(teacher, DetPreprocess(736, "min"), ic15),
        "teacher_960max": hmean(teacher, DetPreprocess(960, "max"), ic15),
        "student_960max": [],
    }
    print(result, flush=True)
    opt = torch.optim.Adam(student.parameters(), lr=LR)

    def factor(step: int) -> float:
        return min(1.0, (step + 1) / 10) * (0.05 + 0.475 * (1 + math.cos(math.pi * step / STEPS)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    loss_fn = DBDistillLoss()
    step = 0
    while step < STEPS:
        for batch in DataLoader(train, batch_size=4, shuffle=True, drop_last=True):
            x = batch["image"]
            with torch.no_grad():
                target = teacher(x)
            student.train()
            for m in student.modules():  # frozen BatchNorm, as the trainer's freeze_bn
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.eval()
            small = F.interpolate(x, scale_factor=SCALE, mode="bilinear", antialias=True)
            out = student(small)
            maps = out["maps"] if isinstance(out, dict) else out
            loss = loss_fn(out, F.interpolate(target, size=maps.shape[-2:], mode="area"))["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step % 100 == 0 or step == STEPS:
                h = hmean(student, DetPreprocess(960, "max"), ic15)
                torch.save({"model": student.state_dict()}, OUT / f"step{step}.pt")
                result["student_960max"].append({"step": step, "hmean": h})
                (OUT / "result.json").write_text(json.dumps(result, indent=1))
                print(step, float(loss.detach()), h, flush=True)
            if step >= STEPS:
                break


if __name__ == "__main__":
    main()
