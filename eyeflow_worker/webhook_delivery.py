"""Signed webhook delivery (Standard Webhooks): sign, POST, back off. The allow-list that guards
webhook URLs is `core.webhook_urls` (the gateway checks it at submission)."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

_SECRET_PREFIX = "whsec_"  # noqa: S105 - the spec's prefix, not a secret


def signer(secret: str) -> Webhook:
    """A Standard Webhooks signer. `whsec_<base64>` secrets are decoded as the spec says; any other
    string is used as raw UTF-8 key bytes (HMAC-SHA256(secret, "id.timestamp.body"))."""
    if secret.startswith(_SECRET_PREFIX):
        return Webhook(secret)
    return Webhook(secret.encode())


@dataclass(frozen=True)
class SignedDelivery:
    body: str
    headers: dict[str, str]


def sign_delivery(
    secret: str, message_id: str, payload: Mapping[str, Any], now: datetime | None = None
) -> SignedDelivery:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True)
    timestamp = (now or datetime.now(UTC)).astimezone(UTC)
    signature = signer(secret).sign(message_id, timestamp, body)
    headers = {
        "content-type": "application/json",
        "user-agent": "eyeflow-webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }
    return SignedDelivery(body=body, headers=headers)


class DeliveryFailed(Exception):
    """The receiver did not acknowledge (network error or non-2xx)."""


def post_delivery(client: httpx.Client, url: str, delivery: SignedDelivery) -> int:
    try:
        response = client.post(url, content=delivery.body, headers=delivery.headers)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"receiver answered HTTP {response.status_code}")
    return response.status_code


def backoff_delay(attempt: int, base_seconds: float, cap_seconds: float = 600.0) -> float:
    """Exponential backoff with full jitter for delivery attempt `attempt` (1-based)."""
    ceiling = min(cap_seconds, base_seconds * (2 ** (attempt - 1)))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography
