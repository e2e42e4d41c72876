"""The toolkit: model definitions, weight import, training, compression and export.

Everything under ``slimocr.toolkit`` may import torch (the ``slimocr[train]`` extra). The runtime
(every other ``slimocr`` module) never imports this package; ``tests/unit/test_layout.py`` checks
that direction.
"""
