"""Thin feature maps widened to a full NCHWc block with zero channels: same outputs, wider
weights, and only where every op around the map keeps a zero channel zero."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from slimocr.graph import fold_stored_int8_weights, pad_thin_channels
from slimocr.infer.session import OnnxSession, layout_rewritten, nchwc_block
from slimocr.toolkit.compress.quant.weight_only import weight_only_int8
from tests.onnx_models import stem as _stem
from tests.onnx_models import thin_detector


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def _same_outputs(a: onnx.ModelProto, b: onnx.ModelProto) -> None:
    """Every output of ``a`` has the shape and (up to float rounding) the values of ``b``'s."""
    for got, want in zip(
        ort.InferenceSession(a.SerializeToString()).run(None, {"x": X}),
        ort.InferenceSession(b.SerializeToString()).run(None, {"x": X}),
        strict=True,
    ):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _dims(model: onnx.ModelProto) -> dict[str, list[int]]:
    return {t.name: list(t.dims) for t in model.graph.initializer}


X = np.random.default_rng(1).random((2, 3, 20, 30), dtype=np.float32)


def test_thin_maps_widen_with_zero_channels_and_the_outputs_stay():
    model = _stem()
    wide = copy.deepcopy(model)
    assert pad_thin_channels(wide, 16) == 2  # the stem's group and the block's inner group
    dims = _dims(wide)
    assert dims["w0"] == [16, 3, 3, 3] and dims["b0"] == [16]  # makes the stem's group
    assert dims["w1"] == [16, 16, 1, 1]  # reads the stem's group, makes the block's
    assert dims["w2"] == [16, 1, 3, 3]  # depthwise: a member of the block's group
    assert dims["w3"] == [16, 16, 1, 1]  # reads the block's group, makes the stem's (residual)
    assert dims["w4"] == [32, 16, 1, 1]  # reads the stem's group
    assert dims["s1"] == [6, 32, 1, 1] and dims["s2"] == [32, 6, 1, 1]  # 1×1 gate map: kept
    group = {n.output[0]: a.i for n in wide.graph.node for a in n.attribute if a.name == "group"}
    assert group["c2"] == 16
    w1 = numpy_helper.to_array(next(t for t in wide.graph.initializer if t.name == "w1"))
    assert not w1[8:].any() and not w1[:, 8:].any()  # the new filters and inputs are zero
    onnx.checker.check_model(wide)
    np.testing.assert_allclose(_run(wide, X), _run(model, X), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("tail", ["concat", "sigmoid"])
def test_a_map_read_by_an_op_that_moves_or_changes_zero_channels_is_left(tail: str):
    model = _stem(tail=tail)
    wide = copy.deepcopy(model)
    # the stem's group (read by Concat / Sigmoid) stays; the block's inner group still widens
    assert pad_thin_channels(wide, 16) == 1
    dims = _dims(wide)
    assert dims["w0"] == [8, 3, 3, 3] and dims["w4"] == [32, 8, 1, 1]
    assert dims["w1"] == [16, 8, 1, 1] and dims["w2"] == [16, 1, 3, 3]
    assert dims["w3"] == [8, 16, 1, 1]  # reads the widened group, makes the kept one
    np.testing.assert_allclose(_run(wide, X), _run(model, X), rtol=1e-5, atol=1e-5)


def test_block_size_decides_and_a_full_block_is_left():
    model = _stem()
    assert pad_thin_channels(copy.deepcopy(model), 8) == 0  # 8 channels: already a block
    assert pad_thin_channels(copy.deepcopy(model), 1) == 0


def test_a_graph_output_is_not_widened():
    model = _stem(se=False)
    model.graph.output.append(
        helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 8, "h", "w"])
    )
    wide = copy.deepcopy(model)
    assert pad_thin_channels(wide, 16) == 1  # only the block's inner group
    assert _dims(wide)["w0"] == [8, 3, 3, 3]
    _same_outputs(wide, model)


def test_stored_int8_weights_fold_to_what_onnx_runtime_computes():
    w8, _ = weight_only_int8(_stem(), min_elements=1)
    assert any(n.op_type == "Cast" for n in w8.graph.node)
    folded = copy.deepcopy(w8)
    assert fold_stored_int8_weights(folded) == 7  # every conv weight (the gate's too)
    assert not any(n.op_type in ("Cast", "Mul") and "_f" in n.input[0] for n in folded.graph.node)
    assert not any(t.data_type == TensorProto.INT8 for t in folded.graph.initializer)
    onnx.checker.check_model(folded)
    np.testing.assert_array_equal(_run(folded, X), _run(w8, X))  # bit for bit
    # and then the thin maps can widen, which they cannot behind Cast → Mul
    assert pad_thin_channels(copy.deepcopy(w8), 16) == 0
    assert pad_thin_channels(folded, 16) == 2
    np.testing.assert_allclose(_run(folded, X), _run(w8, X), rtol=1e-5, atol=1e-5)


def test_nchwc_block_by_cpu_flags():
    assert nchwc_block(frozenset({"avx2", "avx512f", "fma"})) == 16
    assert nchwc_block(frozenset({"avx2", "fma"})) == 8
    assert nchwc_block(frozenset({"sse4_2"})) == 8  # ONNX Runtime's SSE kernels: blocks of 8
    assert nchwc_block(None) is None  # not x86: no blocked kernels


@pytest.fixture
def avx512(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions behave as on an AVX-512 CPU (16-channel blocks), whatever the test host."""
    import slimocr.infer.session as session

    monkeypatch.setattr(session, "nchwc_block", lambda flags: 16)


def test_session_opens_the_rewritten_model_and_leaves_the_file(tmp_path: Path, avx512: None):
    path = tmp_path / "stem.onnx"
    onnx.save(_stem(), path)
    before = path.read_bytes()
    data = layout_rewritten(path, 16)
    assert data is not None and pad_thin_channels(onnx.load_from_string(data), 16) == 0
    assert layout_rewritten(path, None) is None  # no blocked kernels: the file as it is
    assert layout_rewritten(path, 8) is None  # nothing thinner than a block
    plain = OnnxSession(path, threads=1, rewrite_layout=False)
    assert not plain.layout_rewritten
    rewritten = OnnxSession(path, threads=1)
    assert rewritten.layout_rewritten
    np.testing.assert_allclose(rewritten.run(X), plain.run(X), rtol=1e-5, atol=1e-5)
    assert path.read_bytes() == before


def test_a_corrupt_file_is_left_to_onnx_runtime_to_report(tmp_path: Path):
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"not a model")
    assert layout_rewritten(path, 16) is None


def test_a_weight_read_elsewhere_or_overridable_is_not_widened():
    shared = _stem(se=False)  # the stem's weight is also a graph output
    shared.graph.node.append(helper.make_node("Identity", ["w0"], ["w0_copy"]))
    shared.graph.output.append(
        helper.make_tensor_value_info("w0_copy", TensorProto.FLOAT, [8, 3, 3, 3])
    )
    assert pad_thin_channels(shared, 16) == 1  # the block's inner group only
    assert _dims(shared)["w0"] == [8, 3, 3, 3]
    declared = _stem(se=False)  # initializers listed as graph inputs (overridable at run time)
    declared.graph.input.extend(
        helper.make_tensor_value_info(t.name, TensorProto.FLOAT, list(t.dims))
        for t in declared.graph.initializer
    )
    assert pad_thin_channels(copy.deepcopy(declared), 16) == 0


def test_a_map_read_inside_a_subgraph_is_not_widened():
    model = _stem(se=False)
    branch = helper.make_graph(
        [helper.make_node("Identity", ["a"], ["b_out"])],
        "branch",
        [],
        [helper.make_tensor_value_info("b_out", TensorProto.FLOAT, None)],
    )
    cond = numpy_helper.from_array(np.array(True), "cond")
    model.graph.initializer.append(cond)
    model.graph.node.append(
        helper.make_node("If", ["cond"], ["branch_out"], then_branch=branch, else_branch=branch)
    )
    model.graph.output.append(helper.make_tensor_value_info("branch_out", TensorProto.FLOAT, None))
    wide = copy.deepcopy(model)
    assert pad_thin_channels(wide, 16) == 1  # "a" (the stem's group) is read by the branch
    assert _dims(wide)["w0"] == [8, 3, 3, 3]
    _same_outputs(wide, model)


def test_stored_int8_weights_read_elsewhere_stay():
    w8, _ = weight_only_int8(_stem(se=False), min_elements=1)
    cast = next(n for n in w8.graph.node if n.op_type == "Cast")
    w8.graph.output.append(
        helper.make_tensor_value_info(cast.output[0], TensorProto.FLOAT, [8, 3, 3, 3])
    )
    folded = copy.deepcopy(w8)
    assert fold_stored_int8_weights(folded) == 4  # the one whose Cast is a graph output stays
    assert sum(n.op_type == "Cast" for n in folded.graph.node) == 1
    onnx.checker.check_model(folded)
    for got, want in zip(
        ort.InferenceSession(folded.SerializeToString()).run(None, {"x": X}),
        ort.InferenceSession(w8.SerializeToString()).run(None, {"x": X}),
        strict=True,
    ):
        np.testing.assert_array_equal(got, want)


def test_a_rewritten_model_onnx_runtime_refuses_falls_back_to_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import slimocr.infer.session as session

    path = tmp_path / "stem.onnx"
    onnx.save(_stem(), path)
    monkeypatch.setattr(session, "layout_rewritten", lambda p, block: b"not a model")
    with pytest.warns(RuntimeWarning, match="layout-rewritten model does not load"):
        sess = OnnxSession(path, threads=1)
    assert not sess.layout_rewritten
    np.testing.assert_allclose(sess.run(X), _run(_stem(), X), rtol=1e-6)


def test_the_pipeline_runs_a_thin_detector_rewritten_and_can_run_it_as_is(
    tmp_path: Path, avx512: None
):
    from slimocr.infer.pipeline import OCR

    path = tmp_path / "thin_det.onnx"
    onnx.save(thin_detector(), path)
    img = (np.random.default_rng(2).random((96, 160, 3)) * 255).astype(np.uint8)
    pair = (str(path), "ppocrv6t-rec-w8")
    default = OCR(*pair, threads=1)
    plain = OCR(*pair, threads=1, rewrite_layout=False)
    # the stem and its first block work on 8-channel maps: thinner than an AVX-512 block
    assert default.detector.session.layout_rewritten
    assert not plain.detector.session.layout_rewritten
    assert not plain.recognizer.session.layout_rewritten
    got, want = default.detector.probability_map(img), plain.detector.probability_map(img)
    assert got.shape == want.shape == (96, 160)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert [ln.text for ln in default(img).lines] == [ln.text for ln in plain(img).lines]


def test_without_the_onnx_package_the_file_runs_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import builtins

    path = tmp_path / "stem.onnx"
    onnx.save(_stem(), path)
    real_import = builtins.__import__

    def no_onnx(name: str, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError("no onnx here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    assert layout_rewritten(path, 16) is None
