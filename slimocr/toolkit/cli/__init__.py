"""The toolkit commands (``slimocr train|import|export|quant|prune|synth|zoo build``),
registered lazily by :mod:`slimocr.cli.main`.
"""
