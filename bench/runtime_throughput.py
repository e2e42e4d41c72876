"""Throughput of the runtimes on one machine: worker processes (1 and 2), Ray Data, the HTTP
server under 1/4/16 concurrent clients, all on the same images with the default models.

    python bench/runtime_throughput.py --images 100 --out docs/results/runtime_throughput.json

Worker runs and Ray report wall time from the call to the last result (model loading and
process start included) and the steady rate between the first and the last result. The
server is started as ``slimocr serve`` (a subprocess); each client sends the images' bytes
in turn with its own HTTP connection; latency is per request, as the client sees it. The
load average before and after each part is recorded: other processes on the machine skew
the figures.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _rates(stamps: list[float], start: float) -> dict[str, Any]:
    n = len(stamps)
    steady = (n - 1) / (stamps[-1] - stamps[0]) if n > 1 and stamps[-1] > stamps[0] else None
    wall = stamps[-1] - start
    return {
        "images": n,
        "wall_s": round(wall, 2),
        "images_per_s_wall": round(n / wall, 3),
        "images_per_s_steady": round(steady, 3) if steady else None,
        "first_result_s": round(stamps[0] - start, 2),
    }


def bench_workers(paths: list[str], workers: int) -> dict[str, Any]:
    from slimocr.errors import SlimOCRError
    from slimocr.runtime.pool import ocr_many, threads_per_worker

    load_before = _load()
    start = time.perf_counter()
    stamps, failed = [], 0
    for _, result in ocr_many(paths, workers=workers, reuse_memory=True):
        stamps.append(time.perf_counter())
        failed += isinstance(result, SlimOCRError)
    out = _rates(stamps, start)
    out.update(
        workers=workers,
        threads_per_worker=threads_per_worker(workers, None),
        failed=failed,
        load_before=load_before,
        load_after=_load(),
    )
    return out


def bench_ray(paths: list[str], actors: int, cpus_per_actor: float, threads: int) -> dict:
    import ray

    from slimocr.runtime.ray_data import RayOCR

    ray.init(
        num_cpus=os.cpu_count(),
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        load_before = _load()
        start = time.perf_counter()
        ds = ray.data.read_binary_files(paths, include_paths=True)
        ds = ds.map_batches(
            RayOCR,
            fn_constructor_kwargs={"threads": threads},
            concurrency=actors,
            num_cpus=cpus_per_actor,
            batch_size=4,
        )
        stamps, failed = [], 0
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            now = time.perf_counter()
            stamps += [now] * len(batch["source"])
            failed += int(sum(1 for e in batch["error"] if e))
        out = _rates(stamps, start)
        out.update(
            actors=actors,
            num_cpus_per_actor=cpus_per_actor,
            threads_per_actor=threads,
            batch_size=4,
            failed=failed,
            load_before=load_before,
            load_after=_load(),
            ray=ray.__version__,
        )
        out["images_per_s_steady"] = None  # results arrive in blocks: only the wall rate holds
        return out
    finally:
        ray.shutdown()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _client(url: str, blobs: list[bytes], counter, latencies: list, errors: list) -> None:  # noqa: ANN001
    """One client: its own connection, requests until the shared counter runs out
    (list.append is atomic, so the threads share the result lists without a lock)."""
    import httpx

    with httpx.Client(base_url=url, timeout=300) as client:
        for i in counter:
            blob = blobs[i % len(blobs)]
            t0 = time.perf_counter()
            response = client.post("/ocr", content=blob, headers={"content-type": "image/jpeg"})
            latencies.append(time.perf_counter() - t0)
            errors.append(int(response.status_code != 200))


def bench_server(paths: list[str], workers: int, clients_list: list[int], per_level: int) -> dict:
    import httpx

    port = _free_port()
    cmd = [sys.executable, "-m", "slimocr.cli.main", "serve", "--port", str(port)]
    cmd += ["--workers", str(workers)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the server did not come up")
            time.sleep(0.3)
        blobs = [Path(p).read_bytes() for p in paths]
        with httpx.Client(base_url=url, timeout=300) as client:  # warm-up: each process once
            for blob in blobs[: 2 * workers]:
                client.post("/ocr", content=blob, headers={"content-type": "image/jpeg"})
        levels = []
        for clients in clients_list:
            latencies: list[float] = []
            errors: list[int] = []
            counter = iter(range(per_level))  # shared: per_level requests in all
            args = (url, blobs, counter, latencies, errors)
            load_before = _load()
            start = time.perf_counter()
            threads = [threading.Thread(target=_client, args=args) for _ in range(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - start
            ms = sorted(x * 1000 for x in latencies)
            levels.append(
                {
                    "clients": clients,
                    "requests": len(ms),
                    "errors": sum(errors),
                    "requests_per_s": round(len(ms) / wall, 3),
                    "p50_ms": round(statistics.median(ms), 1),
                    "p99_ms": round(ms[min(len(ms) - 1, int(round(0.99 * (len(ms) - 1))))], 1),
                    "load_before": load_before,
                    "load_after": _load(),
                }
            )
        return {
            "server_workers": workers,
            "threads_per_worker": max(1, os.cpu_count() // workers),
            "levels": levels,
        }
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data = Path(os.environ.get("SLIMOCR_DATA", ROOT.parent / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=data / "ic15_det_test" / "ch4_test_images")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--requests", type=int, default=48, help="requests per client level")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--parts", default="workers,ray,server")
    args = parser.parse_args()

    from slimocr.bench.latency import emit_report, machine_info

    paths = sorted(str(p) for p in args.data.glob("*.jpg"))[: args.images]
    if len(paths) < args.images:
        raise SystemExit(f"error: {args.data}: {len(paths)} images, {args.images} asked for")
    parts = args.parts.split(",")
    report: dict[str, Any] = {
        "command": "python " + " ".join([f"bench/{Path(__file__).name}", *sys.argv[1:]]),
        "machine": machine_info(),
        "images": f"first {args.images} of {args.data.name} (sorted by name)",
        "models": "default pipeline (OCR() defaults)",
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if "workers" in parts:
        report["workers"] = [bench_workers(paths, w) for w in (1, 2)]
    if "ray" in parts:
        report["ray"] = [bench_ray(paths, actors=2, cpus_per_actor=0.5, threads=1)]
    if "server" in parts:
        report["server"] = [bench_server(paths, w, [1, 4, 16], args.requests) for w in (1, 2)]
    report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    emit_report(report, args.out)


if __name__ == "__main__":
    main()
