"""The interactive API docs at ``/docs``, served whole by this process: no CDN, no internet.

Swagger UI's files come from the ``fastapi-offline`` package (its ``static`` folder, the
current ``swagger-ui-dist`` build) and are mounted at ``/docs/assets``. Like health, these
routes are public on purpose: the page and its assets hold no data, and every request the
page's "Try it out" makes goes to a protected route with the caller's own key.

ReDoc (FastAPI's ``/redoc``) is off: it only repeats what Swagger UI shows, cannot send a
request, and even served locally its bundle loads its logo from its vendor's CDN.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"
ASSETS_DIR = Path(str(files("fastapi_offline").joinpath("static")))
# What the page loads, all from ASSETS_URL (a test checks each is shipped and served).
SWAGGER_JS = "swagger-ui-bundle.js"
SWAGGER_CSS = "swagger-ui.css"
FAVICON = "favicon.png"

# Swagger UI's default would send the OpenAPI document's URL to an online validator.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}

router = APIRouter(tags=["docs"], include_in_schema=False)


@router.get(DOCS_URL, include_in_schema=False)
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI for this app's OpenAPI document, every asset served by the app itself."""
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} API",
        swagger_js_url=f"{root}{ASSETS_URL}/{SWAGGER_JS}",
        swagger_css_url=f"{root}{ASSETS_URL}/{SWAGGER_CSS}",
        swagger_favicon_url=f"{root}{ASSETS_URL}/{FAVICON}",
        # Bearer tokens are pasted into "Authorize": there is no OAuth flow to redirect to.
        oauth2_redirect_url=None,
        swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
    )


def install_docs(app: FastAPI) -> None:
    """Mount the docs page and its assets on ``app`` (created with ``docs_url=None``)."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    app.include_router(router)
