"""Our PyTorch modules and our exported ONNX files compute what the official PP-OCR files do."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import needs_official, needs_torch

pytestmark = [needs_torch, needs_official, pytest.mark.official]

TOL = 1e-4  # max abs difference of output probabilities

DET_SHAPES = [(1, 3, 96, 160), (2, 3, 320, 320), (1, 3, 544, 960)]
REC_SHAPES = [(3, 3, 32, 100), (2, 3, 32, 320), (4, 3, 32, 800)]


def _official_session(key: str):
    import onnxruntime as ort

    from slimocr.official import official_path

    return ort.InferenceSession(str(official_path(key)), providers=["CPUExecutionProvider"])


def _realistic(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """A PP-OCR-normalized image: smooth background, dark strokes, a little noise."""
    rng = np.random.default_rng(seed)
    n, c, h, w = shape
    img = np.full((n, h, w, 3), 230.0) + rng.normal(0, 8, (n, h, w, 3))
    for b in range(n):
        for _ in range(6):
            y, x = rng.integers(0, max(h - 12, 1)), rng.integers(0, max(w - 40, 1))
            img[b, y : y + 10, x : x + rng.integers(10, 40)] = rng.uniform(0, 60)
    img = np.clip(img, 0, 255) / 255.0
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    return ((img - mean) / std).transpose(0, 3, 1, 2).astype(np.float32)


@pytest.fixture(scope="module")
def det_model():
    from slimocr.toolkit.models import create_model

    return create_model("dbnet_mv3_ppocrv3", pretrained=True).eval()


@pytest.fixture(scope="module")
def rec_model():
    from slimocr.toolkit.models import create_model

    return create_model("crnn_ppocrv2", pretrained=True).eval()


@pytest.mark.parametrize("shape", DET_SHAPES)
def test_detector_matches_official(det_model, shape):
    import torch

    sess = _official_session("ppocrv3_det")
    for seed, x in enumerate(
        [np.random.default_rng(0).standard_normal(shape, np.float32), _realistic(shape, 1)]
    ):
        ref = sess.run(None, {"x": x})[0]
        with torch.no_grad():
            ours = det_model(torch.from_numpy(x)).numpy()
        assert ours.shape == ref.shape
        assert np.abs(ours - ref).max() <= TOL, f"seed {seed}"


@pytest.mark.parametrize("shape", REC_SHAPES)
def test_recognizer_matches_official(rec_model, shape):
    import torch

    sess = _official_session("ppocrv2_rec")
    x = _realistic(shape, 2)
    ref = sess.run(None, {"x": x})[0]
    with torch.no_grad():
        ours = rec_model(torch.from_numpy(x)).numpy()
    assert ours.shape == ref.shape == (shape[0], shape[3] // 4, 6625)
    assert np.abs(ours - ref).max() <= TOL
    assert (ours.argmax(-1) == ref.argmax(-1)).all()


def test_training_mode_returns_db_maps():
    import torch

    from slimocr.toolkit.models import create_model

    model = create_model("dbnet_mv3_ppocrv3").train()  # own copy: train mode updates BN stats
    out = model(torch.zeros(1, 3, 64, 64))
    assert set(out) == {"maps"} and out["maps"].shape == (1, 3, 64, 64)


@pytest.mark.parametrize("kind", ["det", "rec"])
def test_exported_onnx_matches_official(tmp_path, det_model, rec_model, kind):
    import onnx
    import onnxruntime as ort

    from slimocr.charset import charset_from_json, load_charset
    from slimocr.official import official_path
    from slimocr.toolkit.export.onnx_export import build_metadata, export_onnx

    charset = load_charset(official_path("ppocr_keys_v1")) if kind == "rec" else None
    model = det_model if kind == "det" else rec_model
    path = export_onnx(
        model,
        tmp_path / f"{kind}.onnx",
        kind,
        build_metadata(kind, "x", charset=charset, parent="official"),
    )
    proto = onnx.load(str(path))
    assert proto.opset_import[0].version >= 13
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["parent"] == "official" and meta["kind"] == kind
    if kind == "rec":
        assert charset_from_json(meta["charset"]) == charset
    ours = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref = _official_session("ppocrv3_det" if kind == "det" else "ppocrv2_rec")
    shapes = DET_SHAPES if kind == "det" else REC_SHAPES
    for i, shape in enumerate(shapes):
        x = _realistic(shape, 10 + i)
        a, b = ours.run(None, {"x": x})[0], ref.run(None, {"x": x})[0]
        assert a.shape == b.shape
        assert np.abs(a - b).max() <= TOL
