"""How producers send order events, whatever the stack's topology (-c fifo, -c fanout).

- **Where**: to the ``OrderEvents`` topic when the stack has one (fan-out), else to the
  order queue. On a FIFO stack both end in ``.fifo``.
- **Message attribute** ``eventType``: the event's type, read from the body (``OrderCreated``
  when the body names none). SNS subscription filter policies match it: the notifications
  queue receives only ``OrderCancelled``. The body stays authoritative for the handler.
- **FIFO**: ``MessageGroupId`` is the orderId, so one order's events apply in the order they
  were sent, while different orders proceed in parallel. Deduplication is by content (the
  queues and the topic have it on): the same event sent twice within 5 minutes is delivered
  once. A body with no orderId (it will be rejected) goes to the group ``unidentified``.

The CLI (``orderflow send``, ``orderflow cancel``), the demo and the benchmarks all send
through here; any other producer does the same three things.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

QUEUE_NAME = "OrderCreatedQueue"
DLQ_NAME = "OrderCreatedDLQ"
TOPIC_NAME = "OrderEvents"
EVENT_TYPE_ATTRIBUTE = "eventType"
DEFAULT_EVENT_TYPE = "OrderCreated"
UNIDENTIFIED_GROUP = "unidentified"
#: SQS's and SNS's largest batch.
BATCH = 10


@dataclass(frozen=True)
class Destination:
    """The queue, or the topic, that producers send to."""

    queue_url: str | None = None
    topic_arn: str | None = None

    def __post_init__(self) -> None:
        if (self.queue_url is None) == (self.topic_arn is None):
            raise ValueError("a destination is a queue URL or a topic ARN, exactly one of them")

    @property
    def fifo(self) -> bool:
        return str(self.queue_url or self.topic_arn).endswith(".fifo")

    def describe(self) -> str:
        return f"topic {self.topic_arn}" if self.topic_arn else f"queue {self.queue_url}"


def event_type_and_group(body: str) -> tuple[str | None, str]:
    """The body's event type (None when it is not a JSON object) and its FIFO message group."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None, UNIDENTIFIED_GROUP
    if not isinstance(parsed, dict):
        return None, UNIDENTIFIED_GROUP
    event_type = parsed.get("eventType", DEFAULT_EVENT_TYPE)
    order_id = parsed.get("orderId")
    group = order_id if isinstance(order_id, str) and order_id.strip() else UNIDENTIFIED_GROUP
    return (event_type if isinstance(event_type, str) else None), group[:128]


def _addressing(destination: Destination, body: str) -> dict[str, Any]:
    """The message attributes (SQS and SNS spell them alike) and, on FIFO, the group: one parse of the body."""
    event_type, group = event_type_and_group(body)
    attributes = (
        {EVENT_TYPE_ATTRIBUTE: {"DataType": "String", "StringValue": event_type[:256]}}
        if event_type and event_type.strip()
        else {}
    )
    return {"MessageAttributes": attributes, **({"MessageGroupId": group} if destination.fifo else {})}


def send(destination: Destination, body: str, *, sqs: SQSClient, sns: SNSClient | None = None) -> str:
    """Send one event; its message id."""
    if destination.topic_arn is not None:
        if sns is None:
            raise ValueError("sending to a topic needs an SNS client")
        response = sns.publish(TopicArn=destination.topic_arn, Message=body, **_addressing(destination, body))
        return str(response["MessageId"])
    assert destination.queue_url is not None  # noqa: S101 - __post_init__ guarantees one of the two
    response_ = sqs.send_message(QueueUrl=destination.queue_url, MessageBody=body, **_addressing(destination, body))
    return str(response_["MessageId"])


def send_batch(
    destination: Destination, bodies: list[str], *, sqs: SQSClient, sns: SNSClient | None = None
) -> list[str | None]:
    """Send up to 10 events in one request; each one's message id, or None where it was refused.

    Raises ``RuntimeError`` naming the refusals, so no event is dropped silently.
    """
    if len(bodies) > BATCH:
        raise ValueError(f"a batch holds at most {BATCH} events")
    ids: list[str | None] = [None] * len(bodies)
    failed: list[str] = []
    if destination.topic_arn is not None:
        if sns is None:
            raise ValueError("sending to a topic needs an SNS client")
        response = sns.publish_batch(
            TopicArn=destination.topic_arn,
            PublishBatchRequestEntries=[_entry(destination, n, body, "Message") for n, body in enumerate(bodies)],
        )
        for entry in response.get("Successful", []):
            ids[int(entry["Id"])] = entry.get("MessageId")
        failed = [f"{entry['Id']}: {entry.get('Message')}" for entry in response.get("Failed", [])]
    else:
        assert destination.queue_url is not None  # noqa: S101
        sqs_response = sqs.send_message_batch(
            QueueUrl=destination.queue_url,
            Entries=[_entry(destination, n, body, "MessageBody") for n, body in enumerate(bodies)],
        )
        for sent in sqs_response.get("Successful", []):
            ids[int(sent["Id"])] = sent["MessageId"]
        failed = [f"{entry['Id']}: {entry.get('Message')}" for entry in sqs_response.get("Failed", [])]
    if failed:
        raise RuntimeError(f"{destination.describe()} refused events: {'; '.join(failed)}")
    return ids


def _entry(destination: Destination, index: int, body: str, body_key: str) -> Any:
    """A batch entry: SQS names the body MessageBody, SNS names it Message."""
    return {"Id": str(index), body_key: body, **_addressing(destination, body)}


def find_destination(sqs: SQSClient, sns: SNSClient | None) -> Destination:
    """The stack's topic when it has one, else its queue (FIFO or standard); ``LookupError`` if neither."""
    if sns is not None:
        topics = [topic["TopicArn"] for page in sns.get_paginator("list_topics").paginate() for topic in page["Topics"]]
        for name in (TOPIC_NAME, f"{TOPIC_NAME}.fifo"):
            found = [arn for arn in topics if arn.rsplit(":", 1)[-1] == name]
            if found:
                return Destination(topic_arn=found[0])
    return Destination(queue_url=find_queue(sqs, QUEUE_NAME))


def find_queue(sqs: SQSClient, name: str) -> str:
    """The URL of ``name`` or of ``name.fifo``; ``LookupError`` when neither exists."""
    for candidate in (name, f"{name}.fifo"):
        try:
            return str(sqs.get_queue_url(QueueName=candidate)["QueueUrl"])
        except sqs.exceptions.QueueDoesNotExist:
            continue
    raise LookupError(f"neither {name} nor {name}.fifo exists")
