"""Which files a benchmark row loads on this CPU and on CPUs without an int8 dot product.

A zoo record with an ``int8_fallback`` loads that float-compute record on a CPU without an
int8 dot product (:func:`slimocr.zoo.registry.effective_record`). Each timed row of the bench
records what it loaded and the CPU's answer, and the table says which row's numbers apply on
the other kind of CPU. Reports written before this lack the fields; they read as before.
"""

from __future__ import annotations

from typing import Any

from slimocr.infer.cpu import int8_dot
from slimocr.zoo.registry import effective_record, without_int8_dot

NO_DOT = "CPUs without an int8 dot product (x86 AVX512-VNNI / AVX-VNNI, Arm dotprod)"


def loaded_fields(det: str, rec: str) -> dict[str, Any]:
    """A bench row's fields on the per-CPU choice: ``loaded`` (the detector and recognizer
    names that loaded here), ``int8_dot`` (this CPU's answer, :func:`~slimocr.infer.cpu.int8_dot`)
    and ``without_int8_dot`` (what loads on a CPU without it; None where that is the row's
    own pair)."""
    other = {"det": without_int8_dot(det), "rec": without_int8_dot(rec)}
    return {
        "loaded": {"det": effective_record(det), "rec": effective_record(rec)},
        "int8_dot": int8_dot(),
        "without_int8_dot": None if other == {"det": det, "rec": rec} else other,
    }


def fallback_sentence(rows: list[dict[str, Any]]) -> str:
    """One sentence naming, for the rows whose records have a fallback, what loads on a CPU
    without an int8 dot product and which row's numbers apply there; whether this report's
    rows ran their fallbacks. Empty when no row records a fallback (older reports too).

    >>> fallback_sentence([{"name": "a", "det": "d", "rec": "r"}])
    ''

    """
    by_pair = {(x.get("det"), x.get("rec")): x["name"] for x in rows}
    parts = []
    for x in rows:
        other = x.get("without_int8_dot")
        if not other:
            continue
        swapped = " + ".join(other[k] for k in ("det", "rec") if other[k] != x[k])
        peer = by_pair.get((other["det"], other["rec"]))
        parts.append(
            f"{x['name']} loads {swapped}: "
            + (f"the {peer} row's numbers apply" if peer else "no row of this table measures it")
        )
    if not parts:
        return ""
    text = f"On {NO_DOT} " + "; ".join(parts) + "."
    ran = [x["name"] for x in rows if x.get("without_int8_dot") and x.get("int8_dot") is False]
    if ran:
        text += (
            f" In this run int8-activation files did not load (int8_dot false): the rows of "
            f"{', '.join(ran)} measure those files."
        )
    return text
