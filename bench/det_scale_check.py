"""Every shipped detector against its float parent on report photos and pages shown larger.

The fidelity suite's images are at most 1280 pixels wide; a phone photo of a receipt or a page
is larger, with larger text. This check scales each report image of td500 (200 photos) and
FUNSD (50 pages) by ``--scale`` (bicubic, written once as JPEG quality 95 under ``--images``)
with its boxes, and runs each detector beside its parent at the pipeline's settings (which cap
the detector input: RapidOCR's 2000 pixels for the v6 small rows), as the receipt check does.
Nothing is tuned on these images.

    python bench/det_scale_check.py --scale 2 --out docs/results/det_scale_check.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from receipt_det_check import check_rows, markdown

DOMAINS = ("td500", "funsd")


def scaled_samples(scale: float, folder: Path, domain: str) -> list[Any]:
    """The report split of ``domain`` scaled by ``scale`` (images cached in ``folder``)."""
    from slimocr.eval.domains import det_samples
    from slimocr.eval.readers import DetSample

    out = folder / f"{domain}_x{scale:g}"
    out.mkdir(parents=True, exist_ok=True)
    samples = []
    for s in det_samples(domain):
        path = out / f"{Path(s.image).stem}.jpg"
        if not path.exists():
            img = cv2.imread(str(s.image), cv2.IMREAD_COLOR)
            big = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
            cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 95])
        polys = [np.asarray(p, dtype=np.float64) * scale for p in s.polys]
        samples.append(DetSample(path, polys, s.texts, s.ignore))
    return samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=2.0)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--images", type=Path, default=Path.home() / ".cache/slimocr/scaled")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--table", action="store_true", help="print --out as Markdown tables only")
    args = ap.parse_args()
    if args.table:
        result = json.loads(args.out.read_text())
        for domain in result["domains"]:
            print(f"{domain} (x{result['scale']:g}, {result['images'][domain]} images):\n")
            print(markdown({"bar_points": result["bar_points"], "rows": result["rows"][domain]}))
            print()
        return

    from slimocr.bench.latency import machine_info
    from slimocr.files import atomic_write

    rows, images = {}, {}
    for domain in DOMAINS:
        samples = scaled_samples(args.scale, args.images, domain)
        images[domain] = len(samples)
        print(f"{domain}: {len(samples)} images", flush=True)
        rows[domain] = check_rows(samples, args.threads)
    result = {
        "purpose": __doc__.splitlines()[0],
        "command": f"python bench/det_scale_check.py --scale {args.scale:g} --out {args.out}",
        "machine": machine_info(),
        "scale": args.scale,
        "domains": list(DOMAINS),
        "images": images,
        "bar_points": 0.5,
        "rows": rows,
    }
    atomic_write(args.out, lambda tmp: Path(tmp).write_text(json.dumps(result, indent=1)))


if __name__ == "__main__":
    main()
