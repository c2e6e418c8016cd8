""".env.example documents every setting there is, and nothing that isn't."""

from __future__ import annotations

import re
from pathlib import Path

from eyeflow_worker.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# Read by scripts and docker-compose, not by Settings.
SCRIPT_ONLY = {"GATEWAY_PORT", "FLOWER_PORT", "FLOWER_BASIC_AUTH", "GATEWAY_BIND", "FLOWER_BIND"}


def test_env_example_lists_exactly_the_settings() -> None:
    documented = set(
        re.findall(r"^# ([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    )
    settings = {name.upper() for name in Settings.model_fields}

    assert settings - documented == set(), "settings missing from .env.example"
    assert documented - settings - SCRIPT_ONLY == set(), ".env.example names unknown settings"
