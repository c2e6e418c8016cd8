from __future__ import annotations

from eyeflow_worker.core.catalogue_reader import normalize_catalogue

from .conftest import raw_catalogue


def test_fixture_shapes_normalise() -> None:
    infra = normalize_catalogue(raw_catalogue("infra_monitoring"))  # data.capabilities, camelCase
    assert "SEND_EMAIL" in infra.action_names
    email = infra.action("SEND_EMAIL")
    assert email is not None
    assert email.params_closed
    to = email.param("to")
    assert to is not None
    assert (to.type, to.raw_type, to.required) == ("string", "email", True)
    assert "$metrics.db_memory_percent" in infra.variable_names  # nested variable tree
    assert infra.condition_types[0].name == "COMPOSITE"  # names as plain strings, sorted

    finance = normalize_catalogue(raw_catalogue("finance_approvals"))  # dicts keyed by name
    approval = finance.action("REQUEST_APPROVAL")
    assert approval is not None
    role = approval.param("approver_role")
    assert role is not None
    assert role.required
    assert role.enum == ("manager", "finance_director", "cfo")
    note = approval.param("note")
    assert note is not None
    assert not note.required
    assert approval.extra == {"category": "approval"}
    assert "$expense.category" in finance.variable_names

    hr = normalize_catalogue(raw_catalogue("hr_onboarding"))  # JSON Schema params, "events"
    buddy = hr.action("ASSIGN_BUDDY")
    assert buddy is not None
    assert not buddy.params_closed  # additionalProperties omitted: open
    assert hr.trigger_names == ("ON_EMPLOYEE_HIRED", "ON_PROBATION_END", "ON_START_DATE")
    assert hr.extra == {"tenant": {"id": "acme", "region": "eu"}}  # unknown fields kept


def test_round_trip_of_canonical_form() -> None:
    for name in ("sample", "infra_monitoring", "finance_approvals", "hr_onboarding"):
        catalogue = normalize_catalogue(raw_catalogue(name))
        assert normalize_catalogue(catalogue.to_dict()) == catalogue


def test_empty_and_odd_inputs() -> None:
    assert normalize_catalogue(None).action_types == ()
    odd = normalize_catalogue(
        {"actions": [{"description": "no name"}, 42, "  ", {"name": "A", "type": "notification"}]}
    )
    assert odd.action_names == ("A",)
    a = odd.action("A")
    assert a is not None
    assert a.extra == {"type": "notification"}  # a category, not a value type


def test_param_list_of_names_and_duplicates() -> None:
    c = normalize_catalogue(
        {"action_types": [{"name": "X", "params": ["b", "a"]}, {"name": "X", "params": []}]}
    )
    x = c.action("X")
    assert x is not None
    assert [p.name for p in x.params] == ["a", "b"]
