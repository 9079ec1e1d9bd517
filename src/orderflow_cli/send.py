"""`orderflow send` and `orderflow cancel`: order events put on the stack's bus, topic or queue, as a producer does."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from orderflow_cli.aws import LOCAL_ENDPOINT, TABLE_NAME, CliError, Target, translate
from orderflow_cli.common import EndpointOption, console, fail

#: The tutorial's sample order, shipped with the package (tests/events holds the same, without a customerEmail).
SEED_ORDER = Path(__file__).resolve().parent / "samples" / "seed_order.json"

QueueUrlOption = Annotated[
    str | None,
    typer.Option(help="Send to this queue (default: the stack's ingress bus, else its topic, else its queue)."),
]
TopicArnOption = Annotated[str | None, typer.Option(help="Publish to this SNS topic (default: found as above).")]
BusOption = Annotated[
    str | None, typer.Option("--event-bus-name", help="Put events on this EventBridge bus (default: found as above).")
]


def send(
    source: Annotated[
        str | None,
        typer.Argument(
            help="A file of one event, a JSON array of events (one message each), or '-' for stdin. "
            "Default: the seed's sample order."
        ),
    ] = None,
    endpoint_url: EndpointOption = LOCAL_ENDPOINT,
    queue_url: QueueUrlOption = None,
    topic_arn: TopicArnOption = None,
    bus_name: BusOption = None,
) -> None:
    """Send events to the stack, bodies exactly as given, as a producer does.

    An event is an OrderCreated (an order, with or without "eventType": "OrderCreated") or an
    OrderCancelled ({"eventType": "OrderCancelled", "orderId", "createdAt", "cancelledAt",
    "reason"}). Anything else is sent too, and the pipeline rejects it to the DLQ with its reason.

    A JSON array is always split: each element is one message, its body the element's text as
    written, whatever it is ([{...}, 1, "x", null] is four messages, the last three rejected to
    the DLQ). To send an array as one body, wrap it in another: [[1, 2]]. Anything that is not a
    JSON array (an object, a number, text that is not JSON) is one message, sent exactly as read.

    It puts events on the OrderIngress bus when the stack has one (-c ingress=eventbridge: the
    detail-type is the body's eventType, and the bus refuses a body that is not a JSON object,
    as EventBridge does: that one is reported, not sent). Else it publishes to the OrderEvents
    topic when the stack has one (-c fanout=true), else sends to the queue; each event carries
    an eventType message attribute, and on a FIFO stack its orderId as the message group
    (-c fifo=true: the same body sent twice within 5 minutes is delivered once, as SQS
    deduplicates a FIFO queue's messages by content).
    """
    target = Target(endpoint_url)
    try:
        bodies = _bodies(source)
    except OSError as exc:
        raise fail(f"cannot read {source}: {exc.strerror}") from None
    if not bodies:
        raise fail(f"{'stdin' if source == '-' else source} is an empty JSON array: there is no event to send")
    sent = 0
    try:
        destination = target.destination(queue_url=queue_url, topic_arn=topic_arn, bus_name=bus_name)
        via = f" via topic {destination.topic_arn.rsplit(':', 1)[-1]}" if destination.topic_arn else ""
        via = f" via event bus {destination.bus_name}" if destination.bus_name else via
        sqs, sns, events = target.sqs(), target.sns(), target.events()
        for body in bodies:
            message_id = _send_one(target, destination, body, sqs=sqs, sns=sns, events=events)
            sent += 1
            console.print(f"sent {message_id} ({len(body.encode())} bytes){via}")
    except CliError as exc:
        if sent:  # the ones sent are printed above: say which are not
            raise fail(
                f"{exc}: the first {sent} of the {len(bodies)} events were sent (printed above), "
                f"the other {len(bodies) - sent} were not"
            ) from None
        raise fail(str(exc)) from None


def _send_one(target: Target, destination: Any, body: str, *, sqs: Any, sns: Any, events: Any = None) -> str:
    from orderflow_local.ops import producer

    def send_it() -> str:
        try:
            return producer.send(destination, body, sqs=sqs, sns=sns, events=events)
        except RuntimeError as exc:  # the bus refused the entry (a detail that is not a JSON object)
            raise CliError(str(exc)) from None

    return translate(send_it, target, "send")


def _bodies(source: str | None) -> list[str]:
    """The messages to send: a JSON array's elements (each as written), else the text as read."""
    if source is None:
        return [SEED_ORDER.read_text()]
    text = sys.stdin.read() if source == "-" else Path(source).read_text()
    try:
        parsed = json.loads(text)
    except ValueError:
        return [text]  # sent as is: the pipeline will reject it with its reason
    if isinstance(parsed, list):
        return _elements(text)
    return [text]


def _elements(text: str) -> list[str]:
    """The text of each element of the JSON array ``text`` (valid JSON), exactly as written there:
    a number keeps its digits (149.990, 1e2), a string its escapes."""
    decoder = json.JSONDecoder()
    position = _skip_space(text, 0) + 1  # past the "["
    elements: list[str] = []
    position = _skip_space(text, position)
    if text[position] == "]":
        return elements
    while True:
        _, end = decoder.raw_decode(text, position)
        elements.append(text[position:end])
        position = _skip_space(text, end)
        if text[position] == "]":
            return elements
        position = _skip_space(text, position + 1)  # past the ","


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\n\r":
        position += 1
    return position


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
    bus_name: BusOption = None,
    table_name: Annotated[str, typer.Option(help="The orders table, to look CREATED_AT up.")] = TABLE_NAME,
    wait: Annotated[
        float,
        typer.Option(
            min=0,
            help="When CREATED_AT is looked up: wait up to this many seconds for the order to be stored. The "
            "function reads the queue with a 5 s batching window, so an order sent just now is not stored yet.",
        ),
    ] = 0.0,
) -> None:
    """Send an OrderCancelled for an order.

    The cancellation applies whether the order is already stored or not: one that arrives
    before its order is recorded and waits for it (see README, "The state of an order").
    Without CREATED_AT, the order must be stored to look it up: right after `orderflow send`,
    add --wait 15.
    """
    from datetime import UTC, datetime

    from orderflow.domain.errors import PermanentError
    from orderflow.domain.events.cancelled import ORDER_CANCELLED
    from orderflow.domain.parsing import validate

    if not reason.strip():
        raise fail("give the cancellation's reason with --reason TEXT", 2)
    target = Target(endpoint_url)
    try:
        created_at = created_at or _created_at_of(target, order_id, table_name, wait=wait)
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
        destination = target.destination(queue_url=queue_url, topic_arn=topic_arn, bus_name=bus_name)
        message_id = _send_one(target, destination, raw, sqs=target.sqs(), sns=target.sns(), events=target.events())
    except CliError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:  # while waiting for the order: nothing was sent
        raise fail("interrupted: no cancellation sent", 130) from None
    console.print(f"sent {message_id}: cancel {order_id} created at {created_at}")


def _created_at_of(target: Target, order_id: str, table_name: str, *, wait: float = 0.0) -> str:
    """The order's createdAt, read from the table; waits up to ``wait`` seconds for it to be stored."""
    import time

    dynamodb = target.dynamodb()

    def read() -> list[str]:
        items = translate(
            lambda: dynamodb.query(
                TableName=table_name,
                KeyConditionExpression="orderId = :id",
                ExpressionAttributeValues={":id": {"S": order_id}},
                ProjectionExpression="createdAt",
                ConsistentRead=True,
            )["Items"],
            target,
            table_name,
        )
        return sorted(item["createdAt"]["S"] for item in items)

    deadline = time.monotonic() + wait
    found = read()
    while not found and time.monotonic() < deadline:
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        found = read()
    if len(found) == 1:
        return found[0]
    if not found:
        if wait:
            raise CliError(
                f"no order {order_id} in {table_name} after waiting {wait:g} s to look its createdAt up: "
                "pass CREATED_AT as sent with the order (a cancellation may arrive before its order)"
            )
        raise CliError(
            f"no order {order_id} in {table_name} yet to look its createdAt up: sent just now, it may still be on "
            "its way (the function reads the queue with a 5 s batching window). Retry, add --wait 15, or pass "
            "CREATED_AT as sent with the order (a cancellation may arrive before its order)"
        )
    raise CliError(f"order {order_id} has {len(found)} versions ({', '.join(found)}): pass CREATED_AT to pick one")
