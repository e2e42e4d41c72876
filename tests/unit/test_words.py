"""Word boxes from CTC frames: runs, centres, grouping at spaces, mapping onto the quad."""

from __future__ import annotations

import numpy as np
import pytest

from slimocr.infer.words import char_positions, frame_runs, word_quads, word_spans


def test_runs_of_one_class_are_one_character() -> None:
    ids = np.array([0, 2, 2, 0, 2, 3, 3, 3, 0])
    assert frame_runs(ids) == [(2, 1, 2), (2, 4, 4), (3, 5, 7)]


def test_centres_scale_from_frames_to_crop_pixels() -> None:
    # 10 frames over a 100 px input whose first 50 px hold a 25 px wide crop
    ids = np.array([1, 0, 0, 0, 2, 0, 0, 0, 0, 0])
    chars = char_positions(ids, ["a", "b"], input_width=100, resized_width=50, crop_width=25)
    assert chars == [("a", pytest.approx(2.5)), ("b", pytest.approx(22.5))]


def test_words_split_at_spaces_and_reach_half_a_pitch_beyond_their_centres() -> None:
    chars = [("a", 10.0), ("b", 20.0), (" ", 30.0), ("c", 40.0), ("d", 50.0)]
    assert word_spans(chars, 100) == [("ab", 5.0, 25.0), ("cd", 35.0, 55.0)]
    assert word_spans([], 100) == []


def test_wide_characters_are_words_of_their_own() -> None:
    chars = [("价", 10.0), ("格", 20.0), ("1", 30.0), ("2", 40.0)]
    assert word_spans(chars, 100) == [("价", 5.0, 15.0), ("格", 15.0, 25.0), ("12", 25.0, 45.0)]


def test_quads_follow_the_line_box_upright_turned_and_vertical() -> None:
    box = np.array([[100, 50], [300, 50], [300, 90], [100, 90]], dtype=float)
    spans = [("w", 50.0, 100.0)]  # the second quarter of a 200 px crop
    ((_, quad),) = word_quads(spans, box, 200)
    assert np.allclose(quad, [[150, 50], [200, 50], [200, 90], [150, 90]])
    # turned by 180°: x runs from the right end, the top is the box's bottom edge
    ((_, quad),) = word_quads(spans, box, 200, turned=True)
    assert np.allclose(quad, [[250, 90], [200, 90], [200, 50], [250, 50]])
    # a tall box read as vertical text: x runs down the right edge
    tall = np.array([[0, 0], [40, 0], [40, 200], [0, 200]], dtype=float)
    ((_, quad),) = word_quads(spans, tall, 200, vertical=True)
    assert np.allclose(quad, [[40, 50], [40, 100], [0, 100], [0, 50]])
