"""Many images on one machine: worker processes, each with its own ONNX Runtime sessions.

Each worker builds one :class:`~slimocr.infer.pipeline.OCR` when it starts and reads the
sources it is handed; results come back as they finish (not in input order). With
``workers=1`` the images are read in the calling process. By default the CPU's cores are
shared out: ``threads = cores // workers`` per worker, so ``workers × threads <= cores``.

>>> for source, result in ocr_many(["a.png", "b.png"], workers=2):  # doctest: +SKIP
...     print(source, result.text)
>>> ocr_to_jsonl(["scans/"], "results.jsonl", workers=2, resume=True)  # doctest: +SKIP
RunSummary(total=120, skipped=40, done=80, failed=[], elapsed_s=31.2)
"""

from __future__ import annotations

import inspect
import multiprocessing
import os
import signal
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slimocr.errors import ModelFileError, OptionError, SlimOCRError
from slimocr.infer.results import OCRResult
from slimocr.inputs import check_int, named_after
from slimocr.runtime.jsonl import ResultsFile
from slimocr.runtime.sources import collect_sources, load_source

Outcome = OCRResult | SlimOCRError


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


MAX_WORKERS = 1024
"""The most worker processes a run starts (a larger count is a typing slip, not a machine)."""


def threads_per_worker(workers: int, threads: int | None) -> int:
    """``threads`` if given, else the cores shared out among the workers (at least 1).

    Raises:
        OptionError: ``workers`` is not an int in ``[1, MAX_WORKERS]``.
    """
    check_int("workers", workers, 1, MAX_WORKERS)
    return threads if threads is not None else max(1, available_cores() // workers)


def check_run_options(
    workers: int, threads: int | None, pipeline: str | None, options: dict[str, Any]
) -> None:
    """Refuse, in the calling process and before any work, what would otherwise fail only in
    the workers (where a ``TypeError`` breaks the pool): the worker and thread counts, and
    keyword options that :class:`~slimocr.infer.pipeline.OCR` does not take.

    Raises:
        OptionError: naming the option.
    """
    from slimocr.infer.pipeline import OCR
    from slimocr.infer.session import check_threads

    threads_per_worker(workers, threads)
    check_threads(threads)
    taken = set(inspect.signature(OCR.__init__).parameters) - {"self", "threads"}
    if pipeline is not None:  # the pipeline names the models (None: not given, as it was)
        models = sorted(k for k in ("det_model", "rec_model") if options.get(k) is not None)
        if models:
            raise OptionError(f"give a pipeline or {' / '.join(models)}, not both")
    unknown = sorted(set(options) - taken)
    if unknown:
        raise OptionError(
            f"unknown OCR option(s): {', '.join(unknown)} (known: {', '.join(sorted(taken))})"
        )


def build_ocr(pipeline: str | None, options: dict[str, Any]):  # noqa: ANN201
    """An :class:`OCR` from a pipeline name (or None: ``det_model`` / ``rec_model`` in
    ``options``) and the other keyword options."""
    from slimocr.infer.pipeline import OCR

    if pipeline is None:
        return OCR(**options)
    return OCR.from_pipeline(pipeline, **options)


def _named(exc: SlimOCRError, source: str) -> SlimOCRError:
    """``exc`` naming ``source`` (:func:`~slimocr.inputs.named_after`): a rendered page is an
    ``<array>`` to :func:`~slimocr.infer.image.load_image`."""
    message = str(exc)
    renamed = named_after(message, source)
    return exc if renamed == message else type(exc)(renamed)


def read_one(ocr, source: str) -> Outcome:  # noqa: ANN001
    """One source's result, or the input error it raised (named after the source). A PDF
    page's rendering counts as its ``load`` time."""
    image: object = source  # a rendered page's errors name it <array>: see _named
    try:
        start = time.perf_counter()
        image = load_source(source)
        render_ms = 0.0 if isinstance(image, str) else (time.perf_counter() - start) * 1000.0
        result = ocr(image)
    except SlimOCRError as exc:
        return exc if isinstance(image, str) else _named(exc, source)
    result.source = source
    if render_ms:
        result.elapsed_ms["load"] = result.elapsed_ms.get("load", 0.0) + render_ms
        result.elapsed_ms["total"] = result.elapsed_ms.get("total", 0.0) + render_ms
    return result


# ---- worker side: one OCR per process, built by the pool's initializer --------------------
_WORKER: dict[str, Any] = {}


def _init_worker(pipeline: str | None, options: dict[str, Any]) -> None:
    from slimocr.infer.memory import keep_freed_memory

    # Ctrl-C reaches the whole process group: the parent stops the run, workers stay quiet
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep_freed_memory()  # the worker process is ours
    try:
        _WORKER["ocr"] = build_ocr(pipeline, options)
    except SlimOCRError as exc:  # reported by the first task, then the run stops
        # (raised here, any error breaks the pool, which reads as a worker killed)
        _WORKER["setup_error"] = exc
    except Exception as exc:  # one line in the parent too, and always picklable
        _WORKER["setup_error"] = ModelFileError(
            f"cannot build the OCR ({type(exc).__name__}: {exc})"
        )


def _work(source: str) -> tuple[str, Outcome]:
    if "setup_error" in _WORKER:
        raise _WORKER["setup_error"]
    return source, read_one(_WORKER["ocr"], source)


def _one_or_many(items: Iterable[str | os.PathLike[str]] | str | os.PathLike[str]) -> Iterable[Any]:
    """A single path is one input, not the characters of its name."""
    return [items] if isinstance(items, (str, os.PathLike)) else items


def ocr_many(
    sources: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
    workers: int = 1,
    threads: int | None = None,
    pipeline: str | None = None,
    **options: Any,
) -> Iterator[tuple[str, Outcome]]:
    """Read many sources (paths or ``FILE.pdf#page=N``), yielding results as they finish.

    Args:
        sources: the sources, ``str`` or :class:`~pathlib.Path` (one path alone is one
            source; :func:`~slimocr.runtime.sources.collect_sources` expands folders, lists
            and PDFs).
        workers: processes (1 to :data:`MAX_WORKERS`); 1 reads in this process.
        threads: ONNX Runtime threads per model and worker (None: cores // workers).
        pipeline: a pipeline name for :meth:`OCR.from_pipeline`, else the models come from
            ``options`` (``det_model``, ``rec_model``).
        **options: the other :class:`~slimocr.infer.pipeline.OCR` options.

    Yields:
        ``(source, result)``: the source as a string; ``result`` is an :class:`OCRResult` or
        the input error (:class:`SlimOCRError`) of that source.

    Raises:
        OptionError: a bad worker or thread count, or an unknown option, on the call itself.
        SlimOCRError: the OCR cannot be built (a model or option error), before any result.
    """
    check_run_options(workers, threads, pipeline, options)
    options = {**options, "threads": threads_per_worker(workers, threads)}
    todo = (os.fspath(source) for source in _one_or_many(sources))
    return _read_many(todo, workers, pipeline, options)


def _read_many(
    todo: Iterator[str], workers: int, pipeline: str | None, options: dict[str, Any]
) -> Iterator[tuple[str, Outcome]]:
    if workers == 1:
        ocr = build_ocr(pipeline, options)
        for source in todo:
            yield source, read_one(ocr, source)
        return
    context = multiprocessing.get_context("spawn")  # no fork after ONNX Runtime's threads
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(pipeline, options)
    ) as pool:
        pending: set[Future] = set()
        try:
            for source in todo:
                pending.add(pool.submit(_work, source))
                if len(pending) >= 2 * workers:  # a short queue: results stream, memory flat
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        yield future.result()
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        except (KeyboardInterrupt, GeneratorExit):  # Ctrl-C, or the reader stopped early
            pool.shutdown(wait=True, cancel_futures=True)  # queued sources are not started
            raise


@dataclass
class RunSummary:
    """What a run to a results file did.

    Attributes:
        total: sources found.
        skipped: sources the results file already held (resume).
        done: results written by this run.
        failed: ``(source, message)`` of the sources that raised an input error (not written;
            a resumed run tries them again).
        elapsed_s: wall time of the reading, model loading included.
    """

    total: int
    skipped: int
    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def images_per_s(self) -> float:
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0


def ocr_to_jsonl(
    inputs: Iterable[str | Path] | str | Path,
    out: str | Path,
    workers: int = 1,
    resume: bool = False,
    recursive: bool = False,
    list_file: str | Path | None = None,
    progress: bool = False,
    on_result: Any = None,
    threads: int | None = None,
    pipeline: str | None = None,
    **options: Any,
) -> RunSummary:
    """Read images, folders, lists and PDFs into a JSON lines file, one result per line as
    :meth:`OCRResult.to_dict` gives it, each line durable once written.

    With ``resume`` a file left by an earlier run (even one killed mid-write) is continued:
    its partial last line is cut, the sources it holds are skipped, and nothing is written
    twice. Sources that failed are reported in the summary, not written, so a resumed run
    tries them again.

    Args:
        inputs: image files, PDF files, folders (one path alone is one input).
        out: the JSON lines file.
        workers, threads, pipeline, options: as for :func:`ocr_many`.
        resume: continue ``out`` (else an existing non-empty ``out`` is refused).
        recursive, list_file: as for :func:`collect_sources`.
        progress: show a progress bar (images/s) on stderr.
        on_result: called with each ``(source, result)`` as it arrives (e.g. to print it).

    Raises:
        OptionError: ``out`` holds results and ``resume`` is off; a bad option (checked
            before ``out`` is created).
        ConfigError: ``out`` cannot be written, or (on resume) is not a results file.
        SlimOCRError: the OCR cannot be built (an input that gives no source and an image
            that fails are listed in the summary instead).
    """
    start = time.perf_counter()
    check_run_options(workers, threads, pipeline, options)
    sources, problems = collect_sources(
        _one_or_many(inputs), recursive=recursive, list_file=list_file
    )
    with ResultsFile(out, resume=resume) as results:
        todo = [s for s in sources if s not in results.done]
        summary = RunSummary(total=len(sources), skipped=len(sources) - len(todo))
        summary.failed += [("", p) for p in problems]
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="img", disable=not progress, dynamic_ncols=True)
        with bar:
            for source, result in ocr_many(todo, workers, threads, pipeline, **options):
                if isinstance(result, SlimOCRError):
                    summary.failed.append((source, str(result)))
                else:
                    results.write(result.to_dict())
                    summary.done += 1
                if on_result is not None:
                    on_result(source, result)
                bar.update(1)
    summary.elapsed_s = time.perf_counter() - start
    return summary
