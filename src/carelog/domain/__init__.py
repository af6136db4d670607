"""Pydantic models of Carelog's aggregates and their rules. No I/O, no imports from the package."""
