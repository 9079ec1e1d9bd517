"""Reading what operators read: Lambda's log records, the CLI's rendering, dead letters explained from logs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orderflow.domain.errors import DeadLetterPublishError
from orderflow.domain.events.cancelled import ORDER_CANCELLED, OrderCancelled
from orderflow.domain.events.created import ORDER_CREATED, OrderCreated
from orderflow.domain.processing import already_applied
from orderflow_cli.observe import parse_since, render_message
from orderflow_local.cloudwatch.logs import _chunks, platform_events
from orderflow_local.lambda_runtime.environment import Invocation, log_stream_name
from orderflow_local.ops.dlq import DeadLetter, FunctionLogReader, explain
from tests.support import body, cancellation, seed_order


def test_log_streams_are_named_as_lambda_names_them() -> None:
    name = log_stream_name(0)
    assert name.startswith("1970/01/01/[$LATEST]")
    assert len(name.rsplit("]", 1)[1]) == 32


def invocation(**overrides: Any) -> Invocation:
    values: dict[str, Any] = {
        "status": "ok",
        "request_id": "req-1",
        "started_at": 100.0,
        "ended_at": 100.25,
        "log_stream": "s",
        "lines": [(100_100, '{"level":"INFO","message":"Order stored"}')],
        "max_memory_mb": 90,
        **overrides,
    }
    return Invocation(**values)


def test_a_warm_invocation_has_start_its_lines_end_and_report() -> None:
    events = platform_events(invocation(), function_name="OrderProcessor", memory_size=256)
    kinds = [json.loads(message).get("type", "function") for _, message in events]
    assert kinds == ["platform.start", "function", "platform.runtimeDone", "platform.report"]
    report = json.loads(events[-1][1])["record"]
    assert report["requestId"] == "req-1"
    assert report["status"] == "success"
    assert report["metrics"] == {
        "durationMs": 250.0,
        "billedDurationMs": 250,
        "memorySizeMB": 256,
        "maxMemoryUsedMB": 90,
    }
    assert [stamp for stamp, _ in events] == sorted(stamp for stamp, _ in events)


def test_a_cold_start_reports_its_init_and_bills_it() -> None:
    events = platform_events(
        invocation(cold_start=True, init_duration=0.4), function_name="OrderProcessor", memory_size=256
    )
    assert json.loads(events[0][1])["type"] == "platform.initStart"
    metrics = json.loads(events[-1][1])["record"]["metrics"]
    assert metrics["initDurationMs"] == 400.0
    assert metrics["billedDurationMs"] == 650


def test_a_timeout_gets_lambdas_error_line_and_status() -> None:
    events = platform_events(
        invocation(status="timeout", error="Task timed out after 2.00 seconds", lines=[]),
        function_name="OrderProcessor",
        memory_size=256,
    )
    messages = [json.loads(message) for _, message in events]
    assert {"level": "ERROR", "requestId": "req-1", "message": "Task timed out after 2.00 seconds"}.items() <= (
        messages[1].items()
    )
    assert messages[-1]["record"]["status"] == "timeout"


def test_put_log_events_batches_stay_under_the_limits() -> None:
    events = [(n, "x" * 1000) for n in range(2000)]
    chunks = _chunks(events)
    assert sum(len(chunk) for chunk in chunks) == 2000
    assert all(sum(len(m) + 26 for _, m in chunk) <= 1_048_576 for chunk in chunks)
    assert len(chunks) == 2


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400)])
def test_since(text: str, seconds: float) -> None:
    assert parse_since(text) == seconds


def test_since_refuses_what_it_cannot_read() -> None:
    with pytest.raises(ValueError, match="30s, 10m, 2h or 1d"):
        parse_since("ten minutes")


def test_lambda_records_render_as_start_end_report() -> None:
    events = platform_events(invocation(cold_start=True, init_duration=0.4), function_name="F", memory_size=256)
    rendered = [render_message(message) for _, message in events]
    assert rendered[0] == "INIT_START Runtime Version: python:local"
    assert rendered[1] == "START RequestId: req-1 Version: $LATEST"
    assert rendered[3] == "END RequestId: req-1"
    assert rendered[4].startswith("REPORT RequestId: req-1\tDuration: 250.00 ms\tBilled Duration: 650 ms")
    assert rendered[4].endswith("Init Duration: 400.00 ms")


def test_the_handlers_lines_render_with_their_keys() -> None:
    line = json.dumps(
        {
            "level": "WARNING",
            "message": "Transient failure",
            "message_id": "m-1",
            "error": "boom",
            "function_request_id": "r",
        }
    )
    assert render_message(line) == "WARNING Transient failure  (message_id=m-1, error=boom, request=r)"


# --- already stored -----------------------------------------------------------------------


def test_a_create_is_applied_when_stored_with_the_same_content_even_cancelled_since() -> None:
    order = OrderCreated.model_validate(seed_order())
    stored = {**order.model_dump(), "status": "CONFIRMED"}
    assert ORDER_CREATED.applied(order, stored)
    assert ORDER_CREATED.applied(order, {**stored, "status": "CANCELLED"})
    assert not ORDER_CREATED.applied(order, {**stored, "totalAmount": 1})
    assert not ORDER_CREATED.applied(order, None)
    awaiting = {"orderId": order.order_id, "createdAt": order.created_at, "status": "AWAITING_ORDER"}
    assert not ORDER_CREATED.applied(order, awaiting)


def test_a_cancellation_is_applied_when_its_own_cancellation_is_stored() -> None:
    event = OrderCancelled.model_validate(cancellation(seed_order()))
    mine = {"status": "CANCELLED", "cancelledAt": event.cancelled_at, "cancellationReason": event.reason}
    assert ORDER_CANCELLED.applied(event, mine)
    assert ORDER_CANCELLED.applied(event, {**mine, "status": "AWAITING_ORDER"})
    assert not ORDER_CANCELLED.applied(event, {**mine, "cancellationReason": "another"})
    assert not ORDER_CANCELLED.applied(event, {"status": "CONFIRMED"})


def test_already_applied_reads_the_events_key_and_says_none_for_an_invalid_body() -> None:
    order = seed_order()
    reads: list[tuple[str, str]] = []

    def read(order_id: str, created_at: str) -> dict[str, Any] | None:
        reads.append((order_id, created_at))
        return {**OrderCreated.model_validate(order).model_dump(), "status": "CONFIRMED"}

    assert already_applied(body(order), read) is True
    assert reads == [(order["orderId"], order["createdAt"])]
    assert already_applied('{"orderId": "X"}', read) is None
    assert already_applied("not json", read) is None


def test_a_failed_dlq_send_keeps_the_rejections_code_and_reason_for_the_log() -> None:
    error = DeadLetterPublishError(
        "SQS SendMessage to the DLQ failed: InternalError", rejected=("VALIDATION_FAILED", "x")
    )
    assert error.log_fields == {"error_code": "VALIDATION_FAILED", "reason": "x"}
    assert DeadLetterPublishError("plain").log_fields == {}


# --- dead letters explained from the logs --------------------------------------------------


class LogGroup:
    """A log group answering FilterLogEvents with CloudWatch's quoted-term matching."""

    def __init__(self, lines: list[dict[str, Any]]) -> None:
        self.events = [{"timestamp": n, "message": json.dumps(line), "eventId": str(n)} for n, line in enumerate(lines)]

    def filter_log_events(self, **arguments: Any) -> dict[str, Any]:
        term = arguments["filterPattern"].strip('"')
        return {"events": [event for event in self.events if term in event["message"]]}


def letter(message_id: str, text: str = "{}", **attributes: str) -> DeadLetter:
    message_attributes = {name: {"StringValue": value, "DataType": "String"} for name, value in attributes.items()}
    return DeadLetter(message_id, text, "rh", {"ApproximateReceiveCount": "4"}, message_attributes)


def test_the_handlers_own_reason_comes_first() -> None:
    [entry] = explain(
        [letter("m", errorCode="VALIDATION_FAILED", errorReason="items: empty")], logs=None, read_item=None
    )
    assert (entry.reason, entry.reason_source, entry.error_code, entry.letter.moved_by) == (
        "items: empty",
        "attributes",
        "VALIDATION_FAILED",
        "handler",
    )


def test_a_message_sqs_moved_gets_its_last_logged_failure() -> None:
    group = LogGroup(
        [
            {"message": "Batch received", "message_ids": ["m"], "function_request_id": "r1"},
            {
                "level": "WARNING",
                "message": "Transient failure",
                "message_id": "m",
                "error": "old",
                "function_request_id": "r1",
            },
            {"message": "Batch received", "message_ids": ["m"], "function_request_id": "r2"},
            {
                "level": "WARNING",
                "message": "Transient failure",
                "message_id": "m",
                "error": "throttled",
                "function_request_id": "r2",
            },
        ]
    )
    [entry] = explain([letter("m")], logs=FunctionLogReader(group, "g"), read_item=None)  # type: ignore[arg-type]
    assert entry.reason == "Transient failure: throttled"
    assert (entry.reason_source, entry.letter.moved_by, entry.letter.receive_count) == ("logs", "sqs", 3)


def test_a_message_whose_invocation_died_gets_the_invocations_end() -> None:
    group = LogGroup(
        [
            {"message": "Batch received", "message_ids": ["m", "n"], "function_request_id": "r1"},
            {"level": "ERROR", "requestId": "r1", "message": "Runtime exited with code 137"},
            {"type": "platform.report", "record": {"requestId": "r1", "status": "error"}},
        ]
    )
    [entry] = explain([letter("m")], logs=FunctionLogReader(group, "g"), read_item=None)  # type: ignore[arg-type]
    assert entry.reason == "its invocation r1 failed as a whole (error): Runtime exited with code 137"


def test_a_rejection_whose_dlq_send_failed_keeps_its_code() -> None:
    group = LogGroup(
        [
            {"message": "Batch received", "message_ids": ["m"], "function_request_id": "r1"},
            {
                "level": "WARNING",
                "message": "Transient failure, SQS will retry",
                "message_id": "m",
                "error": "SQS SendMessage to the DLQ failed: InternalError",
                "error_code": "VALIDATION_FAILED",
                "reason": "items: is required",
                "function_request_id": "r1",
            },
        ]
    )
    [entry] = explain([letter("m")], logs=FunctionLogReader(group, "g"), read_item=None)  # type: ignore[arg-type]
    assert entry.error_code == "VALIDATION_FAILED"
    assert entry.reason.startswith("rejected as VALIDATION_FAILED: items: is required (the handler's send to the DLQ")


def test_a_message_with_no_logged_failure_says_so() -> None:
    [entry] = explain([letter("m")], logs=FunctionLogReader(LogGroup([]), "g"), read_item=None)  # type: ignore[arg-type]
    assert entry.reason_source == "unknown"
    assert "no failure was logged for it in g" in entry.reason


def test_a_rejection_stays_the_reason_even_if_a_later_invocation_died() -> None:
    group = LogGroup(
        [
            {"message": "Batch received", "message_ids": ["m"], "function_request_id": "r1"},
            {"level": "WARNING", "message": "Transient", "message_id": "m", "error_code": "VALIDATION_FAILED",
             "reason": "items: is required", "error": "DLQ send failed", "function_request_id": "r1"},
            {"message": "Batch received", "message_ids": ["m"], "function_request_id": "r2"},
            {"type": "platform.report", "record": {"requestId": "r2", "status": "timeout"}},
        ]
    )  # fmt: skip
    [entry] = explain([letter("m")], logs=FunctionLogReader(group, "g"), read_item=None)  # type: ignore[arg-type]
    assert entry.error_code == "VALIDATION_FAILED"


def test_filter_events_follows_every_page_even_an_empty_one_as_aws_returns_them() -> None:
    from orderflow_local.cloudwatch.logs import filter_events

    pages = [
        {"events": [], "nextToken": "1"},  # AWS: nothing matched in this stretch yet, the search goes on
        {"events": [{"timestamp": 20, "message": "b", "eventId": "2"}], "nextToken": "2"},
        {"events": [{"timestamp": 10, "message": "a", "eventId": "1"}]},
    ]
    calls: list[dict[str, Any]] = []

    class Logs:
        def filter_log_events(self, **arguments: Any) -> dict[str, Any]:
            calls.append(arguments)
            return pages[len(calls) - 1]

    events = filter_events(Logs(), "g", '"x"', 5)  # type: ignore[arg-type]
    assert [event["message"] for event in events] == ["a", "b"]
    assert [call.get("nextToken") for call in calls] == [None, "1", "2"]
    assert calls[0] == {"logGroupName": "g", "filterPattern": '"x"', "startTime": 5}


@pytest.mark.parametrize("raw", ["abc", "-1", "1.5", "1e3", "٣", "9" * 5000])
def test_a_producers_unreadable_counts_in_the_dlq_count_as_none_and_never_raise(raw: str) -> None:
    # SQS moves a message's attributes along to the DLQ: a producer's redriveCount/receiveCount may be anything
    attributes = {name: {"DataType": "String", "StringValue": raw} for name in ("redriveCount", "receiveCount")}
    letter = DeadLetter("m-1", "{}", "rh", {"ApproximateReceiveCount": "4"}, attributes)
    assert letter.redrive_count == 0
    assert letter.receive_count == 3  # SQS's own count, less the receive that read it
