"""The event record the local event source mapping builds for one SQS message, window by window."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from orderflow_local.lambda_runtime.esm import to_lambda_record

if TYPE_CHECKING:
    from collections.abc import Iterator

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:records"


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        yield patch


@pytest.fixture(scope="module")
def received(monkeypatch_module: pytest.MonkeyPatch) -> dict[str, Any]:
    """Two messages as ReceiveMessage returns them: one with attributes, one without."""
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="records")["QueueUrl"]
        sqs.send_message(
            QueueUrl=url,
            MessageBody="with",
            MessageAttributes={"correlationId": {"DataType": "String", "StringValue": "corr-1"}},
        )
        sqs.send_message(QueueUrl=url, MessageBody="without")
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"]
        )["Messages"]
    return {message["Body"]: message for message in messages}


def _record(message: dict[str, Any], window: float) -> dict[str, Any]:
    return to_lambda_record(message, queue_arn=QUEUE_ARN, region="us-east-1", batching_window=window)


def test_without_attributes_and_without_a_window_the_md5_key_is_left_out(received: dict[str, Any]) -> None:
    assert "MD5OfMessageAttributes" not in received["without"]  # as SQS answers
    record = _record(received["without"], window=0)
    assert "md5OfMessageAttributes" not in record
    assert record["messageAttributes"] == {}


@pytest.mark.parametrize("window", [0.5, 1, 20])
def test_without_attributes_and_with_a_window_the_md5_is_null(received: dict[str, Any], window: float) -> None:
    record = _record(received["without"], window=window)
    assert "md5OfMessageAttributes" in record
    assert record["md5OfMessageAttributes"] is None
    assert record["md5OfBody"] == hashlib.md5(b"without").hexdigest()  # noqa: S324 - SQS's checksum


@pytest.mark.parametrize("window", [0, 2])
def test_with_attributes_the_md5_is_carried_whatever_the_window(received: dict[str, Any], window: float) -> None:
    message = received["with"]
    record = _record(message, window=window)
    assert record["md5OfMessageAttributes"] == message["MD5OfMessageAttributes"]
    assert len(record["md5OfMessageAttributes"]) == 32
    assert record["messageAttributes"]["correlationId"]["stringValue"] == "corr-1"
