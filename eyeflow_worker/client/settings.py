"""Where the gateway is, and who is asking: the headers every request carries."""

from __future__ import annotations

from dataclasses import dataclass, field

from eyeflow_worker.client.boundary import Redactor

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TENANT = "system"


@dataclass(frozen=True)
class ClientSettings:
    url: str = DEFAULT_URL
    # Never in a repr, a message or a log line: only in the Authorization header.
    token: str | None = field(default=None, repr=False)
    tenant: str = DEFAULT_TENANT  # sent as X-User-ID
    timeout: float = 15.0  # seconds per request, on top of what `?wait=` asks the gateway to hold
    user_agent: str = "eyeflow-client"

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")

    @property
    def redactor(self) -> Redactor:
        return Redactor(self.token)

    def headers(self) -> dict[str, str]:
        headers = {"X-User-ID": self.tenant, "User-Agent": self.user_agent}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers
