"""Rebuilding zoo models from their recipes (needs the ``slimocr[train]`` extra)."""
