"""Nothing lost, nothing duplicated: the pipeline's promise, under chaos.

For a stream with duplicates, invalid orders and cancellations (some sent before their
order), at several fault rates with a fixed seed: every valid order ends stored exactly
once with the data it was sent with, CANCELLED if it was cancelled and CONFIRMED if not,
or (when its retries ran out) sits in the DLQ with its original body; every cancellation
is applied or in the DLQ; every invalid message is in the DLQ and never stored; no stored
data is ever overwritten, and no cancelled order ever goes back to CONFIRMED.

And the outbox, while faults also strike the pipe's PutEvents to the bus: every stored
transition reaches the bus at least once, with the item's event id, detail-type and version;
nothing is published for a non-transition; every duplicate carries the same event id and the
same detail; the pipe's DLQ stays empty.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

import pytest

from orderflow_local.lambda_runtime.chaos import PIPE_TARGET_FAULTS
from orderflow_local.ops.dlq import FunctionLogReader, explain, list_dead_letters, redrive, table_reader
from orderflow_local.ops.traffic import plan_traffic, send, verify
from orderflow_local.stack import LocalStack, StackOptions
from tests.support import wait_until

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.synth import Synthesized

pytestmark = pytest.mark.timeout(600)

MESSAGES = 100
#: A status only moves forward: from these, to CANCELLED.
FORWARD = {"AWAITING_ORDER": {"AWAITING_ORDER", "CANCELLED"}, "CONFIRMED": {"CONFIRMED", "CANCELLED"},
           "CANCELLED": {"CANCELLED"}}  # fmt: skip
#: What every stored transition sets (orderflow.domain.lifecycle.transition).
TRANSITION_ATTRIBUTES = {"status", "version", "domainEvent", "eventId", "statusChangedAt"}


def _moved_forward_only(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What changed from ``before`` to ``after`` that the state machine forbids."""
    problems = []
    was, now = before["status"]["S"], after["status"]["S"]
    if now not in FORWARD[was]:
        problems.append(f"status {was} -> {now}")
    # a transition rewrites the outbox's attributes (docs/events.md), with a higher version; a tombstone's
    # expiry is reset when its order completes it; nothing else is rewritten
    rewritable = TRANSITION_ATTRIBUTES | ({"ttl"} if was == "AWAITING_ORDER" else set())
    problems += [
        f"{name} changed" for name, value in before.items() if name not in rewritable and after.get(name) != value
    ]
    if now != was and int(after["version"]["N"]) <= int(before["version"]["N"]):
        problems.append(f"version {before['version']['N']} -> {after['version']['N']} with status {was} -> {now}")
    return problems


def _items(stack: LocalStack) -> dict[tuple[str, str], dict[str, Any]]:
    dynamodb = stack.emulator.dynamodb()
    items: dict[tuple[str, str], dict[str, Any]] = {}
    request: dict[str, Any] = {"TableName": "Orders"}
    while True:
        page = dynamodb.scan(**request)
        for item in page["Items"]:
            items[(item["orderId"]["S"], item["createdAt"]["S"])] = item
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _drained(stack: LocalStack) -> bool:
    attributes = stack.emulator.sqs().get_queue_attributes(
        QueueUrl=stack.outputs["QueueUrl"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    waiting = int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
    return waiting == 0 and all(mapping.stats.in_flight == 0 for mapping in stack.mappings)


#: The faults injected into the pipe's PutEvents, as the journal names them.
PIPE_FAULT_KINDS = {kind for kind, _ in PIPE_TARGET_FAULTS}
#: How long the pipe must read nothing new, with nothing in flight, to count as idle (it polls 4 times a second).
PIPE_QUIET_SECONDS = 2.0


def _subscribe(stack: LocalStack) -> str:
    """A queue that gets every event on the order events bus, through a rule of its own (as a consumer's)."""
    sqs, events = stack.emulator.sqs(), stack.emulator.events()
    name = f"invariant-subscriber-{uuid.uuid4().hex[:8]}"
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = stack.outputs["OrderEventsBusName"]
    events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps({"source": ["orderflow.orders"]}))
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "subscriber", "Arn": queue_arn}])
    return str(queue_url)


def _pipe_idle(stack: LocalStack) -> Callable[[], bool]:
    """True once the function's queue is drained and the pipe has had nothing in flight and read nothing
    new for PIPE_QUIET_SECONDS (every record the last writes made is then published or dead-lettered)."""
    seen: dict[str, Any] = {"read": None, "since": time.monotonic()}

    def idle() -> bool:
        stats = [pipe.stats.snapshot() for pipe in stack.pipes]
        read = [entry["records_read"] for entry in stats]
        if not _drained(stack) or any(entry["in_flight"] for entry in stats) or read != seen["read"]:
            seen.update(read=read, since=time.monotonic())
            return False
        return time.monotonic() - seen["since"] >= PIPE_QUIET_SECONDS

    return idle


def _all_messages(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message on ``queue_url``, read and deleted until the queue is empty."""
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
            "Messages", []
        )
        if not messages:
            attributes = sqs.get_queue_attributes(
                QueueUrl=queue_url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            if all(value == "0" for value in attributes.values()):
                return bodies
            continue
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def _stream_images(stack: LocalStack) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Every item image the Orders table's stream recorded (each a stored write), by key, in stream order."""
    stream_arn = stack.emulator.dynamodb().describe_table(TableName="Orders")["Table"]["LatestStreamArn"]
    streams = stack.emulator.client("dynamodbstreams")
    images: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    shards = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    for shard in shards:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            for record in page["Records"]:
                image = record["dynamodb"].get("NewImage")
                if record["eventName"] in {"INSERT", "MODIFY"} and image:
                    key = (image["orderId"]["S"], image["createdAt"]["S"])
                    images[key].append({**image, "_sequenceNumber": record["dynamodb"]["SequenceNumber"]})
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return images


def _detail_problems(detail: dict[str, Any], image: dict[str, Any]) -> list[str]:
    """How ``detail`` differs from what the item ``image`` (a stored transition) publishes."""
    expected = {
        "eventId": image["eventId"]["S"],
        "orderId": image["orderId"]["S"],
        "createdAt": image["createdAt"]["S"],
        "customerId": image["customerId"]["S"],
        "status": image["status"]["S"],
        "totalAmount": image["totalAmount"]["N"],
        "currency": image["currency"]["S"],
        "version": int(image["version"]["N"]),
        "occurredAt": image["statusChangedAt"]["S"],
    }
    found = {**detail, "version": int(detail.get("version", -1))}
    return [f"{name}: {found.get(name)!r} != {value!r}" for name, value in expected.items() if found.get(name) != value]


def _outbox_problems(
    final: dict[tuple[str, str], dict[str, Any]],
    stream: dict[tuple[str, str], list[dict[str, Any]]],
    events: list[dict[str, Any]],
) -> dict[str, list[str]]:
    """Every way the events on the bus break the outbox's promise, by clause (empty lists: kept)."""
    problems: dict[str, list[str]] = defaultdict(list)
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_id[str(event["detail"].get("eventId"))].append(event)
    # Each stored item's transitions: its own, and, for a CANCELLED order that was CONFIRMED first,
    # that confirmation (a tombstone completed by its late create never was: it publishes v2 only).
    transitions: dict[str, dict[str, Any]] = {}
    for key, item in final.items():
        statuses = [image["status"]["S"] for image in stream.get(key, [])]
        if "eventId" in item:
            transitions[item["eventId"]["S"]] = item
        if item["status"]["S"] == "CANCELLED":
            confirmed = [image for image in stream.get(key, []) if image["status"]["S"] == "CONFIRMED"]
            if bool(confirmed) == ("AWAITING_ORDER" in statuses):
                problems["a cancelled order was CONFIRMED or a tombstone, one of them"].append(f"{key}: {statuses}")
            for image in confirmed:
                transitions[image["eventId"]["S"]] = image
    # every stored transition reached the bus at least once, as the item's detail-type and version
    for event_id, image in transitions.items():
        arrived = by_id.get(event_id, [])
        if not arrived:
            problems["a stored transition never reached the bus"].append(
                f"{event_id} ({image['domainEvent']['S']} v{image['version']['N']}, stream record "
                f"{image.get('_sequenceNumber', 'of the final item')})"
            )
        for event in arrived:
            wrong = _detail_problems(event["detail"], image)
            published_as = (event["source"], event["detail-type"])
            if published_as != ("orderflow.orders", image["domainEvent"]["S"]):
                wrong.append(f"published as {published_as}, stored {image['domainEvent']['S']}")
            if wrong:
                problems["an event differs from its stored transition"].append(f"{event_id}: {wrong}")
    # nothing published for a non-transition: an order not in the table, an AWAITING_ORDER-only item, ...
    for event_id, arrived in by_id.items():
        if event_id in transitions:
            continue
        detail = arrived[0]["detail"]
        item = final.get((str(detail.get("orderId")), str(detail.get("createdAt"))))
        problems["an event for no stored transition"].append(
            f"{event_id} ({arrived[0]['detail-type']}): the table holds "
            + ("nothing" if item is None else f"{item['status']['S']} v{item['version']['N']}")
        )
    # every duplicate carries the same event id, and the same detail
    for event_id, arrived in by_id.items():
        if len({(event["detail-type"], json.dumps(event["detail"], sort_keys=True)) for event in arrived}) > 1:
            problems["duplicates differ"].append(f"{event_id}: {[event['detail'] for event in arrived]}")
    return problems


@pytest.mark.parametrize(
    ("rate", "topology"),
    [(0.0, "standard"), (0.05, "standard"), (0.15, "standard"), (0.15, "fifo")],
)
def test_nothing_lost_nothing_duplicated_under_chaos(rate: float, topology: str, synthesized: Synthesized) -> None:
    # Given a stream of orders with duplicates, malformed and invalid ones
    plan = plan_traffic(
        MESSAGES, seed=11, duplicate_rate=0.1, malformed_rate=0.05, invalid_rate=0.05, cancel_rate=0.3,
        run=f"r{rate}{topology}",
    )  # fmt: skip
    assert plan.cancelled_first > 0  # some cancellations are sent before their order
    # A function timeout generous enough that only injected faults time out, even on a busy machine.
    # On FIFO (-c fifo=true) the producer sends each order's events in its own message group.
    context = {"stage": "dev", "fifo": "true"} if topology == "fifo" else {"stage": "dev"}
    # Retries back off 1, 2, then 3 s (RETRY_DELAYS) and batches gather for 1 s, not the stack's 2/8/30 s
    # and 5 s: the same faults and the same paths, in a fraction of the waiting.
    options = StackOptions(
        port=0, chaos_rate=rate, chaos_seed=5, visibility_timeout=12, function_timeout=5,
        template=synthesized(context), batching_window=1, function_environment={"RETRY_DELAYS": "1,2,3"},
    )  # fmt: skip
    with LocalStack(options) as stack:
        assert stack.outputs["QueueUrl"].endswith(".fifo") == (topology == "fifo")
        subscriber = _subscribe(stack)  # a consumer of the order events, there before any traffic
        # When it is sent while faults strike the function and the pipe's PutEvents to the bus
        send(stack.emulator.sqs(), stack.outputs["QueueUrl"], plan.messages)
        deadline = time.monotonic() + 400
        snapshots: list[dict[tuple[str, str], dict[str, Any]]] = []
        quiet = 0
        while quiet < 3 and time.monotonic() < deadline:
            time.sleep(1)
            snapshots.append(_items(stack))
            quiet = quiet + 1 if _drained(stack) else 0
        assert quiet >= 3, "the queue did not drain"
        verdict = verify(
            plan, dynamodb=stack.emulator.dynamodb(), table_name="Orders",
            sqs=stack.emulator.sqs(), dlq_url=stack.outputs["DLQUrl"],
        )  # fmt: skip
        final = _items(stack)
        faults = stack.faults()
        dead = list_dead_letters(stack.emulator.sqs(), stack.outputs["DLQUrl"], limit=10_000)
        for logs in stack.function_logs:  # every invocation is recorded (drained); send its events now,
            logs.flush()  # not at the sender's next tick, which a busy machine may delay past any fixed wait
        read = table_reader(stack.emulator.dynamodb(), "Orders")
        explained = explain(
            dead, logs=FunctionLogReader(stack.emulator.logs(), "/aws/lambda/OrderProcessor"), read_item=read
        )
        if rate:
            # And a redrive deletes the already-stored letters, sending back only the others
            queues = {"dlq_url": stack.outputs["DLQUrl"], "source_url": stack.outputs["QueueUrl"]}
            dry = redrive(stack.emulator.sqs(), **queues, read_item=read, dry_run=True, rate=1000)
            report = redrive(stack.emulator.sqs(), **queues, read_item=read, rate=1000)
            wait_until(lambda: _drained(stack), "the redriven messages are processed", timeout=300)
            after_redrive = _items(stack)
            left = list_dead_letters(stack.emulator.sqs(), stack.outputs["DLQUrl"], limit=10_000)
        # And once the pipe has published what the last writes stored
        wait_until(_pipe_idle(stack), "the pipe to be idle", timeout=120, interval=0.5)
        stored = _items(stack)
        stream = _stream_images(stack)
        received = _all_messages(stack.emulator.sqs(), subscriber)
        pipe_dead = _all_messages(stack.emulator.sqs(), stack.outputs["OutboxDLQUrl"])
        pipe_stats = stack.pipes[0].stats.snapshot()
        pipe_faults = {kind: count for kind, count in stack.faults().items() if kind in PIPE_FAULT_KINDS}

    # Then every valid order is stored exactly once with its data, or in the DLQ with its body
    expected = len(plan.unique_valid)
    assert verdict.missing == []
    assert verdict.stored + verdict.valid_in_dlq == expected
    assert verdict.data_changed == []
    # cancelled if and only if cancelled (or its cancellation is in the DLQ), never lost
    assert verdict.not_confirmed == []
    assert verdict.cancels_lost == []
    assert len(final) == verdict.stored + verdict.awaiting  # nothing else, nothing twice
    assert verdict.unexpected_items == 0  # no invalid order was stored
    # every malformed or invalid message is in the DLQ with its reason: the handler's attributes,
    # or, when chaos failed every one of its DLQ sends and SQS moved it, the reason it logged
    assert verdict.rejected_missing == 0
    reasons = {(entry.letter.body, entry.error_code) for entry in explained}
    for message in plan.rejected:
        assert (message.body, message.expected_code) in reasons
    # every dead letter is explained; those SQS moved, by the function's logs for their message id
    assert all(entry.reason_source in {"attributes", "logs"} for entry in explained), [
        entry.to_json() for entry in explained if entry.reason_source == "unknown"
    ]
    assert all(entry.reason_source == "logs" for entry in explained if entry.letter.moved_by == "sqs")
    # a letter is flagged alreadyStored exactly when the table holds its event
    for entry in explained:
        message = next(m for m in plan.messages if m.body == entry.letter.body)
        if message.kind in {"valid", "duplicate"}:
            item = final.get((message.order_id or "", message.created_at or ""))
            assert entry.already_stored == (item is not None and item["status"]["S"] != "AWAITING_ORDER")
        elif message.kind in {"malformed", "invalid"}:
            assert entry.already_stored is None
    # no stored data was ever overwritten, and no order went back: CANCELLED is final
    for snapshot in snapshots:
        for key, item in snapshot.items():
            assert _moved_forward_only(item, final[key]) == [], key
            if item["status"]["S"] == "CANCELLED":
                assert final[key] == item
    if rate == 0:
        assert verdict.stored == expected
        assert verdict.valid_in_dlq == 0
        assert verdict.cancelled == len(plan.cancels)
        # exactly the rejected messages, each with its reason (the DLQ is at-least-once: a batch
        # retried after a slow invocation may send one twice, never a different one)
        assert {(letter.body, letter.error_code) for letter in dead} == {
            (message.body, message.expected_code) for message in plan.rejected
        }
        assert faults == {}
    else:
        assert sum(faults.values()) > 0
        stale = sum(1 for entry in explained if entry.already_stored)
        assert dry.deleted_stored == report.deleted_stored == stale
        assert dry.would_move == [] or len(dry.would_move) >= report.moved
        assert sorted(report.stored_ids) == sorted(e.letter.message_id for e in explained if e.already_stored)
        assert not {letter.message_id for letter in left} & set(report.stored_ids)  # deleted, not sent back
        # the redrive touched no stored order: only the events it sent back could change one
        sent_back = {
            (m.order_id, m.created_at) for m in plan.messages
            if m.body in {e.letter.body for e in explained if not e.already_stored}
        }  # fmt: skip
        for key, item in final.items():
            if key not in sent_back:
                assert after_redrive[key] == item, key

    # And the outbox kept its promise: what the pipe did, and what the subscriber received
    copies = Counter(str(event["detail"].get("eventId")) for event in received)
    duplicates = {event_id: count for event_id, count in copies.items() if count > 1}
    print(
        f"\noutbox at chaos {rate} ({topology}): faults injected into the pipe {dict(sorted(pipe_faults.items()))}; "
        f"{len(received)} events received for {len(copies)} event ids; {len(duplicates)} event ids received more "
        f"than once ({len(received) - len(copies)} extra copies; ids by copies received: "
        f"{dict(sorted(Counter(duplicates.values()).items()))}); pipe {pipe_stats}"
    )
    problems = _outbox_problems(stored, stream, received)
    if pipe_dead:  # retries ran out: each failure record names the stream records it gave up
        problems["the pipe dead-lettered records"] = [
            f"{letter['context']['condition']}: {json.dumps(letter['DDBStreamBatchInfo'])}" for letter in pipe_dead
        ]
    assert dict(problems) == {}
    assert len(copies) == sum(1 for item in stored.values() if "eventId" in item) + sum(
        1 for key, item in stored.items() if item["status"]["S"] == "CANCELLED"
        and any(image["status"]["S"] == "CONFIRMED" for image in stream.get(key, []))
    )  # fmt: skip
    assert pipe_stats["dead_lettered"] == pipe_stats["discarded"] == 0
    if rate == 0:
        assert pipe_faults == {}
        assert duplicates == {}  # without faults, each transition is published once
    elif rate >= 0.15:  # about 75 events at 0.15 each: some certainly meet a fault (at 0.05, most likely)
        assert sum(pipe_faults.values()) > 0
        assert pipe_stats["failed"] > 0  # the runner saw them, and retried


def test_a_crash_after_the_write_redelivers_the_order_as_a_duplicate() -> None:
    # Given a function that dies right after every successful write. The visibility timeout
    # leaves room for the batching window (1 s here) and a cold start: with less, the redelivered
    # message can reappear while its batch waits, and is (rightly) skipped twice.
    options = StackOptions(
        port=0, chaos_rate=1.0, chaos_only=("kill_after_write",), visibility_timeout=15, function_timeout=2,
        batching_window=1,
    )  # fmt: skip
    plan = plan_traffic(1, seed=3, duplicate_rate=0, malformed_rate=0, invalid_rate=0, run="crash")
    with LocalStack(options) as stack:
        sqs = stack.emulator.sqs()
        send(sqs, stack.outputs["QueueUrl"], plan.messages)
        # When the batch is redelivered after the crash
        deadline = time.monotonic() + 120
        while not (_drained(stack) and stack.mappings[0].stats.deleted) and time.monotonic() < deadline:
            time.sleep(0.5)
        stats = stack.mappings[0].stats
        items = _items(stack)
        dead = list_dead_letters(sqs, stack.outputs["DLQUrl"])
        faults = stack.faults()
    # Then it was written once, recognised as a duplicate, and deleted
    assert faults == {"kill_after_write": 1}
    assert stats.crashes == 1
    assert stats.handler_metrics["DuplicatesSkipped"] == 1
    assert stats.deleted == 1
    [item] = items.values()
    assert item["status"] == {"S": "CONFIRMED"}
    assert dead == []
