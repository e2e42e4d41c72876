"""``slimocr zoo build NAME`` from a clean checkout: the cheapest row of each method (PTQ, PACT,
prune, prune + PACT) rebuilt with tiny settings on rendered data in an empty work folder, parents
built first; nothing read from the real data root or written to the package's zoo."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from slimocr.zoo.records import RECORDS_JSON, load_records
from tests.conftest import needs_official, needs_torch

pytestmark = [
    needs_torch,
    needs_official,
    pytest.mark.slow,
    pytest.mark.usefixtures("one_torch_thread"),
]

# every recipe of a method in the build gets these (parents included)
TINY = [
    "ptq:calib.images=2",
    "ptq:calib.limit_side_len=128",
    "ptq:threads=1",
    "pact:calib.images=2",
    "pact:calib.limit_side_len=128",
    "pact:threads=1",
    "pact:train.steps=2",
    "pact:train.eval_every=0",
    "pact:train.threads=1",
    "pact:train.data.batch_size=2",
    "pact:train.data.val_fraction=0.25",
    "pact:train.data.on_bad_label=skip",  # rendered text has characters outside the charset
    "prune:threads=1",
    "prune:latency_runs=0",
    "prune:export.eval_data=null",
    "prune:reconstruct.images=2",
    "prune:reconstruct.samples=64",
    "prune:finetune.steps=1",
    "prune:finetune.eval_every=0",
    "prune:finetune.threads=1",
    "prune:finetune.data.batch_size=2",
    "prune:finetune.data.val_fraction=0.25",
]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root whose ``ic15_train`` is rendered text (det labels; crops for recognizers)."""
    from slimocr.toolkit.data.synth import SynthConfig, write_det_dataset

    root = tmp_path_factory.mktemp("data")
    write_det_dataset(root / "ic15_train", 6, SynthConfig(seed=5, det_size=(192, 128), max_lines=3))
    return root


@pytest.fixture
def zoo(tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("SLIMOCR_DATA", str(data_root))
    records = tmp_path / "records.json"
    shutil.copyfile(RECORDS_JSON, records)
    return {"files": tmp_path / "files", "records": records, "work": tmp_path / "work"}


def _build(name: str, zoo: dict[str, Path], lines: list[str]):  # noqa: ANN202
    from slimocr.toolkit.zoo.build import build

    return build(
        name, zoo["files"], zoo["records"], work_dir=zoo["work"], overrides=TINY, log=lines.append
    )


def _meta(path: Path) -> dict[str, str]:
    import onnx

    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def test_ptq_row_builds_from_the_official_weights(zoo: dict[str, Path]):
    lines: list[str] = []
    record = _build("ppocrv3-det-ptq-int8", zoo, lines)
    meta = _meta(zoo["files"] / record.file)
    assert meta["parent"] == "ppocrv3-det-float" and meta["recipe"] == "recipes/quant_det_ptq.yaml"
    assert json.loads(meta["quant"])["method"] == "ptq"
    saved = load_records(zoo["records"])[record.name]
    assert saved.build["method"] == "ptq" and "ptq:calib.images=2" in saved.build["set"]
    assert saved.sha256 != load_records()[record.name].sha256  # tiny settings, another file
    assert not [line for line in lines if line.startswith("parent ")]  # no parent to build


def test_pact_row_trains_two_steps(zoo: dict[str, Path]):
    record = _build("ppocrv2-rec-pact-int8", zoo, [])
    quant = json.loads(_meta(zoo["files"] / record.file)["quant"])
    assert quant["method"] == "pact" and quant["train_steps"] == 2
    assert (zoo["work"] / "quant_rec_pact" / "final.pt").exists()  # the run is in the work folder


def test_prune_row_writes_its_model_and_file(zoo: dict[str, Path]):
    record = _build("ppocrv2-rec-prune", zoo, [])
    assert (zoo["work"] / "prune_rec_r125" / "model" / "channels.json").exists()
    meta = _meta(zoo["files"] / record.file)
    assert meta["compression"] == "prune:fpgm" and meta["recipe"] == "recipes/prune_rec_r125.yaml"


def test_prune_pact_row_builds_its_pruned_parent_first(zoo: dict[str, Path]):
    lines: list[str] = []
    name = "ppocrv2-rec-prune-pact-int8-hs-lstm"
    record = _build(name, zoo, lines)
    parent_dir = zoo["work"] / "prune_rec_r125" / "model"
    assert (
        f"parent ppocrv2-rec-prune: building {parent_dir} by recipes/prune_rec_r125.yaml" in lines
    )
    meta = _meta(zoo["files"] / record.file)
    assert meta["parent"] == "ppocrv2-rec-prune"
    saved = load_records(zoo["records"])[name]
    assert saved.build["overrides"] == ["export.lstm=dynamic_int8"]  # the row's own setting
    assert saved.build["int8_kernels"]["DynamicQuantizeLSTM"] == 2
    assert not (zoo["files"] / "ppocrv2-rec-prune.onnx").exists()  # a parent is a run folder
    lines.clear()  # a second build finds the parent
    _build(name, zoo, lines)
    assert f"parent ppocrv2-rec-prune: found {parent_dir}" in lines


def test_weight_only_row_builds_its_missing_parent_file_first(zoo: dict[str, Path]):
    lines: list[str] = []
    record = _build("ppocrv3-det-prune-w8", zoo, lines)
    parent = zoo["files"] / "ppocrv3-det-prune.onnx"
    assert f"parent ppocrv3-det-prune: building {parent}" in lines
    saved = load_records(zoo["records"])
    assert saved["ppocrv3-det-prune"].sha256 != load_records()["ppocrv3-det-prune"].sha256
    assert _meta(zoo["files"] / record.file)["parent"] == "ppocrv3-det-prune"
    assert saved[record.name].build["method"] == "w8"
