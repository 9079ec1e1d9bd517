"""Realistic order traffic for the local pipeline, and the check that nothing was lost.

A stream mixes valid orders with what producers really send wrong: redeliveries of the
same order, bodies that are not JSON, and orders that fail validation; and cancellations,
some sent before the order they cancel. Every planned message has an expected fate;
:func:`verify` checks the table and the DLQ against it.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from orderflow_local.ops.dlq import list_dead_letters
from orderflow_local.ops.producer import Destination, put_batch, send_batch

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

PRODUCTS = [
    ("PROD-100", "Mechanical Keyboard", "149.99"),
    ("PROD-101", "Wireless Mouse", "39.50"),
    ("PROD-102", "USB-C Hub", "54.00"),
    ("PROD-103", "27-inch Monitor", "289.00"),
    ("PROD-104", "Laptop Stand", "45.50"),
    ("PROD-105", "Noise-cancelling Headphones", "199.95"),
    ("PROD-106", "Webcam", "79.99"),
    ("PROD-107", "Desk Lamp", "24.90"),
]
CITIES = [("Portland", "OR", "97201", "US"), ("Berlin", "BE", "10115", "DE"), ("Lyon", "ARA", "69001", "FR")]
CURRENCY = {"US": "USD", "DE": "EUR", "FR": "EUR"}
MALFORMED = ['{"orderId": "ORD-BROKEN", "items": [', "not json at all", "[]", '{"totalAmount": NaN}']


@dataclass(frozen=True)
class PlannedMessage:
    """One message to send and what must become of it."""

    body: str
    kind: str  # "valid", "duplicate", "malformed", "invalid", "cancel"
    order_id: str | None = None
    created_at: str | None = None
    expected_code: str | None = None  # the DLQ errorCode for malformed/invalid


@dataclass
class TrafficPlan:
    messages: list[PlannedMessage]

    @property
    def unique_valid(self) -> dict[tuple[str, str], PlannedMessage]:
        return {
            (m.order_id, m.created_at): m
            for m in self.messages
            if m.kind == "valid" and m.order_id is not None and m.created_at is not None
        }

    @property
    def cancels(self) -> dict[tuple[str, str], PlannedMessage]:
        """The cancellation planned for each cancelled order, by the order's key."""
        return {
            (m.order_id, m.created_at): m
            for m in self.messages
            if m.kind == "cancel" and m.order_id is not None and m.created_at is not None
        }

    @property
    def cancelled_first(self) -> int:
        """How many cancellations are sent before the order they cancel."""
        position = {m.body: index for index, m in reversed(list(enumerate(self.messages)))}
        valid = self.unique_valid
        return sum(1 for key, cancel in self.cancels.items() if position[cancel.body] < position[valid[key].body])

    @property
    def rejected(self) -> list[PlannedMessage]:
        return [m for m in self.messages if m.kind in {"malformed", "invalid"}]

    def count(self, kind: str) -> int:
        return sum(1 for m in self.messages if m.kind == kind)


def _order(rng: random.Random, number: int, run: str, now: datetime) -> dict[str, Any]:
    lines = rng.sample(PRODUCTS, rng.randint(1, 3))
    quantities = [rng.randint(1, 4) for _ in lines]
    total = sum(
        (Decimal(price) * quantity for (_, _, price), quantity in zip(lines, quantities, strict=True)), Decimal(0)
    )
    items = [
        {"productId": pid, "productName": name, "quantity": quantity, "unitPrice": Decimal(price)}
        for (pid, name, price), quantity in zip(lines, quantities, strict=True)
    ]
    city, state, zip_code, country = rng.choice(CITIES)
    created = now - timedelta(seconds=rng.randint(0, 3600))
    customer = f"CUST-{rng.randint(1, 50)}"
    return {
        "orderId": f"ORD-{run}-{number:06d}",
        "customerId": customer,
        # The Notifier e-mails it (.example: a name reserved for examples, RFC 2606).
        "customerEmail": f"{customer.lower()}@customers.example",
        "items": items,
        "totalAmount": total,
        "currency": CURRENCY[country],
        "shippingAddress": {"street": f"{rng.randint(1, 999)} Main Street", "city": city, "state": state,
                            "zip": zip_code, "country": country},
        "createdAt": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }  # fmt: skip


#: The embedded payment provider declines every charge for a customer id with this prefix.
DECLINING_CUSTOMER_PREFIX = "decline-"

REASONS = ["Customer changed their mind", "Found a better price", "Ordered by mistake", "Delivery too slow"]


def _cancellation(rng: random.Random, order: dict[str, Any]) -> dict[str, Any]:
    created = datetime.strptime(order["createdAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    cancelled = created + timedelta(seconds=rng.randint(1, 600))
    return {
        "eventType": "OrderCancelled",
        "orderId": order["orderId"],
        "createdAt": order["createdAt"],
        "cancelledAt": cancelled.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "reason": rng.choice(REASONS),
    }


def _dumps(order: dict[str, Any]) -> str:
    # Amounts have at most 2 decimals and 8 digits: float's shortest repr writes them back
    # as the same decimal literal, which the processor reads as an exact Decimal.
    return json.dumps(order, default=float)


def plan_traffic(
    count: int,
    *,
    seed: int = 7,
    duplicate_rate: float = 0.05,
    malformed_rate: float = 0.03,
    invalid_rate: float = 0.03,
    cancel_rate: float = 0.0,
    cancel_first_rate: float = 0.4,
    run: str | None = None,
    decline_rate: float = 0.0,
) -> TrafficPlan:
    """``count`` messages: mostly new valid orders, some duplicates, malformed and invalid ones.

    With ``cancel_rate``, that share of new orders is also cancelled; ``cancel_first_rate``
    of those cancellations are sent up to 15 messages *before* their order (as a standard
    queue may deliver them), the rest up to 15 after. Duplicates copy orders and cancels.
    With ``decline_rate``, that share of new orders come from a test customer whose charges the
    embedded payment provider declines (``decline-`` customer ids, docs/payment-provider.md).
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible test traffic, not security
    run = run or f"{seed:04d}"
    now = datetime.now(UTC)
    messages: list[PlannedMessage] = []
    valid: list[PlannedMessage] = []
    held: list[tuple[int, PlannedMessage]] = []  # (send once this many messages are planned, message)
    number = 0
    while len(messages) + len(held) < count:
        for entry in [entry for entry in held if entry[0] <= len(messages)]:
            held.remove(entry)
            messages.append(entry[1])
        number += 1
        roll = rng.random()
        if valid and roll < duplicate_rate:
            original = rng.choice(valid)
            messages.append(PlannedMessage(original.body, "duplicate", original.order_id, original.created_at))
        elif roll < duplicate_rate + malformed_rate:
            messages.append(PlannedMessage(rng.choice(MALFORMED), "malformed", expected_code="MALFORMED_JSON"))
        elif roll < duplicate_rate + malformed_rate + invalid_rate:
            order = _order(rng, number, run, now)
            order["totalAmount"] += Decimal("0.01")
            messages.append(PlannedMessage(_dumps(order), "invalid", order["orderId"], order["createdAt"],
                                           expected_code="VALIDATION_FAILED"))  # fmt: skip
        else:
            order = _order(rng, number, run, now)
            if decline_rate and rng.random() < decline_rate:  # drawn only when asked: seeds keep their traffic
                order["customerId"] = f"{DECLINING_CUSTOMER_PREFIX}{order['customerId']}"
            message = PlannedMessage(_dumps(order), "valid", order["orderId"], order["createdAt"])
            valid.append(message)
            if count - len(messages) - len(held) >= 2 and rng.random() < cancel_rate:
                cancel = PlannedMessage(
                    _dumps(_cancellation(rng, order)), "cancel", order["orderId"], order["createdAt"]
                )
                first, then = (cancel, message) if rng.random() < cancel_first_rate else (message, cancel)
                messages.append(first)
                held.append((len(messages) + rng.randint(0, 15), then))
                valid.append(cancel)  # duplicates may copy it too
            else:
                messages.append(message)
    messages.extend(message for _, message in sorted(held, key=lambda entry: entry[0]))
    return TrafficPlan(messages)


def send(
    sqs: SQSClient,
    queue_url: str,
    messages: list[PlannedMessage],
    *,
    sns: SNSClient | None = None,
    topic_arn: str | None = None,
    events: Any = None,
    bus_name: str | None = None,
    refused: dict[int, str] | None = None,
) -> dict[int, float]:
    """Send ``messages`` in batches of 10 as producers do (orderflow_local.ops.producer): to the
    bus when ``bus_name`` is given, else to the topic when ``topic_arn`` is, else to the queue;
    with its group on FIFO. Return the send time (epoch seconds) by index.

    A bus refuses a body that is not a JSON object, as EventBridge does: those are not sent, and
    go into ``refused`` (by index, with the bus's reason), which a bus destination requires.
    """
    if bus_name is not None:
        destination = Destination(bus_name=bus_name)
    else:
        destination = Destination(topic_arn=topic_arn) if topic_arn else Destination(queue_url=queue_url)
    if bus_name is not None and refused is None:
        raise ValueError("sending to a bus needs a `refused` dict: the bus may refuse some bodies")
    refusals: dict[int, str] = refused if refused is not None else {}
    sent_at: dict[int, float] = {}
    for start in range(0, len(messages), 10):
        chunk = messages[start : start + 10]
        now = time.time()
        if bus_name is not None:
            _, chunk_refusals = put_batch(destination, [m.body for m in chunk], events)
            refusals.update({start + n: reason for n, reason in chunk_refusals.items()})
        else:
            send_batch(destination, [m.body for m in chunk], sqs=sqs, sns=sns)
        sent_at.update({start + n: now for n in range(len(chunk)) if start + n not in refusals})
    return sent_at


@dataclass
class Verdict:
    """What became of a traffic plan."""

    stored: int = 0  # orders stored with their data, confirmed or cancelled
    confirmed: int = 0
    cancelled: int = 0
    awaiting: int = 0  # cancellations recorded whose order is in the DLQ (retries ran out)
    missing: list[str] = field(default_factory=list)  # valid orders neither stored nor in the DLQ
    unexpected_items: int = 0  # items in the table the plan did not ask for (stored twice, or invalid)
    not_confirmed: list[str] = field(default_factory=list)  # in a status its events do not lead to
    cancels_lost: list[str] = field(default_factory=list)  # a cancel neither applied nor in the DLQ
    data_changed: list[str] = field(default_factory=list)  # stored data differs from the order sent
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    rejected_missing: int = 0  # malformed/invalid messages not found in the DLQ
    valid_in_dlq: int = 0  # valid orders whose retries ran out: in the DLQ with their original body
    cancels_in_dlq: int = 0  # cancellations in the DLQ (their order never came, or their retries ran out)
    latencies: list[float] = field(default_factory=list)
    last_stored: float = 0.0  # when the last order was stored (epoch seconds; 0 when no send times were given)

    @property
    def ok(self) -> bool:
        return not (
            self.missing
            or self.unexpected_items
            or self.not_confirmed
            or self.rejected_missing
            or self.cancels_lost
            or self.data_changed
        )


def verify(
    plan: TrafficPlan,
    *,
    dynamodb: DynamoDBClient,
    table_name: str,
    sqs: SQSClient,
    dlq_url: str,
    sent_at: dict[int, float] | None = None,
    more_dlq_urls: tuple[str, ...] = (),
    refused: dict[int, str] | None = None,
) -> Verdict:
    """Check the invariant against the table and the DLQ.

    Every valid order is stored exactly once with the data it was sent with (or is in the
    DLQ with its original body); it is ``CANCELLED`` when a cancellation was planned and
    ``CONFIRMED`` otherwise, unless that cancellation is in the DLQ; every malformed or
    invalid message is in the DLQ with its reason and never stored. On a FIFO DLQ (``.fifo``:
    the stack's FIFO queues deduplicate by content) identical bodies sent together are one
    message, so each distinct rejected body is expected once.

    With several consumers (the EventBridge ingress), ``more_dlq_urls`` are their DLQs, read as
    one. A message the bus refused (``refused``, from :func:`send`) was never sent: it is counted
    under the bus's reason and not looked for in a DLQ; only a rejected one may be refused.
    """
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    verdict = Verdict()
    items = _scan(dynamodb, table_name)
    by_key = {(item["orderId"]["S"], item["createdAt"]["S"]): item for item in items}
    dead = [letter for url in (dlq_url, *more_dlq_urls) for letter in list_dead_letters(sqs, url, limit=1_000_000)]
    dead_bodies = Counter(letter.body for letter in dead)
    expected = plan.unique_valid
    cancels = plan.cancels
    first_sent = _first_send_times(plan, sent_at or {})
    for key, message in expected.items():
        item = by_key.get(key)
        status = item.get("status", {}).get("S") if item else None
        cancel = cancels.get(key)
        cancel_in_dlq = cancel is not None and dead_bodies[cancel.body] > 0
        verdict.cancels_in_dlq += cancel_in_dlq
        if item is None or status == "AWAITING_ORDER":
            if not dead_bodies[message.body]:
                verdict.missing.append(key[0])
                continue
            verdict.valid_in_dlq += 1
            if status == "AWAITING_ORDER":
                verdict.awaiting += 1
                if cancel is None:
                    verdict.not_confirmed.append(key[0])
            elif cancel is not None and not cancel_in_dlq:
                verdict.cancels_lost.append(key[0])
            continue
        verdict.stored += 1
        sent = json.loads(message.body, parse_float=Decimal)
        stored = {name: deserializer.deserialize(value) for name, value in item.items()}
        if any(stored.get(name) != value for name, value in sent.items()):
            verdict.data_changed.append(key[0])
        if status == "CANCELLED" and cancel is not None:
            verdict.cancelled += 1
        elif status == "CONFIRMED":
            verdict.confirmed += 1
            if cancel is not None and not cancel_in_dlq:
                verdict.cancels_lost.append(key[0])
        else:
            verdict.not_confirmed.append(key[0])
        if message.body in first_sent:
            processed = datetime.fromisoformat(item["processedAt"]["S"].replace("Z", "+00:00")).timestamp()
            verdict.latencies.append(max(0.0, processed - first_sent[message.body]))
            verdict.last_stored = max(verdict.last_stored, processed)
    verdict.unexpected_items = len(set(by_key) - set(expected))
    for letter in dead:
        verdict.rejected_by_reason[letter.error_code or "RETRIES_EXHAUSTED"] += 1
    refused = refused or {}
    for index, reason in refused.items():
        if plan.messages[index].kind in {"malformed", "invalid"}:
            verdict.rejected_by_reason[f"refused by the bus: {reason.split(':', 1)[0]}"] += 1
        else:
            verdict.missing.append(f"message {index} ({plan.messages[index].kind}), refused by the bus: {reason}")
    refused_bodies = Counter(plan.messages[index].body for index in refused)
    rejected_bodies = Counter(message.body for message in plan.rejected) - refused_bodies
    deduplicated = dlq_url.endswith(".fifo")
    for body, needed in rejected_bodies.items():
        verdict.rejected_missing += max(0, (1 if deduplicated else needed) - dead_bodies[body])
    return verdict


def _first_send_times(plan: TrafficPlan, sent_at: dict[int, float]) -> dict[str, float]:
    first: dict[str, float] = {}
    for index, message in enumerate(plan.messages):
        if message.kind == "valid" and index in sent_at:
            first.setdefault(message.body, sent_at[index])
    return first


def _scan(dynamodb: DynamoDBClient, table_name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": table_name}
    while True:
        page = dynamodb.scan(**request)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (0 when there are no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]
