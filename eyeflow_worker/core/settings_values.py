"""How the settings read values that are more than a string: JSON objects held in one variable,
and Standard Webhooks secrets. Apart from `settings.py` so that file stays the list of knobs."""

from __future__ import annotations

import base64
import binascii
import json

from pydantic import SecretStr


def json_object(value: object) -> object:
    """A JSON object given as text (or already parsed); None and blank are `{}`. Raises
    ValueError with the parser's position, so a bad value stops the process at start-up
    instead of failing the first job that needs it."""
    if value is None:
        return {}
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg} at position {exc.pos})") from None
        if not isinstance(value, dict):
            raise ValueError("must be a JSON object")
    return value


def check_webhook_secret(raw: str) -> None:
    """A `whsec_` secret is base64 (Standard Webhooks) of at least 16 bytes; any other string is
    used as raw key bytes. Raises ValueError for a `whsec_` one that does not decode."""
    if not raw.startswith("whsec_"):
        return
    try:
        decoded = base64.b64decode(raw.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a whsec_ secret must be base64 after the prefix") from None
    if len(decoded) < 16:
        raise ValueError("a whsec_ secret must hold at least 16 bytes")
