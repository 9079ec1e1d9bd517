"""The payment service on the local stack: orders in, charges and refunds in the embedded provider's
ledger, payment events on the bus; and the cases Powertools Idempotency alone cannot cover."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from orderflow_local.payments import OrderPayments
from orderflow_local.stack import LocalStack, StackOptions
from tests.support import body, cancellation, seed_order, wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.synth import Synthesized

pytestmark = pytest.mark.timeout(300)


def _order(order_id: str, *, customer: str = "CUST-42") -> dict[str, Any]:
    return seed_order(orderId=order_id, customerId=customer)


def _subscribe(stack: LocalStack, source: str) -> str:
    """A queue receiving every event of ``source`` on the order events bus, through a rule of its own."""
    sqs, events = stack.emulator.sqs(), stack.emulator.events()
    name = f"sub-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = stack.outputs["OrderEventsBusName"]
    events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "t", "Arn": arn}])
    return str(url)


def _received(stack: LocalStack, url: str, order_id: str, timeout: float = 90) -> list[dict[str, Any]]:
    """The events about ``order_id`` that reach ``url``, once at least one has."""
    got: list[dict[str, Any]] = []

    def arrived() -> bool:
        for message in stack.emulator.sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            event = json.loads(message["Body"])
            if event["detail"].get("orderId") == order_id:
                got.append(event)
        return bool(got)

    wait_until(arrived, f"an event about {order_id} on {url}", timeout)
    return got


def _ledger(stack: LocalStack, order_id: str) -> OrderPayments:
    """The order's money in the provider's ledger: charged, refunded (minor units), counts, keys."""
    assert stack.payment_provider is not None
    return stack.payment_provider.ledger().by_order().get(order_id, OrderPayments(order_id))


def _send(stack: LocalStack, *events: dict[str, Any]) -> None:
    for event in events:
        stack.emulator.sqs().send_message(QueueUrl=stack.outputs["QueueUrl"], MessageBody=body(event))


@pytest.fixture(scope="module")
def running(synthesized: Synthesized, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    log = tmp_path_factory.mktemp("payments") / "functions.log"
    options = StackOptions(
        port=0, template=synthesized({"stage": "dev"}), batching_window=1, log_path=log,
        function_environment={"RETRY_DELAYS": "1,1,2"}, ttl_sweep_interval=3600,
    )  # fmt: skip
    with LocalStack(options) as stack:
        yield stack


def test_a_confirmed_order_is_charged_once_and_its_capture_published(running: LocalStack) -> None:
    stack = running
    subscriber = _subscribe(stack, "orderflow.payments")
    _send(stack, _order("PAY-1"), _order("PAY-1"))  # a duplicate from the producer: one order, one charge

    [captured] = _received(stack, subscriber, "PAY-1")
    assert captured["detail-type"] == "PaymentCaptured"
    assert captured["detail"]["orderId"] == "PAY-1"
    assert (captured["detail"]["amount"], captured["detail"]["currency"]) == ("149.99", "USD")
    payments = _ledger(stack, "PAY-1")
    assert (payments.charged, payments.refunded, payments.charges) == (14999, 0, 1)
    assert payments.keys == ("orderflow:PAY-1#2026-04-20T14:30:00Z:charge",)
    item = stack.emulator.dynamodb().get_item(
        TableName="Payments", Key={"orderId": {"S": "PAY-1"}, "createdAt": {"S": "2026-04-20T14:30:00Z"}}
    )["Item"]
    assert item["status"]["S"] == "CAPTURED"
    assert item["chargeId"]["S"] == captured["detail"]["chargeId"]


def test_a_cancellation_refunds_the_charge_once_and_one_before_the_order_means_no_charge(running: LocalStack) -> None:
    stack = running
    _send(stack, _order("PAY-2"))
    wait_until(lambda: _ledger(stack, "PAY-2").charged == 14999, "PAY-2 charged", 90)
    _send(stack, cancellation(_order("PAY-2")), cancellation(_order("PAY-3")))  # PAY-3: cancelled first
    wait_until(lambda: _ledger(stack, "PAY-2").refunded == 14999, "PAY-2 refunded", 90)
    _send(stack, _order("PAY-3"))

    def voided() -> bool:
        item = (
            stack.emulator.dynamodb()
            .get_item(TableName="Payments", Key={"orderId": {"S": "PAY-3"}, "createdAt": {"S": "2026-04-20T14:30:00Z"}})
            .get("Item")
        )
        return bool(item) and item["status"]["S"] == "VOIDED"

    wait_until(voided, "PAY-3's payment voided", 90)
    assert _ledger(stack, "PAY-2").net == 0
    assert _ledger(stack, "PAY-2").refunds == 1
    assert _ledger(stack, "PAY-3").charges == 0


def test_a_test_customer_s_decline_is_recorded_and_published_never_charged(running: LocalStack) -> None:
    stack = running
    subscriber = _subscribe(stack, "orderflow.payments")
    _send(stack, _order("PAY-4", customer="decline-CUST-9"))
    declined = _received(stack, subscriber, "PAY-4")
    assert declined[0]["detail-type"] == "PaymentDeclined"
    assert declined[0]["detail"]["declineCode"] == "generic_decline"
    assert _ledger(stack, "PAY-4").charged == 0


def _redeliver(stack: LocalStack, order_id: str) -> None:
    """Put the order's OrderConfirmed on the payment queue again, as EventBridge or SQS redelivers it."""
    item = stack.emulator.dynamodb().get_item(
        TableName="Orders", Key={"orderId": {"S": order_id}, "createdAt": {"S": "2026-04-20T14:30:00Z"}}
    )["Item"]
    event = {
        "version": "0", "id": "redelivered", "source": "orderflow.orders", "detail-type": "OrderConfirmed",
        "detail": {"eventId": f"{order_id}#2026-04-20T14:30:00Z#1", "orderId": order_id,
                   "createdAt": "2026-04-20T14:30:00Z", "customerId": item["customerId"]["S"],
                   "status": "CONFIRMED", "totalAmount": item["totalAmount"]["N"], "currency": "USD",
                   "version": "1", "occurredAt": item["statusChangedAt"]["S"]},
    }  # fmt: skip
    stack.emulator.sqs().send_message(QueueUrl=stack.outputs["PaymentQueueUrl"], MessageBody=json.dumps(event))


def test_with_powertools_record_and_the_payment_gone_the_provider_s_key_still_charges_once(
    running: LocalStack,
) -> None:
    """The case Powertools alone cannot cover: its record expired or deleted, and here the payment's own
    item too (the worst case: as if the function had timed out after the charge, before recording it)."""
    stack = running
    _send(stack, _order("PAY-5"))
    wait_until(lambda: _ledger(stack, "PAY-5").charged == 14999, "PAY-5 charged", 90)
    dynamodb = stack.emulator.dynamodb()
    key = {"orderId": {"S": "PAY-5"}, "createdAt": {"S": "2026-04-20T14:30:00Z"}}
    wait_until(lambda: "Item" in dynamodb.get_item(TableName="Payments", Key=key), "PAY-5 recorded", 30)
    for record in dynamodb.scan(TableName="PaymentIdempotency")["Items"]:
        dynamodb.delete_item(TableName="PaymentIdempotency", Key={"id": record["id"]})
    dynamodb.delete_item(TableName="Payments", Key=key)

    _redeliver(stack, "PAY-5")

    def recorded_again() -> bool:
        item = dynamodb.get_item(TableName="Payments", Key=key).get("Item")
        return bool(item) and item["status"]["S"] == "CAPTURED"

    wait_until(recorded_again, "PAY-5's payment recorded again from the provider's replay", 90)
    assert _ledger(stack, "PAY-5").charges == 1  # the provider replayed its answer to the same key


def test_payment_processor_reads_its_secret_and_nothing_of_the_order_service(running: LocalStack) -> None:
    stack = running
    assert stack.deployed is not None
    function = next(f for f in stack.deployed.spec.functions.values() if f.name == "PaymentProcessor")
    role = stack.deployed.role_of(function)
    assert role is not None
    credentials = stack.emulator.assume_role(role, session_name="PaymentProcessor")
    secrets = stack.emulator.client("secretsmanager", credentials)
    environment = stack.deployed.function_environment(function)
    key = secrets.get_secret_value(SecretId=environment["PAYMENT_API_KEY_SECRET"])["SecretString"]
    assert stack.deployed.secret_value(environment["PAYMENT_API_KEY_SECRET"]) == key
    stack.emulator.client("secretsmanager").create_secret(Name="someone-elses", SecretString="x")
    with pytest.raises(ClientError, match="AccessDenied"):
        secrets.get_secret_value(SecretId="someone-elses")
    with pytest.raises(ClientError, match="AccessDenied"):
        stack.emulator.client("dynamodb", credentials).get_item(
            TableName="Orders", Key={"orderId": {"S": "PAY-1"}, "createdAt": {"S": "x"}}
        )
    assert environment["PAYMENT_API_URL"] == stack.payment_provider.url if stack.payment_provider else False


def test_under_provider_faults_every_order_is_charged_exactly_once(synthesized: Synthesized, tmp_path: Path) -> None:
    options = StackOptions(
        port=0, template=synthesized({"stage": "dev"}), batching_window=1, log_path=tmp_path / "f.log",
        function_environment={"RETRY_DELAYS": "1,1,2"}, ttl_sweep_interval=3600,
        provider_chaos_rate=0.4, provider_chaos_seed=3,
    )  # fmt: skip
    orders = [_order(f"PAY-F{index}") for index in range(12)]
    with LocalStack(options) as stack:
        assert stack.payment_provider is not None
        _send(stack, *orders)
        wait_until(
            lambda: all(_ledger(stack, order["orderId"]).charges for order in orders), "every order charged", 180
        )
        faults = stack.payment_provider.faults()
        ledger = stack.payment_provider.ledger().by_order()
    assert sum(faults.values()) > 0
    for order in orders:
        assert ledger[order["orderId"]].charges == 1, order["orderId"]


def test_from_an_order_the_aws_cli_sends_to_its_charge_in_orderflow_payments_list(
    running: LocalStack, tmp_path: Path
) -> None:
    """The way a developer drives it: the AWS CLI sends the order, `orderflow orders get` shows it paid, and
    `orderflow payments list --json` shows the provider's charge with the order's key."""
    from typer.testing import CliRunner

    from orderflow_cli.main import app
    from tests.support import aws_cli

    stack = running
    order = _order("PAY-CLI")
    path = tmp_path / "order.json"
    path.write_text(body(order))
    aws_cli(stack.endpoint, "sqs", "send-message", "--queue-url", stack.outputs["QueueUrl"],
            "--message-body", f"file://{path}")  # fmt: skip

    def paid() -> dict[str, Any] | None:
        shown = CliRunner().invoke(app, ["orders", "get", "PAY-CLI", "--endpoint-url", stack.endpoint])
        if shown.exit_code != 0:
            return None
        payment = json.loads(shown.stdout)[0]["payment"]
        return payment if payment and payment["status"] == "CAPTURED" else None

    payment = wait_until(paid, "PAY-CLI shown as paid by orderflow orders get", 90)
    assert stack.payment_provider is not None
    listed = CliRunner().invoke(
        app, ["payments", "list", "--json", "--order", "PAY-CLI", "--provider-url", stack.payment_provider.url]
    )
    assert listed.exit_code == 0, listed.output
    [charge] = json.loads(listed.stdout)["charges"]
    assert charge["id"] == payment["chargeId"]
    assert charge["amount"] == 14999
    assert charge["idempotency_key"] == "orderflow:PAY-CLI#2026-04-20T14:30:00Z:charge"
