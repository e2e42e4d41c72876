"""The selection pool reads only selection splits and is built once."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from slimocr.eval import pool
from slimocr.eval.readers import load_det_dataset


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((60, 120, 3), 255, np.uint8)
    cv2.putText(img, "AB", (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 0), 2)
    cv2.imwrite(str(path), img)


def _labels(folder: Path, names: list[str], text: str) -> None:
    box = [[5, 10], [70, 10], [70, 50], [5, 50]]
    folder.mkdir(parents=True, exist_ok=True)
    rows = [f"images/{n}\t" + json.dumps([{"transcription": text, "points": box}]) for n in names]
    (folder / "det_gt.txt").write_text("\n".join(rows) + "\n")
    for n in names:
        _image(folder / "images" / n)


def test_pool_holds_selection_images_only_and_is_reused(tmp_path: Path, monkeypatch):
    root, cache = tmp_path / "data", tmp_path / "cache"
    td = [f"IMG_{i}.jpg" for i in range(6)]
    _labels(root / "td500_train", td, "text")
    (root / "funsd" / "train").mkdir(parents=True)
    (root / "funsd" / "val").mkdir(parents=True)
    _labels(root / "funsd" / "train", ["f1.png"], "DATE:")
    _labels(root / "funsd" / "val", ["v1.png"], "TO:")
    gt = root / "ic15_train" / "gt"
    gt.mkdir(parents=True)
    for i in range(3):
        _image(root / "ic15_train" / "imgs" / f"img_{i}.jpg")
        (gt / f"gt_img_{i}.txt").write_text("5,10,70,10,70,50,5,50,AB\n")
    monkeypatch.setattr(pool, "RENDERED_LINES", 3)
    det = pool.det_pool(root, cache)
    names = sorted(s.image.name for s in load_det_dataset(det))
    assert names == ["IMG_0.jpg", "IMG_3.jpg", "f1.png", "img_0.jpg", "img_1.jpg", "img_2.jpg"]
    assert pool.det_pool(root, cache) == det  # built once
    rec = pool.rec_pool(root, cache)
    rows = (rec / "gt.txt").read_text(encoding="utf-8").splitlines()
    cut = [r for r in rows if r.startswith("c")]
    assert len(cut) == 6 and all(Path(rec / r.split("\t")[0]).is_file() for r in rows)
    assert not any(r.endswith("\tTO:") for r in rows)  # a FUNSD val (report) box never enters
    assert pool.resolve_data("../x") == "../x"
