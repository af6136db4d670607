"""The route class every router uses: JSON bodies only (415 otherwise), parsed with orjson."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from carelog.errors import UnsupportedMediaType

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


class OrjsonRequest(Request):
    """A request whose JSON body is parsed by orjson: faster, strict UTF-8, bounded nesting."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = orjson.loads(await self.body())
        return self._json


class JsonRoute(APIRoute):
    """Refuses non-JSON bodies with 415 before FastAPI tries to read them."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_body = self.body_field is not None

        async def json_route_handler(request: Request) -> Response:
            if takes_body and request.method in _BODY_METHODS:
                if not _is_json(request.headers.get("content-type", "")):
                    raise UnsupportedMediaType("Send the request body as application/json.")
                request = OrjsonRequest(request.scope, request.receive)
            return await handler(request)

        return json_route_handler
