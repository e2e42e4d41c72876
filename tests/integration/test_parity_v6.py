"""Our PP-OCRv6 small modules, and the files ``slimocr export`` writes from them, compute what
RapidOCR's ``PP-OCRv6_{det,rec}_small.onnx`` do, with the same I/O."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import needs_rapidocr_v6, needs_torch
from tests.integration.test_parity import _realistic

pytestmark = [
    needs_torch,
    needs_rapidocr_v6,
    pytest.mark.official,
    pytest.mark.usefixtures("one_torch_thread"),
]

TOL = 1e-4  # max abs difference of output probabilities
ARCH = {"det": "dbnet_ppocrv6s", "rec": "svtr_ppocrv6s"}
OFFICIAL = {"det": "ppocrv6s_det", "rec": "ppocrv6s_rec"}
SHAPES = {
    "det": [(1, 3, 96, 160), (2, 3, 160, 224), (1, 3, 224, 96)],
    "rec": [(2, 3, 48, 100), (2, 3, 48, 320)],
}
CASES = [(kind, shape) for kind, shapes in SHAPES.items() for shape in shapes]


def _session(path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _inputs(shape: tuple[int, ...], seed: int) -> list[np.ndarray]:
    """A random and a text-like (dark strokes on a light page) normalized batch."""
    noise = np.random.default_rng(seed).standard_normal(shape, np.float32)
    return [noise, _realistic(shape, seed + 1)]


@pytest.fixture(scope="module")
def models():
    from slimocr.toolkit.models import create_model

    return {kind: create_model(arch, pretrained=True).eval() for kind, arch in ARCH.items()}


@pytest.fixture(scope="module")
def official():
    from slimocr.official import official_path

    return {kind: _session(official_path(key)) for kind, key in OFFICIAL.items()}


@pytest.fixture(scope="module")
def exported(tmp_path_factory, models):
    """The files ``slimocr export NAME -o FILE`` writes (from the imported weights)."""
    from typer.testing import CliRunner

    from slimocr.cli.main import app

    out = tmp_path_factory.mktemp("v6-export")
    paths = {}
    for kind, arch in ARCH.items():
        paths[kind] = out / f"{arch}.onnx"
        res = CliRunner().invoke(app, ["export", arch, "-o", str(paths[kind])])
        assert res.exit_code == 0, res.output
    return paths


@pytest.mark.parametrize(("kind", "shape"), CASES)
def test_torch_matches_official(models, official, kind, shape):
    import torch

    for i, x in enumerate(_inputs(shape, seed=sum(shape))):
        ref = official[kind].run(None, {"x": x})[0]
        with torch.no_grad():
            ours = models[kind](torch.from_numpy(x)).numpy()
        assert ours.shape == ref.shape
        assert np.abs(ours - ref).max() <= TOL, f"input {i}"
        if kind == "rec":
            assert ref.shape == (shape[0], shape[3] // 8, 18710)
            assert (ours.argmax(-1) == ref.argmax(-1)).all()


@pytest.mark.parametrize("kind", ["det", "rec"])
def test_export_matches_official(exported, official, kind):
    ours = _session(exported[kind])
    for shape in SHAPES[kind]:
        for i, x in enumerate(_inputs(shape, seed=sum(shape) + 1)):
            a, b = ours.run(None, {"x": x})[0], official[kind].run(None, {"x": x})[0]
            assert a.shape == b.shape
            assert np.abs(a - b).max() <= TOL, f"{shape} input {i}"


def _io(session) -> list[tuple[str, list[int | None]]]:
    return [
        (v.name, [d if isinstance(d, int) else None for d in v.shape])
        for v in [*session.get_inputs(), *session.get_outputs()]
    ]


@pytest.mark.parametrize("kind", ["det", "rec"])
def test_export_io_and_metadata_match_official(exported, official, kind):
    from slimocr.charset import charset_from_json
    from slimocr.infer.pipeline import model_input_height, resolve_charset
    from slimocr.infer.session import OnnxSession
    from slimocr.official import official_charset, official_path

    ours = _session(exported[kind])
    assert _io(ours) == _io(official[kind])  # names; fixed dims (rec height 48) where official
    meta = ours.get_modelmeta().custom_metadata_map
    assert meta["arch"] == ARCH[kind] and meta["parent"] == f"official:{OFFICIAL[kind]}"
    if kind == "rec":
        charset = official_charset("ppocrv6s_rec")
        assert len(charset) == 18709 and charset[-1] == " "
        assert charset_from_json(meta["charset"]) == charset
        ref = OnnxSession(official_path("ppocrv6s_rec"))
        assert resolve_charset(None, ref) == charset
        assert model_input_height(OnnxSession(exported[kind]), 32) == 48


def test_graph_import_refuses_a_file_of_another_model():
    import torch

    from slimocr.errors import ModelFileError
    from slimocr.official import official_path
    from slimocr.toolkit.models import create_model
    from slimocr.toolkit.pretrained.graph_importer import load_graph_weights, onnx_graph_layers

    rec = create_model("svtr_ppocrv6s").eval()
    det_layers = onnx_graph_layers(official_path("ppocrv6s_det"))
    with pytest.raises(ModelFileError, match="does not fit|has a"):
        load_graph_weights(rec, det_layers, torch.zeros(1, 3, 48, 64))
