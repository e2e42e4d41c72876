"""The training loop every recipe finetunes with (plain, distillation, QAT, after pruning).

One process on CPU or GPU, or several under ``torchrun`` (DistributedDataParallel; gloo on CPU,
NCCL on GPU). Checkpoints are atomic and hold everything needed to resume exactly: model,
optimizer, scheduler, RNG states, step; data order and augmentation are functions of
(seed, epoch, index), so a resumed run sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Sized
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from slimocr.errors import ConfigError, Interrupted, ModelFileError
from slimocr.files import atomic_write
from slimocr.toolkit.models import create_model
from slimocr.toolkit.train.checkpoint import (
    load_checkpoint,
    load_model_weights,
    load_problem,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)
from slimocr.toolkit.train.config import TrainConfig, config_to_dict
from slimocr.toolkit.train.schedule import ResumableSampler, make_scheduler
from slimocr.toolkit.train.tasks import make_task

ModelHook = Callable[[nn.Module], nn.Module]


def _dist_env() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return world, rank, local


def _device(cfg: TrainConfig, local_rank: int) -> torch.device:
    if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def _freeze_bn(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


class _CtrlC:
    """While active (in the main thread): a first Ctrl-C only sets :attr:`pressed`, so the
    loop can stop at the end of the step with a checkpoint; a second one stops at once."""

    def __init__(self) -> None:
        self.pressed = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: object) -> None:
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True
        tqdm.write("stopping after this step with a checkpoint (Ctrl-C again: at once)")

    def __enter__(self) -> _CtrlC:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class Trainer:
    """Runs a :class:`TrainConfig`.

    Args:
        cfg: the run's config.
        model: a ready model (e.g. pruned or fake-quantized); default: built from ``cfg``.
        teacher: a frozen teacher; default: the pretrained float model when
            ``cfg.teacher == "pretrained"``, the named model's official weights when it names
            one.
        model_hook: applied to the model after weights are loaded (e.g. insert fake-quant).

    >>> Trainer(cfg).fit()  # doctest: +SKIP
    """

    def __init__(
        self,
        cfg: TrainConfig,
        model: nn.Module | None = None,
        teacher: nn.Module | None = None,
        model_hook: ModelHook | None = None,
    ) -> None:
        self.cfg = cfg
        self.world, self.rank, local = _dist_env()
        self.device = _device(cfg, local)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if self.world > 1 and not torch.distributed.is_initialized():
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            torch.distributed.init_process_group(backend)
        seed_everything(cfg.seed)
        self.out_dir = Path(cfg.out_dir)
        self.task = make_task(cfg)
        if model is None:
            model = create_model(cfg.model, pretrained=cfg.pretrained and not cfg.init)
            if cfg.init:
                load_model_weights(model, cfg.init)
        if model_hook is not None:
            model = model_hook(model)
        self.model = model.to(self.device)
        if teacher is None and cfg.teacher != "none":
            name = cfg.model if cfg.teacher == "pretrained" else cfg.teacher
            teacher = create_model(name, pretrained=True)
        self.teacher = teacher.to(self.device).eval() if teacher is not None else None
        if self.teacher is not None:
            for p in self.teacher.parameters():
                p.requires_grad_(False)
        if cfg.trainable is not None:
            prefixes = tuple(cfg.trainable)
            for name, p in self.model.named_parameters():
                p.requires_grad_(name.startswith(prefixes))
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ConfigError(
                f"trainable: no parameter of {cfg.model} starts with any of {cfg.trainable}"
            )
        opt_cls = torch.optim.AdamW if cfg.optim.name == "adamw" else torch.optim.Adam
        self.optimizer: torch.optim.Optimizer = opt_cls(
            params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay
        )
        self.scheduler = make_scheduler(
            self.optimizer, cfg.steps, cfg.optim.warmup_steps, cfg.optim.min_lr_ratio
        )
        self.step = 0
        self.best: float | None = None
        self.history: list[dict[str, Any]] = []

    # ---------------------------------------------------------------- persistence
    @property
    def last_path(self) -> Path:
        return self.out_dir / "last.pt"

    def _save(self) -> None:
        if self.rank != 0:
            return
        save_checkpoint(
            self.last_path,
            model=self._bare().state_dict(),
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            rng=rng_state(),
            step=self.step,
            best=self.best if self.best is not None else float("nan"),
            config=json.dumps(config_to_dict(self.cfg)),
        )

    def _resume(self) -> bool:
        if not self.last_path.exists():
            return False
        ckpt = load_checkpoint(self.last_path)
        try:  # another model's or another trainable set's checkpoint, or not one of ours
            self._bare().load_state_dict(ckpt["model"])
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.scheduler.load_state_dict(ckpt["scheduler"])
            set_rng_state(ckpt["rng"])
            self.step = int(ckpt["step"])
            best = float(ckpt["best"])
        except (AttributeError, KeyError, RuntimeError, TypeError, ValueError) as exc:
            raise ModelFileError(
                f"{self.last_path}: not a checkpoint of this run ({load_problem(exc)}); move "
                "it away to start the run over"
            ) from None
        self.best = None if best != best else best  # NaN = no evaluation yet
        return True

    def _bare(self) -> nn.Module:
        if hasattr(self.model, "module"):  # DistributedDataParallel
            return cast(nn.Module, self.model.module)
        return self.model

    def _log(self, entry: dict[str, Any]) -> None:
        self.history.append(entry)
        if self.rank == 0:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            with open(self.out_dir / "log.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry) + "\n")

    # ---------------------------------------------------------------- evaluation
    def evaluate(self, val: list[Any]) -> dict[str, float]:
        """The task's metric on ``val`` with the current weights (rank 0 only)."""
        if not val:
            return {}
        metrics = self.task.evaluate(self._bare(), val, self.device)
        self.model.train()
        if self.cfg.freeze_bn:
            _freeze_bn(self.model)
        return metrics

    def _maybe_keep_best(self, metrics: dict[str, float]) -> None:
        score = metrics.get(self.task.metric)
        if score is None or self.rank != 0:
            return
        if self.best is None or score > self.best:
            self.best = score
            save_checkpoint(
                self.out_dir / "best.pt",
                model=self._bare().state_dict(),
                step=self.step,
                metrics=json.dumps(metrics),
            )

    # ---------------------------------------------------------------- loop
    def _write_held_out(self, val: list[Any]) -> None:
        """A recognizer's held-out slice as a rec label file (``out_dir/held_out.txt``, absolute
        crop paths, tab, text), so that any model can be scored on the same words with
        ``slimocr eval rec --data OUT/held_out.txt``."""
        if self.cfg.kind != "rec":
            return
        if not val:  # no slice this run: a file from an earlier run would name other words
            (self.out_dir / "held_out.txt").unlink(missing_ok=True)
            return
        lines = "".join(f"{Path(s.image).resolve()}\t{s.text}\n" for s in val)
        atomic_write(
            self.out_dir / "held_out.txt", lambda tmp: Path(tmp).write_text(lines, "utf-8")
        )

    def fit(self, resume: bool = True, stop_after: int | None = None) -> dict[str, Any]:
        """Train to ``cfg.steps`` (resuming from ``last.pt`` when present).

        Args:
            resume: continue from the run folder's checkpoint if there is one.
            stop_after: stop (with a checkpoint) after this many steps of this call, as an
                interruption would; used by tests of exact resume.

        Returns:
            ``{"step", "best", "final_metrics", "resumed"}``.
        """
        cfg = self.cfg
        self.out_dir.mkdir(parents=True, exist_ok=True)
        resumed = self._resume() if resume else False
        train_ds, val = self.task.datasets()
        if self.rank == 0:
            self._write_held_out(val)
        sampler = ResumableSampler(train_ds, self.world, self.rank, shuffle=True, seed=cfg.seed)
        per_epoch = len(sampler) // cfg.data.batch_size
        if per_epoch == 0:
            n_train = len(cast(Sized, train_ds))  # the task's datasets are map-style
            raise ConfigError(
                f"{cfg.data.train}: {n_train} training samples (per process) is fewer than "
                f"one batch of {cfg.data.batch_size}"
            )
        if self.world > 1:
            self.model = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.model.train()
        if cfg.freeze_bn:
            _freeze_bn(self.model)
        start_step = self.step
        if cfg.eval_every and self.step == 0 and self.rank == 0:
            metrics = self.evaluate(val)  # the starting point (e.g. the float parent)
            self._log({"step": 0, "eval": metrics})
            self._maybe_keep_best(metrics)
        bar = tqdm(
            total=cfg.steps, initial=self.step, desc=f"train {cfg.kind}", disable=self.rank != 0
        )
        with _CtrlC() as ctrl_c:
            self._loop(train_ds, val, sampler, per_epoch, bar, ctrl_c, start_step, stop_after)
        stopped = ctrl_c.pressed and self.step < cfg.steps
        if stopped or (stop_after is not None and self.step - start_step >= stop_after):
            self._save()
            bar.close()
            if stopped:
                raise Interrupted(
                    f"{self.out_dir}: stopped at step {self.step} of {cfg.steps}; last.pt holds "
                    "it: run the same command again to resume"
                )
            return {"step": self.step, "best": self.best, "final_metrics": None, "resumed": resumed}
        bar.close()
        self._save()
        final = self.evaluate(val) if self.rank == 0 else {}
        if final:
            self._log({"step": self.step, "eval": final})
            self._maybe_keep_best(final)
        if self.rank == 0:
            save_checkpoint(
                self.out_dir / "final.pt", model=self._bare().state_dict(), step=self.step
            )
        return {"step": self.step, "best": self.best, "final_metrics": final, "resumed": resumed}

    def _loop(
        self,
        train_ds: Any,
        val: list[Any],
        sampler: ResumableSampler,
        per_epoch: int,
        bar: Any,
        ctrl_c: _CtrlC,
        start_step: int,
        stop_after: int | None,
    ) -> None:
        """The training steps, until ``cfg.steps``, ``stop_after`` steps of this call, or a
        Ctrl-C (each checked at the end of a step)."""
        cfg = self.cfg
        t_last, n_last = time.perf_counter(), 0
        while self.step < cfg.steps:
            epoch, pos = divmod(self.step, per_epoch)
            sampler.set_position(epoch, pos * cfg.data.batch_size)
            if hasattr(train_ds, "set_epoch"):
                train_ds.set_epoch(epoch)
            loader = DataLoader(
                train_ds,
                batch_size=cfg.data.batch_size,
                sampler=sampler,
                num_workers=cfg.data.num_workers,
                drop_last=True,
            )
            for batch in loader:
                batch = {
                    k: v.to(self.device) if torch.is_tensor(v) else v for k, v in batch.items()
                }
                teacher_out = None
                if self.teacher is not None:
                    with torch.no_grad():
                        teacher_out = self.teacher(batch["image"])
                out = self.model(batch["image"])
                terms = self.task.losses(out, batch, teacher_out)
                self.optimizer.zero_grad(set_to_none=True)
                terms["loss"].backward()
                if cfg.optim.grad_clip:
                    nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optim.grad_clip)
                self.optimizer.step()
                self.scheduler.step()
                self.step += 1
                n_last += batch["image"].shape[0] * self.world
                bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    dt = time.perf_counter() - t_last
                    entry = {
                        "step": self.step,
                        "lr": self.scheduler.get_last_lr()[0],
                        "images_per_s": n_last / dt if dt > 0 else 0.0,
                        **{k: float(v.detach()) for k, v in terms.items()},
                    }
                    bar.set_postfix(
                        loss=f"{entry['loss']:.4f}",
                        lr=f"{entry['lr']:.2e}",
                        ips=f"{entry['images_per_s']:.1f}",
                    )
                    self._log(entry)
                    t_last, n_last = time.perf_counter(), 0
                if cfg.eval_every and self.step % cfg.eval_every == 0 and self.rank == 0:
                    metrics = self.evaluate(val)
                    self._log({"step": self.step, "eval": metrics})
                    self._maybe_keep_best(metrics)
                if self.step % cfg.ckpt_every == 0:
                    self._save()
                if self.world > 1:  # every process stops at the same step, or none does
                    flag = torch.tensor([float(ctrl_c.pressed)], device=self.device)
                    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
                    ctrl_c.pressed = bool(flag.item())
                if (
                    self.step >= cfg.steps
                    or ctrl_c.pressed
                    or (stop_after is not None and self.step - start_step >= stop_after)
                ):
                    return
