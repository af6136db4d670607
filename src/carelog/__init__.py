"""Carelog: durable, auditable patient memory and workflow API for healthcare AI agents."""

__version__ = "0.1.0"
