"""The egress policy: where the fleet may connect on someone's behalf.

A destination is allowed when every address its host resolves to is **public**, or when its host
is on the allow-list: `LLM_ALLOWED_API_HOSTS` for the LLM API URLs tenants configure (and both
batch APIs behind them), `WEBHOOK_ALLOWED_HOSTS` for the webhook receivers callers name. An entry
names one host the operator vouches for, at whatever address it resolves to, internal or not:
`ollama`, `api.example.com`, `10.0.0.7`, `[fd00::7]`, optionally with `:port` (`127.0.0.2:8080`
allows that port only; without one, every port). There are no wildcard entries: whoever can add a
DNS name under a domain can point it anywhere (DNS rebinding), so a pattern never vouches for an
internal address — and a public one needs no entry.

"Public" is decided by the stdlib's `ipaddress` (`is_global`, and neither multicast nor
reserved); an IPv6 address that carries an IPv4 one (IPv4-mapped, 6to4) must carry a public
one. Hosts in odd numeric forms (`2130706433`, `0x7f000001`, `127.1`) match no entry: they are
read the way the C library reads them and must then be public. Only http(s), with a host,
without credentials in the URL.

Where it is enforced: `core.egress_transport` resolves the host once when it opens a connection,
checks every address, and connects to one of those very addresses, so what was checked is what
is connected to (no rebinding between check and connect). `EgressPolicy.url_problem` is the same
policy without connecting or resolving, for early, clear refusals (the gateway's 422, a NestJS
configuration that names a refused `apiUrl`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import httpx

if TYPE_CHECKING:
    from eyeflow_worker.core.settings import Settings

LLM_SETTING = "LLM_ALLOWED_API_HOSTS"
WEBHOOK_SETTING = "WEBHOOK_ALLOWED_HOSTS"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-._")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) → every address it resolves to; `system_resolver` unless a test stubs DNS.
Resolver = Callable[[str, int], list[str]]


class EgressRefused(Exception):
    """The policy refuses a destination. `reason` may be shown to whoever supplied the URL (it
    names the host and the setting, never an address it resolved to); `detail` is for logs."""

    def __init__(self, reason: str, *, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def refusal_in(error: BaseException) -> EgressRefused | None:
    """The `EgressRefused` behind `error` (an SDK or httpx error raised `from` it), if any."""
    seen: BaseException | None = error
    for _ in range(8):  # SDK → httpx → ours: a few links at most
        if seen is None:
            return None
        if isinstance(seen, EgressRefused):
            return seen
        seen = seen.__cause__
    return None


@dataclass(frozen=True)
class HostRule:
    """One allow-list entry: a normalised host name or IP address; `port` None: every port."""

    host: str
    port: int | None = None

    def matches(self, host: str, port: int) -> bool:
        return host == self.host and (self.port is None or port == self.port)


def parse_rule(entry: str) -> HostRule:
    """An allow-list entry read; `ValueError` says what is wrong with it."""
    text = entry.strip().lower()
    host, port = _split_port(text)
    if "*" in host:
        raise ValueError(
            f"{entry!r}: a wildcard cannot vouch for internal addresses (anyone who can add a "
            "name under the domain could point it anywhere) and public hosts need no entry; "
            "list internal hosts by name"
        )
    normalised = normalise_host(host)
    if ip_literal(normalised) is None and not _is_name(normalised):
        raise ValueError(f"{entry!r} is not a host name or IP address (write IDNs in punycode)")
    return HostRule(normalised, port)


def _split_port(text: str) -> tuple[str, int | None]:
    if text.startswith("["):  # [v6] or [v6]:port
        host, _, rest = text[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValueError(f"{text!r}: expected ':port' after ']'")
        return host, _port(text, rest[1:]) if rest else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, _port(text, port)
    return text, None  # a name, or a bare IPv6 address (which cannot carry a port unbracketed)


def _port(entry: str, text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{entry!r}: the port must be a number from 1 to 65535")
    return int(text)


def _is_name(host: str) -> bool:
    return bool(host) and set(host) <= _NAME_CHARACTERS and ".." not in host


def normalise_host(host: str) -> str:
    """How hosts are compared: lower case, no brackets, no trailing dot, IP addresses in their
    compressed form without an IPv6 zone (`fe80::1%25eth0` → `fe80::1`)."""
    host = unquote(host.strip().lower().strip("[]")).rstrip(".")
    address = ip_literal(host)
    return address.compressed if address is not None else host


def ip_literal(host: str) -> IPAddress | None:
    """`host` as an IP address when it is written as one (canonically), else None."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def is_public(address: str | IPAddress) -> bool:
    """Whether `address` is on the public internet, as the stdlib's `ipaddress` classifies it."""
    ip = address if not isinstance(address, str) else ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d is a.b.c.d to the kernel
            return is_public(ip.ipv4_mapped)
        if ip.sixtofour is not None and not is_public(ip.sixtofour):
            return False
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def numeric_address(host: str) -> IPAddress | None:
    """`host` as the C library reads a numeric host (`2130706433`, `0x7f.1`, `0177.0.0.1`,
    `127.1`), without any DNS lookup; None when it is a name."""
    if (literal := ip_literal(host)) is not None:
        return literal
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (OSError, UnicodeError):
        return None
    return ipaddress.ip_address(str(infos[0][4][0]).split("%")[0]) if infos else None


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, in the resolver's order (OSError when it does not)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class EgressPolicy:
    """The allow-list of one kind of destination (`setting` names it in messages). Frozen and
    hashable: clients built for one policy are cached under it."""

    setting: str
    rules: tuple[HostRule, ...]

    @classmethod
    def parse(cls, setting: str, entries: Iterable[str]) -> EgressPolicy:
        return cls(setting, tuple(parse_rule(entry) for entry in entries if entry.strip()))

    def vouched(self, host: str, port: int) -> bool:
        """Whether an entry names `host:port`: then any address will do."""
        return any(rule.matches(host, port) for rule in self.rules)

    def allowed_addresses(
        self, host: str, port: int, resolve: Resolver = system_resolver
    ) -> list[str]:
        """The addresses to connect to for `host:port`: resolved once, every one checked.
        Raises `EgressRefused`, or `OSError` when the name does not resolve."""
        name = normalise_host(host)
        # An address written in the URL is the address (an IPv6 zone kept for the dial).
        literal = unquote(host.strip("[]"))
        addresses = [literal] if ip_literal(literal) is not None else resolve(host, port)
        if not addresses:
            raise socket.gaierror(f"{name!r} resolved to no address")
        # All or nothing: a name that also resolves to an internal address is refused even when
        # a public one comes first (the next resolution may put it first).
        if not self.vouched(name, port) and not all(is_public(a) for a in addresses):
            raise EgressRefused(
                _not_public(name, self.setting, resolved=ip_literal(literal) is None),
                detail=f"{name} resolved to {', '.join(addresses)}",
            )
        return addresses

    def url_problem(self, url: str) -> str | None:
        """Why `url` is refused, without connecting or resolving (None: it may be tried; the
        connection itself is checked again)."""
        shape = url_shape_problem(url)
        if shape is not None:
            return shape
        parsed = httpx.URL(url)
        host = normalise_host(parsed.raw_host.decode("ascii"))
        port = parsed.port or _DEFAULT_PORTS[parsed.scheme]
        if self.vouched(host, port):
            return None
        address = numeric_address(host)
        if address is not None and not is_public(address):
            return _not_public(host, self.setting, resolved=False)
        if host == "localhost" or host.endswith(".localhost"):  # loopback by RFC 6761
            return _not_public(host, self.setting, resolved=True)
        return None


def _not_public(host: str, setting: str, *, resolved: bool) -> str:
    """The refusal of an internal destination. It never says which address a name resolved to
    (that would turn the message into a view of the internal DNS)."""
    what = "resolves to a non-public address" if resolved else "is not a public address"
    return f"host {host!r} {what}; an internal host must be listed in {setting}"


def url_shape_problem(url: str) -> str | None:
    """Why `url` is no URL the fleet would call at all: http(s) only, with a host, without
    credentials, one that httpx (what sends it) accepts. None when it is fine."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number
        parsed = httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        return "is not a valid URL"
    if parts.scheme not in _DEFAULT_PORTS or parsed.scheme not in _DEFAULT_PORTS:
        return "must use http or https"
    if not parsed.raw_host:
        return "must name a host"
    if parts.username or parts.password or parsed.userinfo:
        return "must not carry credentials"
    return None


@lru_cache(maxsize=64)
def _policy(setting: str, entries: tuple[str, ...], operator: tuple[HostRule, ...]) -> EgressPolicy:
    return EgressPolicy(setting, EgressPolicy.parse(setting, entries).rules + operator)


def webhook_policy(settings: Settings) -> EgressPolicy:
    return _policy(WEBHOOK_SETTING, tuple(settings.webhook_allowed_hosts), ())


def llm_policy(settings: Settings) -> EgressPolicy:
    """`LLM_ALLOWED_API_HOSTS`, plus the hosts of the URLs the operator wrote in the fleet's own
    settings (`LLM_API_URL`, `LLM_FALLBACK_CREDENTIALS`): those are the operator's, like
    NESTJS_SERVER_URL, and listing them twice would be one more thing to keep in step."""
    urls = [settings.llm_api_url, *(c.api_url for c in settings.llm_fallback_credentials.values())]
    operator = tuple(rule for url in urls if url and (rule := exact_rule(url)) is not None)
    return _policy(LLM_SETTING, tuple(settings.llm_allowed_api_hosts), operator)


def exact_rule(url: str) -> HostRule | None:
    """The exact entry (host and port) naming `url`'s server; None for a URL that is no URL."""
    if url_shape_problem(url) is not None:
        return None
    parsed = httpx.URL(url)
    host = normalise_host(parsed.raw_host.decode("ascii"))
    return HostRule(host, parsed.port or _DEFAULT_PORTS[parsed.scheme])
