"""The offline drafter obeys the faithfulness check: for every fixture intent its draft has
nothing the checker would reject, and the drafter writes the intent's numbers in the units of
the catalogue's variables and puts named channels, teams and severities into the params."""

from __future__ import annotations

from typing import Any

import pytest

from eyeflow_worker.core.catalogue_reader import normalize_catalogue
from eyeflow_worker.core.workflow_rules import WorkflowRules
from eyeflow_worker.offline.drafting import draft_rules
from eyeflow_worker.rules.faithfulness import check_faithfulness
from eyeflow_worker.rules.validate import validate_rules
from tests.rules.conftest import fixture_intents, raw_catalogue

INTENTS = fixture_intents()


@pytest.mark.parametrize(
    "case", INTENTS, ids=[f"{c['catalogue']}|{c['intent'][:50]}" for c in INTENTS]
)
def test_drafts_of_every_fixture_intent_are_faithful(case: dict[str, Any]) -> None:
    catalogue = normalize_catalogue(raw_catalogue(case["catalogue"]))
    draft = draft_rules(case["intent"], catalogue)
    assert check_faithfulness(case["intent"], WorkflowRules.model_validate(draft), catalogue) == []
    assert validate_rules(draft, catalogue, case["intent"]).errors == ()


UNITS = normalize_catalogue(
    {
        "action_types": [
            {
                "name": "NOTIFY",
                "params": {
                    "message": {"type": "string", "required": True},
                    "channel": {"type": "string"},
                    "priority": {"type": "string", "enum": ["urgent", "high", "low"]},
                    "team": {"type": "string"},
                },
            }
        ],
        "triggers": ["ON_METRIC_UPDATE"],
        "variables": [
            {"name": "metrics.db_memory", "type": "number", "unit": "fraction",
             "description": "Database memory usage"},
            {"name": "disk.free_mb", "type": "number", "description": "Free disk space"},
            {"name": "job.runtime", "type": "number", "unit": "seconds",
             "description": "Job runtime"},
            {"name": "backup.age_hours", "type": "number", "description": "Backup age"},
        ],
    }
)  # fmt: skip


@pytest.mark.parametrize(
    ("intent", "condition"),
    [
        ("Notify when database memory exceeds 85%", "$metrics.db_memory > 0.85"),
        ("Notify when free disk space drops below 10 GB", "$disk.free_mb < 10240"),
        ("Notify when the job runtime is longer than 5 minutes", "$job.runtime > 300"),
        ("Notify when the backup age is older than 2 days", "$backup.age_hours > 48"),
        ("Notify when the job runtime is 90 seconds or more", "$job.runtime >= 90"),
        ("Notify when free disk space is no fewer than 512 mb", "$disk.free_mb >= 512"),
    ],
)
def test_the_drafter_writes_numbers_in_the_variables_unit(intent: str, condition: str) -> None:
    draft = draft_rules(intent, UNITS)
    assert draft["rules"][0]["condition"] == condition
    assert check_faithfulness(intent, WorkflowRules.model_validate(draft), UNITS) == []


def test_the_drafter_puts_named_things_into_optional_params() -> None:
    intent = (
        "Notify the dba team on #db-alerts with urgent priority when database memory exceeds 90%"
    )
    draft = draft_rules(intent, UNITS)
    params = draft["rules"][0]["then"][0]["params"]
    assert params["channel"] == "#db-alerts"
    assert params["team"] == "dba"
    assert params["priority"] == "urgent"
    assert check_faithfulness(intent, WorkflowRules.model_validate(draft), UNITS) == []


@pytest.mark.parametrize(
    ("intent", "condition"),
    [
        ("Alert when database connections are no fewer than 200", "$metrics.db_connections >= 200"),
        ("Alert when the error rate is not less than 5%", "$metrics.error_rate_percent >= 5"),
        ("Alert when CPU usage does not exceed 10%", "$metrics.cpu_percent <= 10"),
        ("Alert when CPU usage is 95% or above", "$metrics.cpu_percent >= 95"),
        ("Alert when the queue depth is 10 or under", "$metrics.queue_depth <= 10"),
        ("Alert when database connections are no greater than 3", "$metrics.db_connections <= 3"),
    ],
)
def test_the_drafter_reads_the_direction_words_the_checker_reads(
    intent: str, condition: str
) -> None:
    sample = normalize_catalogue(raw_catalogue("sample"))
    draft = draft_rules(intent, sample)
    assert draft["rules"][0]["condition"] == condition
    assert check_faithfulness(intent, WorkflowRules.model_validate(draft), sample) == []
