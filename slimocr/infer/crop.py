"""Reading order of detected boxes and perspective crops of text lines (PaddleOCR's system path)."""

from __future__ import annotations

import cv2
import numpy as np

LINE_Y_TOLERANCE = 10.0
ROTATE_RATIO = 1.5


def sorted_boxes(boxes: np.ndarray | list[np.ndarray]) -> list[np.ndarray]:
    """Sort boxes top-to-bottom, then left-to-right within a line.

    Boxes are sorted by the (y, x) of their first (top-left) corner; then a box whose top-left
    y is within 10 px of its predecessor's but lies to its left is moved before it, repeatedly
    (so a whole line of boxes ends up left to right), as PaddleOCR's ``sorted_boxes`` does.

    Args:
        boxes: (N, 4, 2) corners, ``[tl, tr, br, bl]``.

    Returns:
        The boxes in reading order (a list of (4, 2) arrays).
    """
    ordered = sorted(list(boxes), key=lambda b: (b[0][1], b[0][0]))
    for i in range(len(ordered) - 1):
        for j in range(i, -1, -1):
            cur, nxt = ordered[j], ordered[j + 1]
            if abs(nxt[0][1] - cur[0][1]) < LINE_Y_TOLERANCE and nxt[0][0] < cur[0][0]:
                ordered[j], ordered[j + 1] = nxt, cur
            else:
                break
    return ordered


def line_turn(box: np.ndarray, turned: bool) -> int:
    """How far (degrees clockwise: 0, 90, 180 or 270) a line's text is turned in the image,
    from its shape and the orientation classifier: :func:`crop_quad` turns a vertical crop 90°
    counter-clockwise, which makes text turned 90° clockwise upright (270° when the classifier
    then finds it upside down)."""
    return (90 if is_vertical_crop(box) else 0) + (180 if turned else 0)


def page_turn(boxes: list[np.ndarray], turned: list[bool]) -> int:
    """The turn most lines share (:func:`line_turn`), 0 on a tie with 0 or without lines: how
    far the page was turned clockwise before it was photographed or scanned."""
    votes = [0, 0, 0, 0]
    for box, turn in zip(boxes, turned, strict=True):
        votes[line_turn(box, turn) // 90] += 1
    best = max(range(4), key=lambda i: (votes[i], i == 0))
    return 90 * best if votes[best] > votes[0] else 0


def page_reading_order(boxes: list[np.ndarray], turn: int, height: int, width: int) -> list[int]:
    """The reading order (indices into ``boxes``) of a page turned ``turn`` degrees clockwise
    in an ``height`` × ``width`` image: :func:`sorted_boxes` of the boxes as they lie on the
    upright page. The boxes themselves stay in image pixels."""
    if turn == 0 or not boxes:
        return list(range(len(boxes)))
    upright = []
    for box in boxes:
        x, y = np.asarray(box, dtype=np.float64).reshape(4, 2).T
        if turn == 90:  # the upright page's point (u, v) lies at (width - v, u)
            u, v = y, width - x
        elif turn == 180:
            u, v = width - x, height - y
        else:
            u, v = height - y, x
        pts = np.stack([u, v], axis=1)
        tl = int(np.argmin(pts.sum(axis=1)))  # the corner nearest the page's top left first
        upright.append(np.roll(pts, -tl, axis=0))
    index = {id(b): i for i, b in enumerate(upright)}
    return [index[id(b)] for b in sorted_boxes(upright)]


def _crop_size(pts: np.ndarray) -> tuple[int, int]:
    width = int(max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[2] - pts[3])))
    height = int(max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2])))
    return max(width, 1), max(height, 1)


def is_vertical_crop(box: np.ndarray) -> bool:
    """Whether :func:`crop_quad` rotates this box's crop by 90° (vertical text)."""
    width, height = _crop_size(np.asarray(box, dtype=np.float32).reshape(4, 2))
    return height / float(width) >= ROTATE_RATIO


def crop_quad(img: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Cut out a quadrilateral text region and warp it to an upright rectangle.

    The output is as wide as the longer of the top/bottom edges and as high as the longer of
    the left/right edges (each truncated to an int); pixels are sampled bicubically with
    replicated borders. A result at least 1.5 times taller than wide is taken as vertical text
    and rotated 90° counter-clockwise (``np.rot90``).

    Args:
        img: H×W×C image.
        box: (4, 2) corners ``[tl, tr, br, bl]`` in image pixels.

    Returns:
        The crop, a new C-contiguous array.
    """
    pts = np.asarray(box, dtype=np.float32).reshape(4, 2)
    width, height = _crop_size(pts)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(pts, target)
    crop = cv2.warpPerspective(
        img, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    if crop.shape[0] / float(crop.shape[1]) >= ROTATE_RATIO:
        crop = np.ascontiguousarray(np.rot90(crop))
    return crop
