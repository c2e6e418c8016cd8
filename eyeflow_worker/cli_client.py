"""The `eyeflow` command's HTTP client: the gateway's public API and nothing else.

Every HTTP failure is translated here, once, into one `CliError` with a message a person can act
on; the commands never look at status codes. The token is sent as `Authorization: Bearer` and
never appears in a message (httpx's errors carry no headers, and none is quoted here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TENANT = "system"
MAX_WAIT_SECONDS = 60.0
PAGE_LIMIT = 500
_TIMEOUT = 15.0


class CliError(Exception):
    """What the command reports on stderr before exiting with `exit_code`.

    `status` is the HTTP status (None for a network failure), `fields` the request fields a 422
    named, `retryable` whether trying again later may succeed (503, 429, network)."""

    def __init__(
        self,
        message: str,
        *,
        exit_code: int = 2,
        status: int | None = None,
        fields: tuple[str, ...] = (),
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.status = status
        self.fields = fields
        self.retryable = retryable


@dataclass(frozen=True)
class Connection:
    url: str = DEFAULT_URL
    token: str | None = None
    tenant: str = DEFAULT_TENANT

    def headers(self) -> dict[str, str]:
        headers = {"X-User-ID": self.tenant, "User-Agent": "eyeflow-cli"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers


class GatewayClient:
    """One method per route the CLI uses; each answers the decoded JSON body."""

    def __init__(
        self, connection: Connection, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.connection = connection
        self._http = httpx.Client(
            base_url=connection.url.rstrip("/"),
            headers=connection.headers(),
            timeout=_TIMEOUT,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- routes ---------------------------------------------------------------------------

    def submit_batch(
        self, intents: list[str], *, idempotency_key: str, mode: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """The accepted batch, and whether it is new (202) rather than the one this
        idempotency key already named (200: a re-run resumes it)."""
        body: dict[str, Any] = {"intents": intents}
        if mode is not None:
            body["mode"] = mode
        try:
            response = self._send(
                "POST",
                "/api/rules/generate-batch",
                json=body,
                headers={"Idempotency-Key": idempotency_key},
                what="the batch",
            )
        except CliError as error:
            if error.status == 422 and "mode" in error.fields:
                raise CliError(
                    f"this gateway does not accept --mode yet ({error.message}); "
                    "run again without --mode",
                    status=422,
                    fields=error.fields,
                ) from None
            raise
        return _body(response), response.status_code == 202

    def generate(self, intent: str, *, wait: float | None = None) -> dict[str, Any]:
        return self._json(
            "POST",
            "/api/rules/generate",
            json={"user_intent": intent},
            params=_wait_param(wait),
            timeout=_read_timeout(wait),
            what="the intent",
        )

    def task(self, task_id: str, *, wait: float | None = None) -> dict[str, Any]:
        return self._json(
            "GET",
            f"/api/tasks/{task_id}",
            params=_wait_param(wait),
            timeout=_read_timeout(wait),
            what=f"task {task_id}",
        )

    def results_page(
        self, task_id: str, *, offset: int, limit: int = PAGE_LIMIT, status: str | None = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if status is not None:
            params["status"] = status
        return self._json(
            "GET", f"/api/tasks/{task_id}/results", params=params, what=f"batch {task_id}"
        )

    def cancel(self, task_id: str) -> dict[str, Any]:
        return self._json("DELETE", f"/api/tasks/{task_id}", what=f"task {task_id}")

    def retry(self, task_id: str) -> dict[str, Any]:
        return self._json("POST", f"/api/tasks/{task_id}/retry", what=f"batch {task_id}")

    # --- the boundary ---------------------------------------------------------------------

    def _json(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        timeout: float = _TIMEOUT,
    ) -> dict[str, Any]:
        return _body(self._send(method, path, what=what, params=params, json=json, timeout=timeout))

    def _send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = _TIMEOUT,
    ) -> httpx.Response:
        try:
            response = self._http.request(
                method, path, params=params, json=json, headers=headers, timeout=timeout
            )
        except httpx.ConnectError:
            raise CliError(
                f"cannot connect to the gateway at {self.connection.url}: "
                "is the gateway up? (make up)",
                retryable=True,
            ) from None
        except httpx.TimeoutException:
            raise CliError(
                f"the gateway at {self.connection.url} did not answer in time", retryable=True
            ) from None
        except httpx.HTTPError as error:
            raise CliError(
                f"talking to the gateway at {self.connection.url} failed: {error}",
                retryable=True,
            ) from None
        if response.status_code >= 400:
            raise http_error(response, what=what, tenant=self.connection.tenant)
        return response


def _wait_param(wait: float | None) -> dict[str, float]:
    return {} if wait is None else {"wait": min(max(wait, 0.1), MAX_WAIT_SECONDS)}


def _read_timeout(wait: float | None) -> float:
    return _TIMEOUT + (min(wait, MAX_WAIT_SECONDS) if wait else 0.0)


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise CliError(
            f"the gateway answered {response.status_code} with a body that is not JSON",
            status=response.status_code,
        ) from None
    if not isinstance(body, dict):
        raise CliError(
            f"the gateway answered {response.status_code} with unexpected JSON",
            status=response.status_code,
        )
    return body


def _detail(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300]
    return body.get("detail") if isinstance(body, dict) else body


def _field(loc: Any) -> str:
    parts = [str(part) for part in loc] if isinstance(loc, list) else [str(loc)]
    if parts and parts[0] in ("body", "query", "header", "path"):
        parts = parts[1:]
    return ".".join(parts) or "(request)"


def _unprocessable(detail: Any) -> CliError:
    if not isinstance(detail, list):
        return CliError(f"the gateway refused the request (422): {detail}", status=422)
    fields: list[str] = []
    problems: list[str] = []
    for entry in detail:
        if not isinstance(entry, dict):
            problems.append(str(entry))
            continue
        field = _field(entry.get("loc", []))
        fields.append(field.split(".")[0])
        problems.append(f"{field}: {entry.get('msg', 'invalid')}")
    return CliError(
        "the gateway refused the request (422): " + "; ".join(problems),
        status=422,
        fields=tuple(fields),
    )


def _retry_after(response: httpx.Response) -> str:
    value = response.headers.get("Retry-After")
    return f"; retry after {value} s" if value else ""


def http_error(response: httpx.Response, *, what: str, tenant: str) -> CliError:
    """The one translation of an HTTP error answer into what the user reads."""
    code = response.status_code
    detail = _detail(response)
    if code == 401:
        return CliError("token refused — set EYEFLOW_TOKEN (or --token)", status=code)
    if code == 403:
        return CliError(f"forbidden for tenant '{tenant}': {detail}", status=code)
    if code == 404:
        return CliError(f"{what} not found for tenant '{tenant}' ({detail})", status=code)
    if code == 409:
        return CliError(f"conflict on {what}: {detail}", status=code)
    if code == 413:
        return CliError(
            f"{what} is larger than the gateway accepts (413, MAX_BODY_BYTES): split it",
            status=code,
        )
    if code == 422:
        return _unprocessable(detail)
    if code == 429:
        return CliError(f"rate limited (429){_retry_after(response)}", status=code, retryable=True)
    if code == 503:
        return CliError(
            f"the gateway cannot reach Redis/the broker (503): {detail}{_retry_after(response)}",
            status=code,
            retryable=True,
        )
    return CliError(f"the gateway answered {code}: {detail}", status=code, retryable=code >= 500)
