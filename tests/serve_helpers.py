"""A ``slimocr serve`` process for tests: started on a free port, read through httpx."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(*options: str) -> Iterator[object]:
    """``slimocr serve --threads 1 OPTIONS`` in its own process; yields an ``httpx.Client``
    on it once ``/healthz`` answers (the test fails if it does not within 90 s)."""
    import httpx

    port = _free_port()
    cmd = [sys.executable, "-m", "slimocr.cli.main", "serve", "--port", str(port)]
    cmd += ["--threads", "1", *options]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the server exited: {proc.stdout.read().decode()}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the server did not come up in 90 s")
        time.sleep(0.2)
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            yield client
    finally:
        proc.terminate()
        proc.wait(timeout=30)
