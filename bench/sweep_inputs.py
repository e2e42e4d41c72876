"""A sweep of bad and unusual inputs over the entry points, with variants that the fuzz suite
(tests/fuzz) does not hold: kept apart from it, to check the input policy by other cases.

Each case: an entry point (a CLI subprocess or the API in-process) and an expectation. Verdicts:
ok, HANG, TRACEBACK, SILENT (exit 0 / no error where one is due), NOISE (stderr lines that are
not one ``error:``/``warning:`` line), WRONG (a result that differs from what is due). Needs
POSIX (FIFOs, sockets, /dev/full). Prints one line per case; ``--out`` writes them as JSON.

    python bench/sweep_inputs.py --out docs/results/sweep_inputs.json
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "sample.png"
T = Path(tempfile.mkdtemp(prefix="sweep-"))
results: list[tuple[str, str, str]] = []


def cli(
    name: str,
    args: list[str],
    expect_error: bool = True,
    stdin=None,
    stdout=None,
    preexec=None,
    timeout: int = 90,
    must_say: str = "",
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        p = subprocess.run(
            [sys.executable, "-m", "slimocr.cli.main", *args],
            env=env,
            stdin=stdin,
            stdout=stdout or subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=timeout,
            text=True,
            preexec_fn=preexec,
            cwd=T,
        )
    except subprocess.TimeoutExpired:
        results.append((name, "HANG", f"> {timeout}s"))
        return
    err = p.stderr
    bad = [
        ln
        for ln in err.splitlines()
        if not ln.startswith(("error: ", "warning: ")) and " written, " not in ln
    ]
    if "Traceback" in err:
        verdict = "TRACEBACK"
    elif expect_error and (p.returncode == 0 or "error: " not in err):
        verdict = "SILENT"
    elif not expect_error and p.returncode != 0:
        verdict = "WRONG"
    elif bad:
        verdict = "NOISE"
    elif must_say and must_say not in err:
        verdict = "WRONG"
    else:
        verdict = "ok"
    detail = (err.strip().splitlines() or [f"rc={p.returncode}"])[0][:160]
    results.append((name, verdict, f"rc={p.returncode} {detail}"))


class Hang(Exception):
    pass


def api(name: str, fn, expect_error: bool = True, check=None) -> None:
    from slimocr.errors import SlimOCRError

    def alarm(*_):
        raise Hang()

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(60)
    try:
        value = fn()
        if expect_error:
            results.append((name, "SILENT", f"returned {str(value)[:100]}"))
        elif check is not None and not check(value):
            results.append((name, "WRONG", str(value)[:160]))
        else:
            results.append((name, "ok", "result"))
    except Hang:
        results.append((name, "HANG", "> 60s"))
    except SlimOCRError as exc:
        one = "\n" not in str(exc)
        verdict = "ok" if expect_error and one else ("NOISE" if not one else "WRONG")
        results.append((name, verdict, f"{type(exc).__name__}: {str(exc)[:140]}"))
    except Exception as exc:  # noqa: BLE001
        results.append((name, "TRACEBACK", f"{type(exc).__name__}: {str(exc)[:140]}"))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def main(out: Path | None = None) -> None:
    sys.path.insert(0, str(REPO))
    from slimocr.infer.pipeline import OCR

    img = cv2.imread(str(SAMPLE))
    long = "L" * 260
    fifo = T / "pipe.jpg"
    os.mkfifo(fifo)
    fifo_txt = T / "pipe.txt"
    os.mkfifo(fifo_txt)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(T / "sock.onnx"))
    # -- images
    sparse = T / "sparse.png"
    with open(sparse, "wb") as fh:
        fh.truncate(300 * 2**20)
    png = cv2.imencode(".png", img)[1].tobytes()
    ihdr_at = png.find(b"IHDR")
    lying_png = bytearray(png)
    h = struct.unpack(">I", png[ihdr_at + 8 : ihdr_at + 12])[0]
    lying_png[ihdr_at + 8 : ihdr_at + 12] = struct.pack(">I", h * 3)
    crc = zlib.crc32(bytes(lying_png[ihdr_at : ihdr_at + 17]))
    lying_png[ihdr_at + 17 : ihdr_at + 21] = struct.pack(">I", crc)
    (T / "lies.png").write_bytes(bytes(lying_png))
    tif = cv2.imencode(".tiff", img)[1].tobytes()
    (T / "trunc.tif").write_bytes(tif[: len(tif) // 3])
    webp = cv2.imencode(".webp", img)[1].tobytes()
    (T / "trunc.webp").write_bytes(webp[: len(webp) // 2])
    badcrc = bytearray(png)
    badcrc[ihdr_at + 17] ^= 0xFF
    (T / "badcrc.png").write_bytes(bytes(badcrc))
    (T / "tab\tname.png").write_bytes(b"xx")
    (T / "cr\rname.png").write_bytes(b"xx")
    line = np.full((34, 9000, 3), 255, np.uint8)
    for x in range(0, 9000, 300):
        cv2.putText(line, "text", (x + 10, 26), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 2)
    cv2.imwrite(str(T / "longline.png"), line)
    cli(
        "cli ocr: FIFO .jpg, /dev/stdin pipe, socket, sparse 300MB, /proc/kcore",
        ["ocr", str(fifo), "/dev/stdin", str(T / "sock.onnx"), str(sparse), "/proc/kcore"],
        stdin=subprocess.PIPE,
    )
    cli("cli ocr: PNG header lies (3x height)", ["ocr", str(T / "lies.png")])
    cli("cli ocr: truncated TIFF", ["ocr", str(T / "trunc.tif")])
    cli("cli ocr: truncated WebP", ["ocr", str(T / "trunc.webp")])
    cli("cli ocr: IHDR CRC damaged", ["ocr", str(T / "badcrc.png")])
    cli(
        "cli ocr: tab and CR in names",
        ["ocr", str(T / "tab\tname.png"), str(T / "cr\rname.png")],
        must_say="tab\\tname",
    )
    cli("cli ocr: long path as image", ["ocr", str(T / (long + ".png"))])
    cli(
        "cli ocr: 9000x34 single text line (thin crop)",
        ["ocr", str(T / "longline.png")],
        expect_error=False,
    )
    cli("cli ocr: --draw FIFO target", ["ocr", str(SAMPLE), "--draw", str(T / "pipe.jpg")])
    cli("cli ocr: --draw into /sys (read-only)", ["ocr", str(SAMPLE), "--draw", "/sys/slimocr"])
    cli("cli ocr: --draw long name", ["ocr", str(SAMPLE), "--draw", str(T / (long + ".png"))])
    cli("cli ocr: --charset FIFO", ["ocr", str(SAMPLE), "--charset", str(fifo_txt)])
    cli("cli ocr: --det-model socket", ["ocr", str(SAMPLE), "--det-model", str(T / "sock.onnx")])
    cli("cli ocr: --rec-model long name", ["ocr", str(SAMPLE), "--rec-model", long + ".onnx"])
    cli("cli ocr: --list /dev/zero", ["ocr", "--list", "/dev/zero", str(SAMPLE)])
    cli(
        "cli ocr: --json to /dev/full",
        ["ocr", "--json", str(SAMPLE)],
        stdout=open("/dev/full", "w"),
    )
    cli(
        "cli ocr: same file twice, --draw folder",
        ["ocr", str(SAMPLE), str(SAMPLE), "--draw", str(T / "drawn")],
        expect_error=False,
    )
    drawn = sorted(p.name for p in (T / "drawn").iterdir()) if (T / "drawn").exists() else []
    results.append(("  drawn files", "ok" if len(drawn) == 2 else "WRONG", str(drawn)))
    # -- eval
    rec = T / "rec"
    rec.mkdir()
    cv2.imwrite(str(rec / "w.png"), img[181:220, 369:476])
    (rec / "gt.txt").write_bytes(b"w.png\t" + b"y" * 100_000_000 + b"\n")
    cli(
        "cli eval rec: 100 MB label line",
        ["eval", "rec", "--data", str(rec / "gt.txt")],
        timeout=120,
    )
    (rec / "gt2.txt").write_text(f"w.png\t16:55\n{fifo}\tx\n/dev/zero\ty\n", encoding="utf-8")
    cli(
        "cli eval rec: FIFO and /dev/zero as crops",
        ["eval", "rec", "--data", str(rec / "gt2.txt")],
        must_say="FIFO",
    )
    (rec / "gt3.txt").write_text("w.png\t16:55\n", encoding="utf-8")
    cli(
        "cli eval rec: --out /dev/full",
        ["eval", "rec", "--data", str(rec / "gt3.txt"), "--out", "/dev/full"],
    )
    cli(
        "cli eval rec: stdout to /dev/full",
        ["eval", "rec", "--data", str(rec / "gt3.txt")],
        stdout=open("/dev/full", "w"),
    )
    cli(
        "cli eval rec: stdout closed",
        ["eval", "rec", "--data", str(rec / "gt3.txt")],
        stdout=subprocess.DEVNULL,
        preexec=lambda: os.close(1),
    )
    det = T / "det"
    det.mkdir()
    cv2.imwrite(str(det / "a.png"), img)
    nest = "[" * 40 + "]" * 40
    (det / "det.txt").write_text(f"a.png\t{nest}\n", encoding="utf-8")
    cli("cli eval det: JSON nested 40", ["eval", "det", "--data", str(det / "det.txt")])
    (det / "det2.txt").write_text(
        'a.png\t[{"points": [[1, 2], [3, 4], [5, 1e999]]}]\n', encoding="utf-8"
    )
    cli("cli eval det: inf coordinate", ["eval", "det", "--data", str(det / "det2.txt")])
    cli("cli eval det: --data long name", ["eval", "det", "--data", str(T / long)])
    cli("cli eval det: --data FIFO", ["eval", "det", "--data", str(fifo_txt)])
    # -- zoo
    cli("cli zoo show: escape name", ["zoo", "show", "\x1b[2J"], must_say="\\x1b")
    cli("cli zoo list: stdout to /dev/full", ["zoo", "list"], stdout=open("/dev/full", "w"))
    # -- API
    ocr = OCR(threads=1)
    api("api: threads=True", lambda: OCR(threads=True))
    api("api: threads=2.0", lambda: OCR(threads=2.0))
    api("api: drop_score='0.5'", lambda: OCR(drop_score="0.5"))
    api("api: rec_image_height=True", lambda: OCR(rec_image_height=True))
    api("api: charset=[]", lambda: OCR(charset=[]))
    api("api: charset=FIFO", lambda: OCR(charset=fifo_txt))
    api(
        "api: det_limit_side_len=10**9 (max: no resize, valid)",
        lambda: OCR(det_limit_side_len=10**9)(img),
        expect_error=False,
        check=lambda r: len(r.lines) == 4,
    )
    api(
        "api: det_limit_side_len=10**9 type min",
        lambda: OCR(det_limit_side_len=10**9, det_limit_type="min")(img),
    )
    api("api: value_range='0,255'", lambda: ocr(img.astype(np.float32), value_range="0,255"))
    api(
        "api: float16 with range",
        lambda: ocr(img.astype(np.float16), value_range=(0, 255)),
        expect_error=False,
        check=lambda r: len(r.lines) == 4,
    )
    api(
        "api: H×W×2 uint16",
        lambda: ocr(np.dstack([img[:, :, 0], img[:, :, 1]]).astype(np.uint16)),
        expect_error=False,
    )
    api(
        "api: H×W×1 float 0..1",
        lambda: ocr(img[:, :, :1] / 255.0, value_range=(0, 1)),
        expect_error=False,
        check=lambda r: len(r.lines) == 4,
    )
    api("api: bool H×W", lambda: ocr(img[:, :, 0] > 128), expect_error=False)
    api("api: float -0.0..1 with -inf", lambda: ocr(np.full((50, 50), -np.inf), value_range=(0, 1)))
    api("api: Path with NUL", lambda: ocr(Path("a\0b.png")))
    api("api: bytes of /dev/zero head", lambda: ocr(b"\0" * 4096))
    api(
        "api: bytearray PNG",
        lambda: ocr(bytearray(png)),
        expect_error=False,
        check=lambda r: len(r.lines) == 4,
    )
    api(
        "api: memoryview PNG",
        lambda: ocr(memoryview(png)),
        expect_error=False,
        check=lambda r: len(r.lines) == 4,
    )
    api("api: non-contiguous array", lambda: ocr(img[:, ::-1]), expect_error=False)
    api(
        "api: 1x40000 crop via recognizer",
        lambda: ocr.recognizer([np.full((1, 40000, 3), 128, np.uint8)] * 6),
        expect_error=False,
    )
    # -- models
    import onnx
    from onnx import TensorProto, helper

    def model(path, nodes, ins, outs):
        g = helper.make_graph(nodes, "g", ins, outs)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        m.ir_version = 8
        onnx.save(m, str(path))
        return path

    vi = helper.make_tensor_value_info
    two_in = model(
        T / "two_in.onnx",
        [helper.make_node("Add", ["x", "z"], ["y"])],
        [
            vi("x", TensorProto.FLOAT, ["N", 3, "H", "W"]),
            vi("z", TensorProto.FLOAT, ["N", 3, "H", "W"]),
        ],
        [vi("y", TensorProto.FLOAT, ["N", 3, "H", "W"])],
    )
    shape = helper.make_tensor("s", TensorProto.INT64, [4], [1, 1, 32, 32])
    fixed = model(
        T / "fixed.onnx",
        [
            helper.make_node("ReduceMean", ["x"], ["m"], axes=[1]),
            helper.make_node("Reshape", ["m", "s"], ["y"]),
        ],
        [vi("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [vi("y", TensorProto.FLOAT, ["N", 1, "H", "W"])],
    )
    g = onnx.load(str(fixed))
    g.graph.initializer.append(shape)
    onnx.save(g, str(fixed))
    int_out = model(
        T / "intout.onnx",
        [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.INT64)],
        [vi("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [vi("y", TensorProto.INT64, ["N", 3, "H", "W"])],
    )
    cli("cli ocr: det with 2 inputs", ["ocr", str(SAMPLE), "--det-model", str(two_in)])
    cli(
        "cli ocr: det that fails at run (fixed reshape)",
        ["ocr", str(SAMPLE), "--det-model", str(fixed)],
        must_say="fixed.onnx",
    )
    cli("cli ocr: det with int64 output", ["ocr", str(SAMPLE), "--det-model", str(int_out)])
    cli(
        "cli ocr: detector given as recognizer",
        ["ocr", str(SAMPLE), "--rec-model", "ppocrv3-det-float"],
    )
    sock.close()
    width = max(len(r[0]) for r in results)
    for name, verdict, detail in results:
        print(f"{verdict:9s} {name:{width}s} | {detail}")
    counts: dict[str, int] = {}
    for _, v, _ in results:
        counts[v] = counts.get(v, 0) + 1
    print(json.dumps(counts))
    if out is not None:
        from slimocr.bench.latency import machine_info

        report = {
            "command": "python bench/sweep_inputs.py --out " + str(out),
            "machine": machine_info(),
            "counts": counts,
            "cases": [{"case": n, "verdict": v, "detail": d} for n, v, d in results],
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1, ensure_ascii=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="write the verdicts as JSON")
    main(parser.parse_args().out)
