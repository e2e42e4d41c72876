"""The generated tables of README.md and docs/ equal what the generator makes from the committed
records and benchmark report; the README's test command is the one CI runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from slimocr.bench import docs

ROOT = Path(__file__).parents[2]


def test_committed_pages_equal_the_generator_output():
    assert ROOT / "README.md" in docs.pages(ROOT)
    stale = docs.regenerate(ROOT, check=True)
    assert not stale, f"out of date: {stale}; run python -m slimocr.bench.docs"


def test_readme_carries_the_zoo_table_and_stays_short():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "<!-- zoo-table:start -->" in text
    assert len(text.encode()) <= docs.README_BYTES


def test_readme_test_command_is_the_one_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = [ln for ln in ci.splitlines() if ln.strip() and not ln.startswith("#")][-1]
    assert "pytest" in command
    assert command in (ROOT / "README.md").read_text(encoding="utf-8")


def _tree(tmp_path: Path, report: dict, readme: str) -> Path:
    (tmp_path / "slimocr" / "zoo").mkdir(parents=True)
    (tmp_path / "docs" / "bench").mkdir(parents=True)
    records = {
        "defaults": {"det": "d-small", "rec": "r-small"},
        "pipelines": [
            {"name": "p-float", "det": "d-float", "rec": "r-float", "note": "float (x)"},
            {"name": "p-small", "det": "d-small", "rec": "r-small", "note": "small; more"},
            {"name": "p-new", "det": "d-float", "rec": "r-small", "reference": "peer"},
        ],
        "records": [
            {"name": n, "kind": k, "size_bytes": b, "parent": parent}
            for n, k, b, parent in (
                ("d-float", "det", 2_000_000, None),
                ("r-float", "rec", 8_000_000, None),
                ("d-small", "det", 500_000, "d-float"),
                ("r-small", "rec", 2_000_000, "r-float"),
            )
        ],
    }
    (tmp_path / "slimocr" / "zoo" / "records.json").write_text(json.dumps(records))
    (tmp_path / "docs" / "bench" / "bench.json").write_text(json.dumps(report))
    (tmp_path / "README.md").write_text(readme, encoding="utf-8")
    return tmp_path


README = "# x\n\n<!-- zoo-table:start -->\n<!-- zoo-table:end -->\n\nend\n"
MACHINE = {"cpu": "Test CPU", "logical_cpus": 2, "onnxruntime": "1.0"}
SETTINGS = {"threads": 2, "repeats": 3, "timing_images": 5, "timing_crops": 6}


def _row(name: str, e2e: float, speedup: float, mb: float, **extra) -> dict:
    return {"name": name, "e2e_ms": e2e, "speedup_e2e": speedup, "size_mb": mb, **extra}


def _full_row(name: str, e2e: float, mb: float, ref: str, bar: bool) -> dict:
    """A row as ``slimocr bench`` writes it with per-domain accuracy."""
    cmp = {"kind": "det", "domain": "ic15", "labelled": True, "delta_hmean": -0.2, "meets_bar": bar}
    return {
        **_row(name, e2e, 80.0 / e2e, mb),
        "settings": {},
        "reference": ref,
        "det_ms": e2e / 2,
        "rec_ms_per_crop": 3.0,
        "e2e_words_per_image": 2.0,
        "det_mb": 0.5,
        "rec_mb": 2.0,
        "compression": 4.0,
        "domains": {"det": {"ic15": {"hmean": 0.42}}, "rec": {}},
        "fidelity": [cmp],
        "meets_accuracy_bar": bar,
        "meets_floor": bar,
    }


def test_old_report_format_gives_dashes_for_the_bar(tmp_path):
    report = {
        "machine": MACHINE,
        "settings": {"threads": 2},
        "rows": [
            _row("p-float", 80.0, 1.0, 10.0, meets_accuracy_bar=True),
            _row("p-small", 40.0, 2.0, 2.5, meets_accuracy_bar=True),
        ],
        "default_pick": {"pipeline": "p-small"},
    }
    root = _tree(tmp_path, report, README)
    assert docs.main(["--root", str(root)]) == 0
    text = (root / "README.md").read_text(encoding="utf-8")
    assert "| p-float | float | 80.0 | 1.00× | 10.00 | – |" in text
    assert "| **p-small** (default) | small | 40.0 | 2.00× | 2.50 | – |" in text
    # a pipeline the report does not hold: size from the records, no timing
    assert "| p-new |  | – | – | 4.00 | – |" in text
    assert "Test CPU (CPU flags not recorded)" in text
    assert text.startswith("# x\n\n") and text.endswith("\n\nend\n")
    assert docs.main(["--root", str(root), "--check"]) == 0


def test_new_report_format_marks_the_bar_and_the_reference(tmp_path):
    report = {
        "machine": {**MACHINE, "cpu_flags": ["avx2", "avx512_vnni"]},
        "settings": SETTINGS,
        "rows": [
            _full_row("p-float", 80.0, 10.0, "p-float", True),
            _full_row("p-small", 40.0, 2.6, "p-float", False),
            _full_row("p-new", 64.0, 4.0, "peer", True),
        ],
        "default_pick": None,
    }
    root = _tree(tmp_path, report, README)
    docs.regenerate(root)
    text = (root / "README.md").read_text(encoding="utf-8")
    assert "| p-float | float | 80.0 | 1.00× | 10.00 | ✓ |" in text
    # the report measured 2.6 MB, the records say 2.5: the file changed since
    assert "| **p-small** (default) | small | 40.0 | 2.00× | 2.50 † | ✗ |" in text
    assert "| p-new |  | 64.0 | 1.25×¹ | 4.00 | ✓ |" in text
    assert (
        "speed-up against p-float, ¹ against peer" in text
        and "Test CPU (avx2, avx512_vnni)" in text
    )
    assert "pick: none" in text
    assert docs.pick_note(docs.Sources.load(root)) == ""


def test_a_pick_that_is_not_the_default_is_noted(tmp_path, capsys):
    report = {"machine": MACHINE, "settings": {}, "rows": [_row("p-float", 80.0, 1.0, 10.0)]}
    report["default_pick"] = {"pipeline": "p-float", "det": "d-float", "rec": "r-float"}
    root = _tree(tmp_path, report, README)
    assert docs.main(["--root", str(root)]) == 0
    err = capsys.readouterr().err
    assert err.startswith("note: the report picks p-float") and "zoo pick" in err


def test_a_number_edited_by_hand_is_caught_and_rewritten(tmp_path):
    report = {"machine": MACHINE, "settings": {}, "rows": [_row("p-float", 80.0, 1.0, 10.0)]}
    root = _tree(tmp_path, report, README)
    docs.regenerate(root)
    readme = root / "README.md"
    good = readme.read_text(encoding="utf-8")
    readme.write_text(good.replace("80.0", "79.0"), encoding="utf-8")
    assert docs.main(["--root", str(root), "--check"]) == 1
    assert "79.0" in readme.read_text(encoding="utf-8")  # --check writes nothing
    assert docs.main(["--root", str(root)]) == 0
    assert readme.read_text(encoding="utf-8") == good


def test_docs_pages_with_markers_are_rewritten_too(tmp_path):
    report = {"machine": MACHINE, "settings": {}, "rows": []}
    root = _tree(tmp_path, report, "# no tables\n")
    guide = root / "docs" / "guide" / "zoo.md"
    guide.parent.mkdir()
    guide.write_text("<!-- zoo-models:start -->\n<!-- zoo-models:end -->\n", encoding="utf-8")
    assert docs.regenerate(root) == [guide]
    text = guide.read_text(encoding="utf-8")
    assert "| `r-small` (default) | rec | r-float |" in text


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ("<!-- zoo-table:start -->\nno end\n", "no matching"),
        ("<!-- no-such:start -->\n<!-- no-such:end -->\n", "no generated table"),
    ],
)
def test_broken_markers_are_one_error_line(tmp_path, capsys, page, message):
    report = {"machine": MACHINE, "settings": {}, "rows": []}
    root = _tree(tmp_path, report, page)
    assert docs.main(["--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_a_missing_report_is_one_error_line(tmp_path, capsys):
    root = _tree(tmp_path, {}, README)
    shutil.rmtree(root / "docs" / "bench")
    assert docs.main(["--root", str(root)]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_relative_links_of_the_docs_resolve():
    """Every relative link of README.md, CHANGELOG.md and docs/ names a file or folder that
    exists (moved pages leave no dead links behind)."""
    import re

    broken = []
    for page in [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            path = target.split("#")[0]
            if path and not re.match(r"[a-z]+:", path) and not (page.parent / path).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken


def test_bench_md_is_rewritten_from_a_per_domain_report(tmp_path):
    from slimocr.bench.table import to_markdown

    report = {
        "machine": {**MACHINE, "cpu_flags": []},
        "settings": SETTINGS,
        "rows": [
            _full_row("p-float", 80.0, 10.0, "p-float", True),
            _full_row("p-small", 40.0, 2.5, "p-float", False),
        ],
        "bar": {"det_hmean_points": 0.5, "rec_acc_points": 1.0, "agreement": 0.97},
        "default_pick": None,
    }
    root = _tree(tmp_path, report, README)
    bench_md = root / "docs" / "bench" / "bench.md"
    bench_md.write_text("edited by hand\n", encoding="utf-8")
    assert set(docs.regenerate(root)) == {root / "README.md", bench_md}
    assert bench_md.read_text(encoding="utf-8") == to_markdown(report)
    assert (
        "| **p-small** (default) | small | 40.0 | 2.00× | 2.50 | ✗ |"
        in (root / "README.md").read_text()
    )
    assert "(no int8 flags)" in (root / "README.md").read_text()
    assert docs.regenerate(root, check=True) == []


def test_an_old_report_leaves_bench_md_alone(tmp_path):
    report = {"machine": MACHINE, "settings": {}, "rows": [_row("p-float", 80.0, 1.0, 10.0)]}
    root = _tree(tmp_path, report, README)
    bench_md = root / "docs" / "bench" / "bench.md"
    bench_md.write_text("written by the bench of then\n", encoding="utf-8")
    docs.regenerate(root)
    assert bench_md.read_text(encoding="utf-8") == "written by the bench of then\n"
