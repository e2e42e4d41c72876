"""Recognition losses: CTC, KL and teacher-CTC distillation, the mixer, and a loss-falls check."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import needs_torch

pytestmark = needs_torch

torch = pytest.importorskip("torch")

from slimocr.errors import ConfigError  # noqa: E402
from slimocr.toolkit.train.losses_rec import (  # noqa: E402
    CTCLoss,
    RecDistillCTC,
    RecDistillKL,
    RecLoss,
    ctc_greedy_targets,
)


def _spell(path: list[int], classes: int, peak: float = 12.0) -> torch.Tensor:
    """Logits 1×T×C with a large score for the given class at each frame."""
    logits = torch.zeros(1, len(path), classes)
    logits[0, torch.arange(len(path)), torch.tensor(path)] = peak
    return logits


# ---------------------------------------------------------------------------------------- CTC


def test_ctc_perfect_prediction_beats_random() -> None:
    torch.manual_seed(0)
    labels, lengths = torch.tensor([[1, 2, 2, 3, 0, 0]]), torch.tensor([4])
    # 1 1 2 - 2 3 - - - -   (a blank separates the repeated 2)
    perfect = _spell([1, 1, 2, 0, 2, 3, 0, 0, 0, 0], 5)
    loss = CTCLoss()
    good = loss(perfect, labels, lengths)["loss"]
    rand = loss(torch.randn(1, 10, 5) * 3, labels, lengths)["loss"]
    assert good.item() < 0.01 < rand.item()
    # Without the blank the path reads "123": the 4-character label scores much worse.
    wrong = loss(_spell([1, 1, 2, 2, 3, 3, 0, 0, 0, 0], 5), labels, lengths)["loss"]
    assert wrong.item() > good.item() + 1.0


def test_ctc_loss_decreases_toward_the_perfect_prediction() -> None:
    torch.manual_seed(1)
    labels, lengths = torch.tensor([[3, 1, 4]]), torch.tensor([3])
    target = _spell([0, 3, 3, 0, 1, 0, 4, 4], 6, peak=1.0)
    noise = torch.randn(1, 8, 6)
    values = [
        CTCLoss()(a * 10 * target + (1 - a) * noise, labels, lengths)["loss"].item()
        for a in (0.0, 0.25, 0.5, 0.75, 1.0)
    ]
    assert values == sorted(values, reverse=True)


def test_ctc_reductions_and_infeasible_label() -> None:
    torch.manual_seed(2)
    logits = torch.randn(2, 6, 4, requires_grad=True)
    labels, lengths = torch.tensor([[1, 2, 3], [2, 0, 0]]), torch.tensor([3, 1])
    per = CTCLoss(reduction="none")(logits, labels, lengths)["loss"]
    assert per.shape == (2,)
    mean = CTCLoss()(logits, labels, lengths)["loss"]
    assert mean.item() == pytest.approx((per / lengths).mean().item(), rel=1e-5)
    paddle = CTCLoss(reduction="batch_mean")(logits, labels, lengths)["loss"]
    assert paddle.item() == pytest.approx(per.mean().item(), rel=1e-5)
    # 4 repeats of one class need 7 frames, 6 are given: zero_infinity gives 0, not inf.
    bad = CTCLoss(reduction="none")(logits, torch.tensor([[1, 1, 1, 1]] * 2), torch.tensor([4, 4]))
    assert torch.all(bad["loss"] == 0)
    mean.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_ctc_runs_in_float32_for_half_logits() -> None:
    logits = torch.zeros(1, 5, 4, dtype=torch.bfloat16)
    out = CTCLoss()(logits, torch.tensor([[1, 2]]), torch.tensor([2]))["loss"]
    assert out.dtype == torch.float32 and torch.isfinite(out)


# ------------------------------------------------------------------------------ distillation


def test_kl_zero_for_matching_student_positive_otherwise_and_grad_flows() -> None:
    torch.manual_seed(3)
    teacher = torch.randn(2, 7, 5).softmax(dim=2)
    for tau in (1.0, 2.0):
        kl = RecDistillKL(temperature=tau)
        assert kl(teacher.log(), teacher)["loss"].item() == pytest.approx(0.0, abs=1e-6)
    student = torch.randn(2, 7, 5, requires_grad=True)
    loss = RecDistillKL()(student, teacher)["loss"]
    assert loss.item() > 0.01
    loss.backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    # Per frame, summed over classes, averaged over frames and batch.
    p, log_q = teacher, student.detach().log_softmax(2)
    expected = (p * (p.log() - log_q)).sum(2).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_kl_teacher_gets_no_gradient_and_shapes_are_checked() -> None:
    teacher_logits = torch.randn(1, 4, 3, requires_grad=True)
    student = torch.randn(1, 4, 3, requires_grad=True)
    RecDistillKL()(student, teacher_logits.softmax(2))["loss"].backward()
    assert teacher_logits.grad is None
    with pytest.raises(ValueError, match="does not match"):
        RecDistillKL()(torch.zeros(1, 4, 3), torch.full((1, 5, 3), 1 / 3))
    with pytest.raises(ValueError, match="temperature"):
        RecDistillKL(temperature=0.0)


def test_teacher_ctc_targets_are_the_greedy_decode() -> None:
    # Frame argmax per sample: [1 1 - 1 2 2 - - 3] -> "1 1 2 3"; [- - ... -] -> "".
    teacher = torch.full((2, 9, 4), 0.05)
    path = [1, 1, 0, 1, 2, 2, 0, 0, 3]
    teacher[0, torch.arange(9), torch.tensor(path)] = 0.85
    teacher[1, :, 0] = 0.85
    labels, lengths = ctc_greedy_targets(teacher)
    assert lengths.tolist() == [4, 0]
    assert labels.tolist() == [[1, 1, 2, 3], [0, 0, 0, 0]]
    # A student that follows the teacher's path has a much lower loss than a random one.
    distill = RecDistillCTC()
    follow = distill(teacher.log() * 10, teacher)["loss"]
    torch.manual_seed(4)
    rand = distill(torch.randn(2, 9, 4), teacher)["loss"]
    assert follow.item() < 0.05 < rand.item()


# --------------------------------------------------------------------------------------- mixer


def test_rec_loss_mixes_available_terms() -> None:
    torch.manual_seed(5)
    logits = torch.randn(2, 8, 5, requires_grad=True)
    teacher = torch.randn(2, 8, 5).softmax(2)
    labels, lengths = torch.tensor([[1, 2], [3, 0]]), torch.tensor([2, 1])
    mix = RecLoss(ctc=1.0, kl=0.5, teacher_ctc=0.25)
    out = mix(logits, labels, lengths, teacher)
    assert set(out) == {"loss", "ctc", "kl", "teacher_ctc"}
    expected = out["ctc"] + 0.5 * out["kl"] + 0.25 * out["teacher_ctc"]
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    out["loss"].backward()
    assert logits.grad is not None
    only_ctc = mix(logits, labels, lengths)  # no teacher output: distillation terms left out
    assert set(only_ctc) == {"loss", "ctc"}
    distill_only = RecLoss(ctc=0.0, kl=1.0)(logits, None, None, teacher)  # no labels needed
    assert set(distill_only) == {"loss", "kl"}
    with pytest.raises(ValueError, match="no loss term"):
        RecLoss(ctc=0.0, kl=1.0)(logits, labels, lengths)


def test_rec_loss_config_errors() -> None:
    mix = RecLoss.from_config({"ctc": 1.0, "kl": 2.0, "temperature": 2.0})
    assert mix.weights == {"ctc": 1.0, "kl": 2.0, "teacher_ctc": 0.0}
    with pytest.raises(ConfigError, match="unknown rec loss key"):
        RecLoss.from_config({"ctc": 1.0, "dml": 1.0})
    with pytest.raises(ConfigError, match="'kl' must be a number >= 0"):
        RecLoss(kl=-1.0)
    with pytest.raises(ConfigError, match="all recognition loss weights are 0"):
        RecLoss(ctc=0.0)
    with pytest.raises(ConfigError, match="temperature"):
        RecLoss.from_config({"kl": 1.0, "temperature": -1.0})


# ---------------------------------------------------------------------------------- loss falls


def _digit_crops(tmp_path: Path) -> list:
    from slimocr.eval.readers import RecSample

    rng = np.random.default_rng(0)
    samples = []
    for i in range(8):
        text = "".join(str(d) for d in rng.integers(0, 10, size=int(rng.integers(2, 5))))
        img = np.full((32, 96, 3), 240, np.uint8)
        cv2.putText(img, text, (4, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (10, 10, 10), 2)
        path = tmp_path / f"d{i}.png"
        cv2.imwrite(str(path), img)
        samples.append(RecSample(path, text))
    return samples


@pytest.mark.slow
def test_crnn_ctc_loss_falls_on_tiny_digit_crops(tmp_path: Path) -> None:
    from slimocr.toolkit.data.rec_dataset import RecTrainDataset, collate_rec
    from slimocr.toolkit.models import create_model

    torch.manual_seed(0)
    digits = list("0123456789")
    ds = RecTrainDataset(_digit_crops(tmp_path), digits, max_width=96, augment=False)
    batch = collate_rec([ds[i] for i in range(len(ds))])
    model = create_model("crnn_ppocrv2", pretrained=False, num_classes=len(digits) + 1)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = RecLoss(ctc=1.0)
    losses = []
    start = time.perf_counter()
    for _ in range(40):
        out = loss_fn(model(batch["image"]), batch["label"], batch["length"])
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    elapsed = time.perf_counter() - start
    first, last = np.mean(losses[:3]), np.mean(losses[-3:])
    assert last <= 0.7 * first, (first, last, elapsed)
