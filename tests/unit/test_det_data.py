"""Detection training data: augmentation (polygons follow the pixels) and the torch dataset."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from slimocr.errors import ImageReadError
from slimocr.eval.readers import DetSample
from slimocr.toolkit.data.det_augment import (
    DetAugment,
    color_jitter,
    random_crop_keep_text,
    random_flip,
    random_rotate,
    random_scale,
    resize_keep_ratio,
)

torch = pytest.importorskip("torch")

from slimocr.toolkit.data.det_dataset import DetTrainDataset  # noqa: E402

MAP_KEYS = ("shrink_map", "shrink_mask", "threshold_map", "threshold_mask")


def _rect(x: float, y: float, w: float, h: float) -> np.ndarray:
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float64)


def _text_image(h: int, w: int, boxes: list[np.ndarray], seed: int = 0) -> np.ndarray:
    """White page with dark text-like strokes inside each box."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 255, np.uint8)
    for box in boxes:
        x0, y0 = box.min(axis=0).astype(int)
        x1, y1 = box.max(axis=0).astype(int)
        x = x0 + 2
        while x < x1 - 3:
            bw = int(rng.integers(2, 6))
            cv2.rectangle(img, (x, y0 + 2), (min(x + bw, x1 - 2), y1 - 2), (20, 30, 40), -1)
            x += bw + int(rng.integers(2, 5))
    return img


@pytest.fixture()
def samples(tmp_path: Path) -> list[DetSample]:
    out = []
    for i in range(2):
        boxes = [_rect(20 + 10 * i, 30, 120, 24), _rect(40, 90, 80, 20), _rect(150, 150, 40, 12)]
        path = tmp_path / f"img_{i}.png"
        cv2.imwrite(str(path), _text_image(200, 240, boxes, seed=i))
        out.append(DetSample(path, boxes, ["abc", "de", "###"], [False, False, True]))
    return out


# ---------------------------------------------------------------- polygons follow the pixels


def _filled(h: int, w: int, poly: np.ndarray) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    cv2.fillPoly(img, [np.round(poly).astype(np.int32)], (255, 255, 255))
    return img


def _assert_covers(img: np.ndarray, poly: np.ndarray, tol: int = 2) -> None:
    """The polygon (± tol px) and the bright pixels of the image coincide."""
    bright = img[..., 0] > 127
    region = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(region, [np.round(poly).astype(np.int32)], 1)
    kernel = np.ones((2 * tol + 1, 2 * tol + 1), np.uint8)
    grown = cv2.dilate(region, kernel).astype(bool)
    shrunk = cv2.erode(region, kernel, borderValue=0).astype(bool)
    assert bright.any()
    assert not (bright & ~grown).any(), "bright pixels outside the transformed polygon"
    assert bright[shrunk].all(), "transformed polygon not filled"


@pytest.mark.parametrize("seed", range(4))
def test_each_transform_moves_polygon_with_pixels(seed: int) -> None:
    poly = _rect(60, 50, 80, 40)
    img = _filled(160, 200, poly)
    rng = np.random.default_rng(seed)
    out, polys = random_rotate(img, [poly], rng, max_deg=30)
    _assert_covers(out, polys[0])
    out, polys = random_scale(img, [poly], rng, scales=(0.5, 2.0))
    _assert_covers(out, polys[0])
    left = _rect(20, 30, 50, 40)
    out, polys = random_flip(_filled(160, 200, left), [left], rng, p=1.0)
    assert out.shape == img.shape and polys[0][:, 0].min() == 199 - 70
    _assert_covers(out, polys[0])
    out, polys = resize_keep_ratio(img, [poly], (96, 128))
    assert out.shape == (128, 96, 3)
    _assert_covers(out, polys[0], tol=1)
    out, polys, ign = random_crop_keep_text(img, [poly], [False], rng, size=(128, 128))
    assert out.shape == (128, 128, 3) and ign == [False]
    _assert_covers(out, polys[0])


@pytest.mark.parametrize("seed", range(6))
def test_pipeline_moves_polygon_with_pixels(seed: int) -> None:
    poly = np.array([[70, 55], [140, 62], [136, 100], [66, 92]], dtype=np.float64)
    img = _filled(160, 200, poly)
    aug = DetAugment(size=128, flip_prob=0.5, jitter=True)
    out, polys, ign = aug(img, [poly], [False], np.random.default_rng(seed))
    assert out.shape == (128, 128, 3) and out.dtype == np.uint8
    assert len(polys) == 1 and ign == [False]
    _assert_covers(out, polys[0], tol=2)


def test_flip_off_keeps_image_and_draws_once() -> None:
    img = _filled(40, 50, _rect(5, 5, 10, 10))
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    out, _ = random_flip(img, [], rng_a, p=0.0)
    assert out is img
    rng_b.random()
    assert rng_a.random() == rng_b.random()


def test_random_crop_never_cuts_cared_text() -> None:
    boxes = [
        _rect(20, 20, 60, 20),
        _rect(120, 30, 70, 24),
        _rect(30, 120, 100, 30),
        _rect(160, 150, 30, 30),
    ]
    levels = [40, 80, 120, 160]
    img = np.full((220, 240, 3), 255, np.uint8)
    for box, v in zip(boxes, levels, strict=True):
        cv2.fillPoly(img, [box.astype(np.int32)], (v, v, v))
    cut = _rect(90, 80, 140, 20)  # an ignored box: may be cut, kept with its flag
    polys, ignore = boxes + [cut], [False] * 4 + [True]
    kept_counts = set()
    for seed in range(25):
        out, got, ign = random_crop_keep_text(
            img, polys, ignore, np.random.default_rng(seed), size=(96, 96)
        )
        assert out.shape == (96, 96, 3)
        assert len(got) == len(ign)
        cared = [p for p, i in zip(got, ign, strict=True) if not i]
        assert cared, "a crop keeps at least one cared-for box"
        kept_counts.add(len(cared))
        for p in cared:
            # Wholly inside the output and not over the zero padding: every pixel just inside
            # the box has one uniform box level (a cut box would show padding or page).
            assert p.min() >= -1 and p.max() <= 96
            inner = np.zeros((96, 96), np.uint8)
            cv2.fillPoly(inner, [np.round(p).astype(np.int32)], 1)
            inner = cv2.erode(inner, np.ones((3, 3), np.uint8), borderValue=0).astype(bool)
            if inner.any():
                vals = out[..., 0][inner].astype(int)
                assert vals.max() - vals.min() <= 2
                assert min(abs(vals.mean() - v) for v in levels) <= 2
    assert len(kept_counts) > 1, "crops should vary"


def test_crop_without_cared_text_takes_whole_image() -> None:
    img = np.full((100, 200, 3), 200, np.uint8)
    out, polys, ign = random_crop_keep_text(
        img, [_rect(10, 10, 30, 10)], [True], np.random.default_rng(0), size=(64, 64)
    )
    assert out[:32].min() == 200 and out[32:].max() == 0  # 200×100 fitted into 64×32 + pad
    assert ign == [True]
    np.testing.assert_allclose(polys[0][0], (10.5 * 0.32 - 0.5, 10.5 * 0.32 - 0.5))


def test_color_jitter_changes_colors_only() -> None:
    img = _text_image(40, 60, [_rect(5, 5, 50, 20)])
    out = color_jitter(img, np.random.default_rng(1))
    assert out.shape == img.shape and out.dtype == np.uint8
    assert not np.array_equal(out, img)
    same = color_jitter(img, np.random.default_rng(1), 0.0, 0.0, 0.0)
    assert np.abs(same.astype(int) - img).max() <= 1


# ---------------------------------------------------------------- dataset


def test_item_shapes_and_dtypes(samples: list[DetSample]) -> None:
    ds = DetTrainDataset(samples, size=128, augment=True, seed=0)
    assert len(ds) == 2
    item = ds[0]
    assert set(item) == {"image", *MAP_KEYS}
    assert item["image"].shape == (3, 128, 128) and item["image"].dtype == torch.float32
    for key in MAP_KEYS:
        assert item[key].shape == (128, 128) and item[key].dtype == torch.float32
    t = item["threshold_map"]
    assert float(t.min()) >= 0.3 - 1e-6 and float(t.max()) <= 0.7 + 1e-6
    assert set(torch.unique(item["shrink_map"]).tolist()) <= {0.0, 1.0}
    # Normalized BGR: white paper -> (1 - mean) / std.
    white = (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    assert torch.allclose(item["image"].amax(dim=(1, 2)), white, atol=1e-4)
    batch = torch.utils.data.default_collate([ds[0], ds[1]])
    assert batch["image"].shape == (2, 3, 128, 128) and batch["shrink_map"].shape == (2, 128, 128)


def test_no_augment_fits_whole_image(samples: list[DetSample]) -> None:
    ds = DetTrainDataset(samples, size=128, augment=False)
    item = ds[0]
    # 240×200 into 128: scale 128/240, so 106 rows of image then padding.
    assert item["image"].shape == (3, 128, 128)
    pad = (0 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    assert torch.allclose(item["image"][:, 110:, :].amax(dim=(1, 2)), pad, atol=1e-4)
    assert item["shrink_map"].sum() > 0
    # The "###" box (150,150)+(40,12) is masked out, the others are not.
    s = 128 / 240
    assert item["shrink_mask"][int(156 * s), int(170 * s)] == 0
    assert item["shrink_mask"][int(42 * s), int(80 * s)] == 1
    assert torch.equal(item["image"], ds[0]["image"])


def test_determinism_seed_epoch_index(samples: list[DetSample]) -> None:
    a = DetTrainDataset(samples, size=96, seed=7)
    b = DetTrainDataset(samples, size=96, seed=7)
    b[1]  # drawing other items first changes nothing
    for key in ("image", *MAP_KEYS):
        assert torch.equal(a[0][key], b[0][key])
    first = a[0]["image"]
    a.set_epoch(1)
    assert not torch.equal(a[0]["image"], first)
    b.set_epoch(1)
    assert torch.equal(a[0]["image"], b[0]["image"])
    a.set_epoch(0)
    assert torch.equal(a[0]["image"], first)
    c = DetTrainDataset(samples, size=96, seed=8)
    assert not torch.equal(c[0]["image"], first)


def test_without_targets_returns_only_image(samples: list[DetSample]) -> None:
    ds = DetTrainDataset(samples, size=64, with_targets=False)
    item = ds[1]
    assert set(item) == {"image"} and item["image"].shape == (3, 64, 64)
    unlabeled = [DetSample(samples[0].image)]
    assert set(DetTrainDataset(unlabeled, size=64, with_targets=False)[0]) == {"image"}


def test_unreadable_image_raises_naming_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image at all")
    ds = DetTrainDataset([DetSample(bad, [_rect(1, 1, 20, 10)], ["x"], [False])], size=64)
    with pytest.raises(ImageReadError, match="broken.jpg"):
        ds[0]
    missing = DetTrainDataset([DetSample(tmp_path / "nope.png")], size=64)
    with pytest.raises(ImageReadError, match="nope.png"):
        missing[0]


def test_bad_size_rejected(samples: list[DetSample]) -> None:
    with pytest.raises(ValueError):
        DetTrainDataset(samples, size=100)
