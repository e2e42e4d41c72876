"""Pre/post-processing of the inference path on hand-made inputs with hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest

from slimocr.infer.crop import crop_quad, page_reading_order, page_turn, sorted_boxes
from slimocr.infer.det import DetPreprocess
from slimocr.infer.rec import resize_norm_img
from slimocr.postprocess.ctc import ctc_greedy_decode
from slimocr.postprocess.db import DBPostProcess, get_mini_box, order_points_clockwise

# ----------------------------------------------------------------------------- DB


def _rect_map(value: float = 0.9) -> np.ndarray:
    prob = np.zeros((100, 200), dtype=np.float32)
    prob[40:60, 50:150] = value  # rows 40..59, cols 50..149
    return prob


def test_db_one_rectangle_unclipped() -> None:
    # Contour rectangle: x 50..149, y 40..59 -> 99 x 19, area 1881, perimeter 236.
    # Unclip distance = 1881 * 1.5 / 236 = 11.955 -> x 38.04..160.96, y 28.04..70.96,
    # rounded by pyclipper to 38..161 and 28..71.
    boxes, scores = DBPostProcess()(_rect_map(), 100, 200)
    assert boxes.shape == (1, 4, 2) and boxes.dtype == np.float32
    expected = [[38, 28], [161, 28], [161, 71], [38, 71]]
    assert boxes[0].tolist() == expected
    assert scores == pytest.approx([0.9])


def test_db_scales_to_source_size() -> None:
    boxes, _ = DBPostProcess()(_rect_map(), 200, 400)  # source twice the map size
    assert boxes[0].tolist() == [[76, 56], [322, 56], [322, 142], [76, 142]]


def test_db_accepts_model_output_shape() -> None:
    boxes, _ = DBPostProcess()(_rect_map()[None, None], 100, 200)
    assert boxes.shape == (1, 4, 2)


def test_db_tiny_blob_filtered() -> None:
    prob = _rect_map()
    prob[80:83, 10:13] = 0.9  # 3x3 pixels: min-area rect side 2 < min_size 3
    boxes, _ = DBPostProcess()(prob, 100, 200)
    assert len(boxes) == 1
    empty = np.zeros((100, 200), dtype=np.float32)
    empty[80:83, 10:13] = 0.9
    boxes, scores = DBPostProcess()(empty, 100, 200)
    assert boxes.shape == (0, 4, 2) and scores.shape == (0,)


def test_db_box_thresh() -> None:
    weak = _rect_map(0.5)  # above thresh 0.3, below box_thresh 0.6
    assert len(DBPostProcess()(weak, 100, 200)[0]) == 0
    boxes, scores = DBPostProcess(box_thresh=0.4)(weak, 100, 200)
    assert len(boxes) == 1 and scores[0] == pytest.approx(0.5)
    assert len(DBPostProcess(thresh=0.6)(_rect_map(0.5), 100, 200)[0]) == 0


def test_db_box_at_edge_is_clipped() -> None:
    prob = np.zeros((100, 200), dtype=np.float32)
    prob[0:20, 150:200] = 0.9
    boxes, _ = DBPostProcess()(prob, 100, 200)
    assert boxes[0].tolist() == [[140, 0], [199, 0], [199, 29], [140, 29]]


def test_db_slow_score_and_options() -> None:
    boxes, scores = DBPostProcess(score_mode="slow")(_rect_map(), 100, 200)
    assert scores == pytest.approx([0.9])
    assert boxes[0].tolist() == [[38, 28], [161, 28], [161, 71], [38, 71]]
    assert len(DBPostProcess(use_dilation=True)(_rect_map(), 100, 200)[0]) == 1
    assert len(DBPostProcess(unclip_ratio=1.5, max_candidates=0)(_rect_map(), 100, 200)[0]) == 0
    with pytest.raises(ValueError):
        DBPostProcess(score_mode="medium")


def test_mini_box_order_and_clockwise() -> None:
    pts = np.array([[[10, 10]], [[50, 20]], [[45, 40]], [[5, 30]]], dtype=np.int32)
    box, short = get_mini_box(pts)
    assert box.shape == (4, 2) and short > 0
    tl, tr, br, bl = box
    assert tl[0] < tr[0] and bl[0] < br[0] and tl[1] < bl[1] and tr[1] < br[1]
    shuffled = np.array([[30, 40], [10, 10], [10, 40], [30, 10]], dtype=np.float32)
    assert order_points_clockwise(shuffled).tolist() == [[10, 10], [30, 10], [30, 40], [10, 40]]
    rotated = np.array([[20, 10], [50, 25], [40, 45], [10, 30]], dtype=np.float32)
    assert order_points_clockwise(rotated[[2, 0, 3, 1]]).tolist() == rotated.tolist()


def test_order_points_45_degree_tie() -> None:
    # x + y and y - x both tie: the sum/diff rule would return (525, 127) twice.
    diamond = np.array([[523, 103], [536, 116], [525, 127], [512, 114]], dtype=np.float32)
    ordered = order_points_clockwise(diamond)
    assert ordered.tolist() == [[523, 103], [536, 116], [525, 127], [512, 114]]
    # Here only x + y ties and the sum/diff rule still gives a proper cycle: kept as it is.
    square = np.array([[0, 10], [10, 0], [20, 10], [10, 20]], dtype=np.float32)
    assert order_points_clockwise(square).tolist() == square.tolist()


# ----------------------------------------------------------------------------- CTC


def test_ctc_repeats_and_blanks() -> None:
    charset = ["a", "b", "c"]
    # frames:        a    a    -    a    b    b    -
    best = [1, 1, 0, 1, 2, 2, 0]
    conf = [0.9, 0.8, 0.99, 0.7, 0.6, 0.95, 0.5]
    probs = np.full((1, len(best), 4), 0.01, dtype=np.float32)
    for t, (c, p) in enumerate(zip(best, conf, strict=True)):
        probs[0, t, c] = p
    [(text, score)] = ctc_greedy_decode(probs, charset)
    assert text == "aab"
    assert score == pytest.approx((0.9 + 0.7 + 0.6) / 3, rel=1e-6)


def test_ctc_batch_and_empty() -> None:
    probs = np.zeros((2, 3, 3), dtype=np.float32)
    probs[0, :, 0] = 1.0  # all blank
    probs[1, 0, 2] = 0.8
    probs[1, 1, 0] = 0.6
    probs[1, 2, 1] = 0.4
    assert ctc_greedy_decode(probs, ["x", "y"]) == [("", 0.0), ("yx", pytest.approx(0.6))]


def test_ctc_charset_too_small() -> None:
    with pytest.raises(ValueError, match="charset"):
        ctc_greedy_decode(np.zeros((1, 2, 10), dtype=np.float32), ["a"])


# ----------------------------------------------------------------------------- ordering, crops


def _box(x: float, y: float, w: float = 40, h: float = 20) -> np.ndarray:
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float32)


def test_sorted_boxes_reading_order() -> None:
    boxes = np.stack([_box(300, 100), _box(50, 105), _box(500, 103), _box(400, 10)])
    order = [(int(b[0][0]), int(b[0][1])) for b in sorted_boxes(boxes)]
    # y=10 first; then the line around y=100 from left to right, although its tops differ.
    assert order == [(400, 10), (50, 105), (300, 100), (500, 103)]


def test_sorted_boxes_separate_lines() -> None:
    boxes = np.stack([_box(10, 80), _box(300, 50), _box(200, 50)])
    order = [(int(b[0][0]), int(b[0][1])) for b in sorted_boxes(boxes)]
    assert order == [(200, 50), (300, 50), (10, 80)]
    assert sorted_boxes(np.zeros((0, 4, 2), np.float32)) == []


def _turned(boxes: list[np.ndarray], turn: int, h: int, w: int) -> list[np.ndarray]:
    """The boxes of an h×w page after cv2.rotate by ``turn`` degrees clockwise, each
    [tl, tr, br, bl] as the detector gives them in the turned image."""
    out = []
    for box in boxes:
        x, y = box[:, 0], box[:, 1]
        pts = {
            90: np.stack([h - y, x], 1),
            180: np.stack([w - x, h - y], 1),
            270: np.stack([y, w - x], 1),
        }[turn]
        xs, ys = pts[:, 0], pts[:, 1]
        box = [
            [xs.min(), ys.min()],
            [xs.max(), ys.min()],
            [xs.max(), ys.max()],
            [xs.min(), ys.max()],
        ]
        out.append(np.array(box, np.float32))
    return out


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_a_turned_page_is_read_in_its_own_order(turn: int) -> None:
    # two lines of two words and a last line, on a 400 x 600 page
    page = [_box(50, 40, 200, 30), _box(300, 42, 150, 30), _box(50, 120, 120, 30)]
    page += [_box(200, 118, 220, 30), _box(50, 200, 300, 30)]
    boxes = _turned(page, turn, 400, 600)
    h, w = (600, 400) if turn in (90, 270) else (400, 600)
    # a sideways page makes the crops vertical; the classifier turns them once more for 270
    # (text on its back after the crop's 90° turn) and for 180 (upside down)
    turned = [turn in (180, 270)] * len(boxes)
    assert page_turn(boxes, turned) == turn
    shuffled = [boxes[i] for i in (3, 0, 4, 2, 1)]
    order = page_reading_order(shuffled, turn, h, w)
    assert [(3, 0, 4, 2, 1)[i] for i in order] == [0, 1, 2, 3, 4]


def test_an_upright_page_keeps_the_usual_order_and_a_minority_does_not_turn_it() -> None:
    boxes = [_box(50, 40, 200, 30), _box(50, 120, 120, 30), _box(500, 10, 30, 120)]
    assert page_turn(boxes, [False, False, False]) == 0  # one vertical label among lines
    assert page_turn(boxes, [True, False, False]) == 0  # a tie with 0 stays 0
    assert page_turn([], []) == 0
    assert page_reading_order(boxes, 0, 400, 600) == [0, 1, 2]


def test_crop_axis_aligned_is_exact() -> None:
    img = np.random.default_rng(0).integers(0, 255, (120, 200, 3), dtype=np.uint8)
    crop = crop_quad(img, _box(10, 20, 100, 30))
    assert crop.shape == (30, 100, 3)
    assert np.abs(crop.astype(int) - img[20:50, 10:110].astype(int)).max() <= 1


def test_crop_tall_region_is_rotated() -> None:
    img = np.zeros((200, 200, 3), dtype=np.uint8)
    img[50:100, 80:100] = (0, 0, 255)  # top half of the strip red
    img[100:150, 80:100] = (255, 0, 0)  # bottom half blue
    crop = crop_quad(img, _box(80, 50, 20, 100))
    assert crop.shape == (20, 100, 3)  # 100 high x 20 wide -> rotated to 20 x 100
    assert crop.flags["C_CONTIGUOUS"]
    # np.rot90 turns counter-clockwise: the top of the strip ends up on the left.
    assert (crop[:, :45, 2] == 255).all() and (crop[:, :45, 0] == 0).all()
    assert (crop[:, 55:, 0] == 255).all() and (crop[:, 55:, 2] == 0).all()
    short = crop_quad(img, _box(80, 50, 20, 29))  # ratio 1.45 < 1.5: not rotated
    assert short.shape == (29, 20, 3)


# ----------------------------------------------------------------------------- preprocessing


@pytest.mark.parametrize(
    ("limit", "kind", "hw", "expected"),
    [
        (960, "max", (720, 1280), (544, 960)),  # ratio .75: 540 -> 544 (round to 32)
        (960, "max", (300, 500), (288, 512)),  # no scaling; 300 -> 288, 500 -> 512
        (960, "max", (10, 10), (32, 32)),  # at least 32
        (736, "min", (300, 500), (736, 1216)),  # ratio 2.4533: 1226 -> 1216
        (960, "resize_long", (300, 500), (576, 960)),
        (960, "max", (720, 1296), (544, 960)),  # ratio .7407: 533.3 -> int 533 -> 544
    ],
)
def test_det_resize_sizes(
    limit: int, kind: str, hw: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert DetPreprocess(limit, kind).target_size(*hw) == expected


def test_det_preprocess_normalizes() -> None:
    img = np.full((64, 96, 3), 255, dtype=np.uint8)
    x = DetPreprocess()(img)
    assert x.shape == (1, 3, 64, 96) and x.dtype == np.float32
    expected = (1.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    assert x[0, :, 0, 0] == pytest.approx(expected, rel=1e-5)
    tiny = DetPreprocess()(np.full((10, 20, 3), 255, dtype=np.uint8))
    assert tiny.shape == (1, 3, 32, 32)  # padded (h + w < 64), then resized
    assert tiny[0, 0, 0, 0] > 0 and tiny[0, 0, -1, -1] < 0  # white image, black padding
    with pytest.raises(ValueError):
        DetPreprocess(960, "middle")


def test_det_normalize_table_equals_direct_formula() -> None:
    img = np.random.default_rng(3).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
    std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
    direct = (img.astype(np.float32) * np.float32(1 / 255) - mean) / std
    got = DetPreprocess.normalize(img)
    assert got.shape == (1, 3, 37, 53) and got.flags.c_contiguous
    np.testing.assert_array_equal(got[0], direct.transpose(2, 0, 1))  # bit for bit
    as_float = DetPreprocess.normalize(img.astype(np.float32))
    np.testing.assert_array_equal(as_float, got)


def test_rec_resize_norm_pads_right() -> None:
    crop = np.full((16, 32, 3), 255, dtype=np.uint8)  # ratio 2 -> 64 px wide at h=32
    x, width = resize_norm_img(crop, 32, 320)
    assert x.shape == (3, 32, 320) and width == 64
    assert (x[:, :, :64] == 1.0).all() and (x[:, :, 64:] == 0.0).all()
    long_crop = np.zeros((10, 2000, 3), dtype=np.uint8)
    x, width = resize_norm_img(long_crop, 32, 320)
    assert width == 320 and (x == -1.0).all()
