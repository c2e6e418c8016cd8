"""Encryption at rest for the secrets the fleet keeps in Redis (LLM API keys).

`CACHE_ENCRYPTION_KEY` holds one Fernet key, or several separated by commas to rotate keys:
the first one encrypts, all of them decrypt. Generate one with
`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`.

In dev with no key set, a key is derived from a fixed constant and the Redis URL, so that every
process sharing that Redis (gateway, workers, beat) derives the same one. That protects nothing
against someone who can read this file, which is why it is refused outside dev.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from eyeflow_worker.core.errors import ConfigInvalid
from eyeflow_worker.core.settings import Settings

logger = logging.getLogger(__name__)

_DEV_KEY_SALT = b"eyeflow-dev-cache-encryption-key:v1:"
_GENERATE_HINT = (
    'generate one with: python -c "from cryptography.fernet import Fernet; '
    'print(Fernet.generate_key().decode())"'
)
_warned_dev_key = False
_warn_lock = threading.Lock()


class SecretBox:
    """Encrypts and decrypts short strings (API keys) with Fernet."""

    def __init__(self, fernet: MultiFernet) -> None:
        self._fernet = fernet

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, token: str) -> str | None:
        """The plaintext, or None when the token was made with a key we no longer have."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            return None


def dev_key(redis_url: str) -> bytes:
    """The deterministic dev-only key: the same in every process that shares `redis_url`."""
    digest = hashlib.sha256(_DEV_KEY_SALT + redis_url.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def secret_box(settings: Settings) -> SecretBox:
    """The box for `settings`; raises ConfigInvalid when no usable key is configured."""
    if settings.cache_encryption_key is not None:
        raw = settings.cache_encryption_key.get_secret_value()
        keys = [part.strip() for part in raw.split(",") if part.strip()]
        fernets: list[Fernet] = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                raise ConfigInvalid(
                    f"CACHE_ENCRYPTION_KEY (key #{position}) is not a valid Fernet key "
                    f"(32 url-safe base64-encoded bytes); {_GENERATE_HINT}"
                ) from None
        if fernets:
            return SecretBox(MultiFernet(fernets))
    if settings.environment != "dev":
        raise ConfigInvalid(
            f"CACHE_ENCRYPTION_KEY must be set when ENVIRONMENT={settings.environment}: API keys "
            f"fetched from NestJS are encrypted with it in Redis; {_GENERATE_HINT}. The same key "
            "must be given to the gateway, the workers and beat."
        )
    _warn_dev_key_once()
    return SecretBox(MultiFernet([Fernet(dev_key(settings.redis_url))]))


def _warn_dev_key_once() -> None:
    global _warned_dev_key
    with _warn_lock:
        if _warned_dev_key:
            return
        _warned_dev_key = True
    logger.warning(
        "CACHE_ENCRYPTION_KEY is not set: API keys cached in Redis are encrypted with a key "
        "derived from a public dev constant (fine for dev, refused outside ENVIRONMENT=dev)"
    )
