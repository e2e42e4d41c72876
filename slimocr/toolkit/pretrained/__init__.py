"""Import of the official PP-OCR weights into the torch models (needs ``slimocr[train]``)."""
