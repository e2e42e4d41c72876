"""``slimocr ocr IMAGE...``: detect and recognize text, one line per text line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from slimocr.cli.common import CliErrors, error, fail
from slimocr.inputs import path_kind, printable

if TYPE_CHECKING:  # the pipeline (onnxruntime) is imported when a command runs
    from slimocr.infer.results import OCRResult


def ocr_cmd(
    images: list[Path] = typer.Argument(
        None,
        help="image files, PDF files or folders (or give --list)",
        show_default=False,
        readable=False,
    ),
    det_model: str | None = typer.Option(None, "--det-model", help="zoo name or .onnx path"),
    rec_model: str | None = typer.Option(None, "--rec-model", help="zoo name or .onnx path"),
    model: str | None = typer.Option(
        None,
        "--model",
        help="a pipeline (benchmark row, e.g. 'slimocr-v6s-ptq', 'rapidocr-ppocrv6-small') "
        "or 'DET,REC' (two zoo names or paths)",
    ),
    charset: Path | None = typer.Option(
        None, help="charset file, if the rec model has none", readable=False
    ),
    threads: int | None = typer.Option(None, help="ONNX Runtime intra-op threads"),
    limit_side_len: int | None = typer.Option(
        None, help="detector resize limit [default: the pipeline's, else 960]"
    ),
    limit_type: str | None = typer.Option(
        None, help="'max' or 'min' side limited [default: the pipeline's, else max]"
    ),
    max_side: int | None = typer.Option(
        None,
        "--max-side",
        help="cap on the detector input's longer side [default: the pipeline's, else 4000]",
    ),
    thresh: float | None = typer.Option(
        None, help="DB binarization threshold [default: the pipeline's, else 0.3]"
    ),
    box_thresh: float | None = typer.Option(
        None, help="DB box score threshold [default: the pipeline's, else 0.6]"
    ),
    unclip_ratio: float | None = typer.Option(
        None, help="DB unclip ratio [default: the pipeline's, else 1.5]"
    ),
    drop_score: float = typer.Option(0.5, help="drop lines recognized below this confidence"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object per image"),
    draw: Path | None = typer.Option(
        None,
        help="write the image with boxes (a file for one image, else a folder)",
        readable=False,
    ),
    provider: str = typer.Option(
        "cpu", help="ONNX Runtime execution provider(s): cpu, cuda, openvino, coreml, ..."
    ),
    cls: bool = typer.Option(
        False,
        "--cls",
        help="turn text lines found upside down; read a turned page in its own order",
    ),
    word_boxes: bool = typer.Option(False, "--word-boxes", help="add each line's words + boxes"),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="write results as JSON lines to this file, as they finish",
        readable=False,
    ),
    workers: int = typer.Option(1, help="worker processes (threads default to cores/workers)"),
    resume: bool = typer.Option(False, help="continue --out, skipping the images it holds"),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="folders: subfolders too"),
    list_file: Path | None = typer.Option(
        None, "--list", help="a text file listing images (one path a line)", readable=False
    ),
) -> None:
    """Print every text line of each IMAGE with its box and confidence.

    A folder stands for the image files in it (by name; not its subfolders unless --recursive).
    A bad image gets one error line and a non-zero exit; the other images are still processed.
    With --out, --workers, --recursive, --list or PDF files (given or in a folder given; the
    pdf extra), the images are read by worker processes with a progress bar; --resume
    continues an --out file.
    """
    from slimocr.infer.pipeline import OCR

    if (det_model or rec_model) and model is not None:
        fail("give --model, or --det-model / --rec-model, not both")
    # settings left None: a named pipeline's own, else the OCR defaults
    options = {
        "charset": charset,
        "threads": threads,
        "drop_score": drop_score,
        "providers": provider,
        "orientation": cls,
        "word_boxes": word_boxes,
        "reuse_memory": True,  # this process is the command's own
        "det_limit_side_len": limit_side_len,
        "det_limit_type": limit_type,
        "det_max_side": max_side,
        "det_thresh": thresh,
        "box_thresh": box_thresh,
        "unclip_ratio": unclip_ratio,
    }
    images = images or []
    if not images and list_file is None:
        fail("give IMAGE files or folders, or --list FILE", code=2)
    batch_flags = [
        flag
        for flag, given in (
            ("--out", out is not None),
            ("--workers", workers != 1),
            ("--resume", resume),
            ("--recursive", recursive),
            ("--list", list_file is not None),
        )
        if given
    ]
    if batch_flags or _has_pdf(images):
        from slimocr.cli.ocr_batch import run_batch

        if draw is not None and batch_flags:
            fail(f"--draw reads one image at a time: leave out {'/'.join(batch_flags)}", code=2)
        if draw is not None:
            fail("--draw draws on image files, not PDF pages: leave out --draw or the PDFs", code=2)
        if model is not None and "," in model:
            det_model, rec_model = (p.strip() for p in model.split(",", 1))
            model = None
        if model is None:
            options.update(det_model=det_model, rec_model=rec_model)
        run_batch(images, out, workers, resume, recursive, list_file, as_json, model, options)
        return
    with CliErrors():
        images, missing = expand_images(images)
        if draw is not None:
            _check_draw(draw, single=len(images) == 1)
        if model is None:
            engine = OCR(det_model=det_model, rec_model=rec_model, **options)  # type: ignore[arg-type]
        elif "," in model:
            parts = [p.strip() for p in model.split(",")]
            if len(parts) != 2:
                fail("--model takes a pipeline name or 'DET,REC' (two zoo names or paths)")
            engine = OCR(det_model=parts[0], rec_model=parts[1], **options)  # type: ignore[arg-type]
        else:
            engine = OCR.from_pipeline(model, **options)
    failures = len(missing)
    for message in missing:
        error(message)
    drawn: set[Path] = set()
    for source, result in engine.ocr_many(images):
        if isinstance(result, Exception):
            failures += 1
            error(result)
            continue
        if as_json:
            typer.echo(result.to_json())
        else:
            ms = result.elapsed_ms.get("total", 0.0)
            typer.echo(f"# {printable(source)}: {len(result.lines)} lines, {ms:.0f} ms")
            for line in result.lines:
                box = " ".join(f"{x:.0f},{y:.0f}" for x, y in line.box)
                typer.echo(f"{line.score:.3f}\t{box}\t{line.text}")
        if draw is not None:
            problem = _draw(Path(source), result, draw, single=len(images) == 1, taken=drawn)
            if problem:
                failures += 1
                error(problem)
    if failures:
        raise typer.Exit(1)


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def _has_pdf(paths: list[Path]) -> bool:
    """A PDF file among ``paths``, or in a folder among them: its pages are read by the batch
    path (:mod:`slimocr.runtime.sources`), which this command's image path does not do."""
    for path in paths:
        if path.suffix.lower() == ".pdf":
            return True
        if path_kind(path) != "dir":
            continue
        try:
            with os.scandir(path) as entries:
                names = [entry.name for entry in entries]
        except OSError:  # reported when the folder is read
            continue
        if any(n.lower().endswith(".pdf") and path_kind(path / n) == "file" for n in names):
            return True
    return False


def expand_images(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """Replace each folder by its image files (sorted by name, by suffix, no subfolders).

    Returns:
        ``(images, problems)``: the paths to read (files as given, whatever their suffix), and
        one message per folder that holds no image file.
    """
    images: list[Path] = []
    problems: list[str] = []
    for path in paths:
        if path_kind(path) != "dir":
            images.append(path)  # read (or refused, with its reason) as an image
            continue
        try:
            found = sorted(
                p
                for p in path.iterdir()
                if p.suffix.lower() in IMAGE_SUFFIXES and path_kind(p) == "file"
            )
        except OSError as exc:
            problems.append(f"{path}: cannot list folder ({exc.strerror or exc})")
            continue
        if not found:
            problems.append(f"{path}: folder holds no image file ({', '.join(IMAGE_SUFFIXES)})")
        images.extend(found)
    return images, problems


def _draw_target(draw: Path, source: Path, single: bool, taken: set[Path]) -> Path:
    """One image and a name with a suffix (not an existing folder): that file; else
    ``<stem>_ocr.png`` in the folder ``draw``, or ``<stem>_ocr_2.png``, ... when an earlier
    image of this call (same stem, another folder or suffix) took that name."""
    if single and draw.suffix and path_kind(draw) != "dir":
        return draw
    out, n = draw / f"{source.stem}_ocr.png", 1
    while out in taken:
        n += 1
        out = draw / f"{source.stem}_ocr_{n}.png"
    return out


def _check_draw(draw: Path, single: bool) -> None:
    """Refuse a ``--draw`` target that cannot be written, before any work."""
    from slimocr.files import file_in_the_way

    if single and draw.suffix and path_kind(draw) != "dir":
        if draw.suffix.lower() not in IMAGE_SUFFIXES:
            fail(f"--draw {draw}: not an image file name ({', '.join(IMAGE_SUFFIXES)})", code=2)
        folder = draw.parent
    else:
        folder = draw
    blocker = file_in_the_way(folder)
    if blocker is not None:
        fail(f"--draw {draw}: {blocker} is a file, not a folder", code=2)


def _draw(
    source: Path, result: OCRResult, draw: Path, single: bool, taken: set[Path]
) -> str | None:
    """Write the drawn image whole or not at all (no partial file, no OpenCV log line);
    returns a problem line when it could not be written."""
    import cv2

    from slimocr.errors import SlimOCRError
    from slimocr.files import atomic_write
    from slimocr.infer.draw import draw_result
    from slimocr.infer.image import load_image

    out = _draw_target(draw, source, single, taken)
    taken.add(out)
    try:
        canvas = draw_result(load_image(source), result)
        ok, encoded = cv2.imencode(out.suffix.lower(), canvas)
    except SlimOCRError as exc:
        return f"{out}: cannot draw: {exc}"
    except cv2.error as exc:
        return f"{out}: cannot encode the drawn image ({exc.err})"
    if not ok:
        return f"{out}: cannot encode the drawn image"

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(encoded.tobytes())

    try:
        atomic_write(out, write)
    except SlimOCRError as exc:
        return f"{exc} (the drawn image)"
    except OSError as exc:
        return f"{out}: cannot write the drawn image ({exc.strerror or exc})"
    return None
