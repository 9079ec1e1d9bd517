"""The stack's topologies run locally from their templates: -c fifo=true, -c fanout=true, both.

Each test synthesizes its variant (as `orderflow up -c ...` does) and sends as producers do
(orderflow_local.ops.producer): through the topic when there is one, with the orderId as the
FIFO message group.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from orderflow_local.ops import producer
from orderflow_local.stack import LocalStack, StackOptions
from tests.support import body, cancellation, seed_order, wait_until

if TYPE_CHECKING:
    from tests.synth import Synthesized

pytestmark = pytest.mark.timeout(300)

# The same contexts as the infra tests' variants, so each is synthesized once per run (tests/synth.py).
VARIANTS = {
    "fifo": {"stage": "dev", "fifo": "true"},
    "fanout": {"stage": "dev", "fanout": "true"},
    "fifo-fanout": {"stage": "dev", "fifo": "true", "fanout": "true"},
}


def _status(stack: LocalStack, order: dict[str, Any]) -> str | None:
    key = {"orderId": {"S": order["orderId"]}, "createdAt": {"S": order["createdAt"]}}
    item = stack.emulator.dynamodb().get_item(TableName="Orders", Key=key).get("Item")
    return item["status"]["S"] if item else None


def _payment_status(stack: LocalStack, order: dict[str, Any]) -> str | None:
    key = {"orderId": {"S": order["orderId"]}, "createdAt": {"S": order["createdAt"]}}
    item = stack.emulator.dynamodb().get_item(TableName="Payments", Key=key).get("Item")
    return item["status"]["S"] if item else None


def _notifications(stack: LocalStack, order: dict[str, Any]) -> list[tuple[str, str]]:
    """The Notifier's claims for the order: (kind, status), one per event it e-mailed about."""
    items = stack.emulator.dynamodb().query(
        TableName="Notifications",
        KeyConditionExpression="orderId = :o",
        ExpressionAttributeValues={":o": {"S": order["orderId"]}},
        ConsistentRead=True,
    )["Items"]
    return sorted((item["kind"]["S"], item["status"]["S"]) for item in items)


def _drain(stack: LocalStack, url: str) -> list[dict[str, Any]]:
    sqs, found = stack.emulator.sqs(), []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], AttributeNames=["All"], WaitTimeSeconds=1
    ).get("Messages", []):
        found.extend(batch)
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_create_and_its_cancel_end_cancelled_through_the_variant(
    variant: str, tmp_path: Path, synthesized: Synthesized
) -> None:
    context = VARIANTS[variant]
    fifo, fanout = "fifo" in context, "fanout" in context
    with LocalStack(
        StackOptions(port=0, template=synthesized(context), batching_window=1, log_path=tmp_path / "fn.log")
    ) as stack:
        outputs = stack.outputs
        sqs, sns = stack.emulator.sqs(), stack.emulator.sns()
        destination = producer.find_destination(sqs, sns)
        suffix = ".fifo" if fifo else ""
        # the template drove what exists: the FIFO queues, the topic and its subscriptions
        assert outputs["QueueUrl"].endswith(f"/OrderCreatedQueue{suffix}")
        assert outputs["DLQUrl"].endswith(f"/OrderCreatedDLQ{suffix}")
        if fanout:
            assert destination.topic_arn == outputs["TopicArn"]
            assert outputs["TopicArn"].endswith(f":OrderEvents{suffix}")
        else:
            assert destination.queue_url == outputs["QueueUrl"]
            assert "TopicArn" not in outputs

        order = seed_order(orderId=f"ORD-{variant.upper()}-1", customerEmail="ana@customers.example")
        producer.send_batch(destination, [body(order), json.dumps(cancellation(order))], sqs=sqs, sns=sns)
        wait_until(lambda: _status(stack, order) == "CANCELLED", "the order cancelled", 60)

        # the notification service, in every topology, e-mails the cancellation it takes from the bus
        wait_until(lambda: ("cancellation", "SENT") in _notifications(stack, order), "the cancellation e-mailed", 60)
        assert "NotificationsQueueUrl" not in outputs  # the fan-out's notifications queue is gone
        if fanout:
            # the topic's one subscription: the order queue, raw
            [subscription] = sns.list_subscriptions_by_topic(TopicArn=outputs["TopicArn"])["Subscriptions"]
            assert subscription["Endpoint"].endswith(f":OrderCreatedQueue{suffix}")
            attributes = sns.get_subscription_attributes(SubscriptionArn=subscription["SubscriptionArn"])
            assert attributes["Attributes"]["RawMessageDelivery"] == "true"
        assert _drain(stack, outputs["DLQUrl"]) == []
        assert _drain(stack, outputs["NotificationDLQUrl"]) == []


def test_a_fifo_topic_delivers_a_duplicate_once_and_keeps_each_orders_events_in_order(
    tmp_path: Path, synthesized: Synthesized
) -> None:
    with LocalStack(
        StackOptions(
            port=0, template=synthesized(VARIANTS["fifo-fanout"]), batching_window=1, log_path=tmp_path / "fn.log"
        )
    ) as stack:
        outputs, sns = stack.outputs, stack.emulator.sns()
        orders = [seed_order(orderId=f"ORD-ORDERED-{n}") for n in range(3)]
        sent = []
        for order in orders:  # each order's create then cancel, interleaved across orders
            sent.append(body(order))
            sent.append(json.dumps(cancellation(order)))
        first = [
            sns.publish(TopicArn=outputs["TopicArn"], Message=text, MessageGroupId=json.loads(text)["orderId"])
            for text in sent
        ]
        # the same event again (content-based deduplication): accepted, answered with the first id, not delivered
        again = sns.publish(TopicArn=outputs["TopicArn"], Message=sent[0], MessageGroupId=orders[0]["orderId"])
        assert again["MessageId"] == first[0]["MessageId"]
        for order in orders:
            wait_until(lambda order=order: _status(stack, order) == "CANCELLED", "every order cancelled", 60)
        # and the payment service, which gets each order's OrderConfirmed and OrderCancelled from the bus
        # through a standard queue, in either order, leaves none charged: voided first, or refunded
        for order in orders:
            wait_until(
                lambda order=order: _payment_status(stack, order) in {"VOIDED", "REFUNDED"}, "each payment settled", 60
            )
        assert stack.payment_provider is not None
        ledger = stack.payment_provider.ledger().by_order()
        for order in orders:
            money = ledger.get(order["orderId"])
            assert money is None or (money.charges, money.net) == (1, 0), money
    log = (tmp_path / "fn.log").read_text().splitlines()  # both functions' lines
    handled = [json.loads(line) for line in log if '"order_id"' in line]
    for order in orders:  # in its group's order: stored, then cancelled; never a tombstone first
        events = [
            line["event_type"]
            for line in handled
            if line.get("order_id") == order["orderId"] and line.get("function_name") == "OrderProcessor"
        ]
        assert events == ["OrderCreated", "OrderCancelled"], events


def test_the_aws_cli_publishes_to_the_fifo_topic(tmp_path: Path, synthesized: Synthesized) -> None:
    with LocalStack(
        StackOptions(
            port=0, template=synthesized(VARIANTS["fifo-fanout"]), batching_window=1, log_path=tmp_path / "fn.log"
        )
    ) as stack:
        order = seed_order(orderId="ORD-AWS-CLI-1")
        event = tmp_path / "order.json"
        event.write_text(body(order))
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        result = subprocess.run(
            [str(Path(sys.executable).parent / "aws"), "--endpoint-url", stack.endpoint, "--output", "json",
             "sns", "publish", "--topic-arn", stack.outputs["TopicArn"], "--message-group-id", order["orderId"],
             "--message", f"file://{event}"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["MessageId"]
        wait_until(lambda: _status(stack, order) == "CONFIRMED", "the order stored", 60)


def test_send_and_cancel_commands_publish_to_the_topic(tmp_path: Path, synthesized: Synthesized) -> None:
    from typer.testing import CliRunner

    from orderflow_cli.main import app

    with LocalStack(
        StackOptions(port=0, template=synthesized(VARIANTS["fanout"]), batching_window=1, log_path=tmp_path / "fn.log")
    ) as stack:
        runner = CliRunner()
        endpoint = ["--endpoint-url", stack.endpoint]
        sent = runner.invoke(app, ["send", *endpoint])
        assert sent.exit_code == 0, sent.output
        assert "via topic OrderEvents" in sent.output
        order = seed_order()  # what `orderflow send` sends by default
        wait_until(lambda: _status(stack, order) == "CONFIRMED", "the sample order stored", 60)
        cancelled = runner.invoke(app, ["cancel", order["orderId"], "--reason", "Changed my mind", *endpoint])
        assert cancelled.exit_code == 0, cancelled.output
        wait_until(lambda: _status(stack, order) == "CANCELLED", "the order cancelled", 60)
        key = {"orderId": {"S": order["orderId"]}, "createdAt": {"S": order["createdAt"]}}
        stored = stack.emulator.dynamodb().get_item(TableName="Orders", Key=key)["Item"]
        assert stored["cancellationReason"]["S"] == "Changed my mind"


def test_commands_say_so_when_the_endpoint_has_no_stack(emulator: Any) -> None:
    """An emulator with nothing deployed: no bus, no queue, no topic, under any topology's names."""
    from typer.testing import CliRunner

    from orderflow_cli.main import app

    runner = CliRunner()
    endpoint = ["--endpoint-url", emulator.endpoint]
    sent = runner.invoke(app, ["send", *endpoint])
    assert sent.exit_code == 1
    assert "found no OrderIngress bus, no OrderEvents topic and no OrderCreatedQueue" in sent.output
    listed = runner.invoke(app, ["dlq", "list", *endpoint])
    assert listed.exit_code == 1
    assert "neither OrderCreatedDLQ nor OrderCreatedDLQ.fifo exists" in listed.output
