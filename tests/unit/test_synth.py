"""Tests of the synthetic OCR data generator and the font finder."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from slimocr.errors import ConfigError
from slimocr.toolkit.data import fonts
from slimocr.toolkit.data.synth import (
    SynthConfig,
    _pools,
    make_det_image,
    make_rec_crop,
    render_line,
    synth_main,
    write_det_dataset,
    write_rec_dataset,
)

CLEAN = {"noise_prob": 0.0, "blur_prob": 0.0}


def _cjk_font() -> Path:
    found = fonts.find_fonts("cjk")
    if not found:
        pytest.skip("no CJK font installed (apt-get install fonts-wqy-microhei)")
    return found[0]


def _langs() -> list[str]:
    return ["en", "mix"] if fonts.find_fonts("cjk") else ["en"]


def _read_labels(label_file: Path) -> list[tuple[str, str]]:
    rows = []
    for line in label_file.read_text(encoding="utf-8").splitlines():
        path, sep, rest = line.partition("\t")
        assert sep == "\t" and path.startswith("images/") and rest, line
        assert (label_file.parent / path).is_file()
        rows.append((path, rest))
    return rows


def _signed_area(pts: np.ndarray) -> float:
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def _dir_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize("kind", ["det", "rec"])
def test_same_seed_gives_identical_files(tmp_path: Path, kind: str) -> None:
    lang = _langs()[-1]
    cfg = SynthConfig(seed=7, lang=lang, det_size=(256, 192))
    write = write_det_dataset if kind == "det" else write_rec_dataset
    write(tmp_path / "a", 6, cfg)
    write(tmp_path / "b", 6, cfg)
    write(tmp_path / "c", 6, SynthConfig(seed=8, lang=lang, det_size=(256, 192)))
    a, b, c = (_dir_bytes(tmp_path / d) for d in "abc")
    assert len(a) == 7 and a == b
    assert a["label.txt"] != c["label.txt"]


def test_sample_depends_only_on_seed_and_index(tmp_path: Path) -> None:
    cfg = SynthConfig(seed=3)
    write_rec_dataset(tmp_path / "small", 3, cfg)
    write_rec_dataset(tmp_path / "big", 5, cfg)
    small, big = _dir_bytes(tmp_path / "small"), _dir_bytes(tmp_path / "big")
    assert all(big[k] == v for k, v in small.items() if k != "label.txt")


@pytest.mark.parametrize("lang", _langs())
def test_det_polygons_are_inside_ordered_disjoint_and_cover_the_text(lang: str) -> None:
    cfg = SynthConfig(seed=0, lang=lang, **CLEAN)
    width, height = cfg.det_size
    n_lines = 0
    for i in range(8):
        img, labels = make_det_image(np.random.default_rng(i), cfg)
        assert img.shape == (height, width, 3) and img.dtype == np.uint8
        assert labels, "every default image has at least one line"
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
        union = np.zeros((height, width), np.uint8)
        for label in labels:
            pts = np.array(label["points"], np.float32)
            assert pts.shape == (4, 2)
            assert (pts >= 0).all() and (pts[:, 0] <= width - 1).all()
            assert (pts[:, 1] <= height - 1).all()
            assert _signed_area(pts) > 0, "clockwise on screen (y down)"
            assert pts[1, 0] > pts[0, 0] and pts[3, 1] > pts[0, 1], "starts at the top-left"
            mask = np.zeros((height, width), np.uint8)
            cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
            assert not (union & mask).any(), "polygons overlap"
            union |= mask
            ring = cv2.dilate(mask, np.ones((7, 7), np.uint8)).astype(bool) & ~mask.astype(bool)
            ref = float(np.median(gray[ring]))
            inside = float(np.abs(gray[mask.astype(bool)] - ref).mean())
            outside = float(np.abs(gray[ring] - ref).mean())
            assert inside > 8.0 and inside > 4 * outside + 2, (label, inside, outside)
            n_lines += 1
        # Nothing that looks like text lies outside the polygons.
        # (a 1-pixel blur spreads an edge over 3 pixels, so look 4 pixels away from each polygon)
        detail = np.abs(gray - cv2.GaussianBlur(gray, (0, 0), 1.0))
        near = cv2.dilate(union, np.ones((9, 9), np.uint8)).astype(bool)
        assert float(detail[~near].max()) < 4.0
    assert n_lines >= 16


def test_labels_parse_and_respect_the_charset(tmp_path: Path) -> None:
    lang = _langs()[-1]
    charset = frozenset("0123456789abcdefghijklmnopqrstuvwxyz.-:年月日中国元 ")
    cfg = SynthConfig(seed=1, lang=lang, charset=charset, det_size=(320, 240))
    det = _read_labels(write_det_dataset(tmp_path / "det", 6, cfg))
    rec = _read_labels(write_rec_dataset(tmp_path / "rec", 30, cfg))
    texts = [t for _, t in rec]
    for path, payload in det:
        items = json.loads(payload)
        assert isinstance(items, list) and items
        img = cv2.imread(str(tmp_path / "det" / path))
        assert img.shape == (240, 320, 3)
        for item in items:
            assert set(item) == {"transcription", "points"}
            assert len(item["points"]) == 4
            texts.append(item["transcription"])
    for text in texts:
        assert text and text == text.strip() and set(text) <= charset, text
    assert any(ch.isdigit() for t in texts for ch in t)


def test_charset_without_any_drawable_character_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="charset"):
        make_rec_crop(np.random.default_rng(0), SynthConfig(charset=frozenset("☃")))


def test_rec_crops_are_tight_lines_of_the_right_height() -> None:
    cfg = SynthConfig(seed=0, rec_height_range=(32, 48))
    for i in range(20):
        img, text = make_rec_crop(np.random.default_rng(i), cfg)
        assert img.dtype == np.uint8 and img.ndim == 3 and 32 <= img.shape[0] <= 48
        assert text and "\t" not in text and "\n" not in text
        assert img.shape[1] >= img.shape[0] * 0.3
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
        assert gray.max() - gray.min() > 60, "text contrasts with the background"


def test_render_line_quad_encloses_the_ink() -> None:
    font = (fonts.find_fonts("latin") or [None])[0]
    img, quad = render_line("Hello 42", font, 30, np.random.default_rng(0), margin=10)
    assert quad.shape == (4, 2) and quad.dtype == np.float32
    np.testing.assert_allclose(quad[0], [10, 10])
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    bg = float(np.median(gray[:5]))
    ink = np.abs(gray - bg) > 40
    ys, xs = np.nonzero(ink)
    assert xs.min() >= quad[:, 0].min() and xs.max() <= quad[:, 0].max()
    assert ys.min() >= quad[:, 1].min() and ys.max() <= quad[:, 1].max()
    assert xs.min() <= quad[:, 0].min() + 2 and ys.max() >= quad[:, 1].max() - 2


def test_cjk_rendering() -> None:
    font = _cjk_font()
    assert fonts.has_glyphs(font, "中文识别")
    img, quad = render_line("中文识别", font, 32, np.random.default_rng(0), margin=6)
    w, h = np.ptp(quad[:, 0]), np.ptp(quad[:, 1])
    assert 4 * 32 * 0.7 < w < 4 * 32 * 1.2 and 32 * 0.6 < h < 32 * 1.2
    cfg = SynthConfig(seed=0, lang="zh")
    texts = [make_rec_crop(np.random.default_rng(i), cfg)[1] for i in range(20)]
    assert sum(any("\u4e00" <= ch <= "\u9fff" for ch in t) for t in texts) >= 10


def test_cjk_check_rejects_latin_only_fonts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    latin = [p for p in fonts.find_fonts("latin") if "DejaVu" in p.name]
    if not latin:
        pytest.skip("no DejaVu font installed")
    shutil.copy(latin[0], tmp_path / latin[0].name)
    monkeypatch.setattr(fonts, "SYSTEM_FONT_DIRS", (tmp_path,))
    monkeypatch.setattr(fonts, "FONT_PACKAGES", ())
    monkeypatch.setattr(fonts, "FC_LIST", None)
    monkeypatch.delenv(fonts.ENV_VAR, raising=False)
    assert fonts.find_fonts("latin") == [tmp_path / latin[0].name]
    assert fonts.find_fonts("cjk") == []


def test_missing_fonts_name_the_package_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fonts, "SYSTEM_FONT_DIRS", (tmp_path,))
    monkeypatch.setattr(fonts, "FONT_PACKAGES", ())
    monkeypatch.setattr(fonts, "FC_LIST", None)
    monkeypatch.delenv(fonts.ENV_VAR, raising=False)
    assert fonts.find_fonts("cjk") == [] and fonts.find_fonts("latin") == []
    with pytest.raises(ConfigError, match="fonts-wqy-microhei") as err:
        fonts.require_fonts("cjk")
    assert "fonts-noto-cjk" in str(err.value)
    with pytest.raises(ConfigError, match="fonts-wqy-microhei"):
        make_rec_crop(np.random.default_rng(0), SynthConfig(lang="zh"))
    # Latin falls back to PIL's built-in font.
    img, text = make_rec_crop(np.random.default_rng(0), SynthConfig(lang="en"))
    assert img.shape[0] >= 32 and text


def test_env_var_adds_a_font_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    font = _cjk_font()
    (tmp_path / "sys").mkdir()
    (tmp_path / "extra").mkdir()
    shutil.copy(font, tmp_path / "extra" / font.name)
    monkeypatch.setattr(fonts, "SYSTEM_FONT_DIRS", (tmp_path / "sys",))
    monkeypatch.setattr(fonts, "FONT_PACKAGES", ())
    monkeypatch.setattr(fonts, "FC_LIST", None)
    monkeypatch.setenv(fonts.ENV_VAR, str(tmp_path / "extra"))
    assert fonts.require_fonts("cjk") == [tmp_path / "extra" / font.name]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lang": "fr"},
        {"seed": -1},
        {"font_size_range": (30, 20)},
        {"noise_prob": 2.0},
        {"det_size": (16, 16)},
        {"max_lines": 0},
    ],
)
def test_bad_config_is_rejected(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        SynthConfig(**kwargs)


def test_synth_main_writes_both_kinds(tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text("\n".join("0123456789$."), encoding="utf-8")
    rec = synth_main("rec", tmp_path / "rec", 5, seed=2, lang="en", charset=keys)
    assert rec == tmp_path / "rec" / "label.txt"
    assert all(set(t) <= set("0123456789$. ") for _, t in _read_labels(rec))
    det = synth_main("det", tmp_path / "det", 2, seed=2, lang="en")
    assert len(_read_labels(det)) == 2
    with pytest.raises(ConfigError):
        synth_main("cls", tmp_path / "x", 1)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        synth_main("rec", tmp_path / "x", 0)


def test_a_placeholder_font_does_not_count_for_a_script(monkeypatch: pytest.MonkeyPatch) -> None:
    # A fallback font draws one box for every character of a block: real ink, not the
    # missing-glyph box, but "中" and "文" alike. Text drawn with it cannot be read.
    font = (fonts.find_fonts("latin") or [None])[0]
    assert fonts.renders_script(font, "latin")
    fonts.renders_script.cache_clear()
    fonts._has_glyph.cache_clear()
    monkeypatch.setattr(
        fonts, "_glyph_bytes", lambda f, ch: b"missing" if ch == fonts._MISSING else b"box"
    )
    try:
        assert fonts.has_glyphs(font, fonts.SAMPLE_TEXT["latin"])  # each glyph looks real...
        assert not fonts.renders_script(font, "latin")  # ...but all are the same
        assert not fonts.renders_script(font, "cjk")
    finally:
        fonts.renders_script.cache_clear()
        fonts._has_glyph.cache_clear()


def test_matplotlibs_last_resort_font_is_not_a_cjk_or_latin_font() -> None:
    mpl = importlib.util.find_spec("matplotlib")
    if mpl is None or mpl.origin is None:
        pytest.skip("matplotlib is not installed")
    last_resort = Path(mpl.origin).parent / "mpl-data/fonts/ttf/LastResortHE-Regular.ttf"
    if not last_resort.is_file():
        pytest.skip("this matplotlib ships no Last Resort font")
    assert fonts.has_glyphs(last_resort, "中文汉字")  # the old test let it through
    assert not fonts.renders_script(last_resort, "cjk")
    assert not fonts.renders_script(last_resort, "latin")
    assert last_resort.resolve() not in {p.resolve() for p in fonts.find_fonts("cjk")}


def test_given_fonts_replace_the_installed_ones(tmp_path: Path) -> None:
    latin = [p for p in fonts.find_fonts("latin") if p.suffix == ".ttf"][:1]
    if not latin:
        pytest.skip("no Latin .ttf font installed")
    cfg = SynthConfig(seed=3, lang="en", fonts=(latin[0],))
    assert _pools(cfg)["en"].fonts == (latin[0],)
    label = synth_main("rec", tmp_path / "a", 3, seed=3, fonts=[str(latin[0])])
    assert len(_read_labels(label)) == 3
    with pytest.raises(ConfigError, match="font file not found: .*nope.ttf"):
        SynthConfig(fonts=(tmp_path / "nope.ttf",))
    with pytest.raises(ConfigError, match="at least one font"):
        SynthConfig(fonts=())
    symbols = tmp_path / "cmsy10.ttf"  # a TeX symbol font's name: never drawn with
    shutil.copy(latin[0], symbols)
    with pytest.raises(ConfigError, match="none of the given fonts renders latin"):
        synth_main("rec", tmp_path / "c", 2, fonts=[symbols])
    with pytest.raises(ValueError, match="unknown script"):
        fonts.renders_script(latin[0], "greek")  # type: ignore[arg-type]
    if not fonts.renders_script(latin[0], "cjk"):
        with pytest.raises(ConfigError, match="none of the given fonts renders cjk"):
            synth_main("rec", tmp_path / "b", 2, lang="zh", fonts=[latin[0]])


def test_cli_font_option(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from slimocr.cli.main import app

    latin = fonts.find_fonts("latin")
    if not latin:
        pytest.skip("no Latin font installed")
    out = tmp_path / "set"
    args = ["synth", "rec", "--out", str(out), "--n", "2", "--font", str(latin[0])]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert len(_read_labels(out / "label.txt")) == 2
    bad = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "missing.ttf")])
    assert bad.exit_code != 0 and "missing.ttf" in bad.output
    assert "Traceback" not in bad.output
