"""Tailing the domain events on an event bus as they are published, on AWS and locally alike.

EventBridge has no API that reads events from a bus, past or live: an event exists only for
the rules that match it when it is put. So a tail subscribes, as AWS users do: it creates a
temporary SQS queue (``orderflow-tail-<random>``), a rule on the bus matching the order
service's events (``source: orderflow.orders``, and the detail-types asked for) whose target
is the queue, and long-polls the queue; when it stops, whatever stops it (the caller, an
exception, Ctrl-C), it removes the target, the rule and the queue, in that order. Events put
before the rule exists are not seen: past events are the archive's, replayed with StartReplay
(docs/operations.md).

- The queue lets EventBridge send to it with a queue policy: principal ``events.amazonaws.com``,
  ``sqs:SendMessage``, conditioned on the rule's ARN (``aws:SourceArn``):
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sqs-permissions
- It is encrypted with SQS-managed keys (SSE-SQS), which need no KMS grant for EventBridge:
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-server-side-encryption.html
- A rule's targets are removed before the rule is deleted (DeleteRule refuses a rule that has some):
  https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_DeleteRule.html
- A new rule matches events only after a short while on AWS ("allow a short period of time for
  changes to take effect"): https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html
- Long polling (``WaitTimeSeconds`` up to 20) answers as soon as a message arrives:
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-short-and-long-polling.html

Neither EventBridge nor a standard queue promises order: events are shown as they arrive, and
each carries its order's ``version`` (docs/events.md). Clients are passed in, so the same code
runs against the local stack, moto in process and AWS.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Iterator, Sequence

    from mypy_boto3_sqs import SQSClient

#: The bus the order service publishes to (the stack's ``OrderEventsBusName`` output).
DEFAULT_BUS = "OrderDomainEvents"
#: The ``source`` of the order service's domain events.
SOURCE = "orderflow.orders"
#: The temporary queue and rule are named this, then 8 random hex digits.
NAME_PREFIX = "orderflow-tail-"
TARGET_ID = "orderflow-tail-queue"
#: SQS's longest long poll: an idle tail makes 3 calls a minute.
WAIT_SECONDS = 20
#: What a left-behind queue keeps: an hour (SQS's floor is 60 s), so a forgotten one fills with nothing old.
RETENTION_SECONDS = 3600
#: How many event ids are remembered to drop a message SQS delivers twice (at least once).
SEEN_IDS = 10_000


class BusNotFoundError(LookupError):
    """The event bus does not exist where the clients point."""

    def __init__(self, bus: str) -> None:
        super().__init__(bus)
        self.bus = bus


class TargetRefusedError(RuntimeError):
    """PutTargets refused the queue as the rule's target (it says so in its answer, not as an error)."""


@dataclass(frozen=True)
class Leftover:
    """Something the tail created and could not remove: what it is, and the AWS CLI command that removes it."""

    what: str
    command: str


@dataclass
class Subscription:
    """The temporary queue and rule on ``bus``, as far as they were created (a field is empty until then)."""

    bus: str
    name: str
    pattern: dict[str, list[str]]
    queue_url: str = ""
    queue_arn: str = ""
    rule_arn: str = ""
    has_target: bool = False


def event_pattern(detail_types: Sequence[str] = ()) -> dict[str, list[str]]:
    """The rule's pattern: the order service's events, only ``detail_types`` when some are given."""
    pattern = {"source": [SOURCE]}
    if detail_types:
        pattern["detail-type"] = list(dict.fromkeys(detail_types))
    return pattern


def queue_policy(queue_arn: str, rule_arn: str) -> dict[str, Any]:
    """The queue policy that lets the rule, and only it, send to the queue."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OrderflowTailRule",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            }
        ],
    }


def check_bus(events: Any, bus: str) -> None:
    """Raise :class:`BusNotFoundError` when ``bus`` (a name or an ARN) does not exist."""
    from botocore.exceptions import ClientError

    try:
        events.describe_event_bus(Name=bus)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise BusNotFoundError(bus) from None
        raise


def subscribe(events: Any, sqs: SQSClient, subscription: Subscription) -> None:
    """Create the queue, the rule and its target, recording each in ``subscription`` as it is made,
    so that :func:`unsubscribe` removes what exists whatever stopped this half-way."""
    name = subscription.name
    subscription.queue_url = sqs.create_queue(
        QueueName=name,
        Attributes={"SqsManagedSseEnabled": "true", "MessageRetentionPeriod": str(RETENTION_SECONDS)},
    )["QueueUrl"]
    subscription.queue_arn = sqs.get_queue_attributes(QueueUrl=subscription.queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    subscription.rule_arn = events.put_rule(
        Name=name,
        EventBusName=subscription.bus,
        EventPattern=json.dumps(subscription.pattern),
        State="ENABLED",
        Description="orderflow events tail: temporary, deleted when the tail stops",
    )["RuleArn"]
    sqs.set_queue_attributes(
        QueueUrl=subscription.queue_url,
        Attributes={"Policy": json.dumps(queue_policy(subscription.queue_arn, subscription.rule_arn))},
    )
    failed = events.put_targets(
        Rule=name, EventBusName=subscription.bus, Targets=[{"Id": TARGET_ID, "Arn": subscription.queue_arn}]
    ).get("FailedEntries")
    subscription.has_target = not failed
    if failed:
        raise TargetRefusedError(
            f"PutTargets refused the queue as the rule's target: {failed[0].get('ErrorCode', '')} "
            f"{failed[0].get('ErrorMessage', '')}".strip()
        )


def unsubscribe(
    events: Any,
    sqs: SQSClient,
    subscription: Subscription,
    on_leftovers: Callable[[list[Leftover]], None] = lambda left: None,
) -> list[Leftover]:
    """Remove the target, the rule and the queue (what of them exists); what could not be removed,
    also told to ``on_leftovers`` when there is any.

    Every step is tried even when one before it failed. A KeyboardInterrupt (a second Ctrl-C)
    during a step leaves that step's resource behind, counts it as left, lets the other steps
    run, and is raised again once ``on_leftovers`` has heard.
    """
    bus, name = subscription.bus, subscription.name
    steps: list[tuple[Callable[[], object], Leftover]] = []
    if subscription.has_target:
        steps.append(
            (
                lambda: events.remove_targets(Rule=name, EventBusName=bus, Ids=[TARGET_ID]),
                Leftover(
                    f"the target of rule {name} on bus {bus}",
                    f"aws events remove-targets --event-bus-name {bus} --rule {name} --ids {TARGET_ID}",
                ),
            )
        )
    if subscription.rule_arn:
        steps.append(
            (
                lambda: events.delete_rule(Name=name, EventBusName=bus),
                Leftover(f"rule {name} on bus {bus}", f"aws events delete-rule --event-bus-name {bus} --name {name}"),
            )
        )
    if subscription.queue_url:
        url = subscription.queue_url
        steps.append(
            (
                lambda: sqs.delete_queue(QueueUrl=url),
                Leftover(f"queue {url}", f"aws sqs delete-queue --queue-url {url}"),
            )
        )
    left: list[Leftover] = []
    interrupt: KeyboardInterrupt | None = None
    for step, leftover in steps:
        try:
            step()
        except KeyboardInterrupt as exc:
            interrupt = exc
            left.append(leftover)
        except Exception:  # noqa: BLE001 - a failed removal is reported with its command, not raised
            left.append(leftover)
    if left:
        on_leftovers(left)
    if interrupt is not None:
        raise interrupt
    return left


@contextmanager
def subscription_to(
    events: Any,
    sqs: SQSClient,
    *,
    bus: str = DEFAULT_BUS,
    detail_types: Sequence[str] = (),
    on_leftovers: Callable[[list[Leftover]], None] = lambda left: None,
) -> Iterator[Subscription]:
    """A temporary queue subscribed to ``bus``, removed on the way out whatever the way out is;
    ``on_leftovers`` hears what could not be removed (before an exception goes on)."""
    check_bus(events, bus)
    subscription = Subscription(bus=bus, name=NAME_PREFIX + secrets.token_hex(4), pattern=event_pattern(detail_types))
    try:
        subscribe(events, sqs, subscription)
        yield subscription
    finally:
        unsubscribe(events, sqs, subscription, on_leftovers)


def receive(sqs: SQSClient, queue_url: str, *, wait_seconds: int) -> list[tuple[str, dict[str, Any]]]:
    """One long poll of the queue: each message's receipt handle and its event (EventBridge's envelope:
    id, time, detail-type, source, detail, ...). A body that is not a JSON object is kept as ``{"body": text}``."""
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds).get(
        "Messages", []
    )
    received = []
    for message in messages:
        try:
            event = json.loads(message["Body"])
        except ValueError:
            event = None
        received.append((message["ReceiptHandle"], event if isinstance(event, dict) else {"body": message["Body"]}))
    return received


def tail(
    events: Any,
    sqs: SQSClient,
    *,
    on_event: Callable[[dict[str, Any]], None],
    bus: str = DEFAULT_BUS,
    detail_types: Sequence[str] = (),
    stop: threading.Event | None = None,
    max_events: int | None = None,
    timeout: float | None = None,
    wait_seconds: int = WAIT_SECONDS,
    on_ready: Callable[[Subscription], None] = lambda subscription: None,
    on_leftovers: Callable[[list[Leftover]], None] = lambda left: None,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Call ``on_event`` with each event published on ``bus`` from now on, as it arrives; how many.

    It runs until ``stop`` is set (seen within ``wait_seconds``), ``max_events`` were shown,
    ``timeout`` seconds have passed, or an exception (Ctrl-C's too) ends it; then it removes
    what it created (:func:`subscription_to`). ``on_ready`` is called once the rule and its
    target exist: events put after that are shown. Raises :class:`BusNotFoundError`, before
    creating anything, when the bus does not exist. An event is deleted from the queue after
    ``on_event`` returns; one SQS delivers again is shown once.
    """
    deadline = None if timeout is None else clock() + timeout
    shown = 0
    seen: OrderedDict[str, None] = OrderedDict()

    def more() -> bool:
        if stop is not None and stop.is_set():
            return False
        if max_events is not None and shown >= max_events:
            return False
        return deadline is None or clock() < deadline

    with subscription_to(events, sqs, bus=bus, detail_types=detail_types, on_leftovers=on_leftovers) as subscription:
        on_ready(subscription)
        while more():
            wait = wait_seconds if deadline is None else min(wait_seconds, math.ceil(deadline - clock()))
            for receipt, event in receive(sqs, subscription.queue_url, wait_seconds=max(0, wait)):
                event_id = str(event.get("id", ""))
                if max_events is not None and shown >= max_events:
                    break  # the rest stay in the queue, which goes with it
                if not event_id or event_id not in seen:
                    on_event(event)
                    shown += 1
                    if event_id:
                        seen[event_id] = None
                        if len(seen) > SEEN_IDS:
                            seen.popitem(last=False)
                sqs.delete_message(QueueUrl=subscription.queue_url, ReceiptHandle=receipt)
    return shown
