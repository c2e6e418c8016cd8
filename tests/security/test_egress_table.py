"""Hostile outbound URLs × {tenant apiUrl, webhook}: none is reached.

Every URL is tried the way the fleet would meet it — as a tenant's `apiConfig.apiUrl` (read
from NestJS, then called by each of the four providers, even when the configuration check
already refused it) and as a `webhook_url` (the gateway's check at submission, then a delivery
attempt regardless) — and, as a control, with a plain httpx client following redirects (what
the SDKs did before), which shows each trap is live. The rig (`egress_rig`) sends traffic to
loopback only: traps on 127.0.0.1, 127.0.0.3, ::1 and a second port of 127.0.0.2 count every
connection; the allowed fake is 127.0.0.2 on one port; names resolve through a stub; private,
link-local and public addresses are never dialled (the guard's decision is what is measured).

The table is printed with the test run (and kept in the README's egress section).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from eyeflow_worker.core.egress import llm_policy
from eyeflow_worker.core.errors import ProviderError
from eyeflow_worker.core.llm import LLMRequest, Message
from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.core.webhook_urls import webhook_url_problem
from eyeflow_worker.providers.anthropic import AnthropicProvider
from eyeflow_worker.providers.clients import clear_clients
from eyeflow_worker.providers.llamacpp import LlamaCppProvider
from eyeflow_worker.providers.ollama import OllamaProvider
from eyeflow_worker.providers.openai_compat import OpenAIProvider
from eyeflow_worker.tenant_config.nestjs import NestLLMConfig
from eyeflow_worker.webhook_delivery import DeliveryFailed, post_delivery, sign_delivery
from eyeflow_worker.webhook_delivery import webhook_client as fleet_webhook_client
from tests.security.egress_rig import DialGuard, Listener, StubDNS

PUBLIC = "93.184.216.34"  # what public names resolve to here; dialling it is refused by the rig
PROVIDERS = {
    "anthropic": AnthropicProvider,
    "openai": OpenAIProvider,
    "ollama": OllamaProvider,
    "llamacpp": LlamaCppProvider,
}
REQUEST = LLMRequest(purpose="generate", system="s", messages=(Message("user", "hi"),))
SECRET = "whsec_ZWdyZXNzLXRhYmxlLXNlY3JldA=="


@dataclass
class Rig:
    allowed: Listener
    traps: dict[str, Listener]
    dns: StubDNS
    dials: DialGuard
    settings: Settings

    def reached(self) -> int:
        """Connections to a trap, plus dials the rig refused to anything but the public
        address (a private, link-local or metadata address the fleet tried to reach)."""
        traps = sum(trap.connections for trap in self.traps.values())
        return traps + sum(1 for address in self.dials.refused if address != PUBLIC)


@dataclass
class Row:
    url: str
    what: str
    cells: dict[str, str] = field(default_factory=dict)
    reached: int = 0
    control_reached: int = 0


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    traps = {
        "loopback": Listener("127.0.0.1"),
        "loopback-3": Listener("127.0.0.3"),
        "ipv6": Listener("::1"),
        "other-port": Listener("127.0.0.2"),
    }
    t1, t3, t6 = traps["loopback"], traps["loopback-3"], traps["ipv6"]
    allowed = Listener(
        "127.0.0.2",
        redirects={
            "loop3": (307, t3.url("/")),
            "localhost": (302, f"http://localhost:{t1.port}/"),
            "v6": (308, t6.url("/")),
            "metadata": (302, "http://169.254.169.254/latest/meta-data/"),
            "private": (307, "http://10.0.0.5:6379/"),
            "rebind": (307, f"http://trap.rebind.test:{t3.port}/"),
        },
    )
    dns = StubDNS()
    dns.add("localhost", ["127.0.0.1"])
    dns.add("localtest.me", ["127.0.0.1"])
    dns.add("trap.rebind.test", ["127.0.0.3"])
    dns.add("mixed.test", [PUBLIC, "127.0.0.3"])
    dns.add("rebind.test", *([PUBLIC], ["127.0.0.3"]) * 20)
    dns.add("rebind-private.test", *([PUBLIC], ["10.0.0.5"]) * 20)
    dns.add("metadata.google.internal", ["169.254.169.254"])
    dns.add("redis.internal.test", ["10.0.0.5"])
    dns.add("v6.internal.test", ["fd00::5"])
    dns.add("public.test", [PUBLIC])
    entries = f"127.0.0.2:{allowed.port}"  # the allowed fake, one port; public hosts need none
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        llm_allowed_api_hosts=entries,
        webhook_allowed_hosts=entries,
        webhook_timeout_seconds=3.0,
    )
    dials = DialGuard(dns)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("socket.getaddrinfo", dns)
        patch.setattr("socket.create_connection", dials)
        yield Rig(allowed, traps, dns, dials, settings)
    clear_clients()
    for listener in [allowed, *traps.values()]:
        listener.stop()


def hostile_rows(rig: Rig) -> list[Row]:
    p1, p3 = rig.traps["loopback"].port, rig.traps["loopback-3"].port
    p6, p2, pa = rig.traps["ipv6"].port, rig.traps["other-port"].port, rig.allowed.port
    rows = [
        # --- connect level: loopback traps, the rig would let these dials through -----------
        (f"http://127.0.0.3:{p3}/", "loopback, another 127/8 address"),
        (f"http://127.0.0.1:{p1}/", "loopback"),
        (f"https://127.0.0.3:{p3}/", "loopback over https"),
        (f"http://localhost:{p1}/", "name of loopback"),
        (f"http://LOCALHOST.:{p1}/", "loopback name, upper case, trailing dot"),
        (f"http://localtest.me:{p1}/", "public DNS name resolving to 127.0.0.1"),
        (f"http://trap.rebind.test:{p3}/", "DNS name resolving to loopback"),
        (f"http://[::1]:{p6}/", "IPv6 loopback"),
        (f"http://[::ffff:127.0.0.3]:{p3}/", "IPv4-mapped IPv6 loopback"),
        (f"http://[::ffff:7f00:3]:{p3}/", "IPv4-mapped IPv6, hex form"),
        (f"http://[0:0:0:0:0:ffff:127.0.0.3]:{p3}/", "IPv4-mapped IPv6, long form"),
        (f"http://2130706433:{p1}/", "decimal IPv4 (127.0.0.1)"),
        (f"http://0x7f000003:{p3}/", "hex IPv4 (127.0.0.3)"),
        (f"http://0177.0.0.3:{p3}/", "octal IPv4 (127.0.0.3)"),
        (f"http://127.3:{p3}/", "short IPv4 (127.0.0.3)"),
        (f"http://0.0.0.0:{p1}/", "0.0.0.0 (dialled as the local host)"),
        (f"http://0:{p1}/", "0 (= 0.0.0.0)"),
        (f"http://127.0.0.2:{p2}/", "allowed host, a port not listed"),
        (f"http://127.0.0.2:{pa}@127.0.0.3:{p3}/", "userinfo that looks like the allowed host"),
        (f"http://mixed.test:{p3}/", "name resolving to a public and a loopback address"),
        (f"http://rebind.test:{p3}/", "DNS rebinding: public, then 127.0.0.3, alternating"),
        (f"http://127.0.0.2:{pa}/r/loop3", "allowed host redirecting (307) to 127.0.0.3"),
        (f"http://127.0.0.2:{pa}/r/localhost", "allowed host redirecting (302) to localhost"),
        (f"http://127.0.0.2:{pa}/r/v6", "allowed host redirecting (308) to [::1]"),
        (f"http://127.0.0.2:{pa}/r/rebind", "allowed host redirecting to a name → loopback"),
        (f"gopher://127.0.0.3:{p3}/_INFO", "gopher scheme (Redis smuggling)"),
        (f"ftp://127.0.0.3:{p3}/", "ftp scheme"),
        ("file:///etc/passwd", "file scheme"),
        # --- decision level: stubbed names / literals, never dialled ------------------------
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata (link-local)"),
        ("http://0xa9fea9fe/latest/meta-data/", "metadata, hex IPv4"),
        ("http://2852039166/latest/meta-data/", "metadata, decimal IPv4"),
        ("http://0251.0376.0251.0376/", "metadata, octal IPv4"),
        ("http://[::ffff:169.254.169.254]/", "metadata, IPv4-mapped IPv6"),
        ("http://[64:ff9b::a9fe:a9fe]/", "metadata via NAT64 prefix"),
        ("http://metadata.google.internal/computeMetadata/v1/", "name → 169.254.169.254"),
        ("http://10.0.0.5:6379/", "private 10/8 (a Redis port)"),
        ("http://172.16.0.10/", "private 172.16/12"),
        ("http://192.168.1.1/", "private 192.168/16"),
        ("http://100.64.0.1/", "shared address space (CGNAT)"),
        ("http://198.18.0.1/", "benchmarking range"),
        ("http://224.0.0.1/", "multicast"),
        ("http://255.255.255.255/", "broadcast"),
        ("http://240.0.0.1/", "reserved 240/4"),
        ("http://[fd00::1]:8080/", "IPv6 unique local (ULA)"),
        ("http://[fc00::5]/", "IPv6 ULA fc00::/8"),
        ("http://[fe80::1%25lo]/", "IPv6 link-local with a zone"),
        ("http://[::ffff:10.0.0.5]/", "private, IPv4-mapped IPv6"),
        ("http://[2002:a00:5::]/", "6to4 address embedding 10.0.0.5"),
        ("http://redis.internal.test:6379/", "name → private 10.0.0.5"),
        ("http://v6.internal.test/", "name → IPv6 ULA"),
        ("http://rebind-private.test/", "DNS rebinding: public, then 10.0.0.5"),
        (f"http://127.0.0.2:{pa}/r/metadata", "allowed host redirecting to the metadata IP"),
        (f"http://127.0.0.2:{pa}/r/private", "allowed host redirecting to 10.0.0.5:6379"),
    ]
    return [Row(url, what) for url, what in rows]


def _control(rig: Rig, url: str) -> None:
    """A plain client following redirects, as the SDKs used to: does the trap answer?"""
    try:
        with httpx.Client(follow_redirects=True, trust_env=False, timeout=3.0) as plain:
            plain.post(url, content=b"{}")
    except (httpx.HTTPError, httpx.InvalidURL):
        pass


def _webhook(rig: Rig, row: Row) -> None:
    problem = webhook_url_problem(row.url, rig.settings.webhook_allowed_hosts)
    row.cells["webhook: submit"] = "422" if problem else "accepted"
    delivery = sign_delivery(SECRET, "msg_egress", {"task_id": "t", "status": "succeeded"})
    try:
        post_delivery(fleet_webhook_client(rig.settings), row.url, delivery)
        row.cells["webhook: delivery"] = "delivered"
    except DeliveryFailed as failed:
        text = str(failed)
        row.cells["webhook: delivery"] = "unreachable" if "could not be reached" in text else text
    except httpx.InvalidURL:  # only for URLs the gateway already refused (422)
        row.cells["webhook: delivery"] = "invalid URL"


def _api_url(rig: Rig, row: Row) -> None:
    body = {"provider": "openai", "model": "m", "apiConfig": {"apiKey": "k", "apiUrl": row.url}}
    try:
        NestLLMConfig.model_validate(body, context={"egress": llm_policy(rig.settings)})
        row.cells["apiUrl: NestJS config"] = "accepted"
    except ValidationError:
        row.cells["apiUrl: NestJS config"] = "config_invalid"
    outcomes: dict[str, int] = {}
    for name, provider_class in PROVIDERS.items():
        config = ProviderConfig(
            provider=name,
            model="m",
            api_key=SecretStr("sk-egress-table-key"),
            api_url=row.url,
            request_timeout_seconds=3.0,
        )
        dialled = len(rig.dials.refused)
        try:
            provider_class(config, rig.settings).complete(REQUEST)
            outcome = "answered"
        except ProviderError as error:
            details = error.details or {}
            outcome = "refused" if details.get("egress") else error.code
            if 300 <= int(details.get("status") or 0) < 400:
                outcome = "redirect not followed"
            if rig.dials.refused[dialled:] == [PUBLIC]:  # DNS said public: allowed, pinned
                outcome = "public address dialled"
        except Exception as error:  # a URL no SDK can even build a client for
            outcome = type(error).__name__
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    row.cells["apiUrl: 4 providers"] = ", ".join(f"{k} ×{v}" for k, v in sorted(outcomes.items()))


def test_no_hostile_url_is_reached_as_api_url_or_webhook(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = hostile_rows(rig)
    for row in rows:
        before = rig.reached()
        for _ in range(2):  # twice: a rebinding name answers with the trap every other time
            _control(rig, row.url)
        row.control_reached = rig.reached() - before
        before = rig.reached()
        _webhook(rig, row)
        _api_url(rig, row)
        row.reached = rig.reached() - before

    table = _table(rows)
    with capsys.disabled():
        print("\n" + table)  # noqa: T201 - the measured table is this test's report
    assert len(rows) >= 30
    assert [row.url for row in rows if row.reached] == []
    assert sum(row.reached for row in rows) == 0
    # The rig is live: without the guard, most of these do get somewhere.
    assert sum(1 for row in rows if row.control_reached) >= 25
    # Nothing that was refused tells the caller why, on the webhook side: one generic text.
    deliveries = {row.cells["webhook: delivery"] for row in rows}
    assert deliveries <= {"unreachable", "invalid URL", *_redirect_statuses()}


def _redirect_statuses() -> set[str]:
    return {f"receiver answered HTTP {status}" for status in (302, 307, 308)}


def test_the_allowed_and_public_destinations_are_served(rig: Rig) -> None:
    """The positive controls: the listed host answers every provider and the webhook; a public
    name is let through to the very address it resolved to (which the rig then refuses)."""
    before = rig.allowed.connections
    for name, provider_class in PROVIDERS.items():
        base = {"anthropic": "", "ollama": ""}.get(name, "/v1")
        config = ProviderConfig(
            provider=name,
            model="m",
            api_key=SecretStr("sk-egress-table-key"),
            api_url=rig.allowed.url(base).rstrip("/"),
            request_timeout_seconds=3.0,
        )
        answer = provider_class(config, rig.settings).complete(REQUEST)
        assert answer.provider == name
    delivery = sign_delivery(SECRET, "msg_ok", {"task_id": "t"})
    url = rig.allowed.url("/hooks")
    assert webhook_url_problem(url, rig.settings.webhook_allowed_hosts) is None
    assert post_delivery(fleet_webhook_client(rig.settings), url, delivery) == 204
    assert rig.allowed.connections - before >= 5

    refused_before = len(rig.dials.refused)
    queries_before = rig.dns.queries.get("public.test", 0)
    with pytest.raises(DeliveryFailed):
        post_delivery(fleet_webhook_client(rig.settings), "http://public.test/hook", delivery)
    assert rig.dials.refused[refused_before:] == [PUBLIC]
    assert rig.dns.queries["public.test"] == queries_before + 1  # resolved once, then dialled


def _table(rows: list[Row]) -> str:
    columns = [
        "webhook: submit",
        "webhook: delivery",
        "apiUrl: NestJS config",
        "apiUrl: 4 providers",
    ]
    lines = [
        "| # | hostile URL | what | unguarded control | " + " | ".join(columns) + " | reached |",
        "|---" * (len(columns) + 5) + "|",
    ]
    for number, row in enumerate(rows, 1):
        control = f"reached ({row.control_reached})" if row.control_reached else "not reached"
        cells = " | ".join(row.cells.get(column, "") for column in columns)
        lines.append(
            f"| {number} | `{row.url}` | {row.what} | {control} | {cells} | {row.reached} |"
        )
    total = sum(row.reached for row in rows)
    lines.append(f"\n{len(rows)} hostile URLs × (webhook + 4 providers): {total} reached.")
    return "\n".join(lines)
