"""The bad-input corpus, built once per module for the fuzz tests of every entry point."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fuzz.corpus import Corpus, build_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    from slimocr.zoo.registry import resolve_model

    c = build_corpus(tmp_path_factory.mktemp("fuzz"), resolve_model(None, "det"))
    yield c
    c.close()
