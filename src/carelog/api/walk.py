"""Every API route of an app, inside the routers it includes too."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every API route in ``routes``, inside included routers too."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        else:
            included = getattr(getattr(route, "original_router", None), "routes", None)
            if included is not None:
                yield from api_routes(included)
