"""PaymentProcessor's handler in-process: Powertools (batch, Idempotency, Parameters) over the real
adapters, against emulated AWS (moto) and the embedded payment provider over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Any

import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from typer.testing import CliRunner

from orderflow import payment_handler
from orderflow.composition import PaymentSettings, build_payment_runtime
from orderflow.handler import lambda_handler as order_handler
from orderflow_cli.main import app
from orderflow_local.payments import PaymentProvider, ProviderFaults
from tests.payments_support import order_event
from tests.support import FakeLambdaContext, body, seed_order, sqs_record

if TYPE_CHECKING:
    from collections.abc import Iterator

    from orderflow_local.payments.api import Request
    from tests.functional.conftest import EmulatedAws

API_KEY = "sk_test_functional"


class PaymentContext(FakeLambdaContext):
    function_name = "PaymentProcessor"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:PaymentProcessor"


class Payments:
    """The payment service's resources in moto, the provider, and what reached the bus."""

    def __init__(self, aws: EmulatedAws, provider: PaymentProvider, subscriber: str, dlq_url: str) -> None:
        self.aws, self.provider, self.subscriber, self.dlq_url = aws, provider, subscriber, dlq_url

    def handle(self, *events: dict[str, Any]) -> list[str]:
        """One invocation with these events as SQS records; the message ids it reports as failed."""
        records = [sqs_record(json.dumps(event), message_id=f"m{index}") for index, event in enumerate(events)]
        answer = payment_handler.lambda_handler({"Records": records}, PaymentContext())
        return [failure["itemIdentifier"] for failure in answer["batchItemFailures"]]

    def published(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while messages := self.aws.sqs.receive_message(QueueUrl=self.subscriber, MaxNumberOfMessages=10).get(
            "Messages"
        ):
            for message in messages:
                found.append(json.loads(message["Body"]))
                self.aws.sqs.delete_message(QueueUrl=self.subscriber, ReceiptHandle=message["ReceiptHandle"])
        return found

    def dead_letters(self) -> list[dict[str, Any]]:
        return self.aws.sqs.receive_message(  # type: ignore[no-any-return]
            QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])

    def charges(self, order_id: str) -> int:
        found = self.provider.ledger().by_order().get(order_id)
        return found.charges if found else 0


@pytest.fixture
def payments(aws: EmulatedAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Payments]:
    import boto3

    dynamodb, sqs = aws.dynamodb, aws.sqs
    events = boto3.client("events", region_name="us-east-1")
    for name, keys in (("Payments", ["orderId", "createdAt"]), ("PaymentIdempotency", ["id"])):
        dynamodb.create_table(
            TableName=name,
            KeySchema=[
                {"AttributeName": key, "KeyType": kind} for key, kind in zip(keys, ["HASH", "RANGE"], strict=False)
            ],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in keys],
            BillingMode="PAY_PER_REQUEST",
        )
    dlq_url = sqs.create_queue(QueueName="PaymentDLQ")["QueueUrl"]
    subscriber = sqs.create_queue(QueueName="subscriber")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=subscriber, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.create_event_bus(Name="OrderDomainEvents")
    events.put_rule(Name="all", EventBusName="OrderDomainEvents", EventPattern='{"source": ["orderflow.payments"]}')
    events.put_targets(Rule="all", EventBusName="OrderDomainEvents", Targets=[{"Id": "s", "Arn": arn}])
    secret = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="provider-key", SecretString=API_KEY
    )["ARN"]
    parameters.clear_caches()  # Powertools Parameters caches per process: this test's secret, fetched anew
    with PaymentProvider(API_KEY) as provider:
        settings = PaymentSettings.from_env({
            "PAYMENTS_TABLE": "Payments", "IDEMPOTENCY_TABLE": "PaymentIdempotency", "DLQ_URL": dlq_url,
            "EVENT_BUS_NAME": "OrderDomainEvents", "PAYMENT_API_URL": provider.url, "PAYMENT_API_KEY_SECRET": secret,
        })  # fmt: skip
        runtime = build_payment_runtime(settings, dynamodb=dynamodb, sqs=sqs, events=events)
        monkeypatch.setattr(payment_handler, "_runtime", lambda: runtime)
        yield Payments(aws, provider, subscriber, dlq_url)
    parameters.clear_caches()


def _event(detail_type: str, order_id: str, **changes: Any) -> dict[str, Any]:
    return order_event(detail_type, order_id=order_id, **changes).model_dump(mode="json", by_alias=True)


def test_orders_are_charged_through_the_provider_with_the_key_from_secrets_manager(payments: Payments) -> None:
    assert payments.handle(_event("OrderConfirmed", "F-1"), _event("OrderConfirmed", "F-2")) == []

    assert (payments.charges("F-1"), payments.charges("F-2")) == (1, 1)
    published = payments.published()
    assert sorted((event["detail-type"], event["detail"]["orderId"]) for event in published) == [
        ("PaymentCaptured", "F-1"),
        ("PaymentCaptured", "F-2"),
    ]
    assert {event["source"] for event in published} == {"orderflow.payments"}


def test_a_redelivered_event_is_answered_by_powertools_without_reaching_the_provider(payments: Payments) -> None:
    seen: list[str] = []
    payments.provider.api.before_execute = lambda request: seen.append(request.path)
    payments.handle(_event("OrderConfirmed", "F-3"))
    payments.published()

    assert payments.handle(_event("OrderConfirmed", "F-3")) == []

    assert seen == ["/v1/charges"]  # the repeat never reached the provider
    assert payments.published() == []  # nor the service: Powertools returned the first answer
    assert payments.charges("F-3") == 1


def test_the_same_event_id_with_another_detail_is_a_dead_letter_never_a_second_charge(payments: Payments) -> None:
    payments.handle(_event("OrderConfirmed", "F-4"))

    assert payments.handle(_event("OrderConfirmed", "F-4", total="1.00")) == []

    [letter] = payments.dead_letters()
    assert letter["MessageAttributes"]["errorCode"]["StringValue"] == "PAYLOAD_MISMATCH"
    assert payments.charges("F-4") == 1


def test_an_event_in_progress_elsewhere_is_retried_not_dead_lettered(payments: Payments) -> None:
    entered, release = threading.Event(), threading.Event()

    def hold(_request: Request) -> None:
        entered.set()
        release.wait(10)

    payments.provider.api.before_execute = hold
    first: list[list[str]] = []
    thread = threading.Thread(target=lambda: first.append(payments.handle(_event("OrderConfirmed", "F-5"))))
    thread.start()
    assert entered.wait(10)
    try:
        assert payments.handle(_event("OrderConfirmed", "F-5")) == ["m0"]  # retried later by SQS
    finally:
        release.set()
        thread.join(10)
    assert first == [[]]
    assert payments.dead_letters() == []
    assert payments.charges("F-5") == 1


def test_what_is_not_an_order_event_goes_to_the_dlq_with_why(payments: Payments) -> None:
    assert payments.handle({"detail-type": "OrderConfirmed", "source": "orderflow.orders", "id": "x"}) == []
    [letter] = payments.dead_letters()
    assert letter["MessageAttributes"]["errorCode"]["StringValue"] == "INVALID_ORDER_EVENT"
    assert "detail" in letter["MessageAttributes"]["errorReason"]["StringValue"]


def test_a_redriven_payment_event_rejected_again_keeps_its_redrive_count(payments: Payments) -> None:
    record = sqs_record(json.dumps({"detail-type": "OrderConfirmed", "source": "orderflow.orders", "id": "x"}))
    record["messageAttributes"]["redriveCount"] = {"stringValue": "2", "dataType": "Number"}

    answer = payment_handler.lambda_handler({"Records": [record]}, PaymentContext())

    assert answer["batchItemFailures"] == []
    [letter] = payments.dead_letters()
    assert letter["MessageAttributes"]["redriveCount"]["StringValue"] == "2"
    assert letter["MessageAttributes"]["errorCode"]["StringValue"] == "INVALID_ORDER_EVENT"


def test_lost_responses_are_retried_and_the_provider_s_replay_is_recorded_once(payments: Payments) -> None:
    payments.provider.set_faults(ProviderFaults(rate=1.0, seed=1, kinds=("response_lost",)))
    # every attempt's response lost: the provider looks down, so the invocation fails (FunctionErrors) and SQS
    # retries the batch
    with pytest.raises(BatchProcessingError):
        payments.handle(_event("OrderConfirmed", "F-6"))
    assert payments.charges("F-6") == 1  # charged on the first attempt, never again

    payments.provider.set_faults(None)
    assert payments.handle(_event("OrderConfirmed", "F-6")) == []

    assert payments.charges("F-6") == 1
    assert [event["detail-type"] for event in payments.published()] == ["PaymentCaptured"]


def test_orders_get_shows_whether_the_order_was_charged(payments: Payments) -> None:
    order = seed_order(orderId="F-7")
    assert order_handler({"Records": [sqs_record(body(order))]}, FakeLambdaContext())["batchItemFailures"] == []
    payments.handle(_event("OrderConfirmed", "F-7", created_at=order["createdAt"]))
    payments.handle(_event("OrderCancelled", "F-7", created_at=order["createdAt"]))

    result = CliRunner().invoke(app, ["orders", "get", "F-7", "--endpoint-url", "aws"], prog_name="orderflow")

    assert result.exit_code == 0, result.output
    [shown] = json.loads(result.stdout)
    assert shown["payment"]["status"] == "REFUNDED"
    assert shown["payment"]["chargeId"].startswith("ch_")
    assert shown["payment"]["refundId"].startswith("re_")
    unpaid = seed_order(orderId="F-8")
    order_handler({"Records": [sqs_record(body(unpaid))]}, FakeLambdaContext())
    result = CliRunner().invoke(app, ["orders", "get", "F-8", "--endpoint-url", "aws"], prog_name="orderflow")
    assert json.loads(result.stdout)[0]["payment"] is None


def test_an_unexpected_failure_is_retried_and_logged_with_its_message_id(
    payments: Payments, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """So that a letter SQS moves after its receives ran out still has its reason in the logs."""
    runtime = payment_handler._runtime()

    def broken(_request: Any) -> Any:
        raise RuntimeError("the gateway's bug")

    monkeypatch.setattr(runtime.service.gateway, "charge", broken)
    with pytest.raises(BatchProcessingError):  # its only record failed: SQS retries the batch
        payments.handle(_event("OrderConfirmed", "F-10"))  # one record: handled in this thread

    [failed] = [record for record in caplog.records if record.getMessage() == "Unexpected failure, SQS will retry"]
    assert failed.levelname == "WARNING"
    assert failed.error == "RuntimeError: the gateway's bug"  # type: ignore[attr-defined]
    # the line carries the record's message id (Powertools' keys of the thread that ran it), as
    # FunctionLogReader finds a letter's reason
    formatted = json.loads(payment_handler.logger.registered_formatter.format(failed))
    assert formatted["message_id"] == "m0"
    assert payments.dead_letters() == []


def test_a_rejected_event_the_dlq_cannot_take_stays_on_the_queue_with_its_reason_logged(
    payments: Payments, caplog: pytest.LogCaptureFixture
) -> None:
    """When SendMessage to the DLQ fails, the record is a batch item failure (SQS keeps it and retries),
    and the reason is logged, so that a letter SQS moves later still has it."""
    payments.aws.sqs.delete_queue(QueueUrl=payments.dlq_url)  # SendMessage now fails: the queue is gone

    with pytest.raises(BatchProcessingError):  # its only record failed: SQS retries the batch
        payments.handle({"detail-type": "OrderConfirmed", "source": "orderflow.orders", "id": "x"})

    [failed] = [record for record in caplog.records if record.getMessage().startswith("SQS SendMessage to the DLQ")]
    assert failed.levelname == "ERROR"
    assert failed.error_code == "INVALID_ORDER_EVENT"  # type: ignore[attr-defined]
    assert "detail" in failed.reason  # type: ignore[attr-defined]
    formatted = json.loads(payment_handler.logger.registered_formatter.format(failed))
    assert formatted["message_id"] == "m0"
    assert payments.charges("x") == 0


_INIT_PROBE = """
import importlib, sys
handler = importlib.import_module(sys.argv[1])
print(handler._build_runtime.cache_info().currsize)
"""
_FUNCTION_ENVIRONMENT = {
    "PAYMENTS_TABLE": "Payments", "IDEMPOTENCY_TABLE": "PaymentIdempotency", "EVENT_BUS_NAME": "OrderEvents",
    "DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/PaymentDLQ",
    "PAYMENT_API_URL": "https://payments.invalid", "PAYMENT_API_KEY_SECRET": "orderflow/payment-provider-api-key",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
}  # fmt: skip


_ORDER_ENVIRONMENT = {
    "TABLE_NAME": "Orders", "DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/OrderCreatedDLQ",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
}  # fmt: skip


@pytest.mark.parametrize(
    ("module", "environment", "built"),
    [
        # a function: at INIT
        ("orderflow.payment_handler", {**_FUNCTION_ENVIRONMENT, "AWS_LAMBDA_FUNCTION_NAME": "PaymentProcessor"}, 1),
        ("orderflow.handler", {**_ORDER_ENVIRONMENT, "AWS_LAMBDA_FUNCTION_NAME": "OrderProcessor"}, 1),
        # imported by a test or a tool: on first use
        ("orderflow.payment_handler", _FUNCTION_ENVIRONMENT, 0),
        ("orderflow.handler", _ORDER_ENVIRONMENT, 0),
        # unconfigured: still loads (its first invocation says what is missing)
        ("orderflow.payment_handler", {"AWS_LAMBDA_FUNCTION_NAME": "PaymentProcessor", "AWS_DEFAULT_REGION": "x"}, 0),
        ("orderflow.handler", {"AWS_LAMBDA_FUNCTION_NAME": "OrderProcessor", "AWS_DEFAULT_REGION": "us-east-1"}, 0),
    ],
)
def test_a_function_builds_its_clients_at_init_and_an_unconfigured_one_still_loads(
    module: str, environment: dict[str, str], built: int
) -> None:
    keep = {name: value for name, value in os.environ.items() if name in {"PATH", "HOME", "PYTHONPATH"}}
    loaded = subprocess.run(
        [sys.executable, "-c", _INIT_PROBE, module], env={**keep, **environment}, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip

    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == [str(built)]
