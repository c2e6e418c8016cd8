"""Redis layout of the per-tenant configuration cache (LLM config + aggregated context).

Keys, all under `eyeflow:tenantcfg:` (the tenant in braces is a Redis Cluster hash tag, so a
tenant's keys share a slot, and no tenant id can collide with another's keys):

    eyeflow:tenantcfg:tenants                 SET   tenants with something cached (beat uses it)
    eyeflow:tenantcfg:{<tenant>}:config       JSON  {"fetched_at", "value": {..., "api_key_enc"}}
    eyeflow:tenantcfg:{<tenant>}:context      JSON  {"fetched_at", "value": {...} | null}
    eyeflow:tenantcfg:{<tenant>}:<kind>:error JSON  last failed fetch {"code", "message", "at"}
    eyeflow:tenantcfg:{<tenant>}:<kind>:lock  STR   single-flight lock (PX-bounded)

Records live much longer in Redis (`retention_seconds`) than they are fresh (the store's TTL):
the old value is the last-known-good one served while NestJS is down. The API key is stored
only Fernet-encrypted (see `crypto.py`).
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any, Literal

import redis
from pydantic import SecretStr

from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.tenant_config.crypto import SecretBox

logger = logging.getLogger(__name__)

Kind = Literal["config", "context"]
KINDS: tuple[Kind, Kind] = ("config", "context")
PREFIX = "eyeflow:tenantcfg"
TENANTS_KEY = f"{PREFIX}:tenants"


def record_key(tenant: str, kind: Kind) -> str:
    return f"{PREFIX}:{{{tenant}}}:{kind}"


def error_key(tenant: str, kind: Kind) -> str:
    return f"{record_key(tenant, kind)}:error"


def lock_key(tenant: str, kind: Kind) -> str:
    return f"{record_key(tenant, kind)}:lock"


@dataclass(frozen=True)
class RawRecord:
    fetched_at: float
    value: Any


@dataclass(frozen=True)
class FetchError:
    id: str
    code: str
    message: str
    at: float


class TenantCache:
    """Reads and writes the records; knows nothing about NestJS or freshness."""

    def __init__(self, client: redis.Redis, retention_seconds: int) -> None:
        self.client = client
        self.retention_seconds = retention_seconds

    def read(self, tenant: str, kind: Kind) -> RawRecord | None:
        raw = self.client.get(record_key(tenant, kind))
        if raw is None:
            return None
        try:
            data = json.loads(str(raw))
            return RawRecord(float(data["fetched_at"]), data["value"])
        except (ValueError, KeyError, TypeError):
            logger.warning("Ignoring a corrupt %s cache record for tenant %r", kind, tenant)
            return None

    def write(self, tenant: str, kind: Kind, value: Any, fetched_at: float) -> None:
        """Store a successful fetch, clear the last error and remember the tenant."""
        payload = json.dumps({"fetched_at": fetched_at, "value": value}, separators=(",", ":"))
        pipe = self.client.pipeline()
        pipe.set(record_key(tenant, kind), payload, ex=self.retention_seconds)
        pipe.delete(error_key(tenant, kind))
        pipe.sadd(TENANTS_KEY, tenant)
        pipe.execute()

    def delete(self, tenant: str, kind: Kind) -> int:
        return int(self.client.delete(record_key(tenant, kind)))

    def read_error(self, tenant: str, kind: Kind) -> FetchError | None:
        raw = self.client.get(error_key(tenant, kind))
        if raw is None:
            return None
        try:
            data = json.loads(str(raw))
            return FetchError(
                str(data["id"]), str(data["code"]), str(data["message"]), float(data["at"])
            )
        except (ValueError, KeyError, TypeError):
            return None

    def write_error(self, tenant: str, kind: Kind, code: str, message: str, at: float) -> None:
        error = {"id": secrets.token_hex(8), "code": code, "message": message, "at": at}
        self.client.set(error_key(tenant, kind), json.dumps(error), ex=self.retention_seconds)

    def clear_error(self, tenant: str, kind: Kind) -> None:
        self.client.delete(error_key(tenant, kind))

    def tenants(self) -> list[str]:
        return sorted(str(member) for member in self.client.smembers(TENANTS_KEY))

    def forget_tenant(self, tenant: str) -> None:
        self.client.srem(TENANTS_KEY, tenant)

    def tenants_with(self, kind: Kind) -> list[str]:
        """Tenants that have a `kind` record, found by SCAN (also those missing from the set)."""
        head, tail = f"{PREFIX}:{{", f"}}:{kind}"
        found = []
        for key in self.client.scan_iter(match=f"{head}*{tail}", count=500):
            name = str(key)
            found.append(name[len(head) : -len(tail)])
        return sorted(found)


# --- the LLM config record -----------------------------------------------------------------------


def encode_config(config: ProviderConfig, box: SecretBox) -> dict[str, Any]:
    key = config.api_key.get_secret_value() if config.api_key is not None else None
    return {
        "provider": config.provider,
        "model": config.model,
        "temperature": config.temperature,
        "max_tokens": config.max_tokens,
        "api_url": config.api_url,
        "api_key_enc": box.encrypt(key) if key else None,
    }


def decode_config(
    value: Any, box: SecretBox, request_timeout_seconds: float
) -> ProviderConfig | None:
    """The config, or None when the record is unusable (e.g. encrypted with a retired key)."""
    if not isinstance(value, dict):
        return None
    api_key: SecretStr | None = None
    if value.get("api_key_enc"):
        plaintext = box.decrypt(str(value["api_key_enc"]))
        if plaintext is None:
            logger.warning(
                "A cached API key cannot be decrypted (CACHE_ENCRYPTION_KEY changed?); "
                "the configuration will be fetched again"
            )
            return None
        api_key = SecretStr(plaintext)
    try:
        return ProviderConfig(
            provider=value["provider"],
            model=value["model"],
            temperature=value["temperature"],
            max_tokens=value["max_tokens"],
            api_key=api_key,
            api_url=value.get("api_url"),
            request_timeout_seconds=request_timeout_seconds,
        )
    except (KeyError, ValueError, TypeError):
        return None
