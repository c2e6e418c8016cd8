from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eyeflow_worker.core.catalogue_model import Catalogue
from eyeflow_worker.core.catalogue_reader import normalize_catalogue
from eyeflow_worker.rules.sample_catalogue import sample_catalogue

FIXTURES = Path(__file__).parent / "fixtures"


def raw_catalogue(name: str) -> dict[str, Any]:
    if name == "sample":
        return sample_catalogue()
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def fixture_intents() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((FIXTURES / "intents.json").read_text())
    return data


@pytest.fixture
def sample() -> Catalogue:
    return normalize_catalogue(sample_catalogue())
