"""Model compression (needs the ``slimocr[train]`` extra): ``prune`` (FPGM filter pruning) and
``quant`` (fake-quant, PACT, PTQ, QAT)."""
