"""A corpus of bad and unusual inputs, rendered on the spot (nothing downloaded).

Each class of the input policy (:mod:`slimocr.inputs`) has its cases: files that are not regular
files, names the OS refuses or that hold control characters, damaged and lying images, odd
arrays, models with the wrong signature, labels too long or too deeply nested, options of the
wrong type or range. The tests run them through every entry point (API, CLI, eval readers and,
where it exists, the server) and expect one error naming the input, or the right result.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from tests.unit.test_infer_image import png_header_only

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample.png"
SAMPLE_TEXTS = ["16:55", "hotelyearyes!"]  # lines the default pipeline reads in the sample
# (spaces left out)


@dataclass
class BadFile:
    """A path that must be refused with one error line naming it (``says``: a word of it)."""

    name: str
    path: Path
    says: str = ""


@dataclass
class Corpus:
    """All the cases, under one temporary folder."""

    root: Path
    bad_images: list[BadFile] = field(default_factory=list)
    odd_images: dict[str, Path] = field(default_factory=dict)  # must read as the sample does
    bad_models: list[BadFile] = field(default_factory=list)
    bad_rec_labels: list[BadFile] = field(default_factory=list)
    bad_det_labels: list[BadFile] = field(default_factory=list)
    sockets: list[socket.socket] = field(default_factory=list)
    undecodable: Path = Path()  # a good image whose name is not valid UTF-8

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


def lying_jpeg() -> bytes:
    """A JPEG whose frame header claims twice the height its data holds."""
    img = np.random.default_rng(0).integers(0, 255, (200, 300, 3), dtype=np.uint8)
    data = bytearray(cv2.imencode(".jpg", img)[1].tobytes())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 7] = (400).to_bytes(2, "big")
    return bytes(data)


def exif_rotated_sample(orientation: int = 6) -> bytes:
    """The sample stored turned, with the EXIF orientation that turns it upright again."""
    img = Image.open(SAMPLE).convert("RGB")
    stored = img.transpose(Image.Transpose.ROTATE_90)  # orientation 6 turns it back clockwise
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=97, exif=exif.tobytes())
    return buf.getvalue()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _images(c: Corpus) -> None:
    d = c.root / "images"
    d.mkdir()
    good_png = SAMPLE.read_bytes()
    good_jpg = cv2.imencode(".jpg", cv2.imread(str(SAMPLE)))[1].tobytes()
    fifo = d / "fifo.png"
    os.mkfifo(fifo)
    sock_path = d / "socket.png"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(sock_path))
    c.sockets.append(sock)
    (d / "folder.png").mkdir()
    loop = d / "loop.png"
    loop.symlink_to(loop)
    (d / "to_zero.png").symlink_to("/dev/zero")
    rng = np.random.default_rng(0)
    c.bad_images += [
        BadFile("fifo", fifo, "fifo"),
        BadFile("socket", sock_path, "socket"),
        BadFile("dev-zero", Path("/dev/zero"), "device"),
        BadFile("dev-urandom", Path("/dev/urandom"), "device"),
        BadFile("symlink-to-dev-zero", d / "to_zero.png", "device"),
        BadFile("symlink-loop", loop, "cannot read"),
        BadFile("dangling", d / "missing.png", "not found"),
        BadFile("folder", d / "folder.png", "directory"),
        BadFile("name-too-long", d / ("n" * 300 + ".png"), "too long"),
        BadFile("path-too-long", Path("/tmp/" + "/".join(["d" * 200] * 30) + "/x.png"), "too long"),
        BadFile("empty", _write(d / "empty.png", b""), "empty"),
        BadFile("random", _write(d / "random.jpg", rng.bytes(5000)), ""),
        BadFile("text", _write(d / "notes.png", b"not an image\n" * 20), "unsupported"),
        BadFile("truncated-png", _write(d / "trunc.png", good_png[:3000]), ""),
        BadFile("truncated-jpg", _write(d / "trunc.jpg", good_jpg[: len(good_jpg) // 2]), ""),
        BadFile("header-lies", _write(d / "lies.jpg", lying_jpeg()), "truncated"),
        BadFile("bomb", _write(d / "bomb.png", png_header_only(60000, 60000)), "too large"),
        BadFile("one-pixel", _write(d / "dot.png", png_header_only(1, 1)), "too small"),
        BadFile("newline-name", _write(d / "new\nline.png", b"garbage"), ""),
        BadFile("escape-name", _write(d / "esc\x1b[31m.png", b"garbage"), ""),
    ]
    c.odd_images["exif-6"] = _write(d / "exif6.jpg", exif_rotated_sample(6))
    rgba = cv2.cvtColor(cv2.imread(str(SAMPLE)), cv2.COLOR_BGR2BGRA)
    c.odd_images["rgba"] = d / "rgba.png"
    cv2.imwrite(str(c.odd_images["rgba"]), rgba)
    c.odd_images["16-bit"] = d / "deep.png"
    cv2.imwrite(str(c.odd_images["16-bit"]), cv2.imread(str(SAMPLE)).astype(np.uint16) * 257)
    c.undecodable = d / os.fsdecode(b"\xff\xfe-name.png")
    shutil.copy(SAMPLE, c.undecodable)
    c.odd_images["same-stem"] = d / "sub" / "sample.png"
    c.odd_images["same-stem"].parent.mkdir()
    shutil.copy(SAMPLE, c.odd_images["same-stem"])


def _onnx_model(path: Path, in_type: int, in_shape: list, out_shape: list, nodes: list) -> Path:
    import onnx
    from onnx import helper

    x = helper.make_tensor_value_info("x", in_type, in_shape)
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, out_shape)
    graph = helper.make_graph(nodes, "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _models(c: Corpus, det_file: Path) -> None:
    from onnx import TensorProto, helper

    d = c.root / "models"
    d.mkdir()
    fifo = d / "fifo.onnx"
    os.mkfifo(fifo)
    (d / "folder.onnx").mkdir()
    data = det_file.read_bytes()
    identity = [helper.make_node("Identity", ["x"], ["y"])]
    cast = [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)]
    c.bad_models += [
        BadFile("fifo", fifo, "fifo"),
        BadFile("dev-zero", Path("/dev/zero"), "device"),
        BadFile("folder", d / "folder.onnx", "directory"),
        BadFile("missing", d / "missing.onnx", "not found"),
        BadFile("empty", _write(d / "empty.onnx", b""), "empty"),
        BadFile("garbage", _write(d / "garbage.onnx", b"\x08\x07garbage" * 50), "not a valid"),
        BadFile("truncated", _write(d / "trunc.onnx", data[: len(data) // 3]), "not a valid"),
        BadFile(
            "int64-input",
            _onnx_model(d / "int64.onnx", TensorProto.INT64, ["N", 3, "H", "W"], [], cast),
            "tensor(int64)",
        ),
        BadFile(
            "three-channel-output",
            _onnx_model(d / "nchw3.onnx", TensorProto.FLOAT, ["N", 3, "H", "W"], [], identity),
            "",
        ),
        BadFile(
            "rank-2-input",
            _onnx_model(d / "rank2.onnx", TensorProto.FLOAT, ["H", "W"], [], identity),
            "",
        ),
    ]


def _labels(c: Corpus) -> None:
    d = c.root / "labels"
    d.mkdir()
    cv2.imwrite(str(d / "w.png"), cv2.imread(str(SAMPLE))[181:220, 369:476])
    fifo = d / "fifo.txt"
    os.mkfifo(fifo)
    c.bad_rec_labels += [
        BadFile("fifo", fifo, "fifo"),
        BadFile(
            "huge-label", _write(d / "huge.txt", b"w.png\t" + b"x" * 3_000_000 + b"\n"), "long"
        ),
        BadFile(
            "not-utf8", _write(d / "latin1.txt", "w.png\tcaf\xe9\n".encode("latin-1")), "utf-8"
        ),
        BadFile("no-separator", _write(d / "nosep.txt", b"w.png_no_label\n"), "expected"),
        BadFile("missing-image", _write(d / "noimg.txt", b"nope.png\tword\n"), "not found"),
    ]
    deep = "[" * 200_000 + "]" * 200_000
    c.bad_det_labels += [
        BadFile("fifo", fifo, "fifo"),
        BadFile("deep-json", _write(d / "deep_det.txt", f"w.png\t{deep}\n".encode()), "nested"),
        BadFile(
            "mid-json",
            _write(d / "mid_det.txt", f"w.png\t{'[' * 30}{']' * 30}\n".encode()),
            "nested",
        ),
        BadFile(
            "long-line", _write(d / "long_det.txt", b"w.png\t[" + b" " * 1_200_000 + b"]\n"), "long"
        ),
        BadFile("bad-json", _write(d / "badjson_det.txt", b'w.png\t[{"points": [[1, 2]\n'), "json"),
    ]


def build_corpus(root: Path, det_file: Path) -> Corpus:
    """Render every case under ``root``; ``det_file`` is a real detector (truncated for one)."""
    corpus = Corpus(root)
    _images(corpus)
    _models(corpus, det_file)
    _labels(corpus)
    return corpus


def bad_arrays() -> dict[str, tuple[object, dict]]:
    """Arrays (or objects) the API must refuse, with the call's keyword arguments."""
    img = cv2.imread(str(SAMPLE))
    nan = img.astype(np.float32) / 255
    nan[0, 0, 0] = np.nan
    inf = img.astype(np.float32) / 255
    inf[5, 5, 1] = np.inf
    return {
        "float-without-range": (img.astype(np.float32), {}),
        "float-255-declared-0-1": (img.astype(np.float32), {"value_range": (0, 1)}),
        "float-nan": (nan, {"value_range": (0, 1)}),
        "float-inf": (inf, {"value_range": (0, 1)}),
        "float-negative": (img.astype(np.float32) - 300, {"value_range": (0, 255)}),
        "bad-range": (img.astype(np.float32), {"value_range": (0, 100)}),
        "int64": (img.astype(np.int64), {}),
        "complex": (img.astype(np.complex64), {}),
        "object": (np.array([[object()]], dtype=object), {}),
        "empty": (np.zeros((0, 10, 3), np.uint8), {}),
        "4-d": (img[None], {}),
        "five-channels": (np.zeros((50, 50, 5), np.uint8), {}),
        "one-pixel": (np.zeros((1, 1, 3), np.uint8), {}),
        "list": ([[1, 2], [3, 4]], {}),
        "none": (None, {}),
    }


BAD_OPTIONS: list[tuple[str, dict[str, object]]] = [
    ("threads", {"threads": "2"}),
    ("threads", {"threads": -1}),
    ("drop_score", {"drop_score": None}),
    ("drop_score", {"drop_score": float("nan")}),
    ("rec_image_height", {"rec_image_height": -1}),
    ("rec_image_height", {"rec_image_height": 48.5}),
    ("rec_batch_size", {"rec_batch_size": 0}),
    ("rec_batch_size", {"rec_batch_size": "6"}),
    ("box_thresh", {"box_thresh": "0.6"}),
    ("unclip_ratio", {"unclip_ratio": float("inf")}),
    ("det_limit_side_len", {"det_limit_side_len": 960.0}),
    ("det_limit_type", {"det_limit_type": ["max"]}),
    ("det_model", {"det_model": 3}),
    ("charset", {"charset": 7}),
    ("reuse_memory", {"reuse_memory": "yes"}),
    ("word_boxes", {"word_boxes": 1}),
    ("det_thresh", {"det_thresh": "0.3"}),
    ("providers", {"providers": 123}),
    ("orientation", {"orientation": None}),
]
"""Keyword arguments of ``OCR`` that must be refused, with the argument the error names."""
