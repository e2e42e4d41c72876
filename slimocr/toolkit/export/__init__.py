"""ONNX export of the torch models (needs the ``slimocr[train]`` extra)."""
