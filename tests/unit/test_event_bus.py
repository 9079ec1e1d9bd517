"""EventBridgePublisher: every refusal PutEvents can answer becomes an EventPublishError (the record is
retried, and consumers drop the repeats by eventId), and more than 10 events go in several calls.
PutEvents' answers are botocore's, stubbed (botocore.stub.Stubber checks each request against the
service model too)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from orderflow.adapters.event_bus import EventBridgePublisher
from orderflow.domain.payments.errors import EventPublishError
from orderflow.domain.payments.models import PaymentEvent


def _events(count: int) -> list[PaymentEvent]:
    return [PaymentEvent("PaymentCaptured", {"eventId": f"ord-{n}#PaymentCaptured", "orderId": f"ord-{n}"})
            for n in range(count)]  # fmt: skip


def _publisher() -> tuple[EventBridgePublisher, Stubber]:
    client = boto3.client("events", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return EventBridgePublisher("OrderEvents", source="orderflow.payments", client=client), Stubber(client)


def _entries(events: list[PaymentEvent]) -> list[dict[str, str]]:
    return [{"EventBusName": "OrderEvents", "Source": "orderflow.payments", "DetailType": event.detail_type,
             "Detail": json.dumps(event.detail)} for event in events]  # fmt: skip


def test_twelve_events_go_in_two_calls_of_at_most_ten() -> None:
    publisher, stub = _publisher()
    events = _events(12)
    stub.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "e"}] * 10},
                      {"Entries": _entries(events[:10])})  # fmt: skip
    stub.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "e"}] * 2},
                      {"Entries": _entries(events[10:])})  # fmt: skip

    with stub:
        publisher.publish(events)

    stub.assert_no_pending_responses()


def test_some_entries_refused_is_an_error_naming_how_many_and_why() -> None:
    publisher, stub = _publisher()
    events = _events(3)
    answer = {
        "FailedEntryCount": 2,
        "Entries": [
            {"EventId": "e1"},
            {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"},
            {"ErrorCode": "InternalFailure", "ErrorMessage": "retry"},
        ],
    }
    stub.add_response("put_events", answer, {"Entries": _entries(events)})

    with stub, pytest.raises(EventPublishError) as raised:
        publisher.publish(events)

    assert "refused 2 of 3" in str(raised.value)
    assert "ThrottlingException: Rate exceeded" in str(raised.value)
    assert "InternalFailure: retry" in str(raised.value)


def test_a_refused_call_is_an_error_with_its_code() -> None:
    publisher, stub = _publisher()
    stub.add_client_error("put_events", service_error_code="AccessDeniedException", http_status_code=400)

    with stub, pytest.raises(EventPublishError, match="AccessDeniedException"):
        publisher.publish(_events(1))
