"""How producers address events: type attribute, FIFO group, queue or topic."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orderflow_local.ops import producer
from orderflow_local.ops.producer import Destination


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (json.dumps({"orderId": "ORD-1", "customerId": "C"}), ("OrderCreated", "ORD-1")),
        (json.dumps({"eventType": "OrderCancelled", "orderId": "ORD-2"}), ("OrderCancelled", "ORD-2")),
        ("{not json", (None, "unidentified")),
        (json.dumps([1, 2]), (None, "unidentified")),
        (json.dumps({"orderId": 42}), ("OrderCreated", "unidentified")),
        (json.dumps({"orderId": "  "}), ("OrderCreated", "unidentified")),
        (json.dumps({"orderId": "x" * 200}), ("OrderCreated", "x" * 128)),  # SQS's limit for a group id
    ],
)
def test_event_type_and_group(body: str, expected: tuple[str | None, str]) -> None:
    assert producer.event_type_and_group(body) == expected


def test_a_destination_is_a_queue_or_a_topic() -> None:
    assert Destination(queue_url="http://x/1/OrderCreatedQueue.fifo").fifo
    assert not Destination(topic_arn="arn:aws:sns:us-east-1:1:OrderEvents").fifo
    with pytest.raises(ValueError, match="exactly one"):
        Destination()
    with pytest.raises(ValueError, match="exactly one"):
        Destination(queue_url="q", topic_arn="t")


class Recorder:
    """Stands in for the SQS and SNS clients: records each request's parameters."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def send_message(self, **kwargs: Any) -> dict[str, str]:
        self.calls.append(("send_message", kwargs))
        return {"MessageId": "m"}

    def publish(self, **kwargs: Any) -> dict[str, str]:
        self.calls.append(("publish", kwargs))
        return {"MessageId": "p"}


def test_a_fifo_topic_publish_carries_the_type_and_the_orders_group() -> None:
    sns = Recorder()
    event = {"eventType": "OrderCancelled", "orderId": "ORD-9"}
    destination = Destination(topic_arn="arn:aws:sns:us-east-1:1:OrderEvents.fifo")
    producer.send(destination, json.dumps(event), sqs=Recorder(), sns=sns)  # type: ignore[arg-type]
    [(operation, parameters)] = sns.calls
    assert operation == "publish"
    assert parameters["MessageGroupId"] == "ORD-9"
    assert parameters["MessageAttributes"] == {"eventType": {"DataType": "String", "StringValue": "OrderCancelled"}}
    assert parameters["Message"] == json.dumps(event)


def test_a_standard_queue_send_has_the_type_but_no_group() -> None:
    sqs = Recorder()
    producer.send(Destination(queue_url="http://x/1/OrderCreatedQueue"), "{not json", sqs=sqs)  # type: ignore[arg-type]
    [(operation, parameters)] = sqs.calls
    assert operation == "send_message"
    assert "MessageGroupId" not in parameters
    assert parameters["MessageAttributes"] == {}  # no type to tell: the pipeline rejects it with its reason


class RefusingQueue(Recorder):
    """A queue that refuses the second entry of a batch, as SQS reports a refused entry."""

    def send_message_batch(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("send_message_batch", kwargs))
        entries = kwargs["Entries"]
        return {
            "Successful": [{"Id": e["Id"], "MessageId": f"m-{e['Id']}"} for e in entries if e["Id"] != "1"],
            "Failed": [{"Id": "1", "SenderFault": True, "Code": "MissingParameter", "Message": "empty body"}],
        }


def test_a_batch_entry_the_queue_refuses_is_an_error_naming_it() -> None:
    """Nothing dropped silently: the caller learns which event was refused and why."""
    queue = RefusingQueue()
    destination = Destination(queue_url="http://x/1/OrderCreatedQueue.fifo")
    with pytest.raises(RuntimeError, match=r"refused events: 1: empty body"):
        producer.send_batch(destination, [json.dumps({"orderId": "ORD-1"}), ""], sqs=queue)  # type: ignore[arg-type]
    [(_, request)] = queue.calls
    assert [entry["MessageGroupId"] for entry in request["Entries"]] == ["ORD-1", "unidentified"]


def test_a_batch_holds_at_most_ten_events() -> None:
    with pytest.raises(ValueError, match="at most 10"):
        producer.send_batch(Destination(queue_url="q"), ["{}"] * 11, sqs=Recorder())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "found"),
    [("ResourceNotFoundException", "queue"), ("AccessDeniedException", "queue"), ("ThrottlingException", None)],
)
def test_the_ingress_bus_probe_falls_back_only_when_there_is_no_bus_or_no_right_to_look(
    code: str, found: str | None
) -> None:
    import boto3
    from botocore.exceptions import ClientError
    from botocore.stub import Stubber

    events = boto3.client("events", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    sqs = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(events) as bus, Stubber(sqs) as queues:
        bus.add_client_error("describe_event_bus", service_error_code=code, http_status_code=400)
        url = "https://sqs.us-east-1.amazonaws.com/123456789012/OrderCreatedQueue"
        queues.add_response("get_queue_url", {"QueueUrl": url}, {"QueueName": "OrderCreatedQueue"})
        if found is None:  # any other error is the caller's to report, not a reason to send elsewhere
            with pytest.raises(ClientError, match=code):
                producer.find_destination(sqs, None, events)
        else:
            assert producer.find_destination(sqs, None, events) == Destination(queue_url=url)
