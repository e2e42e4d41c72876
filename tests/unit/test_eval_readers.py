"""Label readers on tiny files written to tmp_path (no real data needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from slimocr.errors import LabelError
from slimocr.eval.readers import (
    load_det_dataset,
    load_rec_dataset,
    read_crops_folder,
    read_icdar_gt_dir,
    read_paddle_det_labels,
    read_paddle_rec_labels,
    read_space_separated_rec_labels,
)

GOOD_GT = "1,2,11,2,11,12,1,12,Hello\n20,20,30,20,30,30,20,30,###\n0,0,5,0,5,5,0,5,$100,000\n"


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def ic15_dir(root: Path, gts: dict[int, str], bom: bool = False) -> tuple[Path, Path]:
    images, gt = root / "ch4_test_images", root / "Challenge4_Test_Task1_GT"
    gt.mkdir(parents=True)
    for n, text in gts.items():
        touch(images / f"img_{n}.jpg")
        (gt / f"gt_img_{n}.txt").write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return images, gt


# ---------------------------------------------------------------- ICDAR 2015 GT folders


def test_icdar_gt_dir_bom_commas_and_dont_care(tmp_path):
    images, gt = ic15_dir(
        tmp_path, {1: GOOD_GT, 2: "5,5,9,5,9,9,5,9,a,b\r\n\r\n", 10: ""}, bom=True
    )
    samples = read_icdar_gt_dir(images, gt)
    assert [s.image.name for s in samples] == ["img_1.jpg", "img_2.jpg", "img_10.jpg"]
    s = samples[0]
    assert s.texts == ["Hello", "###", "$100,000"]
    assert s.ignore == [False, True, False]
    assert s.polys[0].shape == (4, 2) and s.polys[0].dtype == np.float64
    np.testing.assert_array_equal(s.polys[0], [[1, 2], [11, 2], [11, 12], [1, 12]])
    assert samples[1].texts == ["a,b"]  # CRLF stripped, blank line skipped
    assert samples[2].polys == []
    assert samples.warnings == []


@pytest.mark.parametrize(
    ("line", "msg"),
    [
        ("1,2,3,4,5,6,7,Hello", "expected 8 coordinates and a transcription"),
        ("1,2,3,4,5,6,7,8", "expected 8 coordinates and a transcription"),
        ("1,2,3,x,5,6,7,8,Hello", "'x' is not a number"),
        ("1,2,3,4,5,6,7,nan,Hello", "not finite"),
    ],
)
def test_icdar_bad_lines_name_file_and_line(tmp_path, line, msg):
    images, gt = ic15_dir(tmp_path, {3: GOOD_GT + "\n" + GOOD_GT.splitlines()[0] + "\n" + line})
    with pytest.raises(LabelError, match=msg) as exc:
        read_icdar_gt_dir(images, gt)
    assert "gt_img_3.txt:6:" in str(exc.value)


def test_icdar_skip_keeps_going(tmp_path):
    images, gt = ic15_dir(tmp_path, {1: "1,2,3\n" + GOOD_GT, 2: GOOD_GT})
    touch(tmp_path / "Challenge4_Test_Task1_GT" / "gt_img_9.txt")  # no img_9.jpg
    samples = read_icdar_gt_dir(images, gt, on_error="skip")
    assert [len(s.polys) for s in samples] == [3, 3]
    assert len(samples.warnings) == 2
    assert "gt_img_1.txt:1: expected 8 coordinates" in samples.warnings[0]
    assert "gt_img_9.txt: no image img_9" in samples.warnings[1]
    (gt / "gt_img_1.txt").write_text(GOOD_GT)
    with pytest.raises(LabelError, match="gt_img_9.txt: no image"):
        read_icdar_gt_dir(images, gt)


def test_icdar_bad_on_error_value(tmp_path):
    images, gt = ic15_dir(tmp_path, {1: GOOD_GT})
    with pytest.raises(ValueError):
        read_icdar_gt_dir(images, gt, on_error="ignore")  # type: ignore[arg-type]


# ---------------------------------------------------------------- PaddleOCR det labels


def det_line(path: str, boxes: list[dict]) -> str:
    return path + "\t" + json.dumps(boxes) + "\n"


def test_paddle_det_labels(tmp_path):
    touch(tmp_path / "imgs" / "a.jpg")
    touch(tmp_path / "imgs" / "b.jpg")
    poly5 = [[0, 0], [4, 0], [5, 2], [4, 4], [0, 4]]
    text = det_line(
        "imgs/a.jpg",
        [
            {"transcription": "Hi, you", "points": poly5},
            {"transcription": "###", "points": [[0, 0], [1, 0], [1, 1]]},
        ],
    )
    text += det_line("imgs/b.jpg", [])
    label = tmp_path / "det.txt"
    label.write_bytes(b"\xef\xbb\xbf" + text.encode())
    samples = read_paddle_det_labels(label)
    assert [s.image for s in samples] == [tmp_path / "imgs" / "a.jpg", tmp_path / "imgs" / "b.jpg"]
    assert samples[0].polys[0].shape == (5, 2)
    assert samples[0].texts == ["Hi, you", "###"] and samples[0].ignore == [False, True]
    assert samples[1].polys == []
    # root overrides the label file's folder
    moved = tmp_path / "elsewhere" / "det.txt"
    moved.parent.mkdir()
    moved.write_text(text)
    assert len(read_paddle_det_labels(moved, root=tmp_path)) == 2


@pytest.mark.parametrize(
    ("line", "msg"),
    [
        ("imgs/a.jpg [] ", "separated by a tab"),
        ("\t[]", "empty image path"),
        ("imgs/a.jpg\t[{bad json", "invalid JSON"),
        ("imgs/a.jpg\t{}", "expected a JSON list"),
        (det_line("imgs/a.jpg", [{"points": [[0, 0], [1, 1]]}]).strip(), "at least 3 points"),
        (
            det_line("imgs/a.jpg", [{"points": [[0, 0], [1, "x"], [1, 1]]}]).strip(),
            "'x' is not a number",
        ),
        (det_line("imgs/a.jpg", [{"points": [[0, 0, 1], [1, 1]]}]).strip(), "list of \\[x, y\\]"),
        (det_line("imgs/missing.jpg", []).strip(), "image file not found"),
    ],
)
def test_paddle_det_bad_lines(tmp_path, line, msg):
    touch(tmp_path / "imgs" / "a.jpg")
    label = tmp_path / "det.txt"
    label.write_text(det_line("imgs/a.jpg", []) + line + "\n")
    with pytest.raises(LabelError, match=msg) as exc:
        read_paddle_det_labels(label)
    assert "det.txt:2:" in str(exc.value)


def test_paddle_det_skip(tmp_path):
    touch(tmp_path / "a.jpg")
    label = tmp_path / "det.txt"
    good = {"transcription": "ok", "points": [[0, 0], [1, 0], [1, 1]]}
    label.write_text(det_line("a.jpg", [{"points": [[0, 0]]}, good]) + "nope.jpg\t[]\n")
    samples = read_paddle_det_labels(label, on_error="skip")
    assert len(samples) == 1 and samples[0].texts == ["ok"]  # bad box left out, image kept
    assert len(samples.warnings) == 2
    assert "det.txt:1: box 0" in samples.warnings[0]
    assert "det.txt:2: image file not found" in samples.warnings[1]


# ---------------------------------------------------------------- recognition labels


def rec_dir(root: Path) -> Path:
    for i in (1, 2, 3):
        touch(root / "word_images" / f"word_{i}.png")
    touch(root / "notes" / "readme.md")  # a sub-folder without images is not a candidate
    return root


def test_space_separated_rec_first_space_and_subfolder_fallback(tmp_path):
    rec_dir(tmp_path)
    label = tmp_path / "gt_space_separated.txt"
    label.write_bytes(
        b"\xef\xbb\xbfimages/word_1.png AT HIGH\nimages/word_2.png Fashi  g\r\nword_3.png x\n"
    )
    samples = read_space_separated_rec_labels(label)
    assert [s.text for s in samples] == ["AT HIGH", "Fashi  g", "x"]
    assert samples[0].image == tmp_path / "word_images" / "word_1.png"
    assert samples[2].image == tmp_path / "word_images" / "word_3.png"


def test_fallback_ambiguous(tmp_path):
    rec_dir(tmp_path)
    touch(tmp_path / "other" / "word_1.png")
    label = tmp_path / "gt.txt"
    label.write_text("images/word_1.png a\n")
    with pytest.raises(LabelError, match="gt.txt:1: image 'images/word_1.png' is ambiguous"):
        read_space_separated_rec_labels(label)


def test_paddle_rec_labels(tmp_path):
    rec_dir(tmp_path)
    label = tmp_path / "rec_gt_test.txt"
    label.write_text("test/word_1.png\tA B\nword_images/word_2.png\t$100,000\n")
    samples = read_paddle_rec_labels(label)
    assert [(s.image.name, s.text) for s in samples] == [
        ("word_1.png", "A B"),
        ("word_2.png", "$100,000"),
    ]


@pytest.mark.parametrize(
    ("reader", "line", "msg"),
    [
        (read_paddle_rec_labels, "word_1.png hello", "separated by a tab"),
        (read_paddle_rec_labels, "\thello", "empty image path"),
        (read_paddle_rec_labels, "word_9.png\thello", "image file not found"),
        (read_space_separated_rec_labels, "word_1.png", "separated by a space"),
        (read_space_separated_rec_labels, " hello", "empty image path"),
        (read_space_separated_rec_labels, "word_9.png hello", "image file not found"),
    ],
)
def test_rec_bad_lines(tmp_path, reader, line, msg):
    rec_dir(tmp_path)
    sep = "\t" if reader is read_paddle_rec_labels else " "
    label = tmp_path / "labels.txt"
    label.write_text(f"word_1.png{sep}ok\n\nword_2.png{sep}ok\n{line}\n")
    with pytest.raises(LabelError, match=msg) as exc:
        reader(label)
    assert "labels.txt:4:" in str(exc.value)
    skipped = reader(label, on_error="skip")
    assert len(skipped) == 2
    assert len(skipped.warnings) == 1 and "labels.txt:4:" in skipped.warnings[0]


def test_crops_folder_detects_separator(tmp_path):
    rec_dir(tmp_path)
    crops = tmp_path / "word_images"
    (crops / "gt.txt").write_text("word_1.png\tA B\nword_2.png\tC\n")
    assert [s.text for s in read_crops_folder(crops)] == ["A B", "C"]
    (crops / "gt.txt").write_text("word_1.png A B\nword_2.png C\n")
    assert [s.text for s in read_crops_folder(crops)] == ["A B", "C"]
    with pytest.raises(LabelError, match="no gt.txt"):
        read_crops_folder(tmp_path)


# ---------------------------------------------------------------- auto-detection


def test_load_det_dataset_autodetect(tmp_path):
    ic15_dir(tmp_path / "ic15", {1: GOOD_GT, 2: GOOD_GT})
    (tmp_path / "ic15" / "det_label.txt").write_text(det_line("ch4_test_images/img_1.jpg", []))
    samples = load_det_dataset(tmp_path / "ic15")  # the ICDAR layout wins
    assert len(samples) == 2 and sum(len(s.polys) for s in samples) == 6
    assert sum(not i for s in samples for i in s.ignore) == 4
    # a PaddleOCR label file, given as a file or found alone in a folder
    assert len(load_det_dataset(tmp_path / "ic15" / "det_label.txt")) == 1
    paddle = tmp_path / "paddle"
    touch(paddle / "imgs" / "x.jpg")
    (paddle / "label.txt").write_text(det_line("imgs/x.jpg", []))
    assert len(load_det_dataset(paddle)) == 1
    with pytest.raises(LabelError, match="no ICDAR GT folder"):
        load_det_dataset(paddle / "imgs")
    with pytest.raises(LabelError, match="no such file"):
        load_det_dataset(tmp_path / "absent")


def test_load_rec_dataset_autodetect(tmp_path):
    rec_dir(tmp_path)
    (tmp_path / "gt.txt").write_text("word_1.png a\n")
    assert [s.text for s in load_rec_dataset(tmp_path)] == ["a"]
    (tmp_path / "rec_gt_test.txt").write_text("word_1.png\tb\nword_2.png\tc\n")
    assert [s.text for s in load_rec_dataset(tmp_path)] == ["b", "c"]
    (tmp_path / "gt_space_separated.txt").write_text("images/word_3.png d e\n")
    assert [s.text for s in load_rec_dataset(tmp_path)] == ["d e"]
    assert [s.text for s in load_rec_dataset(tmp_path / "rec_gt_test.txt")] == ["b", "c"]
    with pytest.raises(LabelError, match="no gt_space_separated.txt"):
        load_rec_dataset(tmp_path / "notes")


def test_not_utf8(tmp_path):
    label = tmp_path / "labels.txt"
    label.write_bytes(b"w.png\t\xff\xfe\n")
    with pytest.raises(LabelError, match="not UTF-8"):
        read_paddle_rec_labels(label)


# ---------------------------------------------------------------- odd inputs


def test_icdar_two_images_with_the_stem_of_a_gt_file_are_named_not_picked(tmp_path):
    images, gt = ic15_dir(tmp_path, {1: GOOD_GT, 2: GOOD_GT})
    touch(images / "img_1.png")
    touch(images / "img_3.png")  # no GT file: not evaluated, not a problem
    both = f"{images / 'img_1.jpg'}, {images / 'img_1.png'}"
    with pytest.raises(LabelError) as exc:
        read_icdar_gt_dir(images, gt)
    assert str(exc.value) == f"{gt / 'gt_img_1.txt'}: image img_1.* is ambiguous: {both}"
    samples = read_icdar_gt_dir(images, gt, on_error="skip")
    assert [s.image.name for s in samples] == ["img_2.jpg"]
    assert samples.warnings == [str(exc.value)]


def test_icdar_line_over_the_line_limit_is_a_bad_line(tmp_path, monkeypatch):
    monkeypatch.setattr("slimocr.eval.readers.MAX_LABEL_LINE_CHARS", 40)
    images, gt = ic15_dir(tmp_path, {1: "1,2,3,4,5,6,7,8,ok\n1,2,3,4,5,6,7,8," + "x" * 40 + "\n"})
    too_long = r"gt_img_1.txt:2: line too long \(56 characters; limit 40\)"
    with pytest.raises(LabelError, match=too_long):
        read_icdar_gt_dir(images, gt)
    assert read_icdar_gt_dir(images, gt, on_error="skip")[0].texts == ["ok"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("9" * 400, "coordinate '9999999999999999999... is out of range (limit 1e+09)"),
        ("-1e999", "coordinate '-1e999' is out of range (limit 1e+09)"),
        ("-Infinity", "coordinate '-Infinity' is not finite"),
        ("y" * 5000, "coordinate 'yyyyyyyyyyyyyyyyyyy... is not a number"),
    ],
)
def test_icdar_odd_coordinates_are_one_short_error(tmp_path, value, message):
    images, gt = ic15_dir(tmp_path, {1: f"1,2,{value},4,5,6,7,8,a\n"})
    with pytest.raises(LabelError) as exc:
        read_icdar_gt_dir(images, gt)
    assert str(exc.value) == f"{gt / 'gt_img_1.txt'}:1: {message}"


def test_paddle_det_integer_of_thousands_of_digits_is_a_bad_line(tmp_path):
    touch(tmp_path / "a.jpg")
    box = '{"transcription": "x", "points": [[' + "9" * 5000 + ", 0], [1, 0], [1, 1]]}"
    label = tmp_path / "det.txt"
    label.write_text(f"a.jpg\t[{box}]\n" + det_line("a.jpg", []))
    with pytest.raises(LabelError, match=r"det.txt:1: invalid JSON \(Exceeds the limit \(4300"):
        read_paddle_det_labels(label)
    samples = read_paddle_det_labels(label, on_error="skip")
    assert len(samples) == 1 and len(samples.warnings) == 1
