"""Each rule of AWS's SQS event source mapping (docs/event-source-mapping.md), against the runner."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import TYPE_CHECKING

import pytest

from orderflow_local.lambda_runtime.esm import MappingConfig, MappingConfigurationError

if TYPE_CHECKING:
    from tests.integration.conftest import Harness

pytestmark = pytest.mark.timeout(120)


# --- the invocation ----------------------------------------------------------------------


def test_records_have_every_lambda_field_and_the_context_is_lambdas(harness: Harness) -> None:
    # Given a message with string and binary attributes
    harness.create_queue()
    body = json.dumps({"do": "ok"})
    harness.send(
        {"do": "ok"},
        MessageAttributes={
            "correlationId": {"DataType": "String", "StringValue": "corr-1"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    before = time.time() * 1000
    # When the mapping delivers it
    harness.start(batch_size=10, batching_window=0, function_timeout=5)
    harness.wait_for_records(1)
    [invocation] = harness.invocations()
    [record] = invocation["records"]
    # Then the record is shaped as Lambda shapes it
    assert set(record) == {
        "messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
        "md5OfMessageAttributes", "eventSource", "eventSourceARN", "awsRegion",
    }  # fmt: skip
    assert record["body"] == body
    assert record["md5OfBody"] == hashlib.md5(body.encode()).hexdigest()  # noqa: S324 - SQS's checksum
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == harness.queue_arn
    assert record["awsRegion"] == "us-east-1"
    attributes = record["attributes"]
    assert attributes["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(attributes)
    assert int(attributes["ApproximateFirstReceiveTimestamp"]) >= int(attributes["SentTimestamp"])
    assert int(attributes["SentTimestamp"]) <= before + 1000
    assert record["messageAttributes"]["correlationId"] == {
        "stringValue": "corr-1", "stringListValues": [], "binaryListValues": [], "dataType": "String",
    }  # fmt: skip
    assert base64.b64decode(record["messageAttributes"]["blob"]["binaryValue"]) == b"\x00\x01"
    context = invocation["context"]
    assert context["function_name"] == "ScriptedFn"
    assert context["memory_limit_in_mb"] == 128
    assert context["invoked_function_arn"].endswith(":function:ScriptedFn")
    assert len(context["aws_request_id"]) == 36
    assert 0 < context["remaining_ms"] <= 5000


# --- batching ----------------------------------------------------------------------------


def test_batches_hold_at_most_batch_size_messages(harness: Harness) -> None:
    harness.create_queue()
    harness.send(*[{"do": "ok"}] * 23)
    harness.start(batch_size=4, batching_window=1, max_concurrency=2)
    harness.wait_for_records(23)
    sizes = [len(invocation["records"]) for invocation in harness.invocations()]
    assert sum(sizes) == 23
    assert max(sizes) == 4


def test_batches_above_ten_take_several_receives(harness: Harness) -> None:
    harness.create_queue()
    harness.send(*[{"do": "ok"}] * 25)
    harness.start(batch_size=25, batching_window=2, max_concurrency=2)
    harness.wait_for_records(25)
    sizes = [len(invocation["records"]) for invocation in harness.invocations()]
    assert max(sizes) > 10


def test_the_batching_window_gathers_messages_before_invoking(harness: Harness) -> None:
    # Given a window of 2 s and a batch size the queue will not fill
    harness.create_queue()
    harness.start(batch_size=10, batching_window=2, max_concurrency=2)
    time.sleep(1.5)  # the pollers are idle, long-polling
    sent = time.time()
    harness.send({"do": "ok"})
    time.sleep(0.3)
    harness.send({"do": "ok"}, {"do": "ok"})
    # Then no poller invoked before its window elapsed (two pollers may split the three, as on AWS)
    harness.wait_for_records(3)
    invocations = harness.invocations()
    assert sum(len(i["records"]) for i in invocations) == 3
    assert len(invocations) <= 2
    assert all(invocation["started"] - sent >= 1.5 for invocation in invocations)
    # With a window, AWS gives a message without attributes a null md5OfMessageAttributes
    assert all(record["md5OfMessageAttributes"] is None for i in invocations for record in i["records"])


def test_without_a_window_a_batch_goes_as_soon_as_messages_arrive(harness: Harness) -> None:
    harness.create_queue()
    harness.start(batch_size=10, batching_window=0, max_concurrency=2)
    harness.send({"do": "ok"})  # warm an environment first: a cold start is not the window
    harness.wait_for_records(1)
    sent = time.time()
    harness.send({"do": "ok"})
    harness.wait_for_records(2)
    # at most one 1 s poll and a busy machine's delay (2.3 s seen in make test), still far from the stack's 5 s window
    assert harness.invocations()[1]["started"] - sent < 3.5
    assert "md5OfMessageAttributes" not in harness.invocations()[1]["records"][0]  # no window: left out, as on AWS


def test_a_batch_stays_under_the_6_mb_payload_limit(harness: Harness) -> None:
    # Given 30 messages of ~250 KB: 10 fit in one receive, but 30 would be 7.5 MB
    harness.create_queue()
    padding = "x" * 250_000
    harness.send(*[{"do": "ok", "pad": padding}] * 30)
    harness.start(batch_size=100, batching_window=3, max_concurrency=2)
    harness.wait_for_records(30, timeout=60)
    invocations = harness.invocations()
    payloads = [len(json.dumps({"Records": i["records"]})) for i in invocations]
    assert sum(len(i["records"]) for i in invocations) == 30
    assert max(payloads) <= 6 * 1024 * 1024
    assert len(invocations) >= 2


# --- concurrency ---------------------------------------------------------------------------


def _peak_concurrency(invocations: list[dict[str, float]]) -> int:
    events = sorted([(i["started"], 1) for i in invocations] + [(i["ended"], -1) for i in invocations])
    peak = current = 0
    for _, delta in events:
        current += delta
        peak = max(peak, current)
    return peak


def test_concurrency_never_exceeds_maximum_concurrency(harness: Harness) -> None:
    harness.create_queue()
    harness.send(*[{"do": "sleep", "seconds": 0.5}] * 12)
    harness.start(batch_size=1, batching_window=0, max_concurrency=2)
    harness.wait_for_records(12, timeout=60)
    assert _peak_concurrency(harness.invocations()) == 2


def test_several_batches_run_at_once_and_scale_up(harness: Harness) -> None:
    harness.create_queue()
    harness.send(*[{"do": "sleep", "seconds": 0.6}] * 80)
    harness.start(batch_size=1, batching_window=0, max_concurrency=8)
    harness.wait_for_records(80, timeout=120)
    assert _peak_concurrency(harness.invocations()) > 5  # started at 5, scaled while messages remained
    assert harness.mapping is not None
    assert harness.mapping.active_pollers > 5


# --- execution environments ---------------------------------------------------------------


def test_environments_are_reused_warm_and_cold_starts_counted(harness: Harness) -> None:
    harness.create_queue()
    harness.start(batch_size=1, batching_window=0, max_concurrency=2)
    for count in range(1, 5):  # one at a time: a single environment serves them all
        harness.send({"do": "ok"})
        harness.wait_until(lambda count=count: len(harness.invocations()) >= count, what="invocation")
    pids = {invocation["pid"] for invocation in harness.invocations()}
    assert len(pids) == 1
    assert harness.mapping is not None
    assert harness.mapping.stats.cold_starts == 1


def test_a_timed_out_batch_is_stopped_and_its_messages_reappear(harness: Harness) -> None:
    # Given a function timeout of 1 s and a handler that sleeps 3 s on its first try
    harness.create_queue(visibility_timeout=2)
    harness.send({"do": "sleep", "seconds": 3})
    harness.start(batch_size=1, batching_window=0, function_timeout=1, max_concurrency=2)
    assert harness.mapping is not None
    stats = harness.mapping.stats
    harness.wait_until(lambda: stats.timeouts >= 2, timeout=30, what="two timeouts")
    # Then nothing was deleted, the message came back with a higher receive count, in a new environment
    assert stats.deleted == 0
    assert harness.depth() == 1
    assert stats.cold_starts >= 2
    assert harness.invocations() == []  # the handler never finished


def test_a_crash_fails_the_batch_and_the_message_reappears(harness: Harness) -> None:
    harness.create_queue(visibility_timeout=2)
    harness.send({"do": "crash"})
    harness.start(batch_size=1, batching_window=0, function_timeout=1, max_concurrency=2)
    assert harness.mapping is not None
    stats = harness.mapping.stats
    harness.wait_until(lambda: stats.crashes >= 2, timeout=30, what="two crashes")
    receive_counts = [int(i["records"][0]["attributes"]["ApproximateReceiveCount"]) for i in harness.invocations()]
    assert receive_counts[:2] == [1, 2]
    assert len({i["pid"] for i in harness.invocations()}) >= 2
    assert stats.deleted == 0


def test_an_error_deletes_nothing(harness: Harness) -> None:
    harness.create_queue(visibility_timeout=2)
    harness.send({"do": "ok"}, {"do": "raise"})
    harness.start(batch_size=10, batching_window=1, function_timeout=1, max_concurrency=2)
    assert harness.mapping is not None
    stats = harness.mapping.stats
    harness.wait_until(lambda: stats.failed >= 1, what="a failed invocation")
    assert stats.deleted == 0
    assert harness.depth() == 2


# --- outcomes ------------------------------------------------------------------------------


def test_without_report_batch_item_failures_a_normal_return_deletes_everything(harness: Harness) -> None:
    harness.create_queue()
    harness.send({"do": "ok"}, {"do": "fail"})
    harness.start(batch_size=10, batching_window=1, report_batch_item_failures=False, max_concurrency=2)
    harness.wait_for_records(2)
    harness.wait_until(lambda: harness.depth() == 0, what="an empty queue")


def test_partial_failure_keeps_only_the_listed_messages(harness: Harness) -> None:
    harness.create_queue(visibility_timeout=30)
    ids = harness.send({"do": "ok"}, {"do": "fail"}, {"do": "ok"})
    harness.start(batch_size=10, batching_window=1, report_batch_item_failures=True, max_concurrency=2)
    harness.wait_for_records(3)
    assert harness.mapping is not None
    stats = harness.mapping.stats
    harness.wait_until(lambda: stats.deleted == 2, what="two deletes")
    assert harness.depth() == 1
    assert stats.returned == 1
    assert ids[1] in {record["messageId"] for record in harness.invocations()[0]["records"]}


@pytest.mark.parametrize(
    "response",
    [
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"itemIdentifer": "$0"}]},  # wrong key name
        {"batchItemFailures": [{"itemIdentifier": "not-a-message-of-this-batch"}]},
        {"batchItemFailures": "$0"},
        ["$0"],
        "unexpected",
    ],
    ids=["empty-id", "null-id", "wrong-key", "unknown-id", "not-a-list", "not-an-object", "a-string"],
)
def test_an_invalid_response_retries_the_whole_batch(harness: Harness, response: object) -> None:
    harness.create_queue(visibility_timeout=30)
    harness.send({"do": "respond", "response": response}, {"do": "ok"})
    harness.start(batch_size=10, batching_window=1, report_batch_item_failures=True, max_concurrency=2)
    harness.wait_for_records(2)
    time.sleep(0.5)
    assert harness.mapping is not None
    assert harness.mapping.stats.deleted == 0
    assert harness.depth() == 2


@pytest.mark.parametrize(
    "response",
    [{}, {"batchItemFailures": []}, {"batchItemFailures": None}, {"other": 1}],
    ids=["empty-object", "empty-list", "null-list", "absent"],
)
def test_a_complete_success_response_deletes_everything(harness: Harness, response: object) -> None:
    harness.create_queue(visibility_timeout=30)
    harness.send({"do": "respond", "response": response}, {"do": "ok"})
    harness.start(batch_size=10, batching_window=1, report_batch_item_failures=True, max_concurrency=2)
    harness.wait_for_records(2)
    harness.wait_until(lambda: harness.depth() == 0, what="an empty queue")


def test_fifo_keeps_group_order_past_a_failure(harness: Harness) -> None:
    # Given a FIFO group whose second message fails once, while the handler goes on to the third
    harness.create_queue(visibility_timeout=2, fifo=True)
    first, second, third = harness.send({"do": "ok"}, {"do": "fail_once"}, {"do": "ok"}, group="customer-42")
    harness.start(batch_size=10, report_batch_item_failures=True, max_concurrency=2, function_timeout=1)
    harness.wait_for_records(3)
    # Then the third is not deleted: it comes back after the second, in order
    harness.wait_for_records(5)
    retried = [record["messageId"] for invocation in harness.invocations()[1:] for record in invocation["records"]]
    assert retried[:2] == [second, third]
    assert first not in retried


def test_a_fifo_batch_can_hold_several_message_groups(harness: Harness) -> None:
    harness.create_queue(visibility_timeout=30, fifo=True)
    sent = {}
    for group in ("order-1", "order-2", "order-3"):
        sent[group] = harness.send({"do": "ok"}, {"do": "ok"}, group=group)
    harness.start(batch_size=10, report_batch_item_failures=True, max_concurrency=2)
    harness.wait_for_records(6)
    [first, *_] = harness.invocations()
    groups = [record["attributes"]["MessageGroupId"] for record in first["records"]]
    assert len(set(groups)) > 1
    for group, ids in sent.items():  # each group's messages in the order they were sent
        delivered = [r["messageId"] for i in harness.invocations() for r in i["records"] if r["messageId"] in ids]
        assert delivered == ids, group


def test_a_failed_fifo_record_holds_back_only_the_rest_of_its_group(harness: Harness) -> None:
    harness.create_queue(visibility_timeout=2, fifo=True)
    a_ok, a_fails, a_after = harness.send({"do": "ok"}, {"do": "fail_once"}, {"do": "ok"}, group="order-a")
    b_first, b_second = harness.send({"do": "ok"}, {"do": "ok"}, group="order-b")
    harness.start(batch_size=10, report_batch_item_failures=True, max_concurrency=2, function_timeout=1)
    harness.wait_for_records(7)  # the five, then order-a's two held back, again
    delivered = [r["messageId"] for i in harness.invocations() for r in i["records"]]
    assert delivered.count(b_first) == delivered.count(b_second) == delivered.count(a_ok) == 1
    assert delivered.count(a_fails) == delivered.count(a_after) == 2
    retried = [record for record in delivered if record in (a_fails, a_after)]
    assert retried == [a_fails, a_after, a_fails, a_after]  # in order, both times
    harness.wait_until(lambda: harness.depth() == 0, what="an empty queue")


def test_a_fifo_batch_goes_without_a_batching_window(harness: Harness) -> None:
    harness.create_queue(fifo=True)
    harness.start(batch_size=10, max_concurrency=2)
    harness.send({"do": "ok"}, group="warm")  # warm an environment first: a cold start is not a window
    harness.wait_for_records(1)
    sent = time.time()
    harness.send({"do": "ok"}, group="order-1")
    harness.wait_for_records(2)
    assert harness.invocations()[1]["started"] - sent < 1.9  # at most one 1 s poll


# --- configuration -------------------------------------------------------------------------


def test_a_function_timeout_longer_than_the_visibility_timeout_is_refused() -> None:
    config = MappingConfig(queue_url="q", queue_arn="a", visibility_timeout=30, function_timeout=31)
    with pytest.raises(MappingConfigurationError, match=r"exceeds the queue's visibility timeout.*at least 186 s"):
        config.validate()


def test_a_visibility_timeout_below_six_times_the_function_timeout_warns() -> None:
    config = MappingConfig(queue_url="q", queue_arn="a", visibility_timeout=60, function_timeout=30, batching_window=5)
    [warning] = config.validate()
    assert "below AWS's recommendation" in warning
    assert "185 s" in warning
    enough = MappingConfig(queue_url="q", queue_arn="a", visibility_timeout=185, function_timeout=30, batching_window=5)
    assert enough.validate() == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"batch_size": 20, "batching_window": 0}, "needs a batching window"),
        ({"batch_size": 11, "fifo": True}, "out of range"),
        ({"batching_window": 1, "fifo": True}, "not supported for FIFO queues"),
        ({"max_concurrency": 1}, "between 2 and 1000"),
    ],
)
def test_mappings_aws_would_refuse_are_refused(changes: dict[str, object], message: str) -> None:
    config = MappingConfig(queue_url="q", queue_arn="a", visibility_timeout=200, function_timeout=30, **changes)  # type: ignore[arg-type]
    with pytest.raises(MappingConfigurationError, match=message):
        config.validate()
