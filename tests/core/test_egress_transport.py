"""The egress guard where it connects: one resolution per connection, the checked address is
the dialled one, https still verifies the URL's host name (SNI and certificate), every webhook
attempt is checked afresh, and neither redirects nor proxies from the environment take a request
anywhere else. Traffic goes to loopback only (the rig in `tests/security/egress_rig.py`)."""

from __future__ import annotations

import datetime
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from eyeflow_worker.core.egress import EgressPolicy, EgressRefused, refusal_in
from eyeflow_worker.core.egress_transport import guarded_client, guarded_sdk_client
from tests.security.egress_rig import DialGuard, Listener, StubDNS

PUBLIC = "93.184.216.34"


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> StubDNS:
    stub = StubDNS()
    monkeypatch.setattr("socket.getaddrinfo", stub)
    return stub


@pytest.fixture
def dials(dns: StubDNS, monkeypatch: pytest.MonkeyPatch) -> DialGuard:
    guard = DialGuard(dns)
    monkeypatch.setattr("socket.create_connection", guard)
    return guard


@pytest.fixture
def listener() -> Iterator[Listener]:
    served = Listener("127.0.0.2")
    yield served
    served.stop()


@pytest.fixture
def trap() -> Iterator[Listener]:
    served = Listener("127.0.0.3")
    yield served
    served.stop()


def test_each_connection_resolves_once_and_dials_the_address_it_checked(
    dns: StubDNS, dials: DialGuard, listener: Listener, trap: Listener
) -> None:
    # Public on the first query, the trap on every later one: a guard that resolved once to
    # check and again to connect would be walked into the trap.
    dns.add("flip.test", [PUBLIC], ["127.0.0.3"])
    policy = EgressPolicy.parse("X", [])
    with guarded_client(policy, timeout=3.0, keepalive=False) as client:
        with pytest.raises(httpx.ConnectError):
            client.get(f"http://flip.test:{trap.port}/")  # dials PUBLIC, which the rig refuses
        with pytest.raises(httpx.ConnectError) as second:  # re-checked: now refused
            client.get(f"http://flip.test:{trap.port}/")
    assert dials.refused == [PUBLIC]
    assert dns.queries["flip.test"] == 2
    assert trap.connections == 0
    assert isinstance(refusal_in(second.value), EgressRefused)


def test_a_webhook_client_checks_every_attempt_afresh(
    dns: StubDNS, dials: DialGuard, listener: Listener
) -> None:
    dns.add("hooks.test", ["127.0.0.2"])
    policy = EgressPolicy.parse("X", [f"hooks.test:{listener.port}"])
    with guarded_client(policy, timeout=3.0, keepalive=False) as client:
        for _ in range(3):
            assert client.post(f"http://hooks.test:{listener.port}/in").status_code == 204
    assert dns.queries["hooks.test"] == 3
    assert listener.connections == 3


def test_refusals_surface_as_connect_errors_of_either_library(
    dns: StubDNS, dials: DialGuard, trap: Listener
) -> None:
    policy = EgressPolicy.parse("X", [])
    url = f"http://127.0.0.3:{trap.port}/"
    with guarded_client(policy, timeout=3.0) as client, pytest.raises(httpx.ConnectError) as one:
        client.get(url)
    with guarded_sdk_client(policy, timeout=3.0) as sdk, pytest.raises(httpx2.ConnectError) as two:
        sdk.get(url)
    for raised in (one.value, two.value):
        refusal = refusal_in(raised)
        assert refusal is not None
        assert "127.0.0.3" in refusal.reason
    assert trap.connections == 0
    assert dials.dialled == []


def test_redirects_are_answers_not_destinations(
    dns: StubDNS, dials: DialGuard, trap: Listener
) -> None:
    redirecting = Listener("127.0.0.2", redirects={"x": (302, trap.url("/"))})
    try:
        policy = EgressPolicy.parse("X", [f"127.0.0.2:{redirecting.port}", "127.0.0.3"])
        with guarded_client(policy, timeout=3.0) as client:
            assert client.get(redirecting.url("/r/x")).status_code == 302
        with guarded_sdk_client(policy, timeout=3.0) as sdk:
            assert sdk.get(redirecting.url("/r/x")).status_code == 302
    finally:
        redirecting.stop()
    assert trap.connections == 0  # even though the trap's host is allowed here


def test_proxies_from_the_environment_are_not_used(
    dns: StubDNS, dials: DialGuard, listener: Listener, trap: Listener, monkeypatch: Any
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, trap.url("/"))
    policy = EgressPolicy.parse("X", [f"127.0.0.2:{listener.port}"])
    with guarded_client(policy, timeout=3.0) as client:
        assert client.get(listener.url("/")).status_code == 204
    with guarded_sdk_client(policy, timeout=3.0) as sdk:
        assert sdk.get(listener.url("/")).status_code == 204
    assert trap.connections == 0


# --- https: the pinned address, the URL's name ---------------------------------------------------


class TLSServer:
    """An https server on 127.0.0.2 whose certificate names only `good.test`; it records the
    SNI name each handshake asked for."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.sni: list[str | None] = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)  # type: ignore[assignment, func-returns-value]

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = int(self.httpd.server_address[1])
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate for `good.test` it signed: (ca, cert, key) PEM files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "egress test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "good.test")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("good.test")]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.mark.parametrize("library", ["httpx", "httpx2"])
def test_https_to_a_pinned_address_still_verifies_the_urls_host_name(
    library: str, tmp_path: Path, dns: StubDNS, dials: DialGuard
) -> None:
    ca, cert, key = _certificates(tmp_path)
    server = TLSServer(cert, key)
    dns.add("good.test", ["127.0.0.2"])
    dns.add("bad.test", ["127.0.0.2"])  # same address, a name the certificate does not carry
    trust = ssl.create_default_context(cafile=str(ca))
    policy = EgressPolicy.parse("X", ["good.test", "bad.test"])
    try:
        if library == "httpx":
            client: Any = guarded_client(policy, timeout=3.0, ssl_context=trust)
            failure: type[Exception] = httpx.ConnectError
        else:
            client = guarded_sdk_client(policy, timeout=3.0, ssl_context=trust)
            failure = httpx2.ConnectError
        with client:
            assert client.get(f"https://good.test:{server.port}/").status_code == 204
            with pytest.raises(failure, match=r"(?i)certificate|hostname"):
                client.get(f"https://bad.test:{server.port}/")
    finally:
        server.stop()
    assert server.sni == ["good.test", "bad.test"]  # SNI names the URL's host, not the IP
    assert dials.dialled == ["127.0.0.2", "127.0.0.2"]
