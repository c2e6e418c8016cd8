"""The embedded drafter as a provider, for the offline tests."""

from __future__ import annotations

import pytest

from eyeflow_worker.core.llm_config import ProviderConfig
from eyeflow_worker.core.settings import Settings
from eyeflow_worker.providers.offline import OfflineProvider


@pytest.fixture
def offline() -> OfflineProvider:
    config = ProviderConfig(provider="offline", model="eyeflow-offline-drafter-1")
    return OfflineProvider(config, Settings(_env_file=None))  # type: ignore[call-arg]
