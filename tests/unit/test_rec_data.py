"""Recognition training data: label encoding, resize/pad, augmentation, crops from det labels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import needs_torch

pytestmark = needs_torch

torch = pytest.importorskip("torch")

from slimocr.errors import LabelError  # noqa: E402
from slimocr.eval.readers import DetSample, RecSample, read_paddle_rec_labels  # noqa: E402
from slimocr.toolkit.data import rec_dataset as rd  # noqa: E402
from slimocr.toolkit.data.rec_augment import RecAugment  # noqa: E402
from slimocr.toolkit.data.rec_dataset import (  # noqa: E402
    RecTrainDataset,
    char_index,
    collate_rec,
    crops_from_det_samples,
    ctc_frames_needed,
    encode_text,
    resize_norm_img,
)

DIGITS = list("0123456789")


def _write(path: Path, img: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), img)
    return path


def _text_crop(text: str, width: int = 96, height: int = 32) -> np.ndarray:
    img = np.full((height, width, 3), 235, np.uint8)
    cv2.putText(img, text, (4, height - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (20, 20, 20), 2)
    return img


@pytest.fixture
def crops(tmp_path: Path) -> list[RecSample]:
    texts = ["12", "345", "6789", "0"]
    return [
        RecSample(_write(tmp_path / f"w{i}.png", _text_crop(t)), t) for i, t in enumerate(texts)
    ]


# ----------------------------------------------------------------------------- resize / normalize


def test_resize_norm_img_width_and_zero_padding(tmp_path: Path) -> None:
    img = np.full((20, 100, 3), 255, np.uint8)  # ratio 5 -> width ceil(32 * 5) = 160
    path = _write(tmp_path / "white.png", img)
    ds = RecTrainDataset([RecSample(path, "1")], DIGITS, augment=False)
    item = ds[0]
    x = item["image"]
    assert x.shape == (3, 32, 320) and x.dtype == torch.float32
    assert torch.all(x[:, :, :160] == 1.0)  # (255 / 255 - 0.5) / 0.5
    assert torch.all(x[:, :, 160:] == 0.0)
    assert float(item["width_ratio"]) == pytest.approx(0.5)


def test_resize_norm_img_black_and_capped_width() -> None:
    out, ratio = resize_norm_img(np.zeros((20, 100, 3), np.uint8))
    assert out[:, :, :160].min() == -1.0 and out[:, :, :160].max() == -1.0
    out, ratio = resize_norm_img(np.zeros((10, 400, 3), np.uint8), 32, 320)  # wants 1280 px
    assert ratio == 1.0 and out.min() == -1.0
    out, ratio = resize_norm_img(np.zeros((64, 3, 3), np.uint8), 32, 320)  # wants ceil(1.5)=2
    assert ratio == pytest.approx(2 / 320) and np.all(out[:, :, 2:] == 0)


# ---------------------------------------------------------------------------------- label encoding


def test_encode_text_maps_to_classes_after_blank() -> None:
    index = char_index(DIGITS)
    assert encode_text("019", index, "x") == [1, 2, 10]


def test_encode_text_unknown_char_names_where_and_char() -> None:
    index = char_index(DIGITS)
    with pytest.raises(LabelError, match=r"rec_gt\.txt:7: character 'x' \(U\+0078\)"):
        encode_text("1x2", index, "rec_gt.txt:7")
    assert encode_text("1x2", index, "w", on_unknown="drop_char") == [2, 3]
    assert encode_text("1x2", index, "w", on_unknown="skip") == []


def test_dataset_refuses_unknown_char_at_construction_with_where(
    crops: list[RecSample],
) -> None:
    bad = [*crops, RecSample(crops[0].image, "12a")]
    where = [f"train.txt:{i + 1}" for i in range(len(bad))]
    with pytest.raises(LabelError, match=r"train\.txt:5: character\(s\) 'a'"):
        RecTrainDataset(bad, DIGITS, augment=False, where=where)
    ds = RecTrainDataset(bad, DIGITS, augment=False, where=where, on_unknown="skip")
    assert len(ds) == 4 and len(ds.warnings) == 1 and "train.txt:5" in ds.warnings[0]
    ds = RecTrainDataset(bad, DIGITS, augment=False, on_unknown="drop_char")
    assert len(ds) == 5 and ds[4]["length"].item() == 2


def test_dataset_where_defaults_to_image_path(crops: list[RecSample]) -> None:
    with pytest.raises(LabelError, match=str(crops[1].image).replace("\\", "\\\\") + ": "):
        RecTrainDataset([crops[0], RecSample(crops[1].image, "1?")], DIGITS)


def test_label_padding_and_length(crops: list[RecSample]) -> None:
    ds = RecTrainDataset(crops, DIGITS, max_width=96, augment=False)
    item = ds[2]  # "6789"
    assert ds.frames == 24 and item["label"].shape == (24,) and item["label"].dtype == torch.long
    assert item["label"][:4].tolist() == [7, 8, 9, 10] and item["label"][4:].sum() == 0
    assert item["length"].item() == 4
    ds = RecTrainDataset(crops, DIGITS, max_width=96, augment=False, max_label_len=6)
    assert ds[0]["label"].shape == (6,)


def test_label_too_long_is_refused(crops: list[RecSample]) -> None:
    img = crops[0].image
    # max_width 32 -> T = 8 frames.
    with pytest.raises(LabelError, match=r"too long: CTC needs 9 frames.*only 8"):
        RecTrainDataset([RecSample(img, "123456789")], DIGITS, max_width=32)
    # Repeats need a blank between them: "11111" needs 9 frames.
    assert ctc_frames_needed([1, 1, 1, 1, 1]) == 9
    with pytest.raises(LabelError, match="needs 9 frames"):
        RecTrainDataset([RecSample(img, "11111")], DIGITS, max_width=32)
    with pytest.raises(LabelError, match="more than max_label_len=3"):
        RecTrainDataset([RecSample(img, "1234")], DIGITS, max_label_len=3)
    ds = RecTrainDataset(
        [RecSample(img, "12"), RecSample(img, "123456789")],
        DIGITS,
        max_width=32,
        on_unknown="skip",
    )
    assert len(ds) == 1 and "too long" in ds.warnings[0]


def test_empty_and_all_bad_labels(crops: list[RecSample]) -> None:
    with pytest.raises(LabelError, match="empty label"):
        RecTrainDataset([RecSample(crops[0].image, "")], DIGITS)
    with pytest.raises(LabelError, match="no usable recognition samples"):
        RecTrainDataset([RecSample(crops[0].image, "ab")], DIGITS, on_unknown="skip")


def test_where_from_reader_lines(tmp_path: Path, crops: list[RecSample]) -> None:
    label = tmp_path / "rec.txt"
    label.write_text(f"{crops[0].image.name}\t12\n{crops[1].image.name}\t3z\n", encoding="utf-8")
    samples = read_paddle_rec_labels(label)
    where = [f"{label}:{i}" for i in range(1, len(samples) + 1)]
    with pytest.raises(LabelError, match=r"rec\.txt:2: character\(s\) 'z'"):
        RecTrainDataset(samples, DIGITS, where=where)


# ------------------------------------------------------------------------------ augmentation


def test_augmentation_deterministic_per_seed_epoch_idx(crops: list[RecSample]) -> None:
    strong = RecAugment(1.0, 0.1, 1.0, 3, 1.0, 1.0, noise_prob=1.0)
    same = [crops[0], RecSample(crops[0].image, "12")]  # one image under two indices
    a = RecTrainDataset(same, DIGITS, augment=strong, seed=5)
    b = RecTrainDataset(same, DIGITS, augment=strong, seed=5)
    for ds in (a, b):
        ds.set_epoch(3)
    assert torch.equal(a[0]["image"], b[0]["image"])
    assert torch.equal(a[1]["image"], b[1]["image"])
    assert torch.equal(a[0]["image"], a[0]["image"])  # repeated access
    assert not torch.equal(a[0]["image"], a[1]["image"])  # idx enters the seed
    before = a[0]["image"]
    a.set_epoch(4)
    assert not torch.equal(before, a[0]["image"])  # epoch enters the seed
    c = RecTrainDataset(same, DIGITS, augment=strong, seed=6)
    c.set_epoch(3)
    assert not torch.equal(b[0]["image"], c[0]["image"])  # seed enters the seed


def test_rec_augment_keeps_dtype_and_handles_tiny_images() -> None:
    aug = RecAugment(1.0, 0.1, 1.0, 3, 1.0, 1.0, noise_prob=1.0)
    rng = np.random.default_rng(0)
    for shape in ((3, 4, 3), (32, 100, 3), (48, 9, 3)):
        img = np.random.default_rng(1).integers(0, 256, size=shape, dtype=np.uint8)
        out = aug(img, rng)
        assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
        assert out.shape[0] >= shape[0] * 3 // 4 - 1 and out.shape[1] >= shape[1] * 8 // 10
    off = RecAugment(0.0, crop_prob=0.0, blur_prob=0.0, color_prob=0.0, noise_prob=0.0)
    img = np.full((32, 64, 3), 77, np.uint8)
    assert np.array_equal(off(img, rng), img)
    with pytest.raises(ValueError, match="blur_prob"):
        RecAugment(blur_prob=1.5)


def test_collate_and_default_dataloader(crops: list[RecSample]) -> None:
    ds = RecTrainDataset(crops, DIGITS, max_width=96, augment=True)
    batch = collate_rec([ds[i] for i in range(3)])
    assert batch["image"].shape == (3, 3, 32, 96) and batch["label"].shape == (3, 24)
    assert batch["length"].tolist() == [2, 3, 4] and batch["width_ratio"].shape == (3,)
    loader = torch.utils.data.DataLoader(ds, batch_size=4)
    (default,) = list(loader)
    assert default["image"].shape == (4, 3, 32, 96)


# ------------------------------------------------------------------------- crops from det samples


@pytest.fixture
def det_sample(tmp_path: Path) -> DetSample:
    img = np.full((80, 160, 3), 255, np.uint8)
    img[10:30, 10:90] = (0, 0, 255)  # red box "ab"
    img[45:70, 100:130] = (255, 0, 0)  # blue box "c", given as an 8-point polygon
    img[40:75, 10:60] = (0, 255, 0)  # green, "do not care"
    path = _write(tmp_path / "scene 1.png", img)
    quad = np.array([[10, 10], [90, 10], [90, 30], [10, 30]], np.float64)
    octo = np.array(
        [[100, 45], [115, 45], [130, 45], [130, 57], [130, 70], [115, 70], [100, 70], [100, 57]],
        np.float64,
    )
    care = np.array([[10, 40], [60, 40], [60, 75], [10, 75]], np.float64)
    return DetSample(path, [quad, octo, care], ["ab", "c", "###"], [False, False, True])


def test_crops_from_det_samples_writes_crops_and_labels(
    tmp_path: Path, det_sample: DetSample
) -> None:
    out = tmp_path / "crops"
    samples = crops_from_det_samples([det_sample], out)
    assert [s.text for s in samples] == ["ab", "c"] and samples.warnings == []
    assert [s.image.name for s in samples] == ["scene_1_0.png", "scene_1_1.png"]
    red = cv2.imread(str(samples[0].image))
    assert red.shape == (20, 80, 3)
    assert np.abs(red[2:-2, 2:-2].astype(int) - (0, 0, 255)).max() <= 2
    blue = cv2.imread(str(samples[1].image))  # 30x25 min-area rect, not rotated (h/w < 1.5)
    assert blue.shape[:2] == (25, 30)
    assert np.abs(blue[3:-3, 3:-3].astype(int) - (255, 0, 0)).max() <= 2
    labels = (out / "label.txt").read_text(encoding="utf-8")
    assert labels == "scene_1_0.png\tab\nscene_1_1.png\tc\n"
    again = read_paddle_rec_labels(out / "label.txt")
    assert [(s.image, s.text) for s in again] == [(s.image, s.text) for s in samples]


def test_crops_from_det_samples_is_idempotent(
    tmp_path: Path, det_sample: DetSample, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "crops"
    first = crops_from_det_samples([det_sample], out)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}

    def no_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("image read again")

    with monkeypatch.context() as m:
        m.setattr(rd, "load_image", no_read)
        second = crops_from_det_samples([det_sample], out)
    assert [(s.image, s.text) for s in second] == [(s.image, s.text) for s in first]
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]

    # A missing crop is cut again (only it); a changed box redoes the set.
    reads: list[object] = []
    real = rd.load_image

    def counting(*args: object, **kwargs: object) -> np.ndarray:
        reads.append(args[0])
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(rd, "load_image", counting)
    (out / "scene_1_1.png").unlink()
    crops_from_det_samples([det_sample], out)
    assert (out / "scene_1_1.png").is_file() and len(reads) == 1
    assert (out / "scene_1_0.png").stat().st_mtime_ns == stamps["scene_1_0.png"]
    det_sample.polys[0] = det_sample.polys[0] + np.array([0.0, 4.0])
    third = crops_from_det_samples([det_sample], out)
    assert [s.text for s in third] == ["ab", "c"] and len(reads) == 2
    moved = cv2.imread(str(third[0].image))
    assert moved.shape == (20, 80, 3) and (moved[-2:] == 255).all()  # now covers white rows


def test_crops_skip_unusable_boxes(tmp_path: Path, det_sample: DetSample) -> None:
    det_sample.polys.append(np.array([[5, 5], [5, 5], [5, 5], [5, 5]], np.float64))
    det_sample.texts.append("zz")
    det_sample.ignore.append(False)
    det_sample.polys.append(np.array([[0, 0], [20, 0], [20, 10], [0, 10]], np.float64))
    det_sample.texts.append("two\nlines")
    det_sample.ignore.append(False)
    samples = crops_from_det_samples([det_sample], tmp_path / "c")
    assert [s.text for s in samples] == ["ab", "c"]
    assert len(samples.warnings) == 2 and "degenerate" in samples.warnings[0]


def test_crop_source_strips_the_box_index() -> None:
    assert rd.crop_source("crops/img_11_6.png") == "img_11"
    assert rd.crop_source("img_11.png") == "img"  # an image stem ending in _N is ambiguous
    assert rd.crop_source("word.png") == "word"
    assert rd.crop_source("a_b.png") == "a_b"


def test_held_out_split_by_group_keeps_each_group_on_one_side() -> None:
    from slimocr.toolkit.train.tasks import split_train_val

    samples = list(range(200))
    groups = [f"img_{i // 7}" for i in samples]  # 29 images, 7 crops each (the last 4)
    train, val = split_train_val(samples, 0.1, 300, seed=0, groups=groups)
    assert 14 <= len(val) <= 20 and len(train) + len(val) == 200
    held = {groups[i] for i in val}
    assert not held & {groups[i] for i in train}
    assert split_train_val(samples, 0.1, 300, seed=0, groups=groups) == (train, val)
    # without groups the split is the one every recipe used before groups existed
    order = np.random.default_rng(0).permutation(200)
    _, plain = split_train_val(samples, 0.1, 300, seed=0)
    assert plain == sorted(order[:20].tolist())
    # groups larger than the slice: the first group of the seeded order alone, never nothing
    big = [f"img_{i // 50}" for i in samples]
    train, val = split_train_val(samples, 0.1, 300, seed=0, groups=big)
    assert len(val) == 50 and len({big[i] for i in val}) == 1 and len(train) == 150
    with pytest.raises(ValueError, match="group keys"):
        split_train_val(samples, 0.1, 300, seed=0, groups=groups[:-1])
