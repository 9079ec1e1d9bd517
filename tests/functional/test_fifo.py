"""The handler on the FIFO topology (-c fifo=true): rejects keep their message group in a FIFO DLQ."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from orderflow import handler
from orderflow.composition import Settings, build_runtime
from orderflow.handler import lambda_handler
from tests.support import FakeLambdaContext, body, seed_order, sqs_record

if TYPE_CHECKING:
    from tests.functional.conftest import EmulatedAws

FIFO_ARN = "arn:aws:sqs:us-east-1:123456789012:OrderCreatedQueue.fifo"


@pytest.fixture
def fifo_dlq(aws: EmulatedAws, monkeypatch: pytest.MonkeyPatch) -> str:
    """The stack's FIFO DLQ (content-based deduplication on, as the template sets it)."""
    url = aws.sqs.create_queue(
        QueueName="OrderCreatedDLQ.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    runtime = build_runtime(Settings(table_name="Orders", dlq_url=url), dynamodb=aws.dynamodb, sqs=aws.sqs)
    monkeypatch.setattr(handler, "_runtime", lambda: runtime)
    return str(url)


def _fifo_record(raw: str, group: str, message_id: str) -> dict[str, Any]:
    record = sqs_record(raw, message_id=message_id)
    record["eventSourceARN"] = FIFO_ARN
    record["attributes"].update(MessageGroupId=group, SequenceNumber="1", MessageDeduplicationId=message_id)
    return record


def _received(aws: EmulatedAws, url: str) -> list[dict[str, Any]]:
    return aws.sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
    ).get("Messages", [])


def test_a_rejected_fifo_message_lands_in_the_fifo_dlq_in_its_group(aws: EmulatedAws, fifo_dlq: str) -> None:
    response = lambda_handler(
        {"Records": [_fifo_record("{not json", "ORD-1", "m-1"), _fifo_record(body(seed_order()), "ORD-2", "m-2")]},
        FakeLambdaContext(),
    )
    assert response == {"batchItemFailures": []}
    [rejected] = _received(aws, fifo_dlq)
    assert rejected["Body"] == "{not json"
    assert rejected["Attributes"]["MessageGroupId"] == "ORD-1"
    assert rejected["MessageAttributes"]["errorCode"]["StringValue"] == "MALFORMED_JSON"


def test_two_messages_with_the_same_body_both_reach_the_dlq_and_one_rejected_twice_once(
    aws: EmulatedAws, fifo_dlq: str
) -> None:
    """Content-based deduplication would drop the second of two identical bodies: the id is the source's."""
    for message_id in ("m-1", "m-2", "m-2"):
        lambda_handler({"Records": [_fifo_record("{not json", "ORD-1", message_id)]}, FakeLambdaContext())
    sources = sorted(m["MessageAttributes"]["sourceMessageId"]["StringValue"] for m in _received(aws, fifo_dlq))
    assert sources == ["m-1", "m-2"]
