"""Which URLs may receive webhooks: the egress policy of `WEBHOOK_ALLOWED_HOSTS`
(`core.egress`), checked by the gateway at submission without connecting. The delivery checks it
again at every attempt, where it connects (`webhook_delivery`)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from eyeflow_worker.core.egress import WEBHOOK_SETTING, EgressPolicy


def webhook_url_problem(url: str, allowed_hosts: Sequence[str]) -> str | None:
    """Why `url` may not receive webhooks, or None when it may be tried.

    http(s) only, with a host, without credentials; a host that is not on the allow-list must
    not be an internal address written in the URL (a name is resolved, and its addresses
    checked, when the delivery connects).
    """
    return _policy(tuple(allowed_hosts)).url_problem(url)


@lru_cache(maxsize=8)
def _policy(allowed_hosts: tuple[str, ...]) -> EgressPolicy:
    return EgressPolicy.parse(WEBHOOK_SETTING, allowed_hosts)
