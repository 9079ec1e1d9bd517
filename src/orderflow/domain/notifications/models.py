"""The notification service's vocabulary: the domain events it e-mails about, the order it reads
for them, and the e-mail it sends.

It e-mails the customer once per event, whatever is redelivered:

- ``PaymentCaptured`` (source ``orderflow.payments``): a confirmation, with the order's lines and total;
- ``OrderCancelled`` (source ``orderflow.orders``): a cancellation note;
- ``PaymentRefunded`` (source ``orderflow.payments``): a refund note.

The events carry the order's key, not its lines or the customer's address: the service reads the
order from the ``Orders`` table (docs/decisions.md, "The Notifier reads the order").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

#: The (source, detail-type) pairs the service consumes, and the e-mail each one asks for.
ORDERS_SOURCE, PAYMENTS_SOURCE = "orderflow.orders", "orderflow.payments"


class NotificationKind(enum.StrEnum):
    CONFIRMATION = "confirmation"
    CANCELLATION = "cancellation"
    REFUND = "refund"


KINDS: dict[tuple[str, str], NotificationKind] = {
    (PAYMENTS_SOURCE, "PaymentCaptured"): NotificationKind.CONFIRMATION,
    (ORDERS_SOURCE, "OrderCancelled"): NotificationKind.CANCELLATION,
    (PAYMENTS_SOURCE, "PaymentRefunded"): NotificationKind.REFUND,
}

_Text = Annotated[str, StringConstraints(min_length=1, max_length=128)]
_Amount = Annotated[str, StringConstraints(pattern=r"^(0|[1-9][0-9]*)(\.[0-9]+)?$", max_length=32)]


class EventDetail(BaseModel):
    """What the service needs of any of its events' details: the event's id and the order's key.
    A payment event's ``amount`` (the charge or refund) is kept for the e-mail."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    event_id: Annotated[str, StringConstraints(min_length=1, max_length=400)] = Field(alias="eventId")
    order_id: _Text = Field(alias="orderId")
    created_at: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(alias="createdAt")
    amount: _Amount | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None


class DomainEvent(BaseModel):
    """A domain event as EventBridge delivers it to the notification queue: the whole event."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    id: _Text
    source: Literal["orderflow.orders", "orderflow.payments"]
    detail_type: Literal["PaymentCaptured", "OrderCancelled", "PaymentRefunded"] = Field(alias="detail-type")
    detail: EventDetail

    @model_validator(mode="after")
    def _emailed_about(self) -> DomainEvent:
        """Only the pairs in KINDS: ``PaymentCaptured`` from the order service is refused here, with its reason."""
        if (self.source, self.detail_type) not in KINDS:
            raise ValueError(f"{self.detail_type} from {self.source} is not an event the notifier e-mails about")
        return self

    @property
    def kind(self) -> NotificationKind:
        return KINDS[(self.source, self.detail_type)]


@dataclass(frozen=True, slots=True)
class Line:
    product_name: str
    quantity: int
    unit_price: Decimal

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True, slots=True)
class Order:
    """The order as the ``Orders`` table holds it: what an e-mail shows of it."""

    order_id: str
    created_at: str
    customer_id: str
    status: str
    #: None for an order stored without one, or a cancellation stored before its order arrived.
    email: str | None
    lines: tuple[Line, ...]
    total: Decimal | None
    currency: str | None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Order:
        """From the item as boto3's deserializer gives it (numbers as Decimal)."""
        total = item.get("totalAmount")
        return cls(
            order_id=str(item["orderId"]),
            created_at=str(item["createdAt"]),
            customer_id=str(item.get("customerId", "")),
            status=str(item.get("status", "")),
            email=str(item["customerEmail"]) if item.get("customerEmail") else None,
            lines=tuple(
                Line(str(line["productName"]), int(line["quantity"]), Decimal(str(line["unitPrice"])))
                for line in item.get("items") or []
            ),
            total=Decimal(str(total)) if total is not None else None,
            currency=str(item["currency"]) if item.get("currency") else None,
        )


@dataclass(frozen=True, slots=True)
class Email:
    """One e-mail, rendered: the adapter turns it into a MIME message (text first, then HTML)."""

    to: str
    subject: str
    text: str
    html: str
    #: ``X-Orderflow-*`` headers: the event's id, the order's id, the kind of notification.
    event_id: str
    order_id: str
    kind: NotificationKind


class ClaimStatus(enum.StrEnum):
    """A notification's record in the ``Notifications`` table (one item per event)."""

    #: Claimed, and the e-mail asked of SES: if it stays so, whether SES accepted it is unknown.
    SENDING = "SENDING"
    #: SES accepted it (``messageId``).
    SENT = "SENT"


@dataclass(frozen=True, slots=True)
class Claim:
    order_id: str
    event_id: str
    kind: NotificationKind
    to: str
    status: ClaimStatus
    claimed_at: str
    message_id: str | None = None
