"""A tenant's LLM configuration: the value the config cache stores and providers are built from."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class ProviderConfig(BaseModel):
    """One tenant's LLM configuration, normalised from NestJS (camelCase) or the environment."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    provider: str
    model: str
    # The range every supported server accepts (and NestJS validates): a value outside it is a
    # configuration error here, never a request each provider refuses (or misreads) later.
    temperature: float = Field(default=0.3, ge=0.0, le=2.0, allow_inf_nan=False)
    max_tokens: int = Field(default=4096, alias="maxTokens", gt=0)
    api_key: SecretStr | None = None
    api_url: str | None = None
    request_timeout_seconds: float = 120.0

    def public_view(self) -> dict[str, Any]:
        """What may be shown to a caller: never the key, only whether one is set."""
        return {
            "provider": self.provider,
            "model": self.model,
            "temperature": self.temperature,
            "maxTokens": self.max_tokens,
            "apiUrl": self.api_url,
            "apiKey": "***" if self.api_key is not None else None,
        }
