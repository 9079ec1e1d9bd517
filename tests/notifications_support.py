"""In-process doubles for the notification service's unit tests: the order reader, the claims, a mailer."""

from __future__ import annotations

import threading
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from orderflow.domain.errors import StoreUnavailableError
from orderflow.domain.notifications.models import Claim, ClaimStatus, DomainEvent, Line, Order

if TYPE_CHECKING:
    from collections.abc import Callable

    from orderflow.domain.notifications.models import Email

CREATED_AT = "2026-12-07T09:00:00Z"


def an_order(order_id: str = "ord-1", *, email: str | None = "jane@example.com", **changes: Any) -> Order:
    lines = (Line("Widget", 2, Decimal("10.00")), Line("Gadget", 1, Decimal("129.99")))
    order = Order(
        order_id=order_id,
        created_at=CREATED_AT,
        customer_id="cust-1",
        status="CONFIRMED",
        email=email,
        lines=lines,
        total=Decimal("149.99"),
        currency="USD",
    )
    return replace(order, **changes)


def domain_event(detail_type: str, order_id: str = "ord-1", **detail: Any) -> DomainEvent:
    """``PaymentCaptured``, ``PaymentRefunded`` or ``OrderCancelled`` as the bus delivers it."""
    source = "orderflow.orders" if detail_type == "OrderCancelled" else "orderflow.payments"
    event_id = (
        f"{order_id}#{CREATED_AT}#2" if source == "orderflow.orders" else f"{order_id}#{CREATED_AT}#{detail_type}"
    )
    fields: dict[str, Any] = {"eventId": event_id, "orderId": order_id, "createdAt": CREATED_AT, "currency": "USD"}
    if source == "orderflow.payments":
        fields["amount"] = "149.99"
    else:
        fields["totalAmount"] = "149.99"
    fields.update(detail)
    return DomainEvent.model_validate(
        {"id": f"eb-{event_id}", "source": source, "detail-type": detail_type, "detail": fields}
    )


class MemoryOrders:
    def __init__(self, *orders: Order) -> None:
        self.orders = {(order.order_id, order.created_at): order for order in orders}

    def get(self, key: tuple[str, str]) -> Order | None:
        return self.orders.get(key)


class MemoryClaims:
    """The ``Notifications`` table's conditions, in memory; ``fail`` makes the next call of a name fail."""

    def __init__(self) -> None:
        self.claims: dict[str, Claim] = {}
        self.fail: set[str] = set()
        self.lock = threading.Lock()

    def _maybe_fail(self, name: str) -> None:
        if name in self.fail:
            self.fail.discard(name)
            raise StoreUnavailableError(f"DynamoDB {name} failed: ThrottlingException")

    def claim(self, claim: Claim) -> Claim | None:
        with self.lock:
            self._maybe_fail("claim")
            held = self.claims.get(claim.event_id)
            if held is not None:
                return held
            self.claims[claim.event_id] = claim
            return None

    def mark_sent(self, claim: Claim, message_id: str) -> None:
        with self.lock:
            self._maybe_fail("mark_sent")
            held = self.claims.get(claim.event_id)
            if held is not None and held.status is ClaimStatus.SENDING:
                self.claims[claim.event_id] = replace(held, status=ClaimStatus.SENT, message_id=message_id)

    def release(self, claim: Claim) -> None:
        with self.lock:
            self._maybe_fail("release")
            held = self.claims.get(claim.event_id)
            if held is not None and held.status is ClaimStatus.SENDING:
                del self.claims[claim.event_id]


class RecordingMailer:
    """Keeps what it sent; ``next_failure`` (an exception factory) makes the next send fail instead, and
    ``after_send`` runs once an e-mail is kept (a crash after SES accepted it)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Email]] = []
        self.next_failure: Callable[[], Exception] | None = None
        self.after_send: Callable[[], None] | None = None

    def send(self, email: Email, sender: str) -> str:
        if self.next_failure is not None:
            failure, self.next_failure = self.next_failure, None
            raise failure()
        self.sent.append((sender, email))
        if self.after_send is not None:
            after, self.after_send = self.after_send, None
            after()
        return f"ses-{len(self.sent)}"

    def sent_for(self, event_id: str) -> int:
        return sum(1 for _, email in self.sent if email.event_id == event_id)
