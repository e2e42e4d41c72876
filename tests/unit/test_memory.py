"""The pipeline's malloc setting keeps freed multi-megabyte buffers for reuse."""

from __future__ import annotations

import subprocess
import sys

import pytest

# A fresh interpreter allocates, touches and frees the kind of buffer set one image needs
# (several ~6 MB arrays), then counts the minor page faults of 10 more such cycles.
_PATTERN = """
import resource, sys
import numpy as np
if sys.argv[1] == "keep":
    from slimocr.infer.memory import keep_freed_memory
    if not keep_freed_memory():
        print(-1)
        raise SystemExit
MB = 1 << 20
def cycle():
    bufs = [np.ones(s, np.uint8) for s in (6 * MB, 6 * MB + 4096, 2 * MB, 6 * MB)]
    del bufs
cycle(); cycle()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    cycle()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 10)
"""


def _faults_per_cycle(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _PATTERN, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc setting")
def test_freed_buffers_are_reused_instead_of_faulted_in_again():
    default = _faults_per_cycle("default")
    if default < 500:
        pytest.skip(f"this C library already reuses these buffers ({default} faults per cycle)")
    kept = _faults_per_cycle("keep")
    if kept == -1:
        pytest.skip("mallopt is not available here")
    # default glibc: each cycle faults in about one 6 MB buffer again (~1500 pages of 4 KiB)
    assert kept < 50 < default


def test_ocr_leaves_malloc_alone_unless_asked(monkeypatch):
    import slimocr.infer.pipeline as pipeline

    calls: list[int] = []
    monkeypatch.setattr(pipeline, "keep_freed_memory", lambda: calls.append(1))
    pipeline.OCR()  # a library in someone else's process: malloc's policy is theirs
    assert calls == []
    pipeline.OCR(reuse_memory=True)
    assert calls == [1]
