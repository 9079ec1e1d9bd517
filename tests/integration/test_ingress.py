"""The EventBridge ingress end to end (-c ingress=eventbridge): producers put events on OrderIngress,
its rules route OrderCreated and OrderCancelled to a queue and a function each, and the order's
OrderConfirmed leaves on the order events bus. Producers are the AWS CLI and `orderflow send`/`cancel`.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from orderflow_cli.main import app
from orderflow_local.stack import LocalStack, StackOptions
from tests.support import ORDER_SERVICE, aws_cli, body, cancellation, seed_order, wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = [pytest.mark.timeout(240), pytest.mark.xdist_group("test_ingress")]


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    options = StackOptions(
        port=0, context={"ingress": "eventbridge"}, batching_window=1, ttl_sweep_interval=3600,
        functions=(*ORDER_SERVICE, "OrderCancellationProcessor"),
    )  # fmt: skip
    with LocalStack(options) as running:
        yield running


def _aws(stack: LocalStack, *args: str) -> dict[str, Any]:
    return aws_cli(stack.endpoint, *args)


def _stored(stack: LocalStack, order: dict[str, Any], status: str) -> dict[str, Any]:
    dynamodb = stack.emulator.dynamodb()
    key = {"orderId": {"S": order["orderId"]}, "createdAt": {"S": order["createdAt"]}}

    def found() -> dict[str, Any] | None:
        item = dynamodb.get_item(TableName=stack.outputs["TableName"], Key=key, ConsistentRead=True).get("Item")
        return item if item and item["status"]["S"] == status else None

    return wait_until(found, f"{order['orderId']} {status}", timeout=60)  # type: ignore[no-any-return]


def _subscribe(stack: LocalStack) -> str:
    """A queue that receives the order events bus's OrderConfirmed, by a rule made with the AWS CLI."""
    name = f"ingress-subscriber-{uuid.uuid4().hex[:8]}"
    queue_url = _aws(stack, "sqs", "create-queue", "--queue-name", name)["QueueUrl"]
    arn = _aws(stack, "sqs", "get-queue-attributes", "--queue-url", queue_url, "--attribute-names", "QueueArn")
    bus = stack.outputs["OrderEventsBusName"]
    pattern = json.dumps({"detail-type": ["OrderConfirmed"]})
    _aws(stack, "events", "put-rule", "--name", name, "--event-bus-name", bus, "--event-pattern", pattern)
    targets = json.dumps([{"Id": "subscriber", "Arn": arn["Attributes"]["QueueArn"]}])
    _aws(stack, "events", "put-targets", "--rule", name, "--event-bus-name", bus, "--targets", targets)
    return str(queue_url)


def _events_for(stack: LocalStack, queue_url: str, order_id: str) -> list[dict[str, Any]]:
    sqs = stack.emulator.sqs()
    found: list[dict[str, Any]] = []

    def arrived() -> bool:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            event = json.loads(message["Body"])
            if event["detail"]["orderId"] == order_id:
                found.append(event)
        return bool(found)

    wait_until(arrived, f"the OrderConfirmed of {order_id}", timeout=60)
    return found


def test_put_events_with_the_aws_cli_stores_the_order_and_publishes_its_confirmation(stack: LocalStack) -> None:
    subscriber = _subscribe(stack)
    order = seed_order(orderId=f"ORD-EB-{uuid.uuid4().hex[:8]}")
    entry = {
        "EventBusName": stack.outputs["IngressBusName"],
        "Source": "shop.checkout",
        "DetailType": "OrderCreated",
        "Detail": body(order),
    }
    answer = _aws(stack, "events", "put-events", "--entries", json.dumps([entry]))
    assert answer["FailedEntryCount"] == 0
    item = _stored(stack, order, "CONFIRMED")
    assert item["customerId"]["S"] == order["customerId"]
    [event] = _events_for(stack, subscriber, order["orderId"])
    assert event["source"] == "orderflow.orders"
    assert event["detail"]["eventId"] == f"{order['orderId']}#{order['createdAt']}#1"


def test_each_event_type_is_handled_by_its_own_function(stack: LocalStack) -> None:
    order = seed_order(orderId=f"ORD-EB-{uuid.uuid4().hex[:8]}")
    events = stack.emulator.events()
    bus = stack.outputs["IngressBusName"]
    put = events.put_events(
        Entries=[
            {"EventBusName": bus, "Source": "shop", "DetailType": "OrderCreated", "Detail": body(order)},
            {
                "EventBusName": bus,
                "Source": "shop",
                "DetailType": "OrderCancelled",
                "Detail": body(cancellation(order, reason="changed my mind")),
            },
        ]
    )
    assert put["FailedEntryCount"] == 0
    item = _stored(stack, order, "CANCELLED")  # whichever function ran first, the lifecycle ends cancelled
    assert item["cancellationReason"]["S"] == "changed my mind"
    invoked = {mapping.config.queue_url.rsplit("/", 1)[-1]: mapping.stats.invocations for mapping in stack.mappings}
    assert invoked["OrderCreatedQueue"] >= 1
    assert invoked["OrderCancelledQueue"] >= 1
    logs = stack.emulator.logs()
    for function in ("OrderProcessor", "OrderCancellationProcessor"):  # each has its own log group, written
        group = f"/aws/lambda/{function}"
        wait_until(lambda group=group: logs.describe_log_streams(logGroupName=group)["logStreams"], group, timeout=30)
    # and `orderflow logs FUNCTION` reads the cancellation function's own lines
    printed = CliRunner().invoke(app, ["logs", "OrderCancellationProcessor", "--endpoint-url", stack.endpoint])
    assert printed.exit_code == 0, printed.output
    assert order["orderId"] in printed.output
    both = CliRunner().invoke(app, ["logs", "OrderProcessor", "--log-group", "/aws/lambda/X"])
    assert both.exit_code == 2
    assert "give FUNCTION or --log-group, not both" in both.output


def test_an_event_no_rule_routes_lands_whole_in_the_ingress_dlq(stack: LocalStack) -> None:
    events = stack.emulator.events()
    detail = {"orderId": f"ORD-EB-{uuid.uuid4().hex[:8]}"}
    put = events.put_events(
        Entries=[
            {
                "EventBusName": stack.outputs["IngressBusName"],
                "Source": "shop",
                "DetailType": "OrderShipped",
                "Detail": json.dumps(detail),
            }
        ]
    )
    assert put["FailedEntryCount"] == 0
    sqs = stack.emulator.sqs()

    def dead() -> dict[str, Any] | None:
        for message in sqs.receive_message(QueueUrl=stack.outputs["IngressDLQUrl"], MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            event = json.loads(message["Body"])
            if event.get("detail") == detail:
                return event  # type: ignore[no-any-return]
        return None

    event = wait_until(dead, "the unrouted event in OrderIngressDLQ", timeout=30)
    assert event["detail-type"] == "OrderShipped"


def test_orderflow_send_and_cancel_put_events_on_the_bus(stack: LocalStack, tmp_path: Path) -> None:
    order = seed_order(orderId=f"ORD-EB-{uuid.uuid4().hex[:8]}")
    path = tmp_path / "order.json"
    path.write_text(body(order))
    runner = CliRunner()
    sent = runner.invoke(app, ["send", str(path), "--endpoint-url", stack.endpoint])
    assert sent.exit_code == 0, sent.output
    assert "via event bus OrderIngress" in sent.output
    _stored(stack, order, "CONFIRMED")
    cancelled = runner.invoke(
        app, ["cancel", order["orderId"], "--reason", "duplicate order", "--endpoint-url", stack.endpoint]
    )
    assert cancelled.exit_code == 0, cancelled.output
    _stored(stack, order, "CANCELLED")
    # a body that is not a JSON object: the bus refuses it, and the producer is told, in one line
    path.write_text("not json at all")
    refused = runner.invoke(app, ["send", str(path), "--endpoint-url", stack.endpoint])
    assert refused.exit_code == 1
    assert "event bus OrderIngress refused events: 0: MalformedDetail" in refused.output
    assert "Traceback" not in refused.output


def test_each_function_runs_as_its_own_role_which_reaches_only_its_own_queues(stack: LocalStack) -> None:
    from botocore.exceptions import ClientError

    roles = {function: stack.roles[function] for function in ("OrderProcessor", "OrderCancellationProcessor")}
    assert roles["OrderProcessor"] != roles["OrderCancellationProcessor"]
    session = stack.emulator.assume_role(roles["OrderCancellationProcessor"], session_name="probe").session()
    sqs = session.client("sqs", endpoint_url=stack.endpoint)
    # granted: its own DLQ (the handler's rejections)
    sqs.send_message(QueueUrl=stack.outputs["CancellationDLQUrl"], MessageBody="a rejected cancellation")
    # refused: the other consumer's DLQ, as on AWS
    with pytest.raises(ClientError) as refused:
        sqs.send_message(QueueUrl=stack.outputs["DLQUrl"], MessageBody="x")
    assert refused.value.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException")
    assert "sqs:SendMessage" in str(refused.value)
    sqs_admin = stack.emulator.sqs()  # leave the cancellations' DLQ as the other tests expect it
    sqs_admin.purge_queue(QueueUrl=stack.outputs["CancellationDLQUrl"])
