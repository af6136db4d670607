"""Synthetic patients for trying Carelog, benchmarking it and testing agents against it:
``carelog generate`` writes them as NDJSON (see :mod:`carelog.synthetic.population`)."""
