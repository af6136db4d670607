"""``/docs`` works without internet: the page and every asset it loads come from the app."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
import pytest

from carelog.api.docs import ASSETS_DIR, SWAGGER_JS

pytestmark = pytest.mark.e2e

CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


class _References(HTMLParser):
    """Every ``src`` and ``href`` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [value for name, value in attrs if name in {"src", "href"} and value]


async def test_docs_load_nothing_from_outside_the_app(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert re.findall(r"(?:https?:)?//[\w.-]+", html) == [], "the page names another host"

    parser = _References()
    parser.feed(html)
    assets = parser.found
    assert len(assets) == 3, assets  # script, stylesheet, icon
    for url in assets:
        assert url.startswith("/docs/assets/"), url
        asset = await client.get(url)
        assert asset.status_code == 200, url
        suffix = url[url.rindex(".") :]
        assert asset.headers["content-type"].startswith(CONTENT_TYPES[suffix]), url
        assert asset.content == (ASSETS_DIR / url.rsplit("/", 1)[1]).read_bytes()

    # The document Swagger UI is told to read, also from here; no online validator.
    [openapi_url] = re.findall(r"url: '([^']+)'", html)
    assert (await client.get(openapi_url)).status_code == 200
    assert '"validatorUrl": null' in html


async def test_the_shipped_swagger_ui_reads_openapi_3_1(client: httpx.AsyncClient) -> None:
    """FastAPI writes OpenAPI 3.1, which Swagger UI renders from version 5 on."""
    schema = (await client.get("/openapi.json")).json()
    assert schema["openapi"].startswith("3.1")
    bundle = (ASSETS_DIR / SWAGGER_JS).read_text(encoding="utf-8")
    versions = re.findall(r'PACKAGE_VERSION:"(\d+)\.(\d+)\.(\d+)"', bundle)
    assert versions, "cannot find the Swagger UI version in its bundle"
    assert int(versions[0][0]) >= 5


async def test_redoc_is_off(client: httpx.AsyncClient) -> None:
    """Off rather than served locally: see api/docs.py."""
    assert (await client.get("/redoc")).status_code == 404
    assert (await client.get("/docs/oauth2-redirect")).status_code == 404


async def test_assets_are_the_only_files_served(client: httpx.AsyncClient) -> None:
    for path in ["/docs/assets/", "/docs/assets/../core.py", "/docs/assets/%2e%2e/core.py"]:
        assert (await client.get(path)).status_code == 404, path
