"""Character sets of CTC recognizers.

Index 0 of a recognizer's output is the CTC blank; indices 1..N are the characters of the charset
file in order; PP-OCR's Chinese models then add a space as the last class.
"""

from __future__ import annotations

import json
from pathlib import Path

from slimocr.errors import LabelError


def load_charset(path: str | Path, use_space: bool = True) -> list[str]:
    """Read a charset file (one character a line) into the list of output classes after the blank.

    Args:
        path: the charset file, UTF-8, one character per line.
        use_space: append a space as the last class (PP-OCR's ``use_space_char``).

    Returns:
        The characters, without the blank (which is class 0).

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "keys.txt")
    >>> _ = open(p, "w", encoding="utf-8").write("a\\nb\\n")
    >>> load_charset(p)
    ['a', 'b', ' ']
    """
    from slimocr.inputs import MAX_LABEL_BYTES, read_regular_file

    path = Path(path)
    data = read_regular_file(path, "charset", MAX_LABEL_BYTES, LabelError)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LabelError(f"{path}: cannot read charset file ({exc})") from None
    chars = [line.rstrip("\r\n") for line in text.splitlines()]
    for lineno, ch in enumerate(chars, 1):
        if len(ch) != 1:
            raise LabelError(f"{path}:{lineno}: expected one character per line, got {ch!r}")
    if not chars:
        raise LabelError(f"{path}: charset file is empty")
    if use_space:
        chars.append(" ")
    return chars


def charset_from_character(character: str, num_classes: int | None = None) -> list[str]:
    """The charset of a RapidOCR-style ``character`` metadata entry (newline-joined, no space).

    Args:
        character: the metadata value.
        num_classes: the model's output classes, when known; a space class is appended when
            they are one more than the characters plus the blank (PP-OCR's ``use_space_char``).

    >>> charset_from_character("a\\nb", num_classes=4)
    ['a', 'b', ' ']
    """
    chars = character.splitlines()
    if num_classes == len(chars) + 2:
        chars.append(" ")
    return chars


def charset_to_json(chars: list[str]) -> str:
    """Serialise a charset for an ONNX metadata entry."""
    return json.dumps(chars, ensure_ascii=False)


def charset_from_json(text: str) -> list[str]:
    """Inverse of :func:`charset_to_json`."""
    from slimocr.inputs import MAX_JSON_DEPTH, json_depth

    if json_depth(text) > MAX_JSON_DEPTH:
        raise LabelError(f"charset metadata nests deeper than {MAX_JSON_DEPTH} levels")
    chars = json.loads(text)
    if not isinstance(chars, list) or not all(isinstance(c, str) for c in chars):
        raise LabelError("charset metadata is not a JSON list of strings")
    return chars
