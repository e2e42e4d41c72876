"""OnnxSession: bad model files give one-line ModelFileErrors naming the path; good ones load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from slimocr.errors import ModelFileError
from slimocr.infer.session import OnnxSession
from slimocr.official import official_available, official_path

needs_official_det = pytest.mark.skipif(
    not official_available("ppocrv3_det"), reason="official PP-OCR files not installed"
)


def _expect_model_error(path: Path, *words: str) -> None:
    with pytest.raises(ModelFileError) as info:
        OnnxSession(path)
    msg = str(info.value)
    assert str(path) in msg
    assert "\n" not in msg
    for word in words:
        assert word in msg.lower()


def test_missing_model(tmp_path: Path) -> None:
    _expect_model_error(tmp_path / "missing.onnx", "not found")


def test_directory_model(tmp_path: Path) -> None:
    _expect_model_error(tmp_path, "directory")


def test_garbage_model(tmp_path: Path) -> None:
    path = tmp_path / "garbage.onnx"
    path.write_bytes(b"\x08\x07this is not a protobuf at all" * 10)
    _expect_model_error(path, "not a valid onnx model")


def test_empty_model(tmp_path: Path) -> None:
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    _expect_model_error(path)


@pytest.mark.official
@needs_official_det
def test_truncated_official_model(tmp_path: Path) -> None:
    data = official_path("ppocrv3_det").read_bytes()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[: len(data) // 3])
    _expect_model_error(path, "not a valid onnx model")


@pytest.mark.official
@needs_official_det
def test_official_det_session() -> None:
    session = OnnxSession(official_path("ppocrv3_det"), threads=1)
    assert session.path == official_path("ppocrv3_det")
    assert session.input_name == "x"
    out = session.run(np.zeros((1, 3, 64, 96), dtype=np.float32))
    assert out.shape == (1, 1, 64, 96)
    assert out.dtype == np.float32


def _save_model(path: Path, graph: object, metadata: dict[str, str]) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


def _tiny_identity_model(path: Path, metadata: dict[str, str]) -> None:
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 32, "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 32, "W"])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    _save_model(path, graph, metadata)


def _tiny_rec_model(path: Path, metadata: dict[str, str]) -> None:
    """A recognizer-shaped model: N×3×32×W in, N×W×3 out (the mean over the height)."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 32, "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "W", 3])
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[2], keepdims=0),
        helper.make_node("Transpose", ["m"], ["y"], perm=[0, 2, 1]),
    ]
    _save_model(path, helper.make_graph(nodes, "g", [x], [y]), metadata)


def test_metadata_and_charset(tmp_path: Path) -> None:
    from slimocr.infer.rec import TextRecognizer

    with_charset = tmp_path / "with.onnx"
    _tiny_rec_model(with_charset, {"kind": "rec", "charset": json.dumps(["a", "é"])})
    session = OnnxSession(with_charset, threads=1)
    assert session.input_name == "x"
    assert json.loads(session.metadata["charset"]) == ["a", "é"]
    x = np.ones((2, 3, 32, 40), dtype=np.float32)
    assert np.array_equal(session.run(x), np.ones((2, 40, 3), dtype=np.float32))
    assert TextRecognizer(session).charset == ["a", "é"]
    identity = tmp_path / "identity.onnx"
    _tiny_identity_model(identity, {"kind": "rec"})  # a 4-D output is no recognizer's
    with pytest.raises(ModelFileError, match="rank 4, so it is not a text recognizer"):
        TextRecognizer(identity, charset=["a", "b"])

    without = tmp_path / "without.onnx"
    _tiny_rec_model(without, {"kind": "rec"})
    with pytest.raises(ModelFileError, match="charset"):
        TextRecognizer(without)
    assert TextRecognizer(without, charset=["x", "y"]).charset == ["x", "y"]

    broken = tmp_path / "broken.onnx"
    _tiny_rec_model(broken, {"kind": "rec", "charset": "{not json"})
    with pytest.raises(ModelFileError, match=str(broken).replace("\\", "\\\\")):
        TextRecognizer(broken)


def test_int8_saturation_risk_only_for_8bit_weights_on_x86_without_vnni():
    import json

    from slimocr.infer.session import int8_saturation_risk

    w8 = {"quant": json.dumps({"weight_range": [-127, 127]})}
    w7 = {"quant": json.dumps({"weight_range": [-63, 63]})}
    avx2 = frozenset({"sse4_2", "avx2", "fma"})
    vnni = avx2 | {"avx512bw", "avx512_vnni"}
    assert "saturate" in int8_saturation_risk(w8, avx2)
    assert int8_saturation_risk(w8, vnni) is None
    assert int8_saturation_risk(w7, avx2) is None
    assert int8_saturation_risk({}, avx2) is None  # a float file
    assert int8_saturation_risk(w8, None) is None  # not x86 / unknown CPU
    assert int8_saturation_risk({"quant": "not json"}, avx2) is None


def test_wrong_kind_of_model_is_refused_by_metadata_or_output_rank(tmp_path: Path) -> None:
    from slimocr.infer.det import TextDetector
    from slimocr.infer.rec import TextRecognizer
    from slimocr.zoo.records import FILES_DIR

    det_file, rec_file = (
        FILES_DIR / "ppocrv6t-det-ptq-int8.onnx",
        FILES_DIR / "ppocrv6t-rec-w8.onnx",
    )
    with pytest.raises(ModelFileError, match="is a text recognizer, expected a text detector"):
        TextDetector(rec_file, threads=1)
    with pytest.raises(ModelFileError, match="is a text detector, expected a text recognizer"):
        TextRecognizer(det_file, threads=1)
    # without kind metadata (as the official files): the output rank tells
    untagged = tmp_path / "untagged.onnx"
    _tiny_identity_model(untagged, {})
    with pytest.raises(ModelFileError, match="rank 4, so it is not a text recognizer"):
        TextRecognizer(untagged, charset=["x"])
    # N×3×H×W out is no probability map: refused, not run into zero lines
    with pytest.raises(ModelFileError, match="output has 3 channels"):
        TextDetector(untagged, threads=1)


def _bad_options() -> dict[str, object]:
    from slimocr.infer.det import DetPreprocess
    from slimocr.postprocess.db import DBPostProcess

    return {
        "threads -1": lambda: OnnxSession("unused.onnx", threads=-1),
        "threads 100000": lambda: OnnxSession("unused.onnx", threads=100000),
        "limit_side_len 0": lambda: DetPreprocess(0),
        "limit_type foo": lambda: DetPreprocess(960, "foo"),
        "box_thresh nan": lambda: DBPostProcess(box_thresh=float("nan")),
        "box_thresh 5": lambda: DBPostProcess(box_thresh=5),
        "unclip_ratio -1": lambda: DBPostProcess(unclip_ratio=-1),
    }


@pytest.mark.parametrize("case", sorted(_bad_options()))
def test_out_of_range_options_are_option_errors(case: str, tmp_path: Path, monkeypatch) -> None:
    from slimocr.errors import OptionError, SlimOCRError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "unused.onnx").write_bytes(b"")  # never opened: the option is checked first
    with pytest.raises(OptionError) as info:
        _bad_options()[case]()
    assert isinstance(info.value, SlimOCRError) and isinstance(info.value, ValueError)


def test_option_bounds_accept_the_edges_and_refuse_a_huge_resize() -> None:
    from slimocr.errors import OptionError
    from slimocr.infer.det import DetPreprocess
    from slimocr.postprocess.db import DBPostProcess

    assert DBPostProcess(box_thresh=1.0, thresh=0.0).box_thresh == 1.0
    img = np.zeros((100, 4000, 3), dtype=np.uint8)
    assert DetPreprocess(10000, "max").resize(img).shape == (96, 4000, 3)  # never upscales
    # a "min" limit scales a long line image up only until its longer side is 4000 (or the
    # limit itself, when that is larger)
    assert DetPreprocess(736, "min").target_size(24, 3000) == (32, 4000)  # not 736 x 92000
    assert DetPreprocess(8192, "min").resize(img).shape == (192, 8192, 3)  # not 8192 x 327680
    assert DetPreprocess(6000, "max").target_size(3000, 6000) == (3008, 6016)  # no cap below it
    with pytest.raises(OptionError, match="resizes a 4000x100 image to"):
        DetPreprocess(8192, "min", max_side_limit=400_000).resize(img)
    with pytest.raises(OptionError, match="max_side_limit must be positive"):
        DetPreprocess(736, "min", max_side_limit=0)
