"""/docs and /redoc work offline: their pages name no other host, and the gateway itself serves
the scripts and styles they load."""

from __future__ import annotations

import re

import pytest

from tests.api_gateway.auth_helpers import secured
from tests.api_gateway.submit_helpers import gateway

# Any absolute URL or protocol-relative one ("//cdn…") in src/href, or in a JS string literal.
_EXTERNAL = re.compile(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}""", re.IGNORECASE)
_ASSET = re.compile(r"""(?:src|href)=["']?([^"' >]+)|url: *['"]([^'"]+)['"]""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_nothing_from_elsewhere(page: str) -> None:
    with gateway() as gw:
        answer = gw.http.get(page)
        assert answer.status_code == 200
        html = answer.text
        assert not _EXTERNAL.findall(html), _EXTERNAL.findall(html)
        assets = [a or b for a, b in _ASSET.findall(html)]
        assert any(asset.endswith(".js") for asset in assets), assets
        for asset in assets:
            fetched = gw.http.get(asset)
            assert fetched.status_code == 200, asset
            assert fetched.content, asset


def test_the_docs_stay_open_on_a_secured_gateway() -> None:
    with secured() as gw:
        for path in ("/docs", "/redoc", "/static/docs/swagger-ui-bundle.js", "/openapi.json"):
            assert gw.http.get(path).status_code == 200, path
        assert gw.http.get("/providers").status_code == 401  # the API itself is not


def test_the_docs_routes_are_not_operations() -> None:
    with gateway() as gw:
        paths = gw.http.get("/openapi.json").json()["paths"]
    assert not {"/docs", "/redoc"} & set(paths)
