"""Signed webhook delivery (Standard Webhooks): sign, POST, back off.

Where a webhook may go is the egress policy of `WEBHOOK_ALLOWED_HOSTS` (`core.egress`): the
gateway checks the URL at submission (`core.webhook_urls`), and every delivery attempt checks it
again where it connects — `webhook_client` is guarded (`core.egress_transport`), keeps no
connection between requests (so each attempt resolves and checks afresh) and follows no redirect.

What a failed attempt records (`webhook.last_error`, which the caller reads) is one of two
things: the receiver's HTTP status, or "could not be reached" — the same words for a refused
destination, a closed port, a DNS failure, a timeout or a TLS error, so the task object cannot
be used to probe which hosts and ports exist behind the fleet. The cause goes to the log.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from eyeflow_worker.core.egress import EgressPolicy, refusal_in, webhook_policy
from eyeflow_worker.core.egress_transport import guarded_client
from eyeflow_worker.core.settings import Settings

log = logging.getLogger(__name__)

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
    """The receiver did not acknowledge (not reached, or a non-2xx answer). The message is what
    the task object may show."""


UNREACHABLE = "delivery failed: the receiver could not be reached"


def webhook_client(settings: Settings) -> httpx.Client:
    """The process's client for webhook deliveries: guarded by WEBHOOK_ALLOWED_HOSTS."""
    return _client(webhook_policy(settings), settings.webhook_timeout_seconds)


@lru_cache(maxsize=4)
def _client(policy: EgressPolicy, timeout_seconds: float) -> httpx.Client:
    return guarded_client(policy, timeout=timeout_seconds, keepalive=False)


def post_delivery(client: httpx.Client, url: str, delivery: SignedDelivery) -> int:
    try:
        response = client.post(url, content=delivery.body, headers=delivery.headers)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        # The origin only: a receiver's path or query often carries its own secret token.
        origin = _origin(url)
        refusal = refusal_in(exc)
        if refusal is not None:
            log.warning("webhook to %s refused: %s %s", origin, refusal.reason, refusal.detail)
        else:
            log.warning("webhook to %s not delivered: %s: %s", origin, type(exc).__name__, exc)
        raise DeliveryFailed(UNREACHABLE) from None
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"receiver answered HTTP {response.status_code}")
    return response.status_code


def _origin(url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "<an invalid URL>"
    return f"{parsed.scheme}://{parsed.host}:{parsed.port or ''}"


def backoff_delay(attempt: int, base_seconds: float, cap_seconds: float = 600.0) -> float:
    """Exponential backoff with full jitter for delivery attempt `attempt` (1-based)."""
    ceiling = min(cap_seconds, base_seconds * (2 ** (attempt - 1)))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography
