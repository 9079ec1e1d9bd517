"""An order's lifecycle through the real handler, against emulated DynamoDB and SQS.

The property: for any creates and cancels, in any delivery order, with any duplicates, in
any batches, the table ends as applying each order's events in their logical order leaves
it, and its stream (the outbox's input) holds one record per status, versions rising.
"""

from __future__ import annotations

import io
import itertools
import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from boto3.dynamodb.types import TypeDeserializer
from botocore.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderflow import handler
from orderflow.domain.processing import DEFAULT_MAX_RECEIVES
from orderflow.handler import lambda_handler
from tests.support import FakeLambdaContext, body, cancellation, examples, seed_order, sqs_record

if TYPE_CHECKING:
    from tests.functional.conftest import EmulatedAws

KEY = ("ORD-20260420-001", "2026-04-20T14:30:00Z")
#: Delivery metadata: which message stored the order, and when. Not part of its state.
DELIVERY_FIELDS = {"processedAt", "sqsMessageId", "ttl", "cancellationMessageId", "statusChangedAt"}


def _invoke(*records: dict[str, Any]) -> list[str]:
    """Process one batch; the message ids SQS must deliver again."""
    try:
        response = lambda_handler({"Records": list(records)}, FakeLambdaContext())
    except BatchProcessingError:  # every record failed: the whole batch is retried
        return [record["messageId"] for record in records]
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def _create(**changes: Any) -> dict[str, Any]:
    return sqs_record(body(seed_order(**changes)))


def _cancel(receive_count: int = 1, message_id: str | None = None, **changes: Any) -> dict[str, Any]:
    return sqs_record(body(cancellation(seed_order(), **changes)), receive_count=receive_count, message_id=message_id)


def _stream_of(aws: EmulatedAws) -> str:
    """The table's stream (NEW_AND_OLD_IMAGES, as the stack's), enabled if it is not yet."""
    table = aws.dynamodb.describe_table(TableName=aws.table_name)["Table"]
    if not table.get("StreamSpecification", {}).get("StreamEnabled"):
        table = aws.dynamodb.update_table(
            TableName=aws.table_name,
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]
    return str(table["LatestStreamArn"])


def _streams() -> Any:
    # botocore would route Streams to an account endpoint, which moto does not serve
    return boto3.client("dynamodbstreams", region_name="us-east-1", config=Config(account_id_endpoint_mode="disabled"))


def _cursor(stream_arn: str, position: str = "TRIM_HORIZON") -> str:
    """An iterator on the stream's shard (moto keeps one): from its start, or from now on (``LATEST``)."""
    streams = _streams()
    [shard] = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    return str(
        streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType=position)[
            "ShardIterator"
        ]
    )


def _stream_records(cursor: str) -> list[dict[str, Any]]:
    """The records from ``cursor`` on, in order, images as plain values (``OldImage``/``NewImage``)."""
    streams, deserializer = _streams(), TypeDeserializer()
    records: list[dict[str, Any]] = []
    while True:
        page = streams.get_records(ShardIterator=cursor, Limit=1000)
        if not page["Records"]:
            return records
        for record in page["Records"]:
            images = {
                name: {attribute: deserializer.deserialize(value) for attribute, value in image.items()}
                for name, image in record["dynamodb"].items()
                if name in ("OldImage", "NewImage")
            }
            records.append({"eventName": record["eventName"], **images})
        cursor = page["NextShardIterator"]


def _published(records: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """What the outbox's filter passes: (detail-type, eventId, version) of each INSERT/MODIFY with a domain event."""
    return [
        (image["domainEvent"], image["eventId"], int(image["version"]))
        for record in records
        if record["eventName"] in ("INSERT", "MODIFY") and "domainEvent" in (image := record["NewImage"])
    ]


def _emf(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]


def _metric_totals(blobs: list[dict[str, Any]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for blob in blobs:
        for metric in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            name = metric["Name"]
            values = blob[name] if isinstance(blob[name], list) else [blob[name]]
            totals[name] = totals.get(name, 0) + sum(values)
    return totals


def test_create_then_cancel_ends_cancelled_with_the_orders_data(aws: EmulatedAws) -> None:
    assert _invoke(_create()) == []
    assert _invoke(_cancel()) == []
    item = aws.items()[KEY]
    assert item["status"] == "CANCELLED"
    assert item["cancelledAt"] == "2026-04-20T15:00:00Z"
    assert item["cancellationReason"] == "Customer changed their mind"
    assert item["customerId"] == "CUST-42"
    assert item["items"][0]["productId"] == "PROD-100"
    assert item["shippingAddress"]["city"] == "Portland"
    # still found through the CustomerIndex, with its new status
    by_customer = aws.dynamodb.query(
        TableName="Orders",
        IndexName="CustomerIndex",
        KeyConditionExpression="customerId = :c",
        ExpressionAttributeValues={":c": {"S": "CUST-42"}},
    )["Items"]
    assert [entry["status"]["S"] for entry in by_customer] == ["CANCELLED"]


def test_each_transition_is_one_stream_record_and_nothing_else_writes(aws: EmulatedAws) -> None:
    cursor = _cursor(_stream_of(aws))
    assert _invoke(_create()) == []
    assert _invoke(_cancel()) == []
    # duplicates (a stale cancel among them) and a rejected create write nothing, so publish nothing
    assert _invoke(_cancel(), _create(), _cancel(reason="Found it cheaper"), _create(customerId="CUST-7")) == []
    assert [m["MessageAttributes"]["errorCode"]["StringValue"] for m in aws.dlq_messages()] == ["CONFLICTING_DUPLICATE"]
    records = _stream_records(cursor)
    assert [record["eventName"] for record in records] == ["INSERT", "MODIFY"]
    inserted, modified = records
    assert (inserted["NewImage"]["status"], modified["OldImage"]["status"], modified["NewImage"]["status"]) == (
        "CONFIRMED",
        "CONFIRMED",
        "CANCELLED",
    )
    assert _published(records) == [
        ("OrderConfirmed", "ORD-20260420-001#2026-04-20T14:30:00Z#1", 1),
        ("OrderCancelled", "ORD-20260420-001#2026-04-20T14:30:00Z#2", 2),
    ]
    assert modified["NewImage"]["statusChangedAt"] >= inserted["NewImage"]["statusChangedAt"]
    assert modified["NewImage"]["customerId"] == "CUST-42"  # a MODIFY's new image is the whole order


def test_a_cancel_before_its_create_publishes_only_order_cancelled(aws: EmulatedAws) -> None:
    cursor = _cursor(_stream_of(aws))
    cancel = _cancel()
    assert _invoke(cancel) == [cancel["messageId"]]  # waits: a tombstone, not published
    assert _invoke(_create()) == []  # completes it straight to CANCELLED
    assert _invoke(_cancel(receive_count=2, message_id=cancel["messageId"])) == []
    records = _stream_records(cursor)
    assert [(record["eventName"], record["NewImage"]["status"]) for record in records] == [
        ("INSERT", "AWAITING_ORDER"),
        ("MODIFY", "CANCELLED"),
    ]
    assert "domainEvent" not in records[0]["NewImage"]
    assert "eventId" not in records[0]["NewImage"]
    assert _published(records) == [("OrderCancelled", "ORD-20260420-001#2026-04-20T14:30:00Z#2", 2)]


def test_a_cancel_before_its_create_waits_and_the_create_completes_it(aws: EmulatedAws) -> None:
    # Given a cancel delivered first (beside an unrelated order)
    cancel = _cancel()
    failed = _invoke(cancel, _create(orderId="ORD-OTHER"))
    # Then only the cancel is retried, and a tombstone holds its cancellation
    assert failed == [cancel["messageId"]]
    tombstone = aws.items()[KEY]
    assert tombstone["status"] == "AWAITING_ORDER"
    assert "customerId" not in tombstone
    # When the create arrives, then its retry
    assert _invoke(_create()) == []
    assert _invoke(_cancel(receive_count=2, message_id=cancel["messageId"])) == []
    # Then the order is cancelled, with its data
    item = aws.items()[KEY]
    assert item["status"] == "CANCELLED"
    assert item["customerId"] == "CUST-42"
    assert item["cancellationReason"] == "Customer changed their mind"
    assert aws.dlq_messages() == []


@pytest.mark.parametrize("import_handler", [False, True])
def test_an_invocation_that_counts_nothing_warns_nothing(import_handler: bool) -> None:
    # A waiting cancellation that finds its order already completed it counts no metric; a
    # batch of just that flushes no metric, which Powertools warns about on every invocation.
    import subprocess
    import sys

    script = "\n".join([
        "import orderflow.handler" if import_handler else "pass",
        "from aws_lambda_powertools import Metrics",
        "Metrics(namespace='Check', service='check').flush_metrics()",
    ])  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert ("No application metrics to publish" in result.stderr) is not import_handler


def test_a_cancel_whose_order_never_arrives_reaches_the_dlq_with_its_reason(aws: EmulatedAws) -> None:
    cancel = _cancel()
    raw = cancel["body"]
    assert _invoke(cancel, _create(orderId="ORD-OTHER")) == [cancel["messageId"]]
    assert _invoke(_cancel(receive_count=2, message_id=cancel["messageId"]), _create(orderId="ORD-3")) == [
        cancel["messageId"]
    ]
    # On its last receive (the queue's maxReceiveCount) it goes to the DLQ itself, with a reason
    assert _invoke(_cancel(receive_count=5, message_id=cancel["messageId"])) == []
    [dead] = aws.dlq_messages()
    assert dead["Body"] == raw
    assert dead["MessageAttributes"]["errorCode"]["StringValue"] == "ORDER_NOT_FOUND"
    assert "did not arrive" in dead["MessageAttributes"]["errorReason"]["StringValue"]
    assert dead["MessageAttributes"]["sourceMessageId"]["StringValue"] == cancel["messageId"]
    # and the cancellation still applies when the order turns up later
    assert _invoke(_create()) == []
    assert aws.items()[KEY]["status"] == "CANCELLED"


def test_a_create_redelivered_after_the_cancel_never_uncancels(aws: EmulatedAws) -> None:
    _invoke(_create())
    _invoke(_cancel())
    before = aws.items()[KEY]
    assert _invoke(_create(), _create()) == []
    assert aws.items()[KEY] == before


def test_a_create_and_its_cancel_in_one_concurrent_batch_end_cancelled(aws: EmulatedAws) -> None:
    cancel = _cancel()
    failed = _invoke(cancel, _create(), _create(), _cancel())
    # the cancel may have run before or after the create; either way nothing is lost
    assert set(failed) <= {cancel["messageId"]} | set()
    assert aws.items()[KEY]["status"] == "CANCELLED"
    assert aws.items()[KEY]["customerId"] == "CUST-42"


def test_lifecycle_metrics_are_emitted(aws: EmulatedAws, capsys: pytest.CaptureFixture[str]) -> None:
    waiting = _cancel(orderId="ORD-LATE", createdAt="2026-04-20T14:30:00Z")
    _invoke(waiting, _create(orderId="ORD-OTHER"))  # waits for its order
    _invoke(_create())
    _invoke(_cancel())
    _invoke(_cancel(), _create())  # a duplicate cancel, a duplicate create
    _invoke(_cancel(orderId="ORD-LATE", receive_count=5, message_id=waiting["messageId"]))  # gives up
    totals = _metric_totals(_emf(capsys))
    assert totals["OrdersStored"] == 2
    assert totals["OrdersCancelled"] == 1
    assert totals["DuplicatesSkipped"] == 2
    assert totals["CancellationDuplicatesSkipped"] == 1
    assert totals["CancellationsAwaitingOrder"] == 1
    assert totals["OrdersRejected"] == 1
    assert totals["OrdersRejectedByReason"] == 1


def test_logs_name_the_event_type_and_what_happened(aws: EmulatedAws, monkeypatch: pytest.MonkeyPatch) -> None:
    # The logger keeps the stream it found at import: read what it writes there.
    stream = io.StringIO()
    monkeypatch.setattr(handler.logger.registered_handler, "stream", stream)
    _invoke(_cancel(orderId="ORD-FIRST"), _create())
    _invoke(_cancel())
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    [waiting] = [line for line in lines if line["message"] == "Waiting for the order to arrive, SQS will retry"]
    assert waiting["order_id"] == "ORD-FIRST"
    assert waiting["receive_count"] == 1
    assert "ORD-FIRST created at 2026-04-20T14:30:00Z is not stored yet" in waiting["error"]
    cancelled = [line for line in lines if line.get("message") == "Order cancelled"]
    assert len(cancelled) == 1
    assert cancelled[0]["event_type"] == "OrderCancelled"
    assert cancelled[0]["order_id"] == "ORD-20260420-001"
    assert "Customer changed" not in json.dumps(lines)  # the reason is the customer's words: not logged


# --- the property ------------------------------------------------------------------------

_runs = itertools.count()


@st.composite
def _lifecycles(draw: st.DrawFn) -> list[tuple[bool, bool, int, int]]:
    """Per order: has a create, has a cancel, copies of the create, copies of the cancel."""
    orders = draw(st.integers(min_value=1, max_value=4))
    plans = []
    for _ in range(orders):
        created, cancelled = draw(st.sampled_from([(True, False), (True, True), (False, True)]))
        plans.append((created, cancelled, draw(st.integers(1, 3)), draw(st.integers(1, 3))))
    return plans


def _events(prefix: str, number: int, created: bool, cancelled: bool) -> tuple[str | None, str | None]:
    order = seed_order(orderId=f"{prefix}-{number}", customerId=f"CUST-{number}")
    create = body(order) if created else None
    cancel = body(cancellation(order, reason=f"reason {number}")) if cancelled else None
    return create, cancel


def _deliver(aws: EmulatedAws, batches: list[list[str]]) -> None:
    """Deliver bodies in these batches, then redeliver what failed, as SQS would, up to maxReceiveCount."""
    pending = [sqs_record(raw) for batch in batches for raw in batch]
    by_batch = [[sqs_record(raw) for raw in batch] for batch in batches]
    retry: list[dict[str, Any]] = []
    for batch in by_batch:
        failed = set(_invoke(*batch))
        retry.extend(record for record in batch if record["messageId"] in failed)
    receive = 1
    while retry and receive < DEFAULT_MAX_RECEIVES:
        receive += 1
        again = [sqs_record(r["body"], message_id=r["messageId"], receive_count=receive) for r in retry]
        failed = set(_invoke(*again))
        retry = [record for record in again if record["messageId"] in failed]
    assert pending


def _state(items: dict[tuple[str, str], dict[str, Any]], prefix: str) -> dict[str, dict[str, Any]]:
    return {
        order_id.removeprefix(prefix): {
            k: v.removeprefix(prefix) if k == "eventId" else v  # the id names the order
            for k, v in item.items()
            if k not in DELIVERY_FIELDS | {"orderId"}
        }
        for (order_id, _), item in items.items()
        if order_id.startswith(prefix)
    }


def _check_outbox(images: list[dict[str, Any]], created: bool, cancelled: bool) -> None:
    """One order's stream: a write per status, versions rising, and the events the outbox publishes."""
    versions = [int(image["version"]) for image in images]
    assert versions == sorted(set(versions))
    statuses = [image["status"] for image in images]
    assert len(statuses) == len(set(statuses))
    key = f"{images[0]['orderId']}#{images[0]['createdAt']}"
    published = [(image["domainEvent"], image["eventId"]) for image in images if "domainEvent" in image]
    confirmed, cancelled_event = ("OrderConfirmed", f"{key}#1"), ("OrderCancelled", f"{key}#2")
    if created and cancelled:  # confirmed then cancelled, or a tombstone completed straight to cancelled
        assert published == ([cancelled_event] if statuses[0] == "AWAITING_ORDER" else [confirmed, cancelled_event])
    else:
        assert published == ([confirmed] if created else [])


@settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plans=_lifecycles(), data=st.data())
def test_the_final_table_does_not_depend_on_delivery_order(
    aws: EmulatedAws, plans: list[tuple[bool, bool, int, int]], data: st.DataObject
) -> None:
    run = next(_runs)
    logical, shuffled = f"L{run}", f"S{run}"
    cursor = _cursor(_stream_of(aws), "LATEST")  # this example's writes only
    aws.drain_dlq()  # an earlier example that failed (while shrinking) may have left some
    # Applied in logical order: each order's create, then its cancel, once each, one at a time
    in_order = [[event] for n, plan in enumerate(plans) for event in _events(logical, n, plan[0], plan[1]) if event]
    _deliver(aws, in_order)
    # Delivered in any order, each event repeated, in batches of 1 to 10
    copies: list[str] = []
    for n, (created, cancelled, create_copies, cancel_copies) in enumerate(plans):
        create, cancel = _events(shuffled, n, created, cancelled)
        copies += [create] * create_copies if create else []
        copies += [cancel] * cancel_copies if cancel else []
    order = data.draw(st.permutations(copies), label="delivery order")
    batches: list[list[str]] = []
    while order:
        size = data.draw(st.integers(1, 10), label="batch size")
        batches.append(list(order[:size]))
        order = order[size:]
    _deliver(aws, batches)

    items = aws.items(f"{logical}-", f"{shuffled}-")
    expected, actual = _state(items, f"{logical}-"), _state(items, f"{shuffled}-")
    assert actual == expected
    # and the logical order gives what the state machine promises
    for n, (created, cancelled, _, _) in enumerate(plans):
        status = expected[str(n)]["status"]
        assert (
            status
            == {(True, False): "CONFIRMED", (True, True): "CANCELLED", (False, True): "AWAITING_ORDER"}[
                (created, cancelled)
            ]
        )
        if created:
            assert expected[str(n)]["customerId"] == f"CUST-{n}"
        if cancelled:
            assert expected[str(n)]["cancellationReason"] == f"reason {n}"
        if created and cancelled:
            assert (expected[str(n)]["version"], expected[str(n)]["domainEvent"]) == (2, "OrderCancelled")
    # the stream: each status written once, versions rising, whatever the delivery order
    images: dict[str, list[dict[str, Any]]] = {}
    for record in _stream_records(cursor):
        images.setdefault(record["NewImage"]["orderId"], []).append(record["NewImage"])
    for prefix in (logical, shuffled):
        for n, (created, cancelled, _, _) in enumerate(plans):
            _check_outbox(images[f"{prefix}-{n}"], created, cancelled)
    # a cancel whose order never came is in the DLQ once per run, with its reason
    dead = aws.drain_dlq()
    assert sorted(m["MessageAttributes"]["errorCode"]["StringValue"] for m in dead) == ["ORDER_NOT_FOUND"] * (
        2 * sum(1 for created, _, _, _ in plans if not created)
    )


def test_a_throttled_cancel_is_retried_and_the_order_stays_confirmed(aws: EmulatedAws) -> None:
    # Given a stored order, and DynamoDB throttling every UpdateItem
    assert _invoke(_create()) == []
    aws.fail_calls(aws.dynamodb, "UpdateItem", "ProvisionedThroughputExceededException", 400, lambda _: True)
    cancel = _cancel()
    # When its cancellation arrives beside another order
    failed = _invoke(cancel, _create(orderId="ORD-OTHER"))
    # Then only the cancel is retried, nothing is half-written, and nothing goes to the DLQ
    assert failed == [cancel["messageId"]]
    assert aws.items()[KEY]["status"] == "CONFIRMED"
    assert "cancelledAt" not in aws.items()[KEY]
    assert aws.dlq_messages() == []
