"""The Notifier's handler in-process: Powertools (batch, Idempotency) over the real adapters (DynamoDB,
SES v2), against emulated AWS (moto). The order is stored by the order service's own handler."""

from __future__ import annotations

import json
from email import message_from_string
from email import policy as email_policy
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber

from orderflow import notifier_handler
from orderflow.adapters.mailer import SesMailer, sesv2_client
from orderflow.adapters.notifications_store import DynamoDbNotificationStore
from orderflow.composition import NotifierSettings, build_notifier_runtime
from orderflow.domain.notifications.errors import MailOutcomeUnknownError, MailRejectedError, MailUnavailableError
from orderflow.domain.notifications.models import ClaimStatus
from orderflow.handler import lambda_handler as order_handler
from tests.notifications_support import domain_event
from tests.support import FakeLambdaContext, body, seed_order, sqs_record

if TYPE_CHECKING:
    from collections.abc import Iterator
    from email.message import EmailMessage

    from tests.functional.conftest import EmulatedAws

SENDER = "orders@shop.example"
CREATED_AT = "2026-12-07T09:00:00Z"


class NotifierContext(FakeLambdaContext):
    function_name = "Notifier"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:Notifier"


class Notifications:
    def __init__(self, aws: EmulatedAws, dlq_url: str) -> None:
        self.aws, self.dlq_url = aws, dlq_url
        self.store = DynamoDbNotificationStore("Notifications", client=aws.dynamodb)

    def place(self, order_id: str, **changes: Any) -> None:
        """Store an order through the order service's handler, as the pipeline does."""
        order = seed_order(orderId=order_id, createdAt=CREATED_AT, customerEmail="jane@example.com", **changes)
        answer = order_handler({"Records": [sqs_record(body(order))]}, FakeLambdaContext())
        assert answer["batchItemFailures"] == []

    def handle(self, *events: dict[str, Any]) -> list[str]:
        records = [sqs_record(json.dumps(event), message_id=f"m{index}") for index, event in enumerate(events)]
        answer = notifier_handler.lambda_handler({"Records": records}, NotifierContext())
        return [failure["itemIdentifier"] for failure in answer["batchItemFailures"]]

    def sent(self) -> list[EmailMessage]:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ses.models import ses_backends

        return [
            message_from_string(message.raw_data, policy=email_policy.default)  # type: ignore[misc]
            for message in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
        ]

    def dead_letters(self) -> list[dict[str, Any]]:
        return self.aws.sqs.receive_message(  # type: ignore[no-any-return]
            QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])


@pytest.fixture
def notifications(aws: EmulatedAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Notifications]:
    for name, keys in (("Notifications", ["orderId", "eventId"]), ("NotifierIdempotency", ["id"])):
        aws.dynamodb.create_table(
            TableName=name,
            KeySchema=[
                {"AttributeName": key, "KeyType": kind} for key, kind in zip(keys, ["HASH", "RANGE"], strict=False)
            ],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in keys],
            BillingMode="PAY_PER_REQUEST",
        )
    dlq_url = aws.sqs.create_queue(QueueName="NotificationDLQ")["QueueUrl"]
    sesv2 = boto3.client("sesv2", region_name="us-east-1")
    sesv2.create_email_identity(EmailIdentity=SENDER)
    settings = NotifierSettings.from_env({
        "ORDERS_TABLE": "Orders", "NOTIFICATIONS_TABLE": "Notifications", "IDEMPOTENCY_TABLE": "NotifierIdempotency",
        "DLQ_URL": dlq_url, "SENDER_EMAIL": SENDER,
    })  # fmt: skip
    runtime = build_notifier_runtime(settings, dynamodb=aws.dynamodb, sqs=aws.sqs, sesv2=sesv2)
    monkeypatch.setattr(notifier_handler, "_runtime", lambda: runtime)
    return Notifications(aws, dlq_url)


def _event(detail_type: str, order_id: str) -> dict[str, Any]:
    return domain_event(detail_type, order_id).model_dump(mode="json", by_alias=True)


def test_a_captured_payment_emails_the_customer_a_mime_message_with_both_parts(notifications: Notifications) -> None:
    notifications.place("N-1")

    assert notifications.handle(_event("PaymentCaptured", "N-1")) == []

    [message] = notifications.sent()
    assert (message["From"], message["To"]) == (SENDER, "jane@example.com")
    assert message["Subject"] == "Your order N-1 is confirmed"
    assert message["X-Orderflow-Event-Id"] == f"N-1#{CREATED_AT}#PaymentCaptured"
    assert (message["X-Orderflow-Order-Id"], message["X-Orderflow-Notification"]) == ("N-1", "confirmation")
    assert message.get_content_type() == "multipart/alternative"
    text, html = (part.get_content() for part in message.iter_parts())
    assert "1 x Mechanical Keyboard at 149.99 USD = 149.99 USD" in text
    assert "Total: 149.99 USD" in text
    assert "<table" in html
    [claim] = notifications.store.list_for_order("N-1")
    assert claim.status is ClaimStatus.SENT
    assert claim.message_id


def test_a_redelivered_event_sends_nothing_more(notifications: Notifications) -> None:
    notifications.place("N-2")
    notifications.handle(_event("PaymentCaptured", "N-2"))

    assert notifications.handle(_event("PaymentCaptured", "N-2"), _event("PaymentCaptured", "N-2")) == []

    assert len(notifications.sent()) == 1


def test_a_redelivery_after_powertools_record_is_gone_is_stopped_by_the_claim(
    notifications: Notifications, aws: EmulatedAws
) -> None:
    notifications.place("N-3")
    notifications.handle(_event("PaymentCaptured", "N-3"))
    for item in aws.dynamodb.scan(TableName="NotifierIdempotency")["Items"]:
        aws.dynamodb.delete_item(TableName="NotifierIdempotency", Key={"id": item["id"]})

    assert notifications.handle(_event("PaymentCaptured", "N-3")) == []

    assert len(notifications.sent()) == 1


def test_an_order_cancelled_then_refunded_gets_two_notes(notifications: Notifications) -> None:
    notifications.place("N-4")

    assert notifications.handle(_event("OrderCancelled", "N-4"), _event("PaymentRefunded", "N-4")) == []

    assert sorted(message["X-Orderflow-Notification"] for message in notifications.sent()) == ["cancellation",
                                                                                               "refund"]  # fmt: skip


def test_an_event_that_is_not_one_the_notifier_handles_is_dead_lettered_with_its_reason(
    notifications: Notifications,
) -> None:
    event = _event("PaymentCaptured", "N-5")
    event["detail-type"] = "PaymentDeclined"

    assert notifications.handle(event) == []

    [letter] = notifications.dead_letters()
    attributes = letter["MessageAttributes"]
    assert attributes["errorCode"]["StringValue"] == "INVALID_DOMAIN_EVENT"
    assert "detail-type" in attributes["errorReason"]["StringValue"]
    assert notifications.sent() == []


def test_an_event_type_from_the_wrong_source_is_dead_lettered_at_once_not_retried(notifications: Notifications) -> None:
    event = _event("PaymentCaptured", "N-7")
    event["source"] = "orderflow.orders"  # the order service publishes no PaymentCaptured

    assert notifications.handle(event) == []  # not a batch item failure: nothing to retry

    [letter] = notifications.dead_letters()
    assert letter["MessageAttributes"]["errorCode"]["StringValue"] == "INVALID_DOMAIN_EVENT"
    assert "PaymentCaptured from orderflow.orders" in letter["MessageAttributes"]["errorReason"]["StringValue"]


def test_an_unverified_sender_is_a_dead_letter_whose_claim_is_released_for_the_redrive(
    notifications: Notifications, aws: EmulatedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    notifications.place("N-6")
    runtime = notifier_handler._runtime()
    monkeypatch.setattr(runtime.service, "sender", "nobody@unverified.example")

    assert notifications.handle(_event("PaymentCaptured", "N-6")) == []

    [letter] = notifications.dead_letters()
    assert letter["MessageAttributes"]["errorCode"]["StringValue"] == "EMAIL_REJECTED"
    assert notifications.store.list_for_order("N-6") == []


@pytest.mark.parametrize(
    ("answer", "raised"),
    [
        ({"service_error_code": "TooManyRequestsException", "http_status_code": 429}, MailUnavailableError),
        ({"service_error_code": "InternalFailure", "http_status_code": 500}, MailUnavailableError),
        ({"service_error_code": "SendingPausedException", "http_status_code": 400}, MailUnavailableError),
        ({"service_error_code": "MessageRejected", "http_status_code": 400}, MailRejectedError),
        ({"service_error_code": "MailFromDomainNotVerifiedException", "http_status_code": 400}, MailRejectedError),
    ],
)
def test_ses_answers_map_to_retried_or_rejected(answer: dict[str, Any], raised: type[Exception]) -> None:
    from orderflow.domain.notifications.render import render
    from tests.notifications_support import an_order

    client = sesv2_client(boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"))
    email = render(domain_event("PaymentCaptured"), an_order(), "jane@example.com")
    with Stubber(client) as stubber:
        stubber.add_client_error("send_email", **answer)
        with pytest.raises(raised):
            SesMailer(client=client).send(email, SENDER)


def test_ses_not_answering_is_an_unknown_outcome_and_the_client_never_retries_by_itself() -> None:
    from orderflow.domain.notifications.render import render
    from tests.notifications_support import an_order

    client = sesv2_client(boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"))
    attempts: list[str] = []

    def time_out(**_: Any) -> None:
        attempts.append("send")
        raise ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com")

    client.meta.events.register("before-send.sesv2.SendEmail", time_out)
    email = render(domain_event("PaymentCaptured"), an_order(), "jane@example.com")

    with pytest.raises(MailOutcomeUnknownError, match="ReadTimeoutError"):
        SesMailer(client=client).send(email, SENDER)
    assert attempts == ["send"]
