"""The per-process client cache: reused per key, bounded, and closing what it drops."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from pydantic import SecretStr

from eyeflow_worker.providers import clients
from eyeflow_worker.providers.clients import cached_client, clear_clients, client_key


class FakeClient:
    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture(autouse=True)
def _small_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    clear_clients()
    monkeypatch.setattr(clients, "MAX_CLIENTS", 3)
    yield
    clear_clients()


def _key(n: int) -> clients.ClientKey:
    return client_key("openai", f"http://tenant-{n}.example/v1", SecretStr(f"sk-{n}"), 5.0)


def _maker(name: str) -> Callable[[], FakeClient]:
    return lambda: FakeClient(name)


def test_the_same_key_gets_the_same_client() -> None:
    first = cached_client(_key(1), lambda: FakeClient("a"))
    assert cached_client(_key(1), lambda: FakeClient("b")) is first


def test_the_least_recently_used_client_is_evicted_but_not_closed() -> None:
    made = {n: cached_client(_key(n), _maker(str(n))) for n in (1, 2, 3)}
    cached_client(_key(1), lambda: FakeClient("again"))  # 1 is now the most recent

    cached_client(_key(4), lambda: FakeClient("4"))

    assert len(clients._clients) == 3
    assert cached_client(_key(2), lambda: FakeClient("rebuilt")).name == "rebuilt"
    # Another thread may still be mid-request on an evicted client: it is left open (it closes
    # when garbage-collected), never closed under that request.
    assert not any(client.closed for client in made.values())


def test_a_real_httpx_client_in_use_survives_eviction() -> None:
    real = cached_client(_key(1), lambda: httpx.Client())
    for n in (2, 3, 4):
        cached_client(_key(n), lambda: FakeClient("x"))
    assert not real.is_closed
    real.close()


def test_a_client_that_fails_to_close_does_not_fail_the_call() -> None:
    class Stubborn(FakeClient):
        def close(self) -> None:
            raise RuntimeError("already closed")

    cached_client(_key(1), lambda: Stubborn("s"))
    for n in (2, 3):
        cached_client(_key(n), lambda: FakeClient("x"))
    assert cached_client(_key(4), lambda: FakeClient("4")).name == "4"
