"""The fuzz corpus (:mod:`tests.fuzz.corpus`) through every entry point: each bad input gets one
error naming it (or the right result), nothing hangs (a deadline fails the test instead), no
traceback, no silent wrong result, bounded memory on thin crops."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from slimocr.cli.main import app
from slimocr.errors import ImageReadError, LabelError, ModelFileError, OptionError, SlimOCRError
from slimocr.inputs import MAX_BATCH_RATIO, MAX_CROP_RATIO, printable
from tests.fuzz.corpus import BAD_OPTIONS, SAMPLE, SAMPLE_TEXTS, Corpus, bad_arrays

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def deadline(seconds: int, what: object) -> Iterator[None]:
    """Fail (TimeoutError) instead of blocking when the block runs past ``seconds``."""

    def on_alarm(signum: int, frame: object) -> None:
        raise TimeoutError(f"{what}: no answer in {seconds} s (a hang)")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def ocr():  # noqa: ANN201
    from slimocr.infer.pipeline import OCR

    return OCR("ppocrv6t-det-ptq-int8", "ppocrv6t-rec-w8", threads=1)  # the smallest shipped


def _one_line_naming(exc: BaseException, path: object, says: str = "") -> None:
    msg = str(exc)
    assert "\n" not in msg, msg
    assert printable(path) in msg, msg
    assert says.lower() in msg.lower(), msg


def _texts(result: object) -> list[str]:
    """The lines' texts, spaces left out (a JPEG copy may move a space)."""
    return [line.text.replace(" ", "") for line in result.lines]  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- the API


def test_api_refuses_each_bad_image_with_one_line_naming_it(ocr, corpus: Corpus) -> None:  # noqa: ANN001
    for case in corpus.bad_images:
        with deadline(20, case.name), pytest.raises(ImageReadError) as info:
            ocr(case.path)
        _one_line_naming(info.value, case.path, case.says)


def test_api_reads_odd_but_valid_images_as_the_sample(ocr, corpus: Corpus) -> None:  # noqa: ANN001
    expected = _texts(ocr(SAMPLE))
    assert all(t in expected for t in SAMPLE_TEXTS)
    for name, path in corpus.odd_images.items():
        with deadline(30, name):
            texts = _texts(ocr(path))
        assert all(t in texts for t in SAMPLE_TEXTS), (name, texts)


def test_api_refuses_bad_arrays_and_objects(ocr) -> None:  # noqa: ANN001
    for name, (array, kwargs) in bad_arrays().items():
        with deadline(20, name), pytest.raises(SlimOCRError) as info:
            ocr(array, **kwargs)
        assert "\n" not in str(info.value), name
        if "range" in kwargs or name.startswith("float"):
            assert "range" in str(info.value) or "NaN" in str(info.value), (name, info.value)


def test_api_reads_float_arrays_in_their_declared_range_and_gray_alpha(ocr) -> None:  # noqa: ANN001
    img = cv2.imread(str(SAMPLE))
    expected = ocr(img).lines
    for array, value_range in ((img.astype(np.float32), (0, 255)), (img / 255.0, (0, 1))):
        lines = ocr(array, value_range=value_range).lines
        assert [(ln.text, ln.box) for ln in lines] == [(ln.text, ln.box) for ln in expected]
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    gray_alpha = np.dstack([gray, np.full_like(gray, 255)])  # H×W×2: gray + opaque alpha
    assert _texts(ocr(gray_alpha)) == _texts(ocr(gray))


@pytest.mark.parametrize(("name", "kwargs"), BAD_OPTIONS)
def test_api_refuses_bad_options_naming_the_argument(name: str, kwargs: dict) -> None:
    from slimocr.infer.pipeline import OCR

    with deadline(30, name), pytest.raises(OptionError) as info:
        OCR(**kwargs)
    assert str(info.value).startswith(f"{name} must be"), info.value


def test_models_with_the_wrong_signature_or_file_are_refused(corpus: Corpus) -> None:
    from slimocr.infer.det import TextDetector
    from slimocr.infer.rec import TextRecognizer

    for case in corpus.bad_models:
        for make in (
            lambda p: TextDetector(p, threads=1),
            lambda p: TextRecognizer(p, charset=["a", "b"]),
        ):
            with deadline(30, case.name), pytest.raises(ModelFileError) as info:
                make(case.path)
            _one_line_naming(info.value, case.path, case.says)


def test_label_readers_refuse_bad_labels(corpus: Corpus) -> None:
    from slimocr.eval.readers import load_det_dataset, load_rec_dataset

    for cases, load in (
        (corpus.bad_rec_labels, load_rec_dataset),
        (corpus.bad_det_labels, load_det_dataset),
    ):
        for case in cases:
            with deadline(20, case.name), pytest.raises(LabelError) as info:
                load(case.path)
            _one_line_naming(info.value, case.path, case.says)


def test_thin_crops_are_squeezed_to_a_bounded_batch_width(ocr) -> None:  # noqa: ANN001
    rec = ocr.recognizer
    shapes: list[tuple[int, ...]] = []
    run = rec.session.run

    def spy(x: np.ndarray) -> np.ndarray:
        shapes.append(x.shape)
        return run(x)

    word = cv2.imread(str(SAMPLE))[181:220, 369:476]  # a normal word
    rec.session.run = spy  # type: ignore[method-assign]
    try:
        crops = [np.full((1, 20000, 3), 200, np.uint8), np.full((2, 64000, 3), 90, np.uint8)]
        assert len(rec([*crops, word])) == 3
        assert max(s[3] for s in shapes) <= rec.image_height * MAX_CROP_RATIO
        shapes.clear()
        rec.batch_size = 64  # a large batch of thin crops is split by total width
        results = rec([*crops * 4, *[word] * 20])
        assert len(results) == 28 and results[-1].text == rec([word])[0].text
        assert all(s[0] * s[3] <= MAX_BATCH_RATIO * rec.image_height for s in shapes)
        assert shapes[0][0] == 20  # the narrow crops still go in one batch
    finally:
        del rec.session.run
        rec.batch_size = 6


# ----------------------------------------------------------------------------- the CLI


def _slimocr(*args: str, timeout: int = 180, **kwargs: object) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if "stdout" not in kwargs:
        kwargs["capture_output"] = True
    return subprocess.run(
        [sys.executable, "-m", "slimocr.cli.main", *args],
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO,
        **kwargs,
    )


def _python(script: str, timeout: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO,
    )


def _error_lines(stderr: str) -> list[str]:
    lines = stderr.splitlines()
    assert "Traceback" not in stderr, stderr
    assert all(line.startswith("error: ") for line in lines), stderr  # no C-library chatter
    return lines


def test_cli_ocr_names_and_skips_each_bad_image_in_one_call(corpus: Corpus, tmp_path: Path):
    drawn = tmp_path / "drawn"
    bad = [str(case.path) for case in corpus.bad_images]
    good = [str(SAMPLE), *map(str, corpus.odd_images.values())]
    proc = _slimocr("ocr", "--threads", "1", "--draw", str(drawn), *bad, *good)
    assert proc.returncode == 1
    errors = _error_lines(proc.stderr)
    assert len(errors) == len(bad), proc.stderr
    for case in corpus.bad_images:
        assert sum(printable(case.path) in line for line in errors) == 1, case.name
    headers = [line for line in proc.stdout.splitlines() if line.startswith("# ")]
    assert len(headers) == len(good) and all("16:55" in proc.stdout for _ in good)
    files = sorted(p.name for p in drawn.iterdir())
    # the two inputs named sample.png draw to two files; nothing half-written is left
    assert files == sorted(
        ["sample_ocr.png", "sample_ocr_2.png", "exif6_ocr.png", "rgba_ocr.png", "deep_ocr.png"]
    )


def test_cli_batch_mode_names_and_skips_each_bad_image(corpus: Corpus, tmp_path: Path) -> None:
    """The worker-process path (--out results.jsonl): the same one line per bad image."""
    out = tmp_path / "results.jsonl"
    bad = [str(case.path) for case in corpus.bad_images]
    good = [str(SAMPLE), str(corpus.undecodable)]
    proc = _slimocr("ocr", "--threads", "1", "--workers", "1", "--out", str(out), *bad, *good)
    assert proc.returncode == 1
    summary = f"{out}: 2 written, 0 already there, {len(bad)} failed"
    lines = [line for line in proc.stderr.splitlines() if not line.startswith(summary)]
    errors = _error_lines("\n".join(lines))
    assert len(errors) == len(bad), proc.stderr
    for case in corpus.bad_images:
        assert sum(printable(case.path) in line for line in errors) == 1, case.name
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["source"] for r in records) == sorted(good)  # UTF-8 JSON, names kept
    fifo = corpus.bad_images[0].path
    for target in (fifo, Path("/dev/null"), tmp_path / ("n" * 300 + ".jsonl")):
        proc = _slimocr("ocr", "--out", str(target), str(SAMPLE), timeout=60)
        assert proc.returncode != 0 and len(_error_lines(proc.stderr)) == 1, proc.stderr
        assert printable(target) in proc.stderr
    proc = _slimocr("ocr", "--list", str(fifo), str(SAMPLE), timeout=60)
    assert proc.returncode == 1 and _error_lines(proc.stderr)[0].startswith(f"error: {fifo}")


def test_cli_ocr_output_faults_are_errors(tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:
        proc = _slimocr("ocr", "--threads", "1", str(SAMPLE), stdout=full, stderr=subprocess.PIPE)
    assert proc.returncode == 1 and _error_lines(proc.stderr) == [
        "error: standard output: cannot write (No space left on device)"
    ]
    proc = _slimocr(
        "ocr",
        str(SAMPLE),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: os.close(1),
    )
    assert proc.returncode == 1 and "standard output is closed" in proc.stderr
    proc = _slimocr("ocr", "--threads", "1", str(SAMPLE), "--draw", "/proc/slimocr/x.png")
    assert proc.returncode != 0 and len(_error_lines(proc.stderr)) == 1
    assert "/proc/slimocr" in proc.stderr


def test_cli_bad_models_are_one_error_line(corpus: Corpus) -> None:
    for case in corpus.bad_models:
        for option in ("--det-model", "--rec-model"):
            with deadline(60, case.name):
                result = CliRunner().invoke(app, ["ocr", str(SAMPLE), option, str(case.path)])
            assert result.exit_code == 1, (case.name, result.output)
            assert "Traceback" not in result.output
            lines = result.output.splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: ") and str(case.path) in lines[0]


def test_cli_eval_refuses_bad_labels_with_one_line(corpus: Corpus) -> None:
    for command, cases in (("rec", corpus.bad_rec_labels), ("det", corpus.bad_det_labels)):
        for case in cases:
            with deadline(60, case.name):
                result = CliRunner().invoke(app, ["eval", command, "--data", str(case.path)])
            assert result.exit_code == 1, (case.name, result.output)
            lines = result.output.splitlines()
            assert len(lines) == 1 and lines[0].startswith(f"error: {case.path}"), result.output


def test_cli_warnings_are_one_line_without_a_source_echo() -> None:
    script = (
        "import warnings\n"
        "from slimocr.cli.common import guarded_run\n"
        "guarded_run(lambda: warnings.warn('int8 may\\nsaturate', RuntimeWarning))\n"
    )
    proc = _python(script, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "warning: int8 may\\nsaturate\n", proc.stderr


def test_cli_a_file_named_explicitly_is_never_a_usage_error(corpus: Corpus, monkeypatch) -> None:  # noqa: ANN001
    """Click's own readability check (os.access) would abort the whole call with a usage error
    for one unreadable file; the files are checked when read instead, one line each."""
    import os as os_module

    monkeypatch.setattr(os_module, "access", lambda *args, **kwargs: False)
    result = CliRunner().invoke(app, ["ocr", "--threads", "1", str(SAMPLE), "/dev/zero"])
    assert result.exit_code == 1, result.output
    assert "error: /dev/zero: is a character device" in result.output and "# " in result.output
    label = next(c.path for c in corpus.bad_rec_labels if c.name == "no-separator")
    result = CliRunner().invoke(app, ["eval", "rec", "--data", str(label), "--out", "x.json"])
    assert result.exit_code == 1 and result.output.startswith(f"error: {label}:1:"), result.output


def test_cli_eval_report_of_an_undecodable_name_is_valid_json(corpus: Corpus, tmp_path: Path):
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(corpus.undecodable, folder / corpus.undecodable.name)
    out = tmp_path / "report.json"
    args = ["eval", "det", "--data", str(folder), "--reference", "ppocrv6t-det-ptq-int8"]
    with deadline(120, "eval det --reference"):
        result = CliRunner().invoke(app, [*args, "--threads", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["metrics"]["hmean"] > 0.5


def test_cli_names_are_printed_on_one_line() -> None:
    result = CliRunner().invoke(app, ["zoo", "show", "no\nsuch\x1bmodel"])
    assert result.exit_code == 1
    assert result.output.splitlines()[0].startswith("error: no\\nsuch\\x1bmodel: not in the zoo")


def test_thin_crops_stay_within_a_memory_bound() -> None:
    """Six 1×64000 crops made a 64,000 px batch (7.6 GB with the v2 recognizer); squeezed, they
    cost the default recognizer (v6 small, 18,710 classes a frame) at most 1 GB
    more than a batch of ordinary word crops; unbounded they would take tens of GB."""
    script = (
        "import resource, numpy as np\n"
        "from slimocr.infer.pipeline import OCR\n"
        "rec = OCR(threads=1).recognizer\n"
        "rec([np.full((48, 320, 3), 200, np.uint8)] * 6)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n"
        "print(len(rec([np.full((1, 64000, 3), 200, np.uint8)] * 6)))\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n"
    )
    proc = _python(script, timeout=120)
    assert proc.returncode == 0, proc.stderr
    base_mb, n, peak_mb = map(int, proc.stdout.split())
    assert n == 6 and peak_mb < base_mb + 1024 and peak_mb < 2048, (base_mb, peak_mb)
