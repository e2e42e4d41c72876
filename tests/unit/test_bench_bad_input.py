"""Bad input to the benchmark tools: one ``error: ...`` line and a non-zero exit, never a
traceback, a NaN in a report or a silent success (bench/net_latency.py, bench/ort_profile.py,
``slimocr bench``)."""

from __future__ import annotations

import importlib.util
import json
import math
import tempfile
from pathlib import Path
from types import ModuleType

import pytest
from typer.testing import CliRunner

from slimocr.bench.profile import kernel_times
from slimocr.bench.table import default_pick, run_bench
from slimocr.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
DET = str(ROOT / "slimocr" / "zoo" / "files" / "ppocrv6t-det-ptq-int8.onnx")
TINY = ["--shape", "1,3,32,32", "--runs", "1"]
HUGE = ["--shape", "100000,3,100000,100000"]  # 10.7 PiB: numpy refuses at once


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NET_LATENCY = _script("net_latency")
ORT_PROFILE = _script("ort_profile")


def _fails(module: ModuleType, argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    """Run ``module.main(argv)``, expecting an exit; returns its code and its one stderr line."""
    with pytest.raises(SystemExit) as exc:
        module.main(argv)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return exc.value.code, lines[0]


def _reject_nan(token: str) -> None:
    raise AssertionError(f"{token} in a JSON report")


# ---- bench/net_latency.py


@pytest.mark.parametrize(
    ("argv", "code", "says"),
    [
        (["no-such-model"], 1, "no-such-model: unknown model name"),
        (["/no/such/file.onnx"], 1, "model file not found"),
        (["ppocrv6t-rec-w8"], 1, "is a rec model, not a det model"),
        (["="], 2, "'=': no model name"),
        (["a="], 2, "'a=': no model name"),
        ([DET, "--shape", "1,3,abc,4"], 2, "--shape '1,3,abc,4'"),
        ([DET, "--shape", "1,3,64"], 2, "--shape '1,3,64'"),
        ([DET, "--shape", "0,3,64,64"], 2, "--shape '0,3,64,64'"),
        ([DET, *HUGE], 2, "too large"),
        ([DET, "--runs", "0"], 2, "--runs 0"),
        ([DET, "--rounds", "0"], 2, "--rounds 0"),
        ([DET, "--threads", "-1"], 2, "--threads -1"),
        ([f"a={DET}", f"a={DET}", *TINY], 2, "label 'a' given twice"),
        ([DET, "--shape", "1,1,32,32", "--runs", "1"], 1, "cannot run at input [1, 1, 32, 32]"),
    ],
)
def test_net_latency_bad_arguments(
    argv: list[str], code: int, says: str, capsys: pytest.CaptureFixture
) -> None:
    got, line = _fails(NET_LATENCY, argv, capsys)
    assert got == code and says in line


def test_net_latency_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a protobuf")
    for model, says in ((tmp_path, "is a directory"), (garbage, "not a valid ONNX model")):
        code, line = _fails(NET_LATENCY, [str(model), *TINY], capsys)
        assert code == 1 and str(model) in line and says in line


def test_net_latency_out_folder_is_refused_before_timing(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code, line = _fails(NET_LATENCY, [DET, *TINY, "--out", str(tmp_path)], capsys)
    assert code == 2 and "is a folder" in line
    file = tmp_path / "f.json"
    file.write_text("{}")
    code, line = _fails(NET_LATENCY, [DET, *TINY, "--out", str(file / "x.json")], capsys)
    assert code == 2 and "is a file" in line


def test_net_latency_leaves_no_temp_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    _fails(NET_LATENCY, ["no-such-model", *TINY], capsys)
    _fails(NET_LATENCY, [DET, "--shape", "1,1,32,32", "--runs", "1"], capsys)
    NET_LATENCY.main([DET, "b=ppocrv6t-det-ptq-int8", *TINY, "--rounds", "1"])
    assert list(tmp_path.iterdir()) == []
    report = json.loads(capsys.readouterr().out, parse_constant=_reject_nan)
    assert report["calls_per_row"] == 1
    assert all(ms > 0 for ms in report["median_ms"].values())


# ---- bench/ort_profile.py


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([DET, "--runs", "0"], "--runs 0"),
        ([DET, "--runs", "-1"], "--runs -1"),
        ([DET, "--warmup", "-1"], "--warmup -1"),
        ([DET, "--threads", "-1"], "--threads -1"),
        ([DET, "--top", "-1"], "--top -1"),
        ([DET, *HUGE], "too large"),
    ],
)
def test_ort_profile_bad_arguments(
    argv: list[str], says: str, capsys: pytest.CaptureFixture
) -> None:
    code, line = _fails(ORT_PROFILE, argv, capsys)
    assert code == 2 and says in line


def test_ort_profile_out_folder_and_default_threads(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code, line = _fails(ORT_PROFILE, [DET, *TINY, "--out", str(tmp_path)], capsys)
    assert code == 2 and "is a folder" in line
    out = tmp_path / "sub" / "p.json"
    ORT_PROFILE.main([DET, *TINY, "--warmup", "0", "--threads", "0", "--out", str(out)])
    assert "ONNX Runtime's default threads" in capsys.readouterr().out
    assert json.loads(out.read_text())["runs"] == 1


def test_kernel_times_refuses_negative_skip() -> None:
    trace = [{"name": "model_run", "ts": t} for t in (0, 100)]
    with pytest.raises(ValueError, match="skip_calls"):
        kernel_times(trace, skip_calls=-1)


# ---- slimocr bench


@pytest.fixture
def data(tmp_path: Path) -> Path:
    for sub in ("ic15_det_test", "ic15_rec_test"):
        (tmp_path / "data" / sub).mkdir(parents=True)
    return tmp_path / "data"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--repeats", "0"], "--repeats 0"),
        (["--timing-images", "0", "--timing-crops", "0"], "--timing-images 0"),
        (["--timing-crops", "0"], "--timing-crops 0"),
        (["--limit", "0"], "--limit 0"),
        (["--threads", "-1"], "--threads -1"),
    ],
)
def test_bench_cli_bad_options(data: Path, args: list[str], says: str) -> None:
    out = data.parent / "out"
    result = CliRunner().invoke(app, ["bench", "--data", str(data), "--out", str(out), *args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {says}: must be"), lines
    assert not out.exists()  # refused before any work


def test_bench_cli_out_must_be_a_folder(data: Path) -> None:
    file = data.parent / "bench.json"
    file.write_text("{}")
    for out in (file, file / "sub"):
        result = CliRunner().invoke(app, ["bench", "--data", str(data), "--out", str(out)])
        assert result.exit_code == 2, result.output
        assert result.output.startswith(f"error: --out {out}: ")
        assert len(result.output.strip().splitlines()) == 1
    assert file.read_text() == "{}"


def test_run_bench_checks_its_arguments_first(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--repeats 0: must be at least 1"):
        run_bench(tmp_path / "no-data", [], tmp_path / "out", repeats=0)
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="not an output folder"):
        run_bench(tmp_path / "no-data", [], tmp_path / "file")


def test_default_pick_skips_rows_without_timings() -> None:
    row = {
        "name": "slimocr-float",
        "det": "d",
        "rec": "r",
        "group": "zoo",
        "meets_accuracy_bar": True,
        "reference": "slimocr-float",
        "size_mb": 1.0,
    }
    assert default_pick([{**row, "e2e_ms": math.nan}]) is None
    fast = {**row, "name": "fast", "e2e_ms": 5.0}
    assert default_pick([{**row, "e2e_ms": math.nan}, fast])["pipeline"] == "fast"
