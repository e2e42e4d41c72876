"""Keep large freed buffers in the process instead of handing them back to the OS.

Every image allocates a few multi-megabyte arrays (the detector's 1×3×H×W float input and
its probability map, the recognizer's N×T×C softmax). With glibc's default policy such
buffers are mapped fresh from the OS and returned on free, so each new one is faulted in page
by page again: a few milliseconds per image, as much as a whole pre-processing step.
:func:`keep_freed_memory` raises glibc's mmap and trim thresholds so they are served from the
heap and reused (``bench/stages.py`` measures the effect per stage).
"""

from __future__ import annotations

import ctypes
import functools
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# well above the pipeline's per-image buffers (the largest, a batch's softmax, is ~6-13 MB)
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 256 * 1024 * 1024


@functools.cache
def keep_freed_memory() -> bool:
    """Serve allocations below 32 MiB from the heap and keep up to 256 MiB of freed memory
    for reuse (glibc's ``mallopt``; process-wide, once). Returns False where it does not
    apply (not Linux/glibc) or glibc refused a setting."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    return bool(ok and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)
