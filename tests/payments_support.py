"""In-process fakes of the payment service's ports, faithful to the contracts they stand for.

- :class:`FakeProvider` keeps a ledger and honours idempotency keys as the provider's contract
  says (a repeated key replays the first answer; the same key with other parameters is refused).
- :class:`MemoryPaymentStore` applies the conditional writes of ``DynamoDbPaymentStore``.
- :class:`RecordingPublisher` keeps what was published.
Each can be told to fail, to reproduce a timeout or a crash at a chosen point.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from orderflow.domain.errors import StoreUnavailableError
from orderflow.domain.payments.errors import (
    EventPublishError,
    PaymentProviderUnavailableError,
    ProviderKeyConflictError,
)
from orderflow.domain.payments.models import (
    ChargeRequest,
    ChargeResult,
    OrderEvent,
    Payment,
    PaymentEvent,
    PaymentStatus,
    RefundRequest,
    RefundResult,
)


@dataclass
class FakeProvider:
    """Charges and refunds with idempotency keys; ``decline`` customers are declined."""

    charges: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    #: Raise PaymentProviderUnavailableError before (``fail_before``) or after (``lose_response``)
    #: executing, this many times.
    fail_before: int = 0
    lose_response: int = 0
    keys: dict[str, tuple[tuple[Any, ...], Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: itertools.count[int] = field(default_factory=itertools.count)

    def _idempotent(self, key: str, params: tuple[Any, ...], run: Any) -> Any:
        with self.lock:
            if self.fail_before:
                self.fail_before -= 1
                raise PaymentProviderUnavailableError("provider: 503 before executing")
            if key in self.keys:
                seen, answer = self.keys[key]
                if seen != params:
                    raise ProviderKeyConflictError(f"key {key} reused with other parameters")
                return answer, True
            answer = run()
            self.keys[key] = (params, answer)
            if self.lose_response:
                self.lose_response -= 1
                raise PaymentProviderUnavailableError("provider: connection closed after executing")
            return answer, False

    def charge(self, request: ChargeRequest) -> ChargeResult:
        params = ("charge", request.amount_minor, request.currency, request.customer_id)

        def run() -> ChargeResult:
            charge_id = f"ch_{next(self.ids)}"
            if request.customer_id.startswith("decline-"):
                return ChargeResult(captured=False, charge_id=charge_id, decline_code="generic_decline")
            self.charges.append({"id": charge_id, "amount": request.amount_minor, "order": request.metadata["order_id"],
                                 "key": request.idempotency_key, "refunded": 0})  # fmt: skip
            return ChargeResult(captured=True, charge_id=charge_id)

        answer, replayed = self._idempotent(request.idempotency_key, params, run)
        return ChargeResult(answer.captured, answer.charge_id, answer.decline_code, replayed=replayed)

    def refund(self, request: RefundRequest) -> RefundResult:
        params = ("refund", request.charge_id, request.amount_minor)

        def run() -> RefundResult:
            charge = next(charge for charge in self.charges if charge["id"] == request.charge_id)
            if charge["refunded"] + request.amount_minor > charge["amount"]:
                raise AssertionError(f"refund beyond the charge: {charge}")
            charge["refunded"] += request.amount_minor
            refund_id = f"re_{next(self.ids)}"
            self.refunds.append({"id": refund_id, "charge": request.charge_id, "amount": request.amount_minor,
                                 "order": request.metadata["order_id"]})  # fmt: skip
            return RefundResult(refund_id=refund_id)

        answer, replayed = self._idempotent(request.idempotency_key, params, run)
        return RefundResult(answer.refund_id, replayed=replayed)

    def net(self, order_id: str) -> int:
        charged = sum(charge["amount"] for charge in self.charges if charge["order"] == order_id)
        return charged - sum(refund["amount"] for refund in self.refunds if refund["order"] == order_id)


@dataclass
class MemoryPaymentStore:
    """The conditional writes of DynamoDbPaymentStore, in memory (thread-safe)."""

    items: dict[tuple[str, str], Payment] = field(default_factory=dict)
    #: Raise StoreUnavailableError on the next ``advance`` calls (a timeout after the provider answered).
    fail_advances: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def create(self, payment: Payment) -> Payment | None:
        with self.lock:
            if payment.key in self.items:
                return self.items[payment.key]
            self.items[payment.key] = payment
            return None

    def advance(self, payment: Payment, *, expected: PaymentStatus) -> Payment | None:
        with self.lock:
            if self.fail_advances:
                self.fail_advances -= 1
                raise StoreUnavailableError("DynamoDB PutItem failed: timeout")
            current = self.items.get(payment.key)
            if current is None:
                raise StoreUnavailableError("the payment to advance does not exist")
            if current.status is not expected:
                return current
            self.items[payment.key] = payment
            return None


@dataclass
class RecordingPublisher:
    published: list[PaymentEvent] = field(default_factory=list)
    fail: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, events: list[PaymentEvent]) -> None:
        with self.lock:
            if self.fail:
                self.fail -= 1
                raise EventPublishError("EventBridge PutEvents failed: InternalException")
            self.published.extend(events)


class SteppingClock:
    """A clock that moves one millisecond per reading: each state change has its own time."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
        self.lock = threading.Lock()

    def __call__(self) -> datetime:
        with self.lock:
            self.now += timedelta(milliseconds=1)
            return self.now


def order_event(
    detail_type: str,
    *,
    order_id: str = "ord-1",
    customer_id: str = "cust-1",
    total: str = "149.99",
    currency: str = "USD",
    version: int | None = None,
    created_at: str = "2026-12-07T09:00:00Z",
) -> OrderEvent:
    """An order event as the order events bus delivers it (the whole EventBridge event)."""
    version = version or (1 if detail_type == "OrderConfirmed" else 2)
    return OrderEvent.model_validate(
        {
            "id": f"eb-{order_id}-{detail_type}-{version}",
            "source": "orderflow.orders",
            "detail-type": detail_type,
            "detail": {
                "schemaVersion": 1,
                "eventId": f"{order_id}#{created_at}#{version}",
                "orderId": order_id,
                "createdAt": created_at,
                "customerId": customer_id,
                "status": "CONFIRMED" if detail_type == "OrderConfirmed" else "CANCELLED",
                "totalAmount": total,
                "currency": currency,
                "version": str(version),
                "occurredAt": "2026-12-07T09:00:01.000Z",
            },
        }
    )
