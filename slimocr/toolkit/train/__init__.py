"""Training: configs, losses, the loop (needs the slimocr[train] extra)."""
