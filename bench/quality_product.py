"""The quality benchmark's view of the product: the data files, and the product functions it
measures — the catalogue reader (with its warnings), the validator and the faithfulness check."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eyeflow_worker.core.catalogue_model import Catalogue
from eyeflow_worker.core.catalogue_reader import normalize_catalogue, read_catalogue
from eyeflow_worker.core.workflow_rules import WorkflowRules
from eyeflow_worker.rules import validate
from eyeflow_worker.rules.catalogue import catalogue_for
from eyeflow_worker.rules.faithfulness import check_faithfulness

__all__ = ["normalize_catalogue"]


def loop_catalogue(raw: Mapping[str, Any]) -> Catalogue:
    """The catalogue `generate_rules` itself works with for this context."""
    return catalogue_for(raw).catalogue


DATA = Path(__file__).resolve().parent / "quality"

FaithfulnessCheck = Callable[[str, WorkflowRules, Catalogue], list[str]]


@dataclass(frozen=True)
class Case:
    catalogue: str
    intent: str
    rules: dict[str, Any]
    unit_slip: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Data:
    raw: dict[str, dict[str, Any]]  # catalogue name -> NestJS payload
    expected: dict[str, dict[str, Any]]  # catalogue name -> what a correct reader finds
    cases: tuple[Case, ...]


def load_data() -> Data:
    raw = {p.stem: json.loads(p.read_text()) for p in sorted((DATA / "catalogues").glob("*.json"))}
    expected = json.loads((DATA / "expected.json").read_text())
    cases = tuple(
        Case(
            c["catalogue"],
            c["intent"],
            c["rules"],
            tuple((a, b) for a, b in c.get("unit_slip", ())),
        )
        for c in json.loads((DATA / "intents.json").read_text())
    )
    return Data(raw, expected, cases)


@dataclass
class Hooks:
    """The product functions the bench measures (one place to swap them for an experiment)."""

    faithfulness: FaithfulnessCheck | None = check_faithfulness
    read_catalogue: Callable[[Mapping[str, Any]], Any] | None = read_catalogue

    def catalogue(self, raw: Mapping[str, Any]) -> tuple[Catalogue, list[str] | None]:
        """The catalogue as the product reads it, and its warnings."""
        if self.read_catalogue is None:
            return normalize_catalogue(raw), None
        read = self.read_catalogue(raw)
        return read.catalogue, [str(w) for w in read.warnings]


def validator_errors(data: Any, catalogue: Catalogue) -> tuple[str, ...]:
    """The structural validator's errors alone (no intent: no faithfulness check)."""
    return validate.validate_rules(data, catalogue).errors


def faithfulness_problems(
    hooks: Hooks, intent: str, doc: Mapping[str, Any], catalogue: Catalogue
) -> list[str] | None:
    """check_faithfulness on a document (None when the check does not exist yet)."""
    if hooks.faithfulness is None:
        return None
    rules = WorkflowRules.model_validate(doc)
    return list(hooks.faithfulness(intent, rules, catalogue))
