"""Whether the payments kept their promise, checked against the provider's ledger (the ground truth):

- every CONFIRMED order is charged exactly once (or declined, for a declining test customer);
- every CANCELLED order is charged net zero: never charged, or charged once and refunded once;
- nothing else is charged: no order that was never stored, rejected or only awaited;
- nothing is refunded beyond its charge.

Used by `orderflow demo` and the fault-injection tests (docs/reliability.md).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from orderflow_local.payments import Ledger


@dataclass
class PaymentVerdict:
    charges: int = 0
    declines: int = 0
    refunds: int = 0
    #: Minor units by currency.
    charged: Counter[str] = field(default_factory=Counter)
    refunded: Counter[str] = field(default_factory=Counter)
    charged_twice: list[str] = field(default_factory=list)
    refunded_twice: list[str] = field(default_factory=list)
    #: CONFIRMED orders with neither a charge nor a decline.
    not_charged: list[str] = field(default_factory=list)
    #: CANCELLED orders whose charges and refunds do not add up to zero.
    cancelled_not_zero: list[str] = field(default_factory=list)
    #: Charges for orders that are neither CONFIRMED nor CANCELLED in the table.
    unknown_charged: list[str] = field(default_factory=list)
    #: Seconds from an order's first send to its payment's answer being recorded.
    latencies: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.charged_twice or self.refunded_twice or self.not_charged or self.cancelled_not_zero
                    or self.unknown_charged)  # fmt: skip

    def problems(self) -> list[str]:
        listed = (
            ("charged more than once", self.charged_twice),
            ("refunded more than once", self.refunded_twice),
            ("confirmed but never charged", self.not_charged),
            ("cancelled but not charged net zero", self.cancelled_not_zero),
            ("charged but not a stored order", self.unknown_charged),
        )
        return [f"{len(ids)} order(s) {what}: {', '.join(ids[:5])}" for what, ids in listed if ids]


def verify_payments(
    ledger: Ledger,
    orders: Mapping[tuple[str, str], Mapping[str, Any]],
    *,
    payments: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
    first_sent: Mapping[str, float] | None = None,
) -> PaymentVerdict:
    """Check ``ledger`` against ``orders`` (the Orders table's items, plain values, by key).

    With ``payments`` (the Payments table's items) and ``first_sent`` (each order id's first send,
    epoch seconds), the verdict also holds each charge's latency from sent to recorded.
    """
    verdict = PaymentVerdict(charges=len(ledger.charges), declines=len(ledger.declines), refunds=len(ledger.refunds))
    for charge in ledger.charges:
        verdict.charged[charge.currency.upper()] += charge.amount
    for refund in ledger.refunds:
        verdict.refunded[refund.currency.upper()] += refund.amount
    books = ledger.by_order()
    statuses = {order_id: str(item.get("status")) for (order_id, _), item in orders.items()}
    for order_id, money in books.items():
        status = statuses.get(order_id)
        if money.charges > 1:
            verdict.charged_twice.append(order_id)
        if money.refunds > 1 or money.refunded > money.charged:
            verdict.refunded_twice.append(order_id)
        if money.charges and status not in {"CONFIRMED", "CANCELLED"}:
            verdict.unknown_charged.append(order_id)
        if status == "CANCELLED" and money.net != 0:
            verdict.cancelled_not_zero.append(order_id)
    for order_id, status in statuses.items():
        found = books.get(order_id)
        if status == "CONFIRMED" and (found is None or (found.charges == 0 and found.declined == 0)):
            verdict.not_charged.append(order_id)
    for (order_id, _), payment in (payments or {}).items():
        charged_at, sent = payment.get("chargedAt"), (first_sent or {}).get(order_id)
        if charged_at and sent is not None:
            recorded = datetime.fromisoformat(str(charged_at).replace("Z", "+00:00")).timestamp()
            verdict.latencies.append(max(0.0, recorded - sent))
    return verdict


def scan_items(
    dynamodb: Any, table: str, key: tuple[str, str] = ("orderId", "createdAt")
) -> dict[tuple[str, str], dict[str, Any]]:
    """A table with a two-part ``key`` (by default the orders', (orderId, createdAt)), whole, as plain values."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    items: dict[tuple[str, str], dict[str, Any]] = {}
    request: dict[str, Any] = {"TableName": table}
    while True:
        page = dynamodb.scan(**request)
        for item in page["Items"]:
            plain = {name: deserializer.deserialize(value) for name, value in item.items()}
            items[(str(plain[key[0]]), str(plain[key[1]]))] = plain
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
