"""Nothing lost, nothing duplicated: the pipeline's promise, under chaos.

For a stream with duplicates and invalid orders, at several fault rates with a fixed seed:
every valid order ends stored exactly once with status CONFIRMED, or (when its retries ran
out) sits in the DLQ with its original body; every invalid one is in the DLQ and never
stored; no stored item is ever overwritten.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from orderflow_local.dlq import list_dead_letters
from orderflow_local.stack import LocalStack, StackOptions
from orderflow_local.traffic import plan_traffic, send, verify

pytestmark = pytest.mark.timeout(600)

MESSAGES = 80


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


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.15])
def test_nothing_lost_nothing_duplicated_under_chaos(rate: float) -> None:
    # Given a stream of orders with duplicates, malformed and invalid ones
    plan = plan_traffic(MESSAGES, seed=11, duplicate_rate=0.1, malformed_rate=0.05, invalid_rate=0.05, run=f"r{rate}")
    # A function timeout generous enough that only injected faults time out, even on a busy machine.
    options = StackOptions(port=0, chaos_rate=rate, chaos_seed=5, visibility_timeout=12, function_timeout=5)
    with LocalStack(options) as stack:
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

    # Then every valid order is stored exactly once, or in the DLQ with its body
    expected = len(plan.unique_valid)
    assert verdict.missing == []
    assert verdict.stored + verdict.valid_in_dlq == expected
    assert verdict.not_confirmed == []
    assert len(final) == verdict.stored  # nothing else, nothing twice
    assert verdict.unexpected_items == 0  # no invalid order was stored
    # every malformed or invalid message is in the DLQ, with its reason (only when every
    # one of its DLQ sends was failed by chaos does SQS move it there without one)
    assert verdict.rejected_missing == 0
    reasons = {(letter.body, letter.error_code) for letter in dead}
    for message in plan.rejected:
        if (message.body, message.expected_code) not in reasons:
            assert faults["dlq_send_failure"] > 0
            assert (message.body, None) in reasons
    # no stored item was ever overwritten: whatever was seen stored is unchanged at the end
    for snapshot in snapshots:
        for key, item in snapshot.items():
            assert final[key] == item, f"{key} changed after it was stored"
    if rate == 0:
        assert verdict.stored == expected
        assert verdict.valid_in_dlq == 0
        # exactly the rejected messages, each with its reason (the DLQ is at-least-once: a batch
        # retried after a slow invocation may send one twice, never a different one)
        assert {(letter.body, letter.error_code) for letter in dead} == {
            (message.body, message.expected_code) for message in plan.rejected
        }
        assert faults == {}
    else:
        assert sum(faults.values()) > 0


def test_a_crash_after_the_write_redelivers_the_order_as_a_duplicate() -> None:
    # Given a function that dies right after every successful write
    options = StackOptions(
        port=0, chaos_rate=1.0, chaos_only=("kill_after_write",), visibility_timeout=6, function_timeout=2
    )
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
