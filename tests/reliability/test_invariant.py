"""Nothing lost, nothing duplicated: the pipeline's promise, under chaos.

For a stream with duplicates, invalid orders and cancellations (some sent before their
order), at several fault rates with a fixed seed: every valid order ends stored exactly
once with the data it was sent with, CANCELLED if it was cancelled and CONFIRMED if not,
or (when its retries ran out) sits in the DLQ with its original body; every cancellation
is applied or in the DLQ; every invalid message is in the DLQ and never stored; no stored
data is ever overwritten, and no cancelled order ever goes back to CONFIRMED.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from orderflow_local.ops.dlq import FunctionLogReader, explain, list_dead_letters, redrive, table_reader
from orderflow_local.ops.traffic import plan_traffic, send, verify
from orderflow_local.stack import LocalStack, StackOptions
from tests.support import wait_until

if TYPE_CHECKING:
    from tests.synth import Synthesized

pytestmark = pytest.mark.timeout(600)

MESSAGES = 100
#: A status only moves forward: from these, to CANCELLED.
FORWARD = {"AWAITING_ORDER": {"AWAITING_ORDER", "CANCELLED"}, "CONFIRMED": {"CONFIRMED", "CANCELLED"},
           "CANCELLED": {"CANCELLED"}}  # fmt: skip


def _moved_forward_only(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What changed from ``before`` to ``after`` that the state machine forbids."""
    problems = []
    was, now = before["status"]["S"], after["status"]["S"]
    if now not in FORWARD[was]:
        problems.append(f"status {was} -> {now}")
    # a tombstone's expiry is reset when its order completes it; nothing else is rewritten
    rewritable = {"status", "ttl"} if was == "AWAITING_ORDER" else {"status"}
    problems += [
        f"{name} changed" for name, value in before.items() if name not in rewritable and after.get(name) != value
    ]
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
        # When it is sent while faults strike the function
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
