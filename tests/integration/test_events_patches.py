"""EventBridge through the emulator's own process (granian serving moto's app, patched, as `orderflow up` runs
it): rules on a custom bus route order events to queues with ``InputPath: "$.detail"``, a disabled rule does
not fire, and PutEvents refuses what EventBridge refuses. The cases, and stock moto's answers, are in
tests/functional/test_events_patches.py."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from orderflow_local.emulator import Emulator
from orderflow_local.emulator.patches.events import MAX_REQUEST_BYTES

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.timeout(120)

BUS = "OrderIngress"
SOURCE = "orderflow.producer"


@pytest.fixture(scope="module")
def served() -> Iterator[Emulator]:
    with Emulator(port=0, own_process=True) as running:
        yield running


def _queue(sqs: Any, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _route(events: Any, rule: str, detail_type: str, queue_arn: str, **state: str) -> None:
    events.put_rule(Name=rule, EventBusName=BUS, EventPattern=json.dumps({"detail-type": [detail_type]}), **state)
    events.put_targets(
        Rule=rule, EventBusName=BUS, Targets=[{"Id": "queue", "Arn": queue_arn, "InputPath": "$.detail"}]
    )


def _drain(sqs: Any, url: str) -> list[Any]:
    """Every message in the queue, its body parsed (PutEvents has delivered before it answers)."""
    found = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def _entry(detail_type: str, detail: Any) -> dict[str, Any]:
    text = detail if isinstance(detail, str) else json.dumps(detail)
    return {"EventBusName": BUS, "Source": SOURCE, "DetailType": detail_type, "Detail": text}


def test_rules_route_each_order_event_to_its_queue_as_the_producers_event(served: Emulator) -> None:
    events, sqs = served.events(), served.sqs()
    events.create_event_bus(Name=BUS)
    created_url, created_arn = _queue(sqs, "OrderCreatedQueue")
    cancelled_url, cancelled_arn = _queue(sqs, "OrderCancelledQueue")
    paused_url, paused_arn = _queue(sqs, "PausedQueue")
    _route(events, "RouteOrderCreated", "OrderCreated", created_arn)
    _route(events, "RouteOrderCancelled", "OrderCancelled", cancelled_arn)
    _route(events, "PausedRoute", "OrderCreated", paused_arn, State="DISABLED")
    created = {"orderId": "ORD-1", "customerId": "C-1", "items": [{"productId": "P-1", "quantity": 2}]}
    cancelled = {"orderId": "ORD-1", "reason": "Customer changed their mind"}

    answer = events.put_events(
        Entries=[
            _entry("OrderCreated", created),
            _entry("OrderShipped", {"orderId": "ORD-1"}),  # no rule routes it
            _entry("OrderCreated", "[]"),  # not a JSON object
            {"EventBusName": BUS, "DetailType": "OrderCreated", "Detail": "{}"},  # no Source
            _entry("OrderCancelled", cancelled),
        ]
    )

    assert answer["FailedEntryCount"] == 2
    assert [result.get("ErrorCode") for result in answer["Entries"]] == [
        None,
        None,
        "MalformedDetail",
        "InvalidArgument",
        None,
    ]
    assert _drain(sqs, created_url) == [created]
    assert _drain(sqs, cancelled_url) == [cancelled]
    assert _drain(sqs, paused_url) == []


def test_a_call_whose_entries_are_too_large_together_is_refused_whole(served: Emulator) -> None:
    events, sqs = served.events(), served.sqs()
    events.create_event_bus(Name="SizeLimit")
    url, arn = _queue(sqs, "SizeLimitQueue")
    events.put_rule(Name="Everything", EventBusName="SizeLimit", EventPattern=json.dumps({"source": [SOURCE]}))
    events.put_targets(Rule="Everything", EventBusName="SizeLimit", Targets=[{"Id": "q", "Arn": arn, "Input": "{}"}])
    half = {
        "EventBusName": "SizeLimit",
        "Source": SOURCE,
        "DetailType": "Big",
        "Detail": json.dumps({"pad": "x" * (MAX_REQUEST_BYTES // 2)}),
    }

    with pytest.raises(ClientError) as refused:
        events.put_events(Entries=[half, half])

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert refused.value.response["Error"]["Message"] == "Total size of the entries in the request is over the limit."
    assert _drain(sqs, url) == []
    assert events.put_events(Entries=[half])["FailedEntryCount"] == 0
    assert _drain(sqs, url) == [{}]
