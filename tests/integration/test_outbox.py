"""The outbox end to end: an order stored by the function reaches the domain events bus through the
table's stream and the template's pipe, run by our poller; a subscriber is added while the stack runs,
with the AWS CLI, as on AWS.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest

from orderflow_local.stack import LocalStack, StackOptions
from tests.support import ORDER_SERVICE, aws_cli, body, cancellation, seed_order, wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.timeout(180), pytest.mark.xdist_group("test_outbox")]

SCHEMAS = Path(__file__).parents[2] / "schemas" / "events"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(
        StackOptions(port=0, batching_window=1, ttl_sweep_interval=3600, functions=ORDER_SERVICE)
    ) as running:
        yield running


def _aws(stack: LocalStack, *args: str) -> dict[str, Any]:
    return aws_cli(stack.endpoint, *args)


@pytest.fixture(scope="module")
def subscriber(stack: LocalStack) -> str:
    """A queue subscribed to every order event by a rule created with the AWS CLI while the stack runs."""
    name = f"outbox-subscriber-{uuid.uuid4().hex[:8]}"
    queue_url = _aws(stack, "sqs", "create-queue", "--queue-name", name)["QueueUrl"]
    queue_arn = _aws(stack, "sqs", "get-queue-attributes", "--queue-url", queue_url, "--attribute-names", "QueueArn")[
        "Attributes"
    ]["QueueArn"]
    bus = stack.outputs["OrderEventsBusName"]
    pattern = json.dumps({"source": ["orderflow.orders"]})
    _aws(stack, "events", "put-rule", "--name", name, "--event-bus-name", bus, "--event-pattern", pattern)
    _aws(
        stack,
        "events",
        "put-targets",
        "--rule",
        name,
        "--event-bus-name",
        bus,
        "--targets",
        json.dumps([{"Id": "subscriber", "Arn": queue_arn}]),
    )
    return str(queue_url)


def _received(stack: LocalStack, queue_url: str, count: int, what: str) -> list[dict[str, Any]]:
    sqs = stack.emulator.sqs()
    events: list[dict[str, Any]] = []

    def enough() -> bool:
        found = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in found.get("Messages", []):
            events.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(events) >= count

    wait_until(enough, what, timeout=60, interval=0)
    return events


def _valid(event: dict[str, Any]) -> dict[str, Any]:
    schema = json.loads((SCHEMAS / f"{event['detail-type']}.json").read_text())
    jsonschema.validate(event["detail"], schema)
    return event


def _send(stack: LocalStack, *messages: dict[str, Any]) -> None:
    sqs = stack.emulator.sqs()
    for message in messages:
        sqs.send_message(QueueUrl=stack.outputs["QueueUrl"], MessageBody=body(message))


def _settled(stack: LocalStack) -> None:
    """Every message sent so far is processed (the queue is empty, nothing in flight) and the pipe is idle."""
    sqs = stack.emulator.sqs()

    def idle() -> bool:
        attributes = sqs.get_queue_attributes(
            QueueUrl=stack.outputs["QueueUrl"],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        pipe = stack.pipes[0].stats.snapshot()
        return all(value == "0" for value in attributes.values()) and not pipe["in_flight"]

    wait_until(idle, "the queue and the pipe to be idle", timeout=60)


def test_a_stored_order_and_its_cancellation_are_published_once_each_in_order(
    stack: LocalStack, subscriber: str
) -> None:
    order = seed_order(orderId=f"ord-outbox-{uuid.uuid4().hex[:8]}")
    _send(stack, order)
    [confirmed] = _received(stack, subscriber, 1, "OrderConfirmed on the subscriber's queue")
    _send(stack, cancellation(order))
    [cancelled] = _received(stack, subscriber, 1, "OrderCancelled on the subscriber's queue")

    for event, detail_type, status, version in (
        (confirmed, "OrderConfirmed", "CONFIRMED", 1),
        (cancelled, "OrderCancelled", "CANCELLED", 2),
    ):
        _valid(event)
        assert event["source"] == "orderflow.orders"
        assert event["detail-type"] == detail_type
        detail = event["detail"]
        assert detail["orderId"] == order["orderId"]
        assert detail["createdAt"] == order["createdAt"]
        assert detail["customerId"] == order["customerId"]
        assert detail["status"] == status
        assert int(detail["version"]) == version
        assert detail["eventId"] == f"{order['orderId']}#{order['createdAt']}#{version}"
        assert detail["totalAmount"] == str(order["totalAmount"])  # an exact decimal, as a string
        assert detail["currency"] == order["currency"]


def test_duplicates_and_rejected_orders_publish_nothing(stack: LocalStack, subscriber: str) -> None:
    order = seed_order(orderId=f"ord-outbox-dup-{uuid.uuid4().hex[:8]}")
    _send(stack, order)
    [first] = _received(stack, subscriber, 1, "the order's OrderConfirmed")
    read_before = stack.pipes[0].stats.snapshot()["records_read"]

    _send(stack, order, order, cancellation(order, reason="x" * 501))  # two duplicates and a rejected one
    _settled(stack)

    assert stack.pipes[0].stats.snapshot()["records_read"] == read_before  # nothing was written
    late = stack.emulator.sqs().receive_message(QueueUrl=subscriber, WaitTimeSeconds=1).get("Messages", [])
    assert late == []
    assert first["detail"]["orderId"] == order["orderId"]


def test_a_cancellation_before_its_order_publishes_one_order_cancelled_and_no_confirmation(
    stack: LocalStack, subscriber: str
) -> None:
    order = seed_order(orderId=f"ord-outbox-early-{uuid.uuid4().hex[:8]}")
    _send(stack, cancellation(order))  # the tombstone: stored, not published
    wait_until(
        lambda: (
            stack.emulator.dynamodb()
            .get_item(
                TableName="Orders", Key={"orderId": {"S": order["orderId"]}, "createdAt": {"S": order["createdAt"]}}
            )
            .get("Item")
        ),
        "the cancellation's tombstone",
    )
    _send(stack, order)
    [event] = _received(stack, subscriber, 1, "the late order's OrderCancelled")
    _settled(stack)

    assert _valid(event)["detail-type"] == "OrderCancelled"
    assert int(event["detail"]["version"]) == 2
    assert event["detail"]["customerId"] == order["customerId"]
    late = stack.emulator.sqs().receive_message(QueueUrl=subscriber, WaitTimeSeconds=1).get("Messages", [])
    assert late == []


def test_the_pipe_runs_as_its_role_from_the_template(stack: LocalStack) -> None:
    [pipe] = stack.pipes
    assert pipe.config.name == "OrderOutbox"
    assert stack.roles["OrderOutbox"] == stack.deployed.pipes[next(iter(stack.deployed.pipes))]["RoleArn"]
    assert pipe.stats.snapshot()["dead_lettered"] == 0


def test_a_replay_from_the_archive_reaches_one_rule(stack: LocalStack, subscriber: str) -> None:
    """docs/operations.md's replay: the archived events again, to the one rule named, with a replay-name."""
    order = seed_order(orderId=f"ord-outbox-replay-{uuid.uuid4().hex[:8]}")
    _send(stack, order)
    [original] = _received(stack, subscriber, 1, "the order's OrderConfirmed")
    events = stack.emulator.events()
    bus = events.describe_event_bus(Name=stack.outputs["OrderEventsBusName"])["Arn"]
    [archive] = events.list_archives(EventSourceArn=bus)["Archives"]
    rules = events.list_rules(EventBusName=stack.outputs["OrderEventsBusName"])["Rules"]
    [rule] = [rule["Arn"] for rule in rules if rule["Name"].startswith("outbox-subscriber-")]
    started = datetime.fromisoformat(original["time"].replace("Z", "+00:00")) - timedelta(seconds=1)
    events.start_replay(
        ReplayName=f"replay-{uuid.uuid4().hex[:8]}",
        EventSourceArn=events.describe_archive(ArchiveName=archive["ArchiveName"])["ArchiveArn"],
        EventStartTime=started,
        EventEndTime=datetime.now(UTC) + timedelta(seconds=1),
        Destination={"Arn": bus, "FilterArns": [rule]},
    )
    sqs = stack.emulator.sqs()
    replayed: list[dict[str, Any]] = []

    def ours() -> bool:
        found = sqs.receive_message(QueueUrl=subscriber, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in found.get("Messages", []):
            event = json.loads(message["Body"])
            if event["detail"]["orderId"] == order["orderId"]:
                replayed.append(event)
            sqs.delete_message(QueueUrl=subscriber, ReceiptHandle=message["ReceiptHandle"])
        return bool(replayed)

    wait_until(ours, "the replayed OrderConfirmed", timeout=60, interval=0)
    assert [event["detail"]["eventId"] for event in replayed] == [original["detail"]["eventId"]]
    assert replayed[0].get("replay-name")
