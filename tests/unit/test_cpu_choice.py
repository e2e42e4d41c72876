"""The per-CPU file choice: the int8 dot-product answer from hand-written ``/proc/cpuinfo``
texts, the ``SLIMOCR_INT8`` override, the zoo records' ``int8_fallback`` followed by the
registry (and checked when the records are read), and what the bench records of it."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slimocr.bench import cpu_choice
from slimocr.errors import ConfigError, ModelFileError, OptionError
from slimocr.infer import cpu
from slimocr.zoo import registry
from slimocr.zoo.records import FILES_DIR, RECORDS_JSON, load_records, record_json

ROOT = Path(__file__).parents[2]

# first-processor excerpts of real /proc/cpuinfo texts (flags shortened, order kept)
XEON_BROADWELL = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz
flags\t\t: fpu vme de pse tsc msr sse sse2 ssse3 fma cx16 sse4_1 sse4_2 avx f16c avx2 bmi2
vmx flags\t: vnmi preemption_timer invvpid ept_x_only
bugs\t\t: cpu_meltdown spectre_v1
"""
EPYC_MILAN = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7763 64-Core Processor
flags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 sha_ni vaes vpclmulqdq
"""
XEON_CASCADE = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8275CL CPU @ 3.00GHz
flags\t\t: fpu sse2 avx avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni
"""
ALDER_LAKE = """processor\t: 0
model name\t: 12th Gen Intel(R) Core(TM) i7-1265U
flags\t\t: fpu sse2 avx avx2 avx_vnni
"""
SAPPHIRE_AMX_ONLY = "model name\t: x\nflags\t\t: fpu avx2 amx_tile amx_int8\n"
GRAVITON2 = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs
CPU implementer\t: 0x41
"""  # noqa: E501
CORTEX_A72 = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
"""


@pytest.mark.parametrize(
    ("text", "machine", "system", "expected"),
    [
        (XEON_BROADWELL, "x86_64", "Linux", False),  # AVX2 only ("vnmi" is a vmx flag)
        (EPYC_MILAN, "x86_64", "Linux", False),
        (XEON_CASCADE, "x86_64", "Linux", True),
        (ALDER_LAKE, "x86_64", "Linux", True),
        (SAPPHIRE_AMX_ONLY, "x86_64", "Linux", True),
        (GRAVITON2, "aarch64", "Linux", True),
        (CORTEX_A72, "aarch64", "Linux", False),
        (GRAVITON2, "x86_64", "Linux", False),  # x86 needs x86 flags
        (XEON_CASCADE, "aarch64", "Linux", False),  # and Arm its own
        (None, "x86_64", "Linux", False),  # unreadable: the safe answer
        ("", "x86_64", "Linux", False),
        (XEON_CASCADE, "riscv64", "Linux", False),  # unknown architecture
        (None, "arm64", "Darwin", True),
        (None, "x86_64", "Darwin", False),
        (XEON_CASCADE, "AMD64", "Windows", True),
    ],
)
def test_int8_dot_product_from_cpuinfo(text, machine, system, expected):
    assert cpu.has_int8_dot(text, machine, system) is expected


def test_parse_cpuinfo_reads_model_and_flags_of_the_first_processor():
    model, flags = cpu.parse_cpuinfo(XEON_BROADWELL + XEON_CASCADE)
    assert model == "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz"
    assert flags is not None and "avx2" in flags and "avx512_vnni" not in flags
    assert "vnmi" not in flags and "cpu_meltdown" not in flags
    arm = frozenset("fp asimd evtstrm crc32 cpuid".split())
    assert cpu.parse_cpuinfo(CORTEX_A72) == (None, arm)
    assert cpu.parse_cpuinfo("") == (None, None)


@pytest.mark.parametrize("detected", [True, False])
def test_env_override_forces_the_answer(monkeypatch, detected):
    monkeypatch.setattr(cpu, "detected_int8_dot", lambda: detected)
    assert cpu.int8_dot({}) is detected
    assert cpu.int8_dot({"SLIMOCR_INT8": ""}) is detected
    assert cpu.int8_dot({"SLIMOCR_INT8": "auto"}) is detected
    assert cpu.int8_dot({"SLIMOCR_INT8": "on"}) is True
    assert cpu.int8_dot({"SLIMOCR_INT8": " OFF "}) is False
    monkeypatch.setenv("SLIMOCR_INT8", "off")
    assert cpu.int8_dot() is False


@pytest.mark.parametrize("value", ["1", "yes", "vnni", "of"])
def test_a_bad_env_value_is_one_error_naming_the_variable(value):
    with pytest.raises(OptionError) as err:
        cpu.int8_dot({"SLIMOCR_INT8": value})
    assert str(err.value).startswith(f"SLIMOCR_INT8={value!r}:")
    assert "auto, on, off" in str(err.value) and "\n" not in str(err.value)


def test_the_auto_answer_reads_the_cpu_once(monkeypatch):
    reads = []

    def fake_read() -> str:
        reads.append(1)
        return XEON_CASCADE

    monkeypatch.setattr(cpu, "read_cpuinfo", fake_read)
    monkeypatch.setattr(cpu.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(cpu.platform, "system", lambda: "Linux")
    cpu.detected_int8_dot.cache_clear()
    try:
        assert cpu.int8_dot({}) is True and cpu.int8_dot({}) is True
        assert len(reads) == 1
    finally:
        cpu.detected_int8_dot.cache_clear()


FALLBACK = "ppocrv6s-det-w8"


@pytest.fixture
def no_int8(monkeypatch):
    """A CPU without the int8 dot product (SLIMOCR_INT8 unset)."""
    monkeypatch.delenv("SLIMOCR_INT8", raising=False)
    monkeypatch.setattr(cpu, "detected_int8_dot", lambda: False)
    monkeypatch.setattr(registry, "_logged", set())


@pytest.mark.parametrize("name", ["ppocrv6s-det-ptq-int8", "ppocrv6s-det-pact-int8"])
def test_resolve_model_follows_the_fallback_without_int8_dot(no_int8, caplog, name):
    with caplog.at_level(logging.INFO, logger="slimocr"):
        path = registry.resolve_model(name, "det")
    assert path == FILES_DIR / f"{FALLBACK}.onnx"
    assert registry.effective_record(name) == FALLBACK
    assert f"{name}: loading {FALLBACK} (this CPU has no int8 dot product" in caplog.text
    # the other kind is refused by the name asked for, not followed
    with pytest.raises(ModelFileError, match=f"{name}: is a det model"):
        registry.resolve_model(name, "rec")


def test_resolve_model_loads_the_int8_file_with_int8_dot(monkeypatch, caplog):
    monkeypatch.delenv("SLIMOCR_INT8", raising=False)
    monkeypatch.setattr(cpu, "detected_int8_dot", lambda: True)
    monkeypatch.setattr(registry, "_logged", set())
    name = "ppocrv6s-det-pact-int8"
    with caplog.at_level(logging.INFO, logger="slimocr"):
        assert registry.resolve_model(name, "det") == FILES_DIR / f"{name}.onnx"
    assert f"{name}: loading {name} (this CPU has an int8 dot product)" in caplog.text
    monkeypatch.setenv("SLIMOCR_INT8", "off")
    assert registry.resolve_model(name, "det") == FILES_DIR / f"{FALLBACK}.onnx"


def test_names_without_a_fallback_load_as_named(no_int8):
    for name in ("ppocrv6s-det-fpgm-w8", FALLBACK, "official-ppocrv3-det", "x/y.onnx"):
        assert registry.effective_record(name) == name
    path = registry.resolve_model("ppocrv6s-det-fpgm-w8", "det")
    assert path == FILES_DIR / "ppocrv6s-det-fpgm-w8.onnx"


def test_shipped_fallbacks_and_the_records_round_trip():
    data = json.loads(RECORDS_JSON.read_text(encoding="utf-8"))
    records = load_records()
    for entry in data["records"]:
        assert record_json(records[entry["name"]]) == entry
    with_fallback = {n: r.int8_fallback for n, r in records.items() if r.int8_fallback}
    assert with_fallback == {
        "ppocrv6s-det-ptq-int8": FALLBACK,
        "ppocrv6s-det-pact-int8": FALLBACK,
        "ppocrv6s-det-fpgm-pact-int8": "ppocrv6s-det-fpgm-w8",  # the same pruned channels
        "ppocrv6t-det-ptq-int8": "ppocrv6t-det-w8",
    }
    pipelines = {p["name"]: p for p in data["pipelines"]}
    for name in ("slimocr-v6s-ptq", "slimocr-v6s-pact", "slimocr-v6s-fpgm-pact"):
        # the fallback answers the CPU question; what rules them out is measured fidelity
        reason = pipelines[name]["not_default"]
        assert "docs/results/det_scale_check.json" in reason and "saturat" not in reason


@pytest.mark.parametrize(
    ("fallback", "problem"),
    [
        ("ppocrv6s-det-nothere", "is not a record of this file"),
        ("ppocrv6s-rec-w8", "is a rec model, not a det model"),
        ("ppocrv3-det-float", "is retired"),
        ("ppocrv6s-det-pact-int8", "names the record itself"),
        ("ppocrv6s-det-ptq-int8", "has an int8_fallback of its own"),
    ],
)
def test_a_bad_fallback_in_the_records_is_a_config_error(tmp_path, fallback, problem):
    data = json.loads(RECORDS_JSON.read_text(encoding="utf-8"))
    entry = next(r for r in data["records"] if r["name"] == "ppocrv6s-det-pact-int8")
    entry["int8_fallback"] = fallback
    path = tmp_path / "records.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_records(path)
    assert "records.json: ppocrv6s-det-pact-int8: int8_fallback " in str(err.value)
    assert problem in str(err.value) and str(path) in str(err.value)


def test_bench_rows_record_what_loaded(no_int8):
    fields = cpu_choice.loaded_fields("ppocrv6s-det-pact-int8", "ppocrv6s-rec-w8")
    assert fields == {
        "loaded": {"det": FALLBACK, "rec": "ppocrv6s-rec-w8"},
        "int8_dot": False,
        "without_int8_dot": {"det": FALLBACK, "rec": "ppocrv6s-rec-w8"},
    }
    plain = cpu_choice.loaded_fields(FALLBACK, "ppocrv6s-rec-w8")
    assert plain["without_int8_dot"] is None and plain["loaded"]["det"] == FALLBACK


def test_bench_table_names_the_row_that_applies_without_int8_dot():
    from slimocr.bench.table import to_markdown

    report = json.loads((ROOT / "docs" / "bench" / "bench.json").read_text(encoding="utf-8"))
    for x in report["rows"]:  # a report written before the per-CPU choice lacks the fields
        for key in ("loaded", "int8_dot", "without_int8_dot"):
            x.pop(key, None)
    report["machine"].pop("int8_dot", None)
    before = to_markdown(report)
    assert "int8 dot product" not in before  # and reads as before
    rows = {x["name"]: x for x in report["rows"]}
    assert {"slimocr-v6s-pact", "slimocr-v6s-w8"} <= set(rows)
    for x in report["rows"]:
        other = {"det": FALLBACK if x["det"].startswith("ppocrv6s-det-p") else x["det"]}
        other["rec"] = x["rec"]
        x["loaded"], x["int8_dot"] = {"det": x["det"], "rec": x["rec"]}, True
        x["without_int8_dot"] = None if other == {"det": x["det"], "rec": x["rec"]} else other
    text = to_markdown(report)
    assert f"slimocr-v6s-pact loads {FALLBACK}: the slimocr-v6s-w8 row's numbers apply" in text
    assert "did not load" not in text
    rows["slimocr-v6s-pact"]["int8_dot"] = False
    rows["slimocr-v6s-w8"]["rec"] = "another-rec"  # no row measures the pact row's fallback
    text = to_markdown(report)
    assert "slimocr-v6s-pact loads ppocrv6s-det-w8: no row of this table measures it" in text
    assert "(int8_dot false): the rows of slimocr-v6s-pact measure those files" in text


def test_zoo_list_shows_the_fallback_and_the_choice_here(monkeypatch):
    from slimocr.cli.main import app

    runner = CliRunner()
    monkeypatch.setenv("SLIMOCR_INT8", "off")
    out = runner.invoke(app, ["zoo", "list"])
    assert out.exit_code == 0, out.output
    line = next(x for x in out.output.splitlines() if "ppocrv6s-det-pact-int8" in x)
    assert line.endswith(f"int8_fallback={FALLBACK}")
    assert "here (SLIMOCR_INT8=off): the fallbacks load" in out.output
    monkeypatch.setenv("SLIMOCR_INT8", "sometimes")
    out = runner.invoke(app, ["zoo", "list"])
    assert out.exit_code == 1 and "error: SLIMOCR_INT8='sometimes'" in out.output
