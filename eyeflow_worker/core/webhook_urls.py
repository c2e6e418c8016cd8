"""Which URLs may receive webhooks: the allow-list check the gateway runs at submission."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx


def webhook_url_problem(url: str, allowed_hosts: list[str]) -> str | None:
    """Why `url` may not receive webhooks, or None when it may.

    Hosts match exactly, or by suffix for entries written `*.example.com`. Only http(s) with a
    host and without credentials in the URL are accepted.
    """
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        _ = parts.port  # raises on a port that is not a number
        httpx.URL(url)  # what will really send it must accept it too
    except (ValueError, httpx.InvalidURL):
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must use http or https"
    if not host:
        return "must name a host"
    if parts.username or parts.password:
        return "must not carry credentials"
    for allowed in allowed_hosts:
        if allowed.startswith("*.") and host.endswith(allowed[1:]):
            return None
        if host == allowed:
            return None
    return f"host {host!r} is not in WEBHOOK_ALLOWED_HOSTS"
