"""Responses of events as the database rendered them, and the header of what was withheld."""

from __future__ import annotations

import orjson
from fastapi import Response

# How many matching events a list left out for their sensitivity labels.
WITHHELD_HEADER = "Carelog-Withheld-Count"
WITHHELD = {
    WITHHELD_HEADER: {
        "description": "How many matching events were left out for their sensitivity labels "
        "(sent when the key may not see every label).",
        "schema": {"type": "string", "pattern": r"^[0-9]+$"},
    }
}


def event_json(body: str, headers: dict[str, str] | None = None) -> Response:
    """A response of JSON the database rendered (see EventDocument), in the compact form
    every other route answers with.

    PostgreSQL spaces its separators (``{"id" : 1, "payload" : {"a": 1}}``), and no function
    of its own writes compact text; orjson parses and writes a page back in tens of
    microseconds (docs/benchmarks.md, "Compact JSON from every route").
    """
    return Response(
        orjson.dumps(orjson.loads(body)), media_type="application/json", headers=headers
    )


def event_list_json(documents: list[str], headers: dict[str, str] | None = None) -> Response:
    """A JSON array of events the database rendered, compact (see :func:`event_json`)."""
    return event_json("[" + ",".join(documents) + "]", headers)
