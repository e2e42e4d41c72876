"""Running the OCR on real workloads: many images in worker processes with a resumable JSON
lines output (:mod:`slimocr.runtime.pool`), input collection from folders, lists and PDF pages
(:mod:`slimocr.runtime.sources`), Ray Data (:mod:`slimocr.runtime.ray_data`) and an HTTP server
(:mod:`slimocr.runtime.server`)."""

from slimocr.runtime.pool import RunSummary, ocr_many, ocr_to_jsonl
from slimocr.runtime.sources import collect_sources

__all__ = ["RunSummary", "collect_sources", "ocr_many", "ocr_to_jsonl"]
