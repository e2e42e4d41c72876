"""Execution providers by short name; a missing one is an error naming its package."""

from __future__ import annotations

from pathlib import Path

import pytest

from slimocr.errors import OptionError
from slimocr.infer.providers import CPU, resolve_providers, runs_on_cpu

HAVE = ["CUDAExecutionProvider", CPU]


def test_short_and_full_names_map_to_onnxruntime_names_with_cpu_last() -> None:
    assert resolve_providers(None) == [CPU]
    assert resolve_providers("cpu") == [CPU]
    assert resolve_providers("cuda", HAVE) == ["CUDAExecutionProvider", CPU]
    assert resolve_providers("CUDAExecutionProvider,cpu", HAVE) == ["CUDAExecutionProvider", CPU]
    assert resolve_providers(["cuda", "cuda"], HAVE) == ["CUDAExecutionProvider", CPU]


def test_a_provider_the_build_lacks_names_the_package_to_install() -> None:
    with pytest.raises(OptionError, match="onnxruntime-openvino"):
        resolve_providers("openvino", [CPU])
    with pytest.raises(OptionError, match="onnxruntime-gpu"):
        resolve_providers("cuda", [CPU])


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(OptionError, match="unknown execution provider 'tpu'.*cuda"):
        resolve_providers("tpu")


def test_the_layout_rewrite_is_for_the_cpu_provider_only() -> None:
    assert runs_on_cpu([CPU])
    assert not runs_on_cpu(["CUDAExecutionProvider", CPU])


def test_the_installed_build_really_refuses_cuda_here() -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this build has CUDA")
    from slimocr.infer.pipeline import OCR

    with pytest.raises(OptionError, match="cuda"):
        OCR(providers="cuda")


def test_the_layout_rewrite_is_skipped_when_another_provider_comes_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onnxruntime as ort

    if "AzureExecutionProvider" not in ort.get_available_providers():
        pytest.skip("this build has no second provider to put first")
    import cv2
    import numpy as np
    import onnx

    import slimocr.infer.session as session
    from slimocr.infer.pipeline import OCR
    from tests.onnx_models import thin_detector

    monkeypatch.setattr(session, "nchwc_block", lambda flags: 16)  # as on an AVX-512 CPU
    path = tmp_path / "thin_det.onnx"
    onnx.save(thin_detector(), path)  # 8-channel maps: the rewrite widens them on the CPU
    pair = (str(path), "ppocrv6t-rec-w8")
    thin_cpu, thin_other = OCR(*pair, threads=1), OCR(*pair, threads=1, providers="azure,cpu")
    assert thin_cpu.detector.session.layout_rewritten
    assert not thin_other.detector.session.layout_rewritten
    assert thin_other.detector.session.providers == ["AzureExecutionProvider", CPU]
    cpu, other = OCR(threads=1), OCR(threads=1, providers="azure,cpu")
    assert other.detector.session.providers == ["AzureExecutionProvider", CPU]
    page = np.full((160, 480, 3), 255, np.uint8)
    cv2.putText(page, "HELLO", (30, 110), cv2.FONT_HERSHEY_SIMPLEX, 2.4, (0, 0, 0), 6)
    want, got = cpu(page).lines, other(page).lines
    assert [ln.text for ln in got] == [ln.text for ln in want] and len(want) == 1
