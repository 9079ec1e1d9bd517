"""The pipe's poller against moto in process: a table with a stream, a bus with a rule that copies its
events to a queue, and the outbox pipe between them (docs/event-source-mapping.md, "EventBridge
Pipes: the rules our runner reproduces")."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from infra.outbox import OUTBOX_FILTER_PATTERN, OUTBOX_INPUT_TEMPLATE
from moto import mock_aws

from orderflow_local.lambda_runtime.pipe_config import PipeConfig
from orderflow_local.lambda_runtime.pipes import StreamPipe

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

REGION = "us-east-1"
# The deployed pipe's own template and filter.
TEMPLATE = OUTBOX_INPUT_TEMPLATE
FILTER = json.dumps(OUTBOX_FILTER_PATTERN)


def client(service: str) -> Any:
    # botocore routes DynamoDB Streams to an account endpoint (123....streams-ddb...) moto does not serve.
    return boto3.client(service, region_name=REGION, config=Config(account_id_endpoint_mode="disabled"))


@dataclass
class Outbox:
    """The AWS side of the pipe, and helpers to write orders and read what the bus delivered."""

    stream_arn: str
    bus_arn: str
    seen_url: str
    dlq_arn: str
    dlq_url: str
    pipes: list[StreamPipe] = field(default_factory=list)

    def properties(self, **stream: Any) -> dict[str, Any]:
        parameters = {
            "StartingPosition": "LATEST",
            "BatchSize": 10,
            "MaximumBatchingWindowInSeconds": 0,
            "MaximumRetryAttempts": 10,
            "MaximumRecordAgeInSeconds": -1,
            "OnPartialBatchItemFailure": "AUTOMATIC_BISECT",
            "DeadLetterConfig": {"Arn": self.dlq_arn},
            **stream,
        }
        return {
            "Source": self.stream_arn,
            "SourceParameters": {
                "DynamoDBStreamParameters": {key: value for key, value in parameters.items() if value is not None},
                "FilterCriteria": {"Filters": [{"Pattern": FILTER}]},
            },
            "Target": self.bus_arn,
            "TargetParameters": {
                "InputTemplate": TEMPLATE,
                "EventBridgeEventBusParameters": {
                    "Source": "orderflow.orders",
                    "DetailType": "$.dynamodb.NewImage.domainEvent.S",
                },
            },
            "RoleArn": "arn:aws:iam::123456789012:role/OrderOutboxPipeRole",
        }

    def start(self, factory: Callable[[str], Any] = client, **stream: Any) -> StreamPipe:
        pipe = StreamPipe(
            PipeConfig.from_properties("OrderOutbox", self.properties(**stream)),
            client_factory=factory,
            backoff=lambda _retry: 0.01,
        )
        self.pipes.append(pipe.start())
        assert pipe.wait_ready(10), "the pipe never got its shard iterator"
        return pipe

    def store(self, order_id: str, *, event: str | None = "OrderConfirmed", version: int = 1, **extra: Any) -> None:
        item: dict[str, Any] = {
            "orderId": {"S": order_id},
            "createdAt": {"S": "2025-01-01T00:00:00.000Z"},
            "customerId": {"S": "CUST-1"},
            "status": {"S": {"OrderCancelled": "CANCELLED", None: "AWAITING_ORDER"}.get(event, "CONFIRMED")},
            "totalAmount": {"N": "149.99"},
            "currency": {"S": "EUR"},
            "version": {"N": str(version)},
            "statusChangedAt": {"S": "2025-01-01T00:00:01.000Z"},
            **extra,
        }
        if event is not None:
            item["domainEvent"] = {"S": event}
            item["eventId"] = {"S": f"{order_id}#2025-01-01T00:00:00.000Z#{version}"}
        client("dynamodb").put_item(TableName="Orders", Item=item)

    def delivered(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        """Wait until at least ``count`` events reached the queue; every one read (and deleted)."""
        sqs = client("sqs")
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(events) < count and time.monotonic() < deadline:
            for message in sqs.receive_message(QueueUrl=self.seen_url, MaxNumberOfMessages=10).get("Messages", []):
                events.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.seen_url, ReceiptHandle=message["ReceiptHandle"])
            if len(events) < count:
                time.sleep(0.05)
        assert len(events) >= count, f"{len(events)} of {count} events arrived in {timeout} s: {events}"
        return events

    def dead_letters(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        sqs = client("sqs")
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            messages = sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10).get("Messages", [])
            found.extend(json.loads(message["Body"]) for message in messages)
            if len(found) < count:
                time.sleep(0.05)
        assert len(found) >= count, f"{len(found)} of {count} failure records in {timeout} s"
        return found

    def sequence_numbers(self) -> dict[str, str]:
        """Each order's stream sequence number (the latest record of it), read from the stream itself."""
        streams = client("dynamodbstreams")
        shard = streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )
        records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
        return {r["dynamodb"]["Keys"]["orderId"]["S"]: r["dynamodb"]["SequenceNumber"] for r in records}


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Outbox]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        table = client("dynamodb").create_table(
            TableName="Orders",
            KeySchema=[
                {"AttributeName": "orderId", "KeyType": "HASH"},
                {"AttributeName": "createdAt", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "orderId", "AttributeType": "S"},
                {"AttributeName": "createdAt", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        events, sqs = client("events"), client("sqs")
        bus_arn = events.create_event_bus(Name="OrderDomainEvents")["EventBusArn"]
        seen_url = sqs.create_queue(QueueName="seen")["QueueUrl"]
        dlq_url = sqs.create_queue(QueueName="OrderOutboxDLQ")["QueueUrl"]

        def arn(url: str) -> str:
            return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

        events.put_rule(
            Name="everything",
            EventBusName="OrderDomainEvents",
            EventPattern=json.dumps({"source": ["orderflow.orders"]}),
        )
        events.put_targets(
            Rule="everything", EventBusName="OrderDomainEvents", Targets=[{"Id": "q", "Arn": arn(seen_url)}]
        )
        running = Outbox(table["TableDescription"]["LatestStreamArn"], bus_arn, seen_url, arn(dlq_url), dlq_url)
        yield running
        for pipe in running.pipes:
            pipe.stop(drain=False, timeout=5)


class FlakyEvents:
    """An events client whose PutEvents fails as scripted, else is the real one.

    ``script`` is consumed call by call: ``"raise"`` (the whole call fails), a set of order ids whose
    entries fail (the rest are delivered), or ``None`` (a normal call). ``poison`` entries always fail.
    """

    def __init__(self, script: list[Any] | None = None, poison: set[str] | None = None) -> None:
        self.real = client("events")
        self.script = list(script or [])
        self.poison = poison or set()
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        ids = [json.loads(entry["Detail"])["orderId"] for entry in Entries]
        with self.lock:
            self.calls.append(ids)
            step = self.script.pop(0) if self.script else None
        if step == "raise":
            raise ConnectionError("injected: the bus is unreachable")
        failing = (step or set()) | self.poison
        results: list[dict[str, Any]] = []
        for entry, order_id in zip(Entries, ids, strict=True):
            if order_id in failing:
                results.append({"ErrorCode": "InternalFailure", "ErrorMessage": "injected"})
            else:
                results.extend(self.real.put_events(Entries=[entry])["Entries"])
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}


def with_events(events: FlakyEvents) -> Callable[[str], Any]:
    return lambda service: events if service == "events" else client(service)


def order_ids(events: list[dict[str, Any]]) -> list[str]:
    return [event["detail"]["orderId"] for event in events]


def test_a_stored_transition_arrives_with_the_contracts_source_detail_type_and_detail(outbox: Outbox) -> None:
    pipe = outbox.start()
    outbox.store("ORD-1")
    outbox.store("ORD-2", event="OrderCancelled", version=2)

    first, second = outbox.delivered(2)

    assert (first["source"], first["detail-type"]) == ("orderflow.orders", "OrderConfirmed")
    assert (second["source"], second["detail-type"]) == ("orderflow.orders", "OrderCancelled")
    assert first["detail"] == {
        "schemaVersion": 1,
        "eventId": "ORD-1#2025-01-01T00:00:00.000Z#1",
        "orderId": "ORD-1",
        "createdAt": "2025-01-01T00:00:00.000Z",
        "customerId": "CUST-1",
        "status": "CONFIRMED",
        "totalAmount": "149.99",
        "currency": "EUR",
        # DynamoDB streams numbers as strings: outside quotes AWS inserts the JSON value, "2" stays a string.
        "version": "1",
        "occurredAt": "2025-01-01T00:00:01.000Z",
    }
    assert second["detail"]["version"] == "2"
    assert pipe.stats.snapshot()["published"] == 2


def test_records_of_a_shard_arrive_in_the_order_they_were_written(outbox: Outbox) -> None:
    outbox.start(BatchSize=3, MaximumBatchingWindowInSeconds=1)
    written = [f"ORD-{n:02d}" for n in range(25)]
    for order_id in written:
        outbox.store(order_id)

    assert order_ids(outbox.delivered(25)) == written


def test_a_record_that_matches_no_filter_publishes_nothing(outbox: Outbox) -> None:
    pipe = outbox.start()
    outbox.store("TOMBSTONE", event=None)  # AWAITING_ORDER: no domainEvent
    client("dynamodb").delete_item(
        TableName="Orders", Key={"orderId": {"S": "TOMBSTONE"}, "createdAt": {"S": "2025-01-01T00:00:00.000Z"}}
    )
    outbox.store("ORD-AFTER")  # published only once the pipe is past the two before it

    assert order_ids(outbox.delivered(1)) == ["ORD-AFTER"]
    stats = pipe.stats.snapshot()
    assert (stats["records_read"], stats["filtered_out"], stats["published"]) == (3, 2, 1)
    assert client("sqs").receive_message(QueueUrl=outbox.seen_url).get("Messages") is None


@pytest.mark.parametrize("starting_position", ["LATEST", "TRIM_HORIZON"])
def test_the_starting_position_decides_whether_earlier_records_are_read(outbox: Outbox, starting_position: str) -> None:
    outbox.store("ORD-BEFORE")
    outbox.start(StartingPosition=starting_position)
    outbox.store("ORD-AFTER")

    expected = ["ORD-BEFORE", "ORD-AFTER"] if starting_position == "TRIM_HORIZON" else ["ORD-AFTER"]
    assert order_ids(outbox.delivered(len(expected))) == expected


def test_batches_hold_at_most_batch_size_records_gathered_within_the_window(outbox: Outbox) -> None:
    events = FlakyEvents()
    outbox.start(with_events(events), BatchSize=3, MaximumBatchingWindowInSeconds=2)
    for n in range(7):
        outbox.store(f"ORD-{n}")

    outbox.delivered(7)
    assert [len(call) for call in events.calls] == [3, 3, 1]


def test_a_failing_target_is_retried_until_delivered_nothing_lost(outbox: Outbox) -> None:
    events = FlakyEvents(script=["raise", "raise", {"ORD-2"}, "raise"])
    pipe = outbox.start(with_events(events), OnPartialBatchItemFailure=None, MaximumBatchingWindowInSeconds=1)
    for n in range(5):
        outbox.store(f"ORD-{n}")

    arrived = order_ids(outbox.delivered(5))
    assert sorted(set(arrived)) == [f"ORD-{n}" for n in range(5)]  # every one, at least once
    stats = pipe.stats.snapshot()
    assert stats["failed"] > 0
    assert stats["dead_lettered"] == 0
    # Only what failed is sent again: no event is published twice here.
    assert len(arrived) == 5


def test_exhausted_retries_send_aws_failure_record_to_the_dlq_and_the_shard_moves_on(outbox: Outbox) -> None:
    events = FlakyEvents(poison={"ORD-POISON"})
    pipe = outbox.start(with_events(events), MaximumRetryAttempts=2, MaximumBatchingWindowInSeconds=1)
    outbox.store("ORD-A")
    outbox.store("ORD-POISON")
    outbox.store("ORD-B")

    (record,) = outbox.dead_letters(1)
    outbox.store("ORD-LATER")
    assert sorted(order_ids(outbox.delivered(3))) == ["ORD-A", "ORD-B", "ORD-LATER"]

    sequence = outbox.sequence_numbers()["ORD-POISON"]
    info = record["DDBStreamBatchInfo"]
    assert record["context"] == {
        "partnerResourceArn": "arn:aws:pipes:us-east-1:123456789012:pipe/OrderOutbox",
        "condition": "RetryAttemptsExhausted",
    }
    assert (info["shardId"].startswith("shardId-"), info["streamArn"]) == (True, outbox.stream_arn)
    # Bisected down to the poison record alone: the other two were delivered.
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (sequence, sequence, 1)
    assert info["approximateArrivalOfFirstRecord"].endswith("Z")
    assert pipe.stats.snapshot()["dead_lettered"] == 1
    assert sum("ORD-POISON" in call for call in events.calls) == 3  # the first attempt and 2 retries


def test_records_older_than_the_maximum_age_go_to_the_dlq_unpublished(outbox: Outbox) -> None:
    events = FlakyEvents()
    config = PipeConfig.from_properties("OrderOutbox", outbox.properties(MaximumRecordAgeInSeconds=60))
    pipe = StreamPipe(config, client_factory=with_events(events), clock=lambda: time.time() + 3600).start()
    outbox.pipes.append(pipe)
    assert pipe.wait_ready(10)
    outbox.store("ORD-OLD")

    (record,) = outbox.dead_letters(1)
    assert record["context"]["condition"] == "RecordAgeExceeded"
    assert events.calls == []


def test_stop_drains_the_batch_in_hand(outbox: Outbox) -> None:
    pipe = outbox.start(MaximumBatchingWindowInSeconds=300)
    for n in range(3):
        outbox.store(f"ORD-{n}")
    deadline = time.monotonic() + 10
    while pipe.stats.snapshot()["records_read"] < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pipe.stats.snapshot()["published"] == 0  # still gathering: the window is 5 minutes

    pipe.stop(drain=True)

    assert pipe.stats.snapshot()["published"] == 3
    assert order_ids(outbox.delivered(3)) == ["ORD-0", "ORD-1", "ORD-2"]
    assert pipe.state == "STOPPED"


def test_a_restarted_pipe_reads_on_from_where_it_stopped(outbox: Outbox) -> None:
    pipe = outbox.start()
    outbox.store("ORD-1")
    outbox.delivered(1)
    pipe.stop()
    outbox.store(f"ORD-WHILE-STOPPED-{uuid.uuid4().hex[:4]}")

    pipe.start()
    assert pipe.wait_ready(10)
    (event,) = outbox.delivered(1)
    assert event["detail"]["orderId"].startswith("ORD-WHILE-STOPPED")
