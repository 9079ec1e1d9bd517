"""`orderflow send` and `orderflow cancel`: order events put on the stack's topic or queue, as a producer does."""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer

from orderflow_cli.aws import LOCAL_ENDPOINT, TABLE_NAME, CliError, Target, translate
from orderflow_cli.common import EndpointOption, console, fail

#: The tutorial's sample order, shipped with the package (tests/events holds the same file).
SEED_ORDER = Path(__file__).resolve().parent / "samples" / "seed_order.json"

QueueUrlOption = Annotated[
    str | None, typer.Option(help="Send to this queue (default: the stack's topic if it has one, else its queue).")
]
TopicArnOption = Annotated[str | None, typer.Option(help="Publish to this SNS topic (default: found as above).")]


def send(
    source: Annotated[
        str | None,
        typer.Argument(
            help="A file of one event, a JSON array of events, or '-' for stdin. Default: the seed's sample order."
        ),
    ] = None,
    endpoint_url: EndpointOption = LOCAL_ENDPOINT,
    queue_url: QueueUrlOption = None,
    topic_arn: TopicArnOption = None,
) -> None:
    """Send events to the stack, bodies exactly as given, as a producer does.

    An event is an OrderCreated (an order, with or without "eventType": "OrderCreated") or an
    OrderCancelled ({"eventType": "OrderCancelled", "orderId", "createdAt", "cancelledAt",
    "reason"}). Anything else is sent too, and the pipeline rejects it to the DLQ with its reason.

    It publishes to the OrderEvents topic when the stack has one (-c fanout=true), else sends
    to the queue; each event carries an eventType message attribute, and on a FIFO stack its
    orderId as the message group.
    """
    target = Target(endpoint_url)
    try:
        bodies = _bodies(source)
    except OSError as exc:
        raise fail(f"cannot read {source}: {exc.strerror}") from None
    try:
        destination = target.destination(queue_url=queue_url, topic_arn=topic_arn)
        via = f" via topic {destination.topic_arn.rsplit(':', 1)[-1]}" if destination.topic_arn else ""
        sqs, sns = target.sqs(), target.sns()
        for body in bodies:
            message_id = _send_one(target, destination, body, sqs=sqs, sns=sns)
            console.print(f"sent {message_id} ({len(body.encode())} bytes){via}")
    except CliError as exc:
        raise fail(str(exc)) from None


def _send_one(target: Target, destination: Any, body: str, *, sqs: Any, sns: Any) -> str:
    from orderflow_local.ops import producer

    return translate(partial(producer.send, destination, body, sqs=sqs, sns=sns), target, "send")


def _bodies(source: str | None) -> list[str]:
    if source is None:
        return [SEED_ORDER.read_text()]
    text = sys.stdin.read() if source == "-" else Path(source).read_text()
    try:
        parsed = json.loads(text)
    except ValueError:
        return [text]  # sent as is: the pipeline will reject it with its reason
    if isinstance(parsed, list) and parsed and all(isinstance(item, dict) for item in parsed):
        return [json.dumps(item) for item in parsed]
    return [text]


def cancel(
    order_id: Annotated[str, typer.Argument(help="The order's id.")],
    created_at: Annotated[
        str | None,
        typer.Argument(help="Its createdAt (the table's sort key). Omit it to look it up in the table."),
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why the order is cancelled (required).")] = "",
    cancelled_at: Annotated[
        str | None, typer.Option(help="When it was cancelled, ISO 8601 with a zone (default: now, UTC).")
    ] = None,
    endpoint_url: EndpointOption = LOCAL_ENDPOINT,
    queue_url: QueueUrlOption = None,
    topic_arn: TopicArnOption = None,
    table_name: Annotated[str, typer.Option(help="The orders table, to look CREATED_AT up.")] = TABLE_NAME,
) -> None:
    """Send an OrderCancelled for an order.

    The cancellation applies whether the order is already stored or not: one that arrives
    before its order is recorded and waits for it (see README, "The state of an order").
    """
    from datetime import UTC, datetime

    from orderflow.domain.errors import PermanentError
    from orderflow.domain.events.cancelled import ORDER_CANCELLED
    from orderflow.domain.parsing import validate

    if not reason.strip():
        raise fail("give the cancellation's reason with --reason TEXT", 2)
    target = Target(endpoint_url)
    try:
        created_at = created_at or _created_at_of(target, order_id, table_name)
        event = {
            "eventType": ORDER_CANCELLED.name,
            "orderId": order_id,
            "createdAt": created_at,
            "cancelledAt": cancelled_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "reason": reason,
        }
        try:
            validate(ORDER_CANCELLED.model, event)
        except PermanentError as error:
            raise fail(f"not a valid cancellation: {error.reason}", 2) from None
        raw = json.dumps(event)
        destination = target.destination(queue_url=queue_url, topic_arn=topic_arn)
        message_id = _send_one(target, destination, raw, sqs=target.sqs(), sns=target.sns())
    except CliError as exc:
        raise fail(str(exc)) from None
    console.print(f"sent {message_id}: cancel {order_id} created at {created_at}")


def _created_at_of(target: Target, order_id: str, table_name: str) -> str:
    dynamodb = target.dynamodb()
    items = translate(
        lambda: dynamodb.query(
            TableName=table_name,
            KeyConditionExpression="orderId = :id",
            ExpressionAttributeValues={":id": {"S": order_id}},
            ProjectionExpression="createdAt",
        )["Items"],
        target,
        table_name,
    )
    found = sorted(item["createdAt"]["S"] for item in items)
    if len(found) == 1:
        return found[0]
    if not found:
        raise CliError(
            f"no order {order_id} in {table_name} to look its createdAt up: pass CREATED_AT as sent with the order "
            "(a cancellation may arrive before its order)"
        )
    raise CliError(f"order {order_id} has {len(found)} versions ({', '.join(found)}): pass CREATED_AT to pick one")
