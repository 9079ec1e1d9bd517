"""The sample events in events/ (for `orderflow invoke`) do not rot: each is an SQS event as Lambda's
event source mapping delivers it, record for record what the local mapping builds, and its bodies
are what events/README.md says: the valid ones accepted by the function's parser, the invalid one
refused with its reasons; PaymentProcessor's and Notifier's, whole EventBridge events as their rules
deliver them, with details as their publishers write them (the order events' accepted by their schemas),
and the order the Notifier's samples are about, an item the outbox publishes nothing for.
(tests/integration/test_invoke.py runs them through the functions.)"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import SqsModel
from boto3.dynamodb.types import TypeDeserializer
from infra.notifications import CONSUMED as NOTIFIED
from infra.outbox import OUTBOX_FILTER_PATTERN
from infra.payments import CONSUMED
from jsonschema import Draft202012Validator, FormatChecker

from orderflow import notifier_handler
from orderflow.domain.errors import OrderValidationError
from orderflow.domain.events import event_type_of
from orderflow.domain.notifications.models import KINDS, NotificationKind, Order
from orderflow.domain.parsing import load_json_object, validate
from orderflow.domain.payments.models import Payment, PaymentStatus, outcome_event
from orderflow.payment_handler import parse_event
from orderflow_local.event_patterns import matches
from orderflow_local.lambda_runtime.esm import to_lambda_record

EVENTS = Path(__file__).parents[2] / "events"
#: Sample events; ``*.dynamodb.json`` are items to put in a table (DynamoDB JSON), not events.
SAMPLES = sorted(path for path in EVENTS.rglob("*.json") if not path.name.endswith(".dynamodb.json"))
PROCESSOR = EVENTS / "OrderProcessor"
PAYMENTS = EVENTS / "PaymentProcessor"
NOTIFIER = EVENTS / "Notifier"
#: The order the Notifier's samples are about, as `aws dynamodb put-item --item file://...` takes it.
NOTIFIED_ORDER = NOTIFIER / "order.dynamodb.json"
#: The Notifier's samples in the order the stack would publish their events.
NOTIFIER_SAMPLES = ("payment-captured.json", "order-cancelled.json", "payment-refunded.json")
SCHEMAS = Path(__file__).parents[2] / "schemas" / "events"
#: The template's event source mapping has a batching window (MaximumBatchingWindowInSeconds 5): with
#: one, a record of a message without attributes has md5OfMessageAttributes null, not absent.
TEMPLATE_BATCHING_WINDOW = 5
#: The queue each function reads (OrderCancellationProcessor: in the EventBridge ingress, -c ingress=eventbridge).
QUEUE_OF = {
    "OrderProcessor": "OrderCreatedQueue",
    "OrderCancellationProcessor": "OrderCancelledQueue",
    "PaymentProcessor": "PaymentQueue",
    "Notifier": "NotificationQueue",
}
#: What the rule OrderEventsToPayments sends to PaymentQueue (infra/payments.py).
PAYMENT_RULE_PATTERN = {"source": ["orderflow.orders"], "detail-type": list(CONSUMED)}
#: What the rule DomainEventsToNotifications sends to NotificationQueue (infra/notifications.py).
NOTIFICATION_RULE_PATTERN = {
    "source": list(NOTIFIED),
    "detail-type": [detail_type for detail_types in NOTIFIED.values() for detail_type in detail_types],
}
#: The keys of an EventBridge event, in the order it writes them:
#: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html
ENVELOPE = ["version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"]


def _event(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def _bodies(path: Path) -> list[dict[str, Any]]:
    return [load_json_object(record["body"]) for record in _event(path)["Records"]]


def test_there_are_the_samples_the_readme_describes() -> None:
    readme = (EVENTS / "README.md").read_text()
    assert [path.relative_to(EVENTS).as_posix() for path in SAMPLES] == [
        "Notifier/order-cancelled.json",
        "Notifier/payment-captured.json",
        "Notifier/payment-refunded.json",
        "OrderCancellationProcessor/order-cancelled.json",
        "OrderProcessor/invalid-order.json",
        "OrderProcessor/order-cancelled.json",
        "OrderProcessor/order-created.json",
        "PaymentProcessor/order-cancelled.json",
        "PaymentProcessor/order-confirmed.json",
    ]
    for path in [*SAMPLES, NOTIFIED_ORDER]:
        assert f"`{path.relative_to(EVENTS).as_posix()}`" in readme, f"events/README.md does not describe {path.name}"


@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.name)
def test_each_sample_is_an_sqs_event_as_the_handler_reads_it(path: Path) -> None:
    event = _event(path)
    parsed = SqsModel.model_validate(event)  # Powertools' model of Lambda's SQS event
    assert len(parsed.Records) == len(event["Records"]) >= 1
    ids = [record["messageId"] for record in event["Records"]]
    assert len(set(ids)) == len(ids)  # batchItemFailures name records by their id


@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.name)
def test_each_record_is_what_the_local_event_source_mapping_builds(path: Path) -> None:
    for record in _event(path)["Records"]:
        # What ReceiveMessage answers for the message the record is made from
        message: Any = {
            "MessageId": record["messageId"],
            "ReceiptHandle": record["receiptHandle"],
            "Body": record["body"],
            "MD5OfBody": hashlib.md5(record["body"].encode()).hexdigest(),  # noqa: S324 - SQS's checksum
            "Attributes": record["attributes"],
        }
        built = to_lambda_record(
            message,
            queue_arn=record["eventSourceARN"],
            region=record["awsRegion"],
            batching_window=TEMPLATE_BATCHING_WINDOW,
        )
        assert record == built
        queue = QUEUE_OF[path.parent.name]
        assert record["eventSourceARN"] == f"arn:aws:sqs:{record['awsRegion']}:123456789012:{queue}"
        assert int(record["attributes"]["ApproximateFirstReceiveTimestamp"]) >= int(
            record["attributes"]["SentTimestamp"]
        )


def test_the_created_and_cancelled_samples_are_accepted_and_address_the_same_order() -> None:
    [created] = _bodies(PROCESSOR / "order-created.json")
    [cancelled] = _bodies(PROCESSOR / "order-cancelled.json")

    order = validate(event_type_of(created).model, created)
    cancellation = validate(event_type_of(cancelled).model, cancelled)

    assert event_type_of(created).name == "OrderCreated"
    assert event_type_of(cancelled).name == "OrderCancelled"
    assert (cancellation.order_id, cancellation.created_at) == (order.order_id, order.created_at)


def test_the_cancellation_processors_sample_is_the_order_processors_from_its_own_queue() -> None:
    ours = _event(EVENTS / "OrderCancellationProcessor" / "order-cancelled.json")
    theirs = _event(PROCESSOR / "order-cancelled.json")
    for record in ours["Records"]:
        record["eventSourceARN"] = record["eventSourceARN"].replace("OrderCancelledQueue", "OrderCreatedQueue")
    assert ours == theirs  # the same cancellation: each function of the ingress takes any order event


def test_the_invalid_sample_is_refused_by_the_parser_with_its_reasons() -> None:
    [body] = _bodies(PROCESSOR / "invalid-order.json")

    with pytest.raises(OrderValidationError) as refused:
        validate(event_type_of(body).model, body)

    assert refused.value.code == "VALIDATION_FAILED"
    assert refused.value.reason == (
        "items[0].quantity: Input should be greater than or equal to 1; shippingAddress: is required"
    )
    readme = " ".join((EVENTS / "README.md").read_text().split())
    assert refused.value.reason in readme  # what the README says the handler answers


@pytest.mark.parametrize(
    ("name", "detail_type"), [("order-confirmed.json", "OrderConfirmed"), ("order-cancelled.json", "OrderCancelled")]
)
def test_each_payment_sample_is_an_order_event_as_the_rule_delivers_it(name: str, detail_type: str) -> None:
    [record] = _event(PAYMENTS / name)["Records"]
    event = json.loads(record["body"])
    # the whole EventBridge event, not its detail alone, from the order service's source
    assert list(event) == ENVELOPE
    assert (event["detail-type"], event["source"], event["version"]) == (detail_type, "orderflow.orders", "0")
    assert (event["account"], event["region"]) == ("123456789012", record["awsRegion"])
    assert matches(PAYMENT_RULE_PATTERN, event)
    # its detail as the outbox publishes it (the schema allows no other field)
    schema = json.loads((SCHEMAS / f"{detail_type}.json").read_text())
    errors = list(Draft202012Validator(schema, format_checker=FormatChecker()).iter_errors(event["detail"]))
    assert not errors, [error.message for error in errors]
    detail = event["detail"]
    assert detail["eventId"] == f"{detail['orderId']}#{detail['createdAt']}#{detail['version']}"
    # and accepted by the payment handler's parser, which keeps what a payment needs of it, unchanged
    parsed = parse_event(record["body"])
    assert {key: parsed[key] for key in ("id", "source", "detail-type")} == {
        key: event[key] for key in ("id", "source", "detail-type")
    }
    assert parsed["detail"] == {key: detail[key] for key in parsed["detail"]}
    assert parsed["detail"]["eventId"] == detail["eventId"]  # Powertools Idempotency's key


def test_the_payment_samples_are_one_orders_confirmation_then_its_cancellation() -> None:
    [confirmed] = [json.loads(record["body"]) for record in _event(PAYMENTS / "order-confirmed.json")["Records"]]
    [cancelled] = [json.loads(record["body"]) for record in _event(PAYMENTS / "order-cancelled.json")["Records"]]
    first, then = confirmed["detail"], cancelled["detail"]
    same = ("orderId", "createdAt", "customerId", "totalAmount", "currency")
    assert {key: first[key] for key in same} == {key: then[key] for key in same}
    assert (first["version"], then["version"]) == ("1", "2")
    assert first["occurredAt"] < then["occurredAt"]
    assert confirmed["id"] != cancelled["id"]  # EventBridge's own id, new for every event
    # not an order the OrderProcessor samples store: their outbox events would be these with other details
    [order] = _bodies(PROCESSOR / "order-created.json")
    assert first["orderId"] != order["orderId"]


def _notifier_sample(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    [record] = _event(NOTIFIER / name)["Records"]
    return record, json.loads(record["body"])


def _notified_order() -> dict[str, Any]:
    deserializer = TypeDeserializer()
    return {key: deserializer.deserialize(value) for key, value in json.loads(NOTIFIED_ORDER.read_text()).items()}


@pytest.mark.parametrize(
    ("name", "source", "detail_type", "kind"),
    [
        ("payment-captured.json", "orderflow.payments", "PaymentCaptured", NotificationKind.CONFIRMATION),
        ("order-cancelled.json", "orderflow.orders", "OrderCancelled", NotificationKind.CANCELLATION),
        ("payment-refunded.json", "orderflow.payments", "PaymentRefunded", NotificationKind.REFUND),
    ],
)
def test_each_notifier_sample_is_a_domain_event_as_the_rule_delivers_it(
    name: str, source: str, detail_type: str, kind: NotificationKind
) -> None:
    record, event = _notifier_sample(name)
    # the whole EventBridge event, from its publisher's source, that the rule sends to NotificationQueue
    assert list(event) == ENVELOPE
    assert (event["detail-type"], event["source"], event["version"]) == (detail_type, source, "0")
    assert (event["account"], event["region"]) == ("123456789012", record["awsRegion"])
    assert matches(NOTIFICATION_RULE_PATTERN, event)
    assert not matches(PAYMENT_RULE_PATTERN, event) or detail_type == "OrderCancelled"
    assert KINDS[(source, detail_type)] is kind
    # accepted by the Notifier's parser, which keeps the event's id and the order's key
    parsed = notifier_handler.parse_event(record["body"])
    detail = event["detail"]
    assert (parsed["detail-type"], parsed["source"], parsed["id"]) == (detail_type, source, event["id"])
    assert {key: parsed["detail"][key] for key in ("eventId", "orderId", "createdAt")} == {
        key: detail[key] for key in ("eventId", "orderId", "createdAt")
    }


def test_the_notifier_order_cancelled_sample_is_the_outboxs_event() -> None:
    _, event = _notifier_sample("order-cancelled.json")
    detail = event["detail"]
    schema = json.loads((SCHEMAS / "OrderCancelled.json").read_text())
    errors = list(Draft202012Validator(schema, format_checker=FormatChecker()).iter_errors(detail))
    assert not errors, [error.message for error in errors]
    assert detail["eventId"] == f"{detail['orderId']}#{detail['createdAt']}#{detail['version']}"


def test_the_notifier_payment_samples_are_what_the_payment_service_publishes() -> None:
    _, captured = _notifier_sample("payment-captured.json")
    _, refunded = _notifier_sample("payment-refunded.json")
    first, then = captured["detail"], refunded["detail"]
    # The payment, captured then refunded, whose events these are: their details are its outcome_event's,
    # key for key and in the order PutEvents gets them (eventId {orderId}#{createdAt}#{detail-type})
    payment = Payment(
        order_id=first["orderId"],
        created_at=first["createdAt"],
        status=PaymentStatus.CAPTURED,
        customer_id=first["customerId"],
        amount=first["amount"],
        currency=first["currency"],
        updated_at=first["occurredAt"],
        charge_id=first["chargeId"],
        charged_at=first["occurredAt"],
    )
    published = outcome_event(payment, "PaymentCaptured")
    assert (published.detail_type, list(published.detail.items())) == ("PaymentCaptured", list(first.items()))
    assert first["eventId"] == f"{first['orderId']}#{first['createdAt']}#PaymentCaptured"
    refund = replace(
        payment,
        status=PaymentStatus.REFUNDED,
        refund_id=then["refundId"],
        refunded_at=then["occurredAt"],
        updated_at=then["occurredAt"],
    )
    assert list(outcome_event(refund, "PaymentRefunded").detail.items()) == list(then.items())
    assert first["occurredAt"] < then["occurredAt"]


def test_the_notifier_samples_are_one_orders_and_about_the_order_they_name() -> None:
    details = [_notifier_sample(name)[1]["detail"] for name in NOTIFIER_SAMPLES]
    ids = [_notifier_sample(name)[1]["id"] for name in NOTIFIER_SAMPLES]
    assert len(set(ids)) == len(ids)  # EventBridge's own id, new for every event
    assert [detail["occurredAt"] for detail in details] == sorted(detail["occurredAt"] for detail in details)
    item = _notified_order()
    for detail in details:
        assert (detail["orderId"], detail["createdAt"], detail["customerId"]) == (
            item["orderId"],
            item["createdAt"],
            item["customerId"],
        )
    # the amounts are the order's total
    assert {detail.get("amount", detail.get("totalAmount")) for detail in details} == {str(item["totalAmount"])}
    # the Notifier reads it as an order with an address, lines and a total that adds up
    order = Order.from_item(item)
    assert order.email == "ana@customers.example"
    assert order.total == sum(line.amount for line in order.lines) == Decimal("89.99")
    # another order than the other samples', so that no event the stack publishes for them is one of
    # these with another detail (PAYLOAD_MISMATCH)
    [created] = _bodies(PROCESSOR / "order-created.json")
    [confirmed] = [json.loads(record["body"]) for record in _event(PAYMENTS / "order-confirmed.json")["Records"]]
    assert item["orderId"] not in {created["orderId"], confirmed["detail"]["orderId"]}


def test_putting_the_notified_order_publishes_nothing() -> None:
    """Put straight into Orders it has no domainEvent: the outbox's filter passes nothing, so the stack
    neither charges it nor e-mails it, and the samples' events are the only ones about it."""
    item = json.loads(NOTIFIED_ORDER.read_text())
    record = {
        "eventName": "INSERT",
        "dynamodb": {"Keys": {k: item[k] for k in ("orderId", "createdAt")}, "NewImage": item},
    }
    assert not matches(OUTBOX_FILTER_PATTERN, record)
    # (the filter passes the same item with the domainEvent a stored transition carries)
    with_event = {**item, "domainEvent": {"S": "OrderConfirmed"}}
    assert matches(OUTBOX_FILTER_PATTERN, {**record, "dynamodb": {**record["dynamodb"], "NewImage": with_event}})
