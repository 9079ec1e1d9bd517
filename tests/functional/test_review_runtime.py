"""Review findings on the runtime, driven through the real handler against emulated AWS."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

import pytest

from orderflow import handler
from orderflow.handler import lambda_handler
from tests.support import FakeLambdaContext, body, seed_order, sqs_record

if TYPE_CHECKING:
    from tests.functional.conftest import EmulatedAws

SEED_KEY = ("ORD-20260420-001", "2026-04-20T14:30:00Z")
#: What a producer may put in ``redriveCount``: none of them is a count.
UNREADABLE_REDRIVE_COUNTS = ["abc", "-1", "1.5", " ", "1e3", "٣", "9" * 5000]


def _with_redrive_count(raw_body: str, value: str) -> dict[str, Any]:
    record = sqs_record(raw_body)
    record["messageAttributes"]["redriveCount"] = {"stringValue": value, "dataType": "Number"}
    return record


def _log_lines(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    # The logger keeps the stream it found at import: read what it writes there.
    stream = io.StringIO()
    monkeypatch.setattr(handler.logger.registered_handler, "stream", stream)
    return stream


@pytest.mark.parametrize("value", UNREADABLE_REDRIVE_COUNTS, ids=lambda value: value[:8])
def test_an_unreadable_redrive_count_does_not_stop_the_order(
    aws: EmulatedAws, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    # Given a valid order whose producer set a redriveCount that is not a count
    stream = _log_lines(monkeypatch)
    record = _with_redrive_count(body(seed_order()), value)
    # When the handler processes it
    response = lambda_handler({"Records": [record]}, FakeLambdaContext())
    # Then the order is stored, nothing failed or went to the DLQ, and the value is named in a warning
    assert response == {"batchItemFailures": []}
    assert aws.stored(*SEED_KEY) is not None
    assert aws.dlq_messages() == []
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    [warning] = [line for line in lines if line["message"] == "Unreadable redriveCount ignored"]
    assert warning["level"] == "WARNING"
    assert warning["message_id"] == record["messageId"]
    assert warning["redrive_count"] == value[: handler.MAX_LOGGED_ATTRIBUTE_CHARS]


@pytest.mark.parametrize("value", ["abc", "-1", "1.5"])
def test_a_rejected_message_with_an_unreadable_redrive_count_reaches_the_dlq_with_its_reason(
    aws: EmulatedAws, value: str
) -> None:
    record = _with_redrive_count("not json", value)
    response = lambda_handler({"Records": [record]}, FakeLambdaContext())
    assert response == {"batchItemFailures": []}
    [dead] = aws.dlq_messages()
    attributes = dead["MessageAttributes"]
    assert attributes["errorCode"]["StringValue"] == "MALFORMED_JSON"
    assert attributes["sourceMessageId"]["StringValue"] == record["messageId"]
    assert "redriveCount" not in attributes  # counted as 0: the next redrive starts the count at 1


def test_a_readable_redrive_count_is_still_carried(aws: EmulatedAws, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _log_lines(monkeypatch)
    lambda_handler({"Records": [_with_redrive_count("not json", " 3 ")]}, FakeLambdaContext())
    [dead] = aws.dlq_messages()
    assert dead["MessageAttributes"]["redriveCount"]["StringValue"] == "3"
    assert "Unreadable redriveCount" not in stream.getvalue()
