"""The payment service's vocabulary: the order events it consumes, a payment's state, the
events it publishes, and what it asks of the payment provider.

A payment is one item per order, under the order's own ``(orderId, createdAt)`` key. Its status:

``CHARGING``
    The order was confirmed and a charge was asked for (or is about to be). The charge's
    provider idempotency key is fixed from here on, so asking again can never charge twice.
``CANCELLING``
    The order was cancelled while its charge was in flight (``CHARGING``). Nothing waits for the
    charge's answer: the charge's own delivery (or its retry) gets it, with the same key, and
    refunds a capture at once. A decline ends it.
``CAPTURED`` / ``DECLINED``
    The provider's answer to the charge.
``REFUNDING`` / ``REFUNDED``
    The order was cancelled after its charge: a refund of the whole charge was asked for, then done.
``VOIDED``
    The order was cancelled before any charge: it is never charged, whatever arrives later.

States only move forward (absent -> CHARGING -> CAPTURED -> REFUNDING -> REFUNDED, or
CHARGING -> CANCELLING -> REFUNDING -> REFUNDED, or CHARGING (or CANCELLING) -> DECLINED, or
absent -> VOIDED).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from orderflow.domain.models import minor_units

if TYPE_CHECKING:
    from datetime import datetime

#: The detail-types the payment service consumes from the order events bus.
ORDER_CONFIRMED, ORDER_CANCELLED = "OrderConfirmed", "OrderCancelled"
#: The source of the events it publishes (the order service's is ``orderflow.orders``).
PAYMENTS_SOURCE = "orderflow.payments"
PAYMENT_CAPTURED, PAYMENT_DECLINED, PAYMENT_REFUNDED = "PaymentCaptured", "PaymentDeclined", "PaymentRefunded"

_Text = Annotated[str, StringConstraints(min_length=1, max_length=128)]
_Amount = Annotated[str, StringConstraints(pattern=r"^(0|[1-9][0-9]*)(\.[0-9]+)?$", max_length=32)]


class OrderDetail(BaseModel):
    """The detail of ``OrderConfirmed`` and ``OrderCancelled`` (schemas/events): what a payment needs of it."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    event_id: Annotated[str, StringConstraints(min_length=1, max_length=400)] = Field(alias="eventId")
    order_id: _Text = Field(alias="orderId")
    created_at: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(alias="createdAt")
    customer_id: _Text = Field(alias="customerId")
    total_amount: _Amount = Field(alias="totalAmount")
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    version: Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]*$", max_length=20)]

    @model_validator(mode="after")
    def _chargeable(self) -> OrderDetail:
        """The total must be an amount of ``currency`` a provider can take (whole minor units)."""
        to_minor_units(self.total_amount, self.currency)
        return self


class OrderEvent(BaseModel):
    """An order event as EventBridge delivers it to the payment queue: the whole event, not only its detail."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    id: _Text
    source: Literal["orderflow.orders"]
    detail_type: Literal["OrderConfirmed", "OrderCancelled"] = Field(alias="detail-type")
    detail: OrderDetail

    @property
    def key(self) -> tuple[str, str]:
        return self.detail.order_id, self.detail.created_at


class PaymentStatus(enum.StrEnum):
    CHARGING = "CHARGING"
    CANCELLING = "CANCELLING"
    CAPTURED = "CAPTURED"
    DECLINED = "DECLINED"
    REFUNDING = "REFUNDING"
    REFUNDED = "REFUNDED"
    VOIDED = "VOIDED"


def to_minor_units(amount: str, currency: str) -> int:
    """``"149.99"`` USD as 14999: what a provider charges (Stripe's ``amount`` is in the smallest unit)."""
    places = minor_units(currency)
    if places is None:
        raise ValueError(f"{currency!r} is not an ISO 4217 currency with minor units")
    value = Decimal(amount).scaleb(places)
    if value != value.to_integral_value():
        raise ValueError(f"{amount} {currency} has more than {places} decimal place(s)")
    return int(value)


@dataclass(frozen=True, slots=True)
class Payment:
    """One order's payment, as the store keeps it."""

    order_id: str
    created_at: str
    status: PaymentStatus
    customer_id: str
    #: The order's total, an exact decimal as the order event wrote it ("149.99").
    amount: str
    currency: str
    #: When the current status was reached.
    updated_at: str
    charge_id: str | None = None
    decline_code: str | None = None
    #: When the charge's answer was recorded: the ``occurredAt`` of PaymentCaptured or PaymentDeclined.
    charged_at: str | None = None
    refund_id: str | None = None
    #: When the refund was recorded: the ``occurredAt`` of PaymentRefunded.
    refunded_at: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.order_id, self.created_at

    @property
    def payment_id(self) -> str:
        """``{orderId}#{createdAt}``: the order's key in one string, as its event ids begin."""
        return f"{self.order_id}#{self.created_at}"

    @property
    def charge_key(self) -> str:
        """The provider's idempotency key for this order's one charge: the same on every attempt, ever."""
        return f"orderflow:{self.payment_id}:charge"

    @property
    def refund_key(self) -> str:
        """The provider's idempotency key for this order's one refund."""
        return f"orderflow:{self.payment_id}:refund"

    @property
    def amount_minor(self) -> int:
        return to_minor_units(self.amount, self.currency)

    def moved(self, status: PaymentStatus, at: datetime, **changes: Any) -> Payment:
        """This payment in ``status`` from ``at``; reaching an answer also records when (``charged_at``,
        ``refunded_at``), which its events give as ``occurredAt`` however often they are published."""
        when = _timestamp(at)
        if status in {PaymentStatus.CAPTURED, PaymentStatus.DECLINED}:
            changes["charged_at"] = when
        elif status is PaymentStatus.REFUNDED:
            changes["refunded_at"] = when
        return replace(self, status=status, updated_at=when, **changes)

    @classmethod
    def new(cls, detail: OrderDetail, status: PaymentStatus, at: datetime) -> Payment:
        return cls(
            order_id=detail.order_id,
            created_at=detail.created_at,
            status=status,
            customer_id=detail.customer_id,
            amount=detail.total_amount,
            currency=detail.currency,
            updated_at=_timestamp(at),
        )


def _timestamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """A fact the payment service publishes (source ``orderflow.payments``)."""

    detail_type: str
    detail: dict[str, str]

    @property
    def event_id(self) -> str:
        return self.detail["eventId"]


def outcome_event(payment: Payment, detail_type: str) -> PaymentEvent:
    """The event ``detail_type`` that ``payment`` publishes; the same detail on every publication, so a
    consumer drops a repeat by its ``eventId`` (``{orderId}#{createdAt}#{detail-type}``)."""
    detail = {
        "eventId": f"{payment.payment_id}#{detail_type}",
        "orderId": payment.order_id,
        "createdAt": payment.created_at,
        "customerId": payment.customer_id,
        "amount": payment.amount,
        "currency": payment.currency,
        "occurredAt": (payment.refunded_at if detail_type == PAYMENT_REFUNDED else payment.charged_at)
        or payment.updated_at,
    }
    if payment.charge_id:
        detail["chargeId"] = payment.charge_id
    if detail_type == PAYMENT_DECLINED and payment.decline_code:
        detail["declineCode"] = payment.decline_code
    if detail_type == PAYMENT_REFUNDED and payment.refund_id:
        detail["refundId"] = payment.refund_id
    return PaymentEvent(detail_type=detail_type, detail=detail)


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    idempotency_key: str
    amount_minor: int
    currency: str
    customer_id: str
    metadata: dict[str, str]


@dataclass(frozen=True, slots=True)
class ChargeResult:
    """The provider's answer to a charge: captured (``charge_id``) or declined (``decline_code``)."""

    captured: bool
    charge_id: str | None = None
    decline_code: str | None = None
    #: The provider replayed an earlier answer for the same idempotency key.
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class RefundRequest:
    idempotency_key: str
    charge_id: str
    amount_minor: int
    metadata: dict[str, str]


@dataclass(frozen=True, slots=True)
class RefundResult:
    #: None when the provider says the charge was already refunded in full (under another key).
    refund_id: str | None
    replayed: bool = False
