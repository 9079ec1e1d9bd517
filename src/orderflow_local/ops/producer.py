"""How producers send order events, whatever the stack's topology (-c fifo, -c fanout).

- **Where**: to the ``OrderIngress`` bus when the stack has one (``-c ingress=eventbridge``:
  PutEvents, detail-type = the event's type, detail = the body), else to the ``OrderEvents``
  topic when it has one (fan-out), else to the order queue. On a FIFO stack the last two end
  in ``.fifo``.
- **Message attribute** ``eventType``: the event's type, read from the body (``OrderCreated``
  when the body names none), for SNS subscription filter policies to match (the fan-out's one
  subscription, the order queue's, has none). The body stays authoritative for the handler.
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

    EventsClient = Any  # no boto3-stubs for EventBridge in the dev dependencies yet

QUEUE_NAME = "OrderCreatedQueue"
DLQ_NAME = "OrderCreatedDLQ"
TOPIC_NAME = "OrderEvents"
BUS_NAME = "OrderIngress"
#: The ``source`` of the events producers put on the ingress bus (its rules route on detail-type only).
PRODUCER_SOURCE = "orderflow.producer"
EVENT_TYPE_ATTRIBUTE = "eventType"
DEFAULT_EVENT_TYPE = "OrderCreated"
UNIDENTIFIED_GROUP = "unidentified"
#: SQS's and SNS's largest batch.
BATCH = 10


@dataclass(frozen=True)
class Destination:
    """The queue, the topic or the event bus that producers send to."""

    queue_url: str | None = None
    topic_arn: str | None = None
    bus_name: str | None = None

    def __post_init__(self) -> None:
        if [self.queue_url, self.topic_arn, self.bus_name].count(None) != 2:
            raise ValueError("a destination is a queue URL, a topic ARN or an event bus name, exactly one of them")

    @property
    def fifo(self) -> bool:
        return str(self.queue_url or self.topic_arn).endswith(".fifo")

    def describe(self) -> str:
        if self.bus_name:
            return f"event bus {self.bus_name}"
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


def _put_entry(destination: Destination, body: str) -> dict[str, str]:
    """A PutEvents entry: the body as the detail, its event type as the detail-type."""
    event_type, _ = event_type_and_group(body)
    return {
        "EventBusName": str(destination.bus_name),
        "Source": PRODUCER_SOURCE,
        "DetailType": event_type if event_type and event_type.strip() else DEFAULT_EVENT_TYPE,
        "Detail": body,
    }


def put_batch(
    destination: Destination, bodies: list[str], events: EventsClient | None
) -> tuple[list[str | None], dict[int, str]]:
    """Put up to 10 bodies on the bus in one PutEvents: each event's id (None where refused), and
    the refused ones by index, with EventBridge's ErrorCode (a detail that is not a JSON object is
    refused: ``MalformedDetail``). The others are put whatever happens to the refused ones."""
    if events is None:
        raise ValueError("putting events on a bus needs an EventBridge client")
    if len(bodies) > BATCH:
        raise ValueError(f"a batch holds at most {BATCH} events")
    response = events.put_events(Entries=[_put_entry(destination, body) for body in bodies])
    ids: list[str | None] = []
    refused: dict[int, str] = {}
    for index, entry in enumerate(response.get("Entries", [])):
        ids.append(entry.get("EventId"))
        if entry.get("ErrorCode"):
            refused[index] = f"{entry['ErrorCode']}: {entry.get('ErrorMessage', '')}".rstrip(": ")
    return ids, refused


def _put_events(destination: Destination, bodies: list[str], events: EventsClient | None) -> list[str | None]:
    """Put the bodies on the bus; each event's id. Raises ``RuntimeError`` naming every refused entry."""
    ids, refused = put_batch(destination, bodies, events)
    if refused:
        failed = [f"{index}: {reason}" for index, reason in refused.items()]
        raise RuntimeError(f"{destination.describe()} refused events: {'; '.join(failed)}")
    return ids


def send(
    destination: Destination,
    body: str,
    *,
    sqs: SQSClient,
    sns: SNSClient | None = None,
    events: EventsClient | None = None,
) -> str:
    """Send one event; its message id (its event id on a bus)."""
    if destination.bus_name is not None:
        return str(_put_events(destination, [body], events)[0])
    if destination.topic_arn is not None:
        if sns is None:
            raise ValueError("sending to a topic needs an SNS client")
        response = sns.publish(TopicArn=destination.topic_arn, Message=body, **_addressing(destination, body))
        return str(response["MessageId"])
    assert destination.queue_url is not None  # noqa: S101 - __post_init__ guarantees one of the two
    response_ = sqs.send_message(QueueUrl=destination.queue_url, MessageBody=body, **_addressing(destination, body))
    return str(response_["MessageId"])


def send_batch(
    destination: Destination,
    bodies: list[str],
    *,
    sqs: SQSClient,
    sns: SNSClient | None = None,
    events: EventsClient | None = None,
) -> list[str | None]:
    """Send up to 10 events in one request; each one's message id, or None where it was refused.

    Raises ``RuntimeError`` naming the refusals, so no event is dropped silently.
    """
    if len(bodies) > BATCH:
        raise ValueError(f"a batch holds at most {BATCH} events")
    if destination.bus_name is not None:
        return _put_events(destination, bodies, events)
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


def find_destination(sqs: SQSClient, sns: SNSClient | None, events: EventsClient | None = None) -> Destination:
    """The stack's ingress bus when it has one, else its topic, else its queue (FIFO or standard);
    ``LookupError`` if none."""
    if events is not None:
        from botocore.exceptions import ClientError

        try:
            events.describe_event_bus(Name=BUS_NAME)
            return Destination(bus_name=BUS_NAME)
        except ClientError as exc:  # no such bus; or, on AWS, no right to look: a stack without one, then
            if exc.response.get("Error", {}).get("Code") not in ("ResourceNotFoundException", "AccessDeniedException"):
                raise
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
