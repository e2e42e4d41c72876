"""Generated tables in the README and the docs, from the committed result files.

A page carries a generated region between two markers::

    <!-- zoo-table:start -->
    ...written by this module...
    <!-- zoo-table:end -->

``python -m slimocr.bench.docs`` rewrites every such region of ``README.md`` and of each page
under ``docs/`` from the zoo records (``slimocr/zoo/records.json``) and the committed benchmark
report (``docs/bench/bench.json``, written by ``slimocr bench --out docs/bench``); ``--check``
writes nothing and exits 1 when a page differs from what it would write. Text outside the
markers is never touched. The tables:

- ``zoo-table``: one row per zoo pipeline: what it is, end-to-end ms, speed-up against its
  reference row, size, whether it meets the accuracy bar on every domain; the CPU it ran on.
- ``zoo-models``: one row per zoo model file: kind, parent, recipe, size.

It also rewrites ``docs/bench/bench.md`` from the report
(:func:`slimocr.bench.table.to_markdown`, what ``slimocr bench`` writes beside it), so a report
merged or edited as JSON and the page agree. The report may be in the format before per-domain
accuracy (rows without ``domains``): the bar column then reads ``–`` and ``bench.md``, written
by the bench of then, is left alone.

>>> render("a\\n<!-- zoo-table:start -->\\nold\\n<!-- zoo-table:end -->\\n", {"zoo-table": "new"})
'a\\n<!-- zoo-table:start -->\\nnew\\n<!-- zoo-table:end -->\\n'
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slimocr.bench.cpu_choice import fallback_sentence

ROOT = Path(__file__).resolve().parents[2]
RECORDS = Path("slimocr/zoo/records.json")
BENCH = Path("docs/bench/bench.json")
BENCH_MD = "docs/bench/bench.md"
README_BYTES = 8192  # the README fits on two screens

_REGION = re.compile(
    r"(?P<start><!-- (?P<name>[a-z0-9-]+):start -->\n)(?P<body>.*?)(?P<end><!-- (?P=name):end -->)",
    re.DOTALL,
)
_START = re.compile(r"<!-- ([a-z0-9-]+):start -->")


@dataclass(frozen=True)
class Sources:
    """What the tables are made from: the records file and the benchmark report (parsed)."""

    records: dict[str, Any]
    report: dict[str, Any]

    @classmethod
    def load(cls, root: Path = ROOT, bench: Path | None = None) -> Sources:
        """Read ``slimocr/zoo/records.json`` and the report (default ``docs/bench/bench.json``)
        under ``root``."""
        records = json.loads((root / RECORDS).read_text(encoding="utf-8"))
        report = json.loads((bench or root / BENCH).read_text(encoding="utf-8"))
        return cls(records, report)


NOTE_CHARS = 72


def _note(text: str) -> str:
    """A pipeline's note for a short table: bracketed asides dropped, cut at a ``;`` or at a
    ``:`` after its first words, then at a word boundary to :data:`NOTE_CHARS`; pipes escaped.

    >>> _note("detector pruned (-48.6% MACs), recognizer float; see docs")
    'detector pruned, recognizer float'
    """
    text = re.sub(r" \([^()]*\)", "", text).split("; ")[0]
    colon = text.find(": ", 20)
    if colon > 0:
        text = text[:colon]
    if len(text) > NOTE_CHARS:
        text = text[: text.rfind(" ", 0, NOTE_CHARS)].rstrip(",") + " …"
    return text.replace("|", "\\|")


def _mark(value: Any) -> str:
    return {True: "✓", False: "✗"}.get(value, "–")


def _cpu_line(report: dict[str, Any]) -> str:
    m, s = report.get("machine", {}), report.get("settings", {})
    flags = m.get("cpu_flags")
    flag_text = "CPU flags not recorded" if flags is None else (", ".join(flags) or "no int8 flags")
    return (
        f"{m.get('cpu', 'unknown CPU')} ({flag_text}), {m.get('logical_cpus', '?')} logical "
        f"CPUs, ONNX Runtime {m.get('onnxruntime', '?')}, {s.get('threads', '?')} threads"
    )


_REF_MARKS = "¹²³⁴⁵⁶⁷⁸⁹"


def zoo_table(src: Sources) -> str:
    """The README's short table: one row per zoo pipeline of the records file, timings and the
    bar from the report (``–`` where the report lacks the pipeline or the field)."""
    recs = {r["name"]: r for r in src.records.get("records", [])}
    rows = {x["name"]: x for x in src.report.get("rows", [])}
    per_domain = any("domains" in x for x in rows.values())
    defaults = src.records.get("defaults", {})
    lines = [
        "| pipeline | what | e2e ms | speed-up | size MB | bar |",
        "|---|---|---|---|---|---|",
    ]
    pipelines = src.records.get("pipelines", [])

    def reference(p: dict[str, Any]) -> str | None:
        return rows.get(p["name"], {}).get("reference") or p.get("reference") or None

    # the reference most pipelines are measured against goes unmarked; the others get a mark
    named = [r for r in (reference(p) for p in pipelines) if r]
    main_ref = max(named, key=named.count) if named else None
    refs: dict[str, str] = {}  # other reference -> its mark
    stale = False
    for p in pipelines:
        x = rows.get(p["name"], {})
        name = p["name"]
        if p["name"] == defaults.get("pipeline") or (
            "pipeline" not in defaults
            and (p["det"], p["rec"]) == (defaults.get("det"), defaults.get("rec"))
        ):
            name = f"**{name}** (default)"
        e2e = f"{x['e2e_ms']:.1f}" if isinstance(x.get("e2e_ms"), (int, float)) else "–"
        sp = f"{x['speedup_e2e']:.2f}×" if x.get("speedup_e2e") else "–"
        ref = reference(p)
        if ref and ref != main_ref and sp != "–":
            sp += refs.setdefault(ref, _REF_MARKS[len(refs) % len(_REF_MARKS)])
        files = [recs.get(p["det"]), recs.get(p["rec"])]
        if all(files):
            mb = sum(f["size_bytes"] for f in files) / 1e6  # type: ignore[index]
            size = f"{mb:.2f}"
            if isinstance(x.get("size_mb"), (int, float)) and abs(x["size_mb"] - mb) >= 0.005:
                size += " †"
                stale = True
        else:
            size = f"{x['size_mb']:.2f}" if isinstance(x.get("size_mb"), (int, float)) else "–"
        bar = _mark(x.get("meets_accuracy_bar")) if per_domain and x else "–"
        lines.append(f"| {name} | {_note(p.get('note', ''))} | {e2e} | {sp} | {size} | {bar} |")
    pick = (src.report.get("default_pick") or {}).get("pipeline", "none")
    if pick != "none" and pick not in {p["name"] for p in pipelines}:
        pick += " (since retired from the zoo)"
    against = "".join(f", {m} against {r}" for r, m in refs.items())
    lines += [
        "",
        f"`slimocr bench` on {_cpu_line(src.report)}. e2e: median ms per IC15 test image; "
        + (f"speed-up against {main_ref}{against}, same run; " if main_ref else "")
        + (
            "bar: met on every domain of the fidelity suite. "
            if per_domain
            else "bar: –, the report predates the per-domain suite. "
        )
        + f"The report's pick: {pick}. "
        + ("†: file changed since the report. " if stale else "")
        + f"All columns and domains: [{BENCH_MD}]({BENCH_MD}).",
    ]
    fallback = fallback_sentence(list(rows.values()))
    if fallback:
        lines += ["", fallback]
    return "\n".join(lines)


def zoo_models(src: Sources) -> str:
    """One row per shipped zoo model file: kind, parent, recipe, size (from the records);
    the retired records (no file shipped) are counted below the table."""
    defaults = set(src.records.get("defaults", {}).values())
    lines = ["| model | kind | parent | recipe | size MB |", "|---|---|---|---|---|"]
    records = src.records.get("records", [])
    retired = [r for r in records if r.get("retired")]
    for r in records:
        if r.get("retired"):
            continue
        name = f"`{r['name']}`" + (" (default)" if r["name"] in defaults else "")
        lines.append(
            f"| {name} | {r['kind']} | {r.get('parent') or '–'} | {r.get('recipe', '–')} | "
            f"{r['size_bytes'] / 1e6:.2f} |"
        )
    if retired:
        lines += [
            "",
            f"{len(retired)} retired records (their files are not shipped; "
            "`slimocr zoo list --all` gives the reasons, `slimocr zoo build NAME` remakes one).",
        ]
    return "\n".join(lines)


TABLES: dict[str, Callable[[Sources], str]] = {"zoo-table": zoo_table, "zoo-models": zoo_models}


def render(text: str, tables: dict[str, str]) -> str:
    """``text`` with the body of every marked region replaced by ``tables[name]``.

    Raises:
        ValueError: a start marker without its end marker, or a region no table is known for.
    """
    starts = _START.findall(text)
    found = [m.group("name") for m in _REGION.finditer(text)]
    if sorted(starts) != sorted(found):
        missing = sorted(set(starts) - set(found)) or starts
        raise ValueError(f"<!-- {missing[0]}:start --> has no matching <!-- {missing[0]}:end -->")
    unknown = [n for n in found if n not in tables]
    if unknown:
        raise ValueError(f"no generated table is called {unknown[0]!r} (known: {sorted(tables)})")
    return _REGION.sub(
        lambda m: m.group("start") + tables[m.group("name")] + "\n" + m.group("end"), text
    )


def pages(root: Path = ROOT) -> list[Path]:
    """``README.md`` and every markdown page under ``docs/`` that carries a generated region."""
    candidates: Iterable[Path] = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    return [p for p in candidates if p.is_file() and _START.search(p.read_text(encoding="utf-8"))]


def regenerate(root: Path = ROOT, bench: Path | None = None, check: bool = False) -> list[Path]:
    """Rewrite the generated regions of every page under ``root`` (``check``: write nothing).

    Returns:
        the pages whose text differs (were rewritten, or would be with ``check``).
    """
    src = Sources.load(root, bench)
    tables = {name: make(src) for name, make in TABLES.items()}
    texts: dict[Path, str] = {}
    for page in pages(root):
        try:
            texts[page] = render(page.read_text(encoding="utf-8"), tables)
        except ValueError as e:
            raise ValueError(f"{page}: {e}") from None
    md = bench_markdown(src.report)
    if md is not None:
        texts[root / BENCH_MD] = md
    changed = []
    for page, new in texts.items():
        if not page.is_file() or page.read_text(encoding="utf-8") != new:
            changed.append(page)
            if not check:
                tmp = page.with_name(page.name + ".tmp")
                tmp.write_text(new, encoding="utf-8")
                tmp.replace(page)
    return changed


def bench_markdown(report: dict[str, Any]) -> str | None:
    """``bench.md`` for a report with per-domain accuracy; None for a report from before the
    fidelity suite (its page was written by the bench of then)."""
    if not any("domains" in x for x in report.get("rows", [])):
        return None
    from slimocr.bench.table import to_markdown

    return to_markdown(report)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m slimocr.bench.docs",
        description="Rewrite the generated tables of README.md and docs/ from "
        "slimocr/zoo/records.json and docs/bench/bench.json.",
    )
    ap.add_argument("--root", type=Path, default=ROOT, help="source checkout (default: this one)")
    ap.add_argument("--bench", type=Path, help="report (default: ROOT/docs/bench/bench.json)")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if out of date")
    args = ap.parse_args(argv)
    try:
        changed = regenerate(args.root, args.bench, args.check)
    except (OSError, ValueError) as e:  # json.JSONDecodeError is a ValueError
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (KeyError, TypeError) as e:
        print(f"error: {args.bench or BENCH}: not a benchmark report ({e!r})", file=sys.stderr)
        return 2
    for page in changed:
        rel = page.relative_to(args.root) if page.is_relative_to(args.root) else page
        print(f"{'out of date' if args.check else 'rewrote'}: {rel}")
    note = pick_note(Sources.load(args.root, args.bench))
    if note:
        print(f"note: {note}", file=sys.stderr)
    size = (args.root / "README.md").stat().st_size
    if not args.check and size > README_BYTES:
        print(
            f"note: README.md is {size} bytes, over {README_BYTES}: shorten its prose or the "
            "pipeline notes in slimocr/zoo/records.json",
            file=sys.stderr,
        )
    return 1 if args.check and changed else 0


def pick_note(src: Sources) -> str:
    """A reminder when the report's default pick is not the records' defaults (empty when they
    agree or the report picks nothing)."""
    pick = src.report.get("default_pick") or {}
    defaults = src.records.get("defaults", {})
    if not pick or (pick.get("det"), pick.get("rec")) == (defaults.get("det"), defaults.get("rec")):
        return ""
    if pick.get("pipeline") not in {p["name"] for p in src.records.get("pipelines", [])}:
        return (
            f"the report picks {pick.get('pipeline')}, no longer a zoo pipeline: the report "
            "predates the records; a new `slimocr bench` run replaces it"
        )
    return (
        f"the report picks {pick.get('pipeline')} ({pick.get('det')} + {pick.get('rec')}), the "
        f"records' defaults are {defaults.get('det')} + {defaults.get('rec')}: "
        f"`slimocr zoo pick {BENCH} --write`, a CHANGELOG.md entry, then run this again"
    )


if __name__ == "__main__":
    sys.exit(main())
