"""DB detector losses: label loss (balanced BCE + L1 + Dice) and label-free distillation."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from slimocr.toolkit.data.db_targets import make_shrink_map, make_threshold_map  # noqa: E402
from slimocr.toolkit.train.losses_det import (  # noqa: E402
    DBDistillLoss,
    DBLoss,
    balanced_bce,
    dice_loss,
    masked_l1,
)


def _targets(n: int = 2, size: int = 64) -> dict[str, torch.Tensor]:
    """Targets of one or two rectangles per image, as the dataset makes them."""
    out: dict[str, list[np.ndarray]] = {
        k: [] for k in ("shrink_map", "shrink_mask", "threshold_map", "threshold_mask")
    }
    for i in range(n):
        polys = [
            np.array(
                [[8, 10 + 4 * i], [50, 10 + 4 * i], [50, 30 + 4 * i], [8, 30 + 4 * i]],
                dtype=np.float64,
            ),
            np.array([[10, 44], [40, 44], [40, 58], [10, 58]], dtype=np.float64),
        ]
        sm, sk = make_shrink_map(polys, [False, i == 1], size, size)
        tm, tk = make_threshold_map(polys, [False, i == 1], size, size)
        for k, v in zip(out, (sm, sk, tm, tk), strict=True):
            out[k].append(v)
    return {k: torch.from_numpy(np.stack(v)) for k, v in out.items()}


def _perfect(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    s = batch["shrink_map"].clamp(1e-7, 1 - 1e-7)
    return torch.stack([s, batch["threshold_map"], s], dim=1)


def test_perfect_prediction_has_near_zero_loss() -> None:
    batch = _targets()
    out = DBLoss()(_perfect(batch), batch)
    assert set(out) == {"loss", "loss_shrink", "loss_threshold", "loss_binary"}
    assert float(out["loss"]) < 1e-4
    parts = out["loss_shrink"] + out["loss_threshold"] + out["loss_binary"]
    assert torch.allclose(out["loss"], parts)


def test_wrong_prediction_costs_more_and_gradient_flows() -> None:
    batch = _targets()
    good = float(DBLoss()(_perfect(batch), batch)["loss"])
    inverted = _perfect(batch).clone()
    inverted[:, 0] = 1 - inverted[:, 0]
    inverted[:, 2] = 1 - inverted[:, 2]
    inverted[:, 1] = 1.0 - inverted[:, 1]
    bad = DBLoss()(inverted, batch)
    assert float(bad["loss"]) > good + 5
    assert float(bad["loss_shrink"]) > 1 and float(bad["loss_threshold"]) > 1
    assert float(bad["loss_binary"]) > 0.9
    logits = torch.zeros(2, 3, 64, 64, requires_grad=True)
    out = DBLoss()(torch.sigmoid(logits), batch)
    out["loss"].backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    assert all(float(logits.grad[:, c].abs().sum()) > 0 for c in range(3))


def test_hard_negative_mining_keeps_three_negatives_per_positive() -> None:
    # 2 positives, 10 negatives (1 masked out): only the 6 hardest negatives count.
    gt = torch.tensor([1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], dtype=torch.float32)
    mask = torch.ones_like(gt)
    mask[2] = 0  # the hardest-looking negative is masked: never counted
    pred = torch.tensor([0.8, 0.6, 0.99, 0.9, 0.7, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.01])
    bce = [-math.log(0.8), -math.log(0.6)] + [
        -math.log(1 - p) for p in (0.9, 0.7, 0.5, 0.4, 0.3, 0.2)
    ]
    want = sum(bce) / (2 + 6)
    got = balanced_bce(pred, gt, mask, negative_ratio=3.0)
    assert float(got) == pytest.approx(want, rel=1e-5)
    # Fewer negatives than 3x: all of them.
    few = balanced_bce(pred[:5], gt[:5], mask[:5], negative_ratio=3.0)
    want_few = (-math.log(0.8) - math.log(0.6) - math.log(0.1) - math.log(0.3)) / 4
    assert float(few) == pytest.approx(want_few, rel=1e-5)
    # No positive: no negative is mined, the loss is 0.
    assert float(balanced_bce(pred[2:], gt[2:], mask[2:])) == 0.0
    # Easy negatives do not change the loss once 3x harder ones exist.
    pred2 = pred.clone()
    pred2[-1] = 0.0001
    assert float(balanced_bce(pred2, gt, mask)) == pytest.approx(want, rel=1e-5)


def test_l1_and_dice_by_hand() -> None:
    pred = torch.tensor([0.5, 0.2, 1.0, 0.0])
    gt = torch.tensor([0.7, 0.2, 0.0, 1.0])
    mask = torch.tensor([1.0, 1.0, 0.0, 1.0])
    assert float(masked_l1(pred, gt, mask)) == pytest.approx((0.2 + 0 + 1.0) / 3, rel=1e-4)
    inter = 0.5 * 0.7 + 0.2 * 0.2
    union = (0.5 + 0.2 + 0.0) + (0.7 + 0.2 + 1.0)
    assert float(dice_loss(pred, gt, mask)) == pytest.approx(1 - 2 * inter / union, rel=1e-4)


def test_shape_mismatch_raises() -> None:
    batch = _targets(size=64)
    with pytest.raises(ValueError):
        DBLoss()(torch.rand(2, 3, 32, 32), batch)
    with pytest.raises(ValueError):
        DBLoss()(torch.rand(2, 64, 64), batch)


def _teacher(n: int = 2, size: int = 32) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    logit = 30.0 * (6 - torch.maximum((x - 16).abs() - 6, (y - 12).abs()).float()) / 6
    return torch.sigmoid(logit).expand(n, 1, size, size).clone()


def test_distill_loss_minimal_when_student_equals_teacher() -> None:
    teacher = _teacher()
    loss = DBDistillLoss()
    same = loss(teacher.clone(), teacher)
    assert set(same) == {"loss", "loss_bce", "loss_dice"}
    assert abs(float(same["loss_bce"])) < 1e-5  # KL(P || P) = 0
    assert float(same["loss_dice"]) < 0.1  # a soft teacher is not quite its binarization
    gen = torch.Generator().manual_seed(0)
    for other in (
        (teacher + 0.1 * torch.randn(teacher.shape, generator=gen)).clamp(0.001, 0.999),
        torch.full_like(teacher, 0.5),
        1 - teacher,
        torch.sigmoid(torch.logit(teacher, eps=1e-6) * 0.5),  # a less confident student
    ):
        assert float(loss(other, teacher)["loss"]) > float(same["loss"]) + 0.01
    # Gradient of the BCE part is the soft-BCE gradient: zero at S == P.
    s = teacher.clone().requires_grad_(True)
    DBDistillLoss(dice_weight=0.0)(s, teacher)["loss"].backward()
    assert float(s.grad.abs().max()) < 1e-6


def test_distill_accepts_train_mode_dict_and_mask() -> None:
    teacher = _teacher()
    maps = torch.cat([teacher, torch.full_like(teacher, 0.3), teacher], dim=1)
    logits = torch.logit(maps, eps=1e-6).requires_grad_(True)
    out = DBDistillLoss()({"maps": torch.sigmoid(logits)}, teacher)
    assert out["loss_bce"].item() < 1e-4
    (out["loss"] + 0 * logits.sum()).backward()
    assert float(logits.grad[:, 1:].abs().sum()) == 0.0  # only channel 0 is distilled
    # A train-mode teacher works too, and the mask removes pixels.
    wrong = torch.zeros_like(teacher)
    mask = torch.zeros(2, 32, 32)
    assert float(DBDistillLoss()(wrong, {"maps": maps}, mask=mask)["loss_bce"]) == 0.0
    with pytest.raises(ValueError):
        DBDistillLoss()(teacher[:, :, :16], teacher)


@pytest.mark.slow  # about 3 s on 2 CPU cores
def test_db_loss_falls_training_real_detector() -> None:
    from slimocr.toolkit.models import create_model

    torch.manual_seed(0)
    size = 128
    images, polys_all = [], []
    for i in range(2):
        img = np.full((size, size, 3), 235, np.uint8)
        polys = [
            np.array(
                [[12, 14 + 30 * i], [100, 14 + 30 * i], [100, 38 + 30 * i], [12, 38 + 30 * i]],
                dtype=np.float64,
            ),
            np.array([[30, 90], [110, 90], [110, 112], [30, 112]], dtype=np.float64),
        ]
        for p in polys:
            x0, y0 = p.min(axis=0).astype(int)
            x1, y1 = p.max(axis=0).astype(int)
            for x in range(x0 + 2, x1 - 3, 6):  # text-like vertical strokes
                img[y0 + 3 : y1 - 2, x : x + 3] = 20
        images.append(img)
        polys_all.append(polys)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    x = torch.from_numpy(
        np.stack([((im / 255.0 - mean) / std).transpose(2, 0, 1) for im in images])
    ).float()
    batch: dict[str, list[np.ndarray]] = {
        k: [] for k in ("shrink_map", "shrink_mask", "threshold_map", "threshold_mask")
    }
    for polys in polys_all:
        sm, sk = make_shrink_map(polys, [False] * 2, size, size)
        tm, tk = make_threshold_map(polys, [False] * 2, size, size)
        for k, v in zip(batch, (sm, sk, tm, tk), strict=True):
            batch[k].append(v)
    targets = {k: torch.from_numpy(np.stack(v)) for k, v in batch.items()}

    model = create_model("dbnet_mv3_ppocrv3", pretrained=False).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    crit = DBLoss()
    losses = []
    for _ in range(30):
        out = crit(model(x)["maps"], targets)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    first, last = np.mean(losses[:3]), np.mean(losses[-3:])
    assert np.isfinite(losses).all()
    assert last <= 0.7 * first, f"DB loss fell only from {first:.3f} to {last:.3f}"


def test_bce_matches_torch_when_no_mining_needed() -> None:
    # With ratio large enough to keep all negatives, balanced BCE is the masked mean BCE.
    gen = torch.Generator().manual_seed(1)
    pred = torch.rand(2, 8, 8, generator=gen).clamp(0.01, 0.99)
    gt = (torch.rand(2, 8, 8, generator=gen) > 0.5).float()
    mask = torch.ones_like(gt)
    want = F.binary_cross_entropy(pred, gt)
    assert float(balanced_bce(pred, gt, mask, negative_ratio=1e9)) == pytest.approx(
        float(want), rel=1e-4
    )
