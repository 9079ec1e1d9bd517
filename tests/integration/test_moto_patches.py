"""The patches to moto keep its behaviour and only change its cost."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from orderflow_local import moto_patches
from orderflow_local.emulator import Emulator


@pytest.fixture(scope="module")
def sqs() -> Any:
    with Emulator(port=0) as emulator:
        yield emulator.sqs()


def _queue(name: str) -> Any:
    from moto.sqs.models import sqs_backends

    return sqs_backends["123456789012"]["us-east-1"].queues[name]


@pytest.mark.parametrize(
    ("name", "attributes"),
    [
        ("plain", {}),
        ("fifo.fifo", {"FifoQueue": "true", "ContentBasedDeduplication": "true"}),
        ("encrypted", {"KmsMasterKeyId": "alias/orders", "Policy": json.dumps({"Version": "2012-10-17"})}),
    ],
)
def test_queue_attributes_are_the_same_as_moto_computes(sqs: Any, name: str, attributes: dict[str, str]) -> None:
    dlq_arn = sqs.get_queue_attributes(
        QueueUrl=sqs.create_queue(QueueName=f"dlq-{name}")["QueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    if not name.endswith(".fifo"):
        attributes = {**attributes, "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})}
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x", **({"MessageGroupId": "g"} if name.endswith(".fifo") else {}))
    queue = _queue(name)
    original = moto_patches.ORIGINALS["Queue.attributes"].fget(queue)
    assert dict(queue.attributes) == original
    assert queue.attributes.get("ApproximateNumberOfMessages") == 1
    assert ("ContentBasedDeduplication" in queue.attributes) is name.endswith(".fifo")
    everything = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert everything["ApproximateNumberOfMessages"] == "1"


def test_delete_semantics_are_unchanged(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="deletes", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="a")
    first = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]
    second = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]  # visible again at once
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first)  # an older handle of the message still deletes it
    sqs.delete_message(QueueUrl=url, ReceiptHandle=second)  # deleting again is accepted
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    with pytest.raises(ClientError, match="ReceiptHandleIsInvalid"):
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")


def test_receive_still_returns_only_visible_undelayed_messages(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="visibility", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": str(n)} for n in range(5)])
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3)["Messages"]]
    rest = [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]
    assert sorted(bodies + rest) == ["0", "1", "2", "3", "4"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attributes["ApproximateNumberOfMessagesNotVisible"], attributes["ApproximateNumberOfMessagesDelayed"]) == (
        "5",
        "1",
    )
