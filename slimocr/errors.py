"""Errors that SlimOCR raises for bad input.

Every error names the input it is about (a file, a line, a model) so that a command can print one
clear line and go on with the rest of its inputs.
"""

from __future__ import annotations


class SlimOCRError(Exception):
    """Base class of the errors that mean "this input is bad", never "the code is broken".

    Its text is one line: control characters in it (a newline in a file name) are escaped.
    """

    def __str__(self) -> str:
        from slimocr.inputs import printable

        return printable(super().__str__())


class ImageReadError(SlimOCRError):
    """An image file is missing, empty, corrupt, a directory, too small or too large."""


class ModelFileError(SlimOCRError):
    """A model file is missing, truncated, tampered with (sha256) or not the expected model."""


class LabelError(SlimOCRError):
    """A label file or one of its lines is malformed (the message names file and line)."""


class ConfigError(SlimOCRError):
    """A recipe or config is invalid (unknown key, wrong type)."""


class OptionError(SlimOCRError, ValueError):
    """An option is out of range (threads, size limits, thresholds, batch size); also a
    ``ValueError``, as it was before it had its own class."""


class Interrupted(SlimOCRError):
    """A long job stopped by Ctrl-C after saving what it had done; the message says where and
    how to go on. The command line exits with 130 on it."""
