"""HTTP clients that connect only where an `EgressPolicy` allows: the egress guard itself.

The check sits in the connection pool's network backend — the one place a TCP connection is
opened: the host is resolved once, every address is checked (`EgressPolicy.allowed_addresses`),
and the socket is opened to one of those very addresses. TLS is then started by the pool as
usual, with the URL's host name for SNI and certificate verification, so pinning the address
changes nothing for https. Redirects are never followed (the clients are built with
`follow_redirects=False`, and a redirect's target would meet the same check anyway), proxies
from the environment are not used (`trust_env=False`: a proxy would connect on our behalf
unchecked), and nothing but TCP is dialled (the pools are built without `uds`; the backends'
base class refuses a Unix socket).

Two libraries, one guard: httpx (webhooks, Ollama) and httpx2, which the official Anthropic and
OpenAI SDKs are built on (`http_client=` takes one of its clients). Their transports and pools
are alike; each gets a backend and a transport subclass here. A refusal surfaces as the
library's own `ConnectError` (raised `from` the `EgressRefused`), so every caller treats it at
least as a failed connection; `egress.refusal_in(error)` finds the refusal behind it.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import TypeVar

import httpcore
import httpcore2
import httpx
import httpx2

from eyeflow_worker.core.egress import EgressPolicy, EgressRefused

S = TypeVar("S")


def _connect_pinned(
    policy: EgressPolicy,
    host: str,
    port: int,
    connect: Callable[[str], S],
    connect_error: type[Exception],
) -> S:
    """`connect(address)` for the first address of `host` that accepts, every one of them
    allowed by `policy`; a name that does not resolve is a failed connection, not a refusal."""
    try:
        addresses = policy.allowed_addresses(host, port)
    except OSError as exc:
        raise connect_error(f"could not resolve {host!r}: {exc}") from None
    failure = connect_error(f"{host!r} resolved to no address")
    for address in addresses:
        try:
            return connect(address)
        except connect_error as exc:  # like socket.create_connection: try the next address
            failure = exc
    raise failure


class PinningBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, dialling only the addresses `policy` allows."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        def connect(address: str) -> httpcore.NetworkStream:
            return self._inner.connect_tcp(address, port, timeout, local_address, socket_options)

        return _connect_pinned(self.policy, host, port, connect, httpcore.ConnectError)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class PinningBackend2(httpcore2.NetworkBackend):
    """The same for httpcore2 (under the SDKs' httpx2)."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self._inner = httpcore2.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.NetworkStream:
        def connect(address: str) -> httpcore2.NetworkStream:
            return self._inner.connect_tcp(address, port, timeout, local_address, socket_options)

        return _connect_pinned(self.policy, host, port, connect, httpcore2.ConnectError)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class EgressRefusedError(httpx.ConnectError):
    """What an httpx caller sees when the policy refused the connection."""


class EgressRefusedError2(httpx2.ConnectError):
    """What an httpx2 caller (an SDK) sees when the policy refused the connection."""


class GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport, its pool dialling through `PinningBackend`."""

    def __init__(self, policy: EgressPolicy, *, limits: httpx.Limits, ssl_context: ssl.SSLContext):
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        # The one change to the stock transport (which built the same pool without a backend).
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinningBackend(policy),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except EgressRefused as refusal:
            raise EgressRefusedError(refusal.reason, request=request) from refusal


class GuardedTransport2(httpx2.HTTPTransport):
    """The same for httpx2."""

    def __init__(self, policy: EgressPolicy, *, limits: httpx2.Limits, ssl_context: ssl.SSLContext):
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        self._pool = httpcore2.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinningBackend2(policy),
        )

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            return super().handle_request(request)
        except EgressRefused as refusal:
            raise EgressRefusedError2(refusal.reason, request=request) from refusal


@lru_cache(maxsize=1)
def _default_ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~0.25 s; one context serves every client of the process.
    return httpx.create_ssl_context()


@lru_cache(maxsize=1)
def _default_ssl_context2() -> ssl.SSLContext:
    return httpx2.create_ssl_context()


def guarded_client(
    policy: EgressPolicy,
    *,
    timeout: float,
    base_url: str = "",
    headers: Mapping[str, str] | None = None,
    keepalive: bool = True,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.Client:
    """An httpx client for destinations `policy` governs. `keepalive=False`: every request opens
    (and so checks) a connection of its own."""
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20 if keepalive else 0)
    transport = GuardedTransport(
        policy, limits=limits, ssl_context=ssl_context or _default_ssl_context()
    )
    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        headers=headers,
        transport=transport,
        follow_redirects=False,
        trust_env=False,
    )


def guarded_sdk_client(
    policy: EgressPolicy, *, timeout: float, ssl_context: ssl.SSLContext | None = None
) -> httpx2.Client:
    """The httpx2 client handed to an official SDK (`http_client=`) for `policy`'s hosts."""
    limits = httpx2.Limits(max_connections=100, max_keepalive_connections=20)
    transport = GuardedTransport2(
        policy, limits=limits, ssl_context=ssl_context or _default_ssl_context2()
    )
    return httpx2.Client(
        timeout=timeout, transport=transport, follow_redirects=False, trust_env=False
    )
