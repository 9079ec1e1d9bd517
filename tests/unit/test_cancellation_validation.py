"""Every rule of an OrderCancelled, and of the eventType that names it, with the reason a producer reads."""

from __future__ import annotations

from typing import Any

import pytest

from orderflow.domain.errors import OrderValidationError, PermanentError, UnknownEventTypeError
from orderflow.domain.events import EVENT_TYPES, event_type_of
from orderflow.domain.events.cancelled import MAX_REASON_LENGTH, OrderCancelled
from orderflow.domain.models import OrderCreated, unknown_fields
from orderflow.domain.parsing import load_json_object, validate
from tests.support import body, cancellation, seed_order


def _parse(data: dict[str, Any]) -> Any:
    parsed = load_json_object(body(data))
    return validate(event_type_of(parsed).model, parsed)


def _reason(data: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(PermanentError) as caught:
        _parse(data)
    return caught.value.code, caught.value.reason


def test_a_valid_cancellation() -> None:
    event = _parse(cancellation(seed_order()))
    assert isinstance(event, OrderCancelled)
    assert event.order_id == "ORD-20260420-001"
    assert event.created_at == "2026-04-20T14:30:00Z"
    assert event.cancelled_at == "2026-04-20T15:00:00Z"
    assert event.reason == "Customer changed their mind"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"reason": "   "}, "reason: must not be blank"),
        ({"reason": ""}, "reason: String should have at least 1 character"),
        ({"reason": "x" * (MAX_REASON_LENGTH + 1)}, f"reason: String should have at most {MAX_REASON_LENGTH} chara"),
        ({"reason": "late\u0007"}, "reason: must not contain control or invisible characters (U+0007)"),
        ({"reason": 42}, "reason: Input should be a valid string"),
        ({"cancelledAt": "2026-04-20T15:00:00"}, "cancelledAt: must include a timezone (Z or an offset"),
        ({"cancelledAt": "yesterday"}, "cancelledAt: must be an ISO 8601 timestamp such as 2026-04-20T14:30:00Z"),
        ({"cancelledAt": "2026-04-20T14:29:59Z"}, "cancelledAt: must not be earlier than createdAt"),
        ({"createdAt": "2026-04-20"}, "createdAt: must include a timezone (Z or an offset such as +02:00)"),
        ({"orderId": 7}, "orderId: Input should be a valid string"),
        ({"orderId": "ORD\u200b1"}, "orderId: must not contain control or invisible characters (U+200B)"),
        ({"orderId": "x" * 129}, "orderId: String should have at most 128 characters"),
    ],
)
def test_each_rule_has_its_reason(changes: dict[str, Any], expected: str) -> None:
    code, reason = _reason(cancellation(seed_order(), **changes))
    assert code == "VALIDATION_FAILED"
    assert reason.startswith(expected)
    assert ";" not in reason  # exactly one problem, one reason


@pytest.mark.parametrize("missing", ["orderId", "createdAt", "cancelledAt", "reason"])
def test_every_field_is_required(missing: str) -> None:
    event = cancellation(seed_order())
    del event[missing]
    assert _reason(event) == ("VALIDATION_FAILED", f"{missing}: is required")


def test_every_problem_is_reported_at_once() -> None:
    event = cancellation(seed_order(), reason=" ", cancelledAt="soon")
    del event["orderId"]
    with pytest.raises(OrderValidationError) as caught:
        _parse(event)
    assert caught.value.reasons == [
        "orderId: is required",
        "cancelledAt: must be an ISO 8601 timestamp such as 2026-04-20T14:30:00Z",
        "reason: must not be blank",
    ]


def test_a_cancellation_at_the_creation_instant_in_another_zone_is_valid() -> None:
    assert _parse(cancellation(seed_order(), cancelledAt="2026-04-20T16:30:00+02:00"))


@pytest.mark.parametrize(
    ("event_type", "shown"),
    [("OrderShipped", "'OrderShipped'"), ("orderCancelled", "'orderCancelled'"), (5, "a JSON number"),
     (None, "a JSON null"), (["OrderCancelled"], "a JSON array")],
)  # fmt: skip
def test_an_unknown_event_type_is_named(event_type: object, shown: str) -> None:
    code, reason = _reason(cancellation(seed_order(), eventType=event_type))
    assert code == UnknownEventTypeError.code == "UNKNOWN_EVENT_TYPE"
    assert reason == f"eventType: must be one of OrderCreated, OrderCancelled (or absent for OrderCreated), got {shown}"


def test_a_body_without_event_type_is_an_order_created() -> None:
    assert isinstance(_parse(seed_order()), OrderCreated)
    assert isinstance(_parse(seed_order(eventType="OrderCreated")), OrderCreated)


def test_an_order_created_body_is_not_a_cancellation_and_vice_versa() -> None:
    # a cancellation's fields do not make an order, and an order's do not make a cancellation
    assert _reason({**cancellation(seed_order()), "eventType": "OrderCreated"})[1].startswith("customerId: is required")
    code, reason = _reason({**seed_order(), "eventType": "OrderCancelled"})
    assert code == "VALIDATION_FAILED"
    assert "cancelledAt: is required" in reason


def test_unknown_fields_of_a_cancellation_are_named_and_the_envelope_is_not() -> None:
    event = cancellation(seed_order(), refund={"amount": 10})
    assert unknown_fields(event, OrderCancelled) == ["refund"]
    assert unknown_fields(seed_order(eventType="OrderCreated")) == []


def test_every_event_type_is_registered_under_its_name() -> None:
    assert list(EVENT_TYPES) == ["OrderCreated", "OrderCancelled"]
    for name, event_type in EVENT_TYPES.items():
        assert event_type.name == name
