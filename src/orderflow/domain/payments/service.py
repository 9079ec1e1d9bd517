"""The payment use case: what one order event does to the order's payment.

``OrderConfirmed`` charges the order's total; ``OrderCancelled`` refunds what was charged, and
a cancellation that arrives before the charge means the order is never charged, whatever
arrives later. A cancellation that meets a charge in flight waits for nothing: it records
``CANCELLING``, and the charge's own delivery refunds the capture once the provider answers.
Three layers keep a charge from ever being made twice:

1. Powertools Idempotency (in the handler) drops a redelivered event while its record lives.
2. The payment's own state: a charge is asked for only from ``CHARGING`` (or ``CANCELLING``,
   the same charge once its order was cancelled), and a payment leaves them once, by a
   conditional write.
3. The provider's idempotency key (``Payment.charge_key``), the same on every attempt: a
   charge that was made but never recorded (a timeout, a lost response, a crash) is
   answered again, not made again.

Every write is conditional on the state it was decided from; when the condition fails, the
store returns the current payment and the event decides again from it (as the order
service's lifecycle does). States only move forward, so a few rounds always settle.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from orderflow.domain.errors import TransientError
from orderflow.domain.payments.models import (
    ORDER_CONFIRMED,
    PAYMENT_CAPTURED,
    PAYMENT_DECLINED,
    PAYMENT_REFUNDED,
    ChargeRequest,
    ChargeResult,
    OrderEvent,
    Payment,
    PaymentEvent,
    PaymentStatus,
    RefundRequest,
    RefundResult,
    outcome_event,
)

if TYPE_CHECKING:
    from collections.abc import Callable


class PaymentStore(Protocol):
    """One payment per order, changed only by conditional writes."""

    def create(self, payment: Payment) -> Payment | None:
        """Store ``payment`` if its order has none. None when stored; else the payment the order has."""
        ...

    def advance(self, payment: Payment, *, expected: PaymentStatus) -> Payment | None:
        """Replace the order's payment with ``payment`` if its status is ``expected``. None when replaced;
        else the payment the order has."""
        ...


class PaymentGateway(Protocol):
    """The external payment provider. A decline is an answer, not an error; failures that may pass
    raise a :class:`TransientError`, those that never will a ``PermanentError``."""

    def charge(self, request: ChargeRequest) -> ChargeResult: ...

    def refund(self, request: RefundRequest) -> RefundResult: ...


class PaymentEventPublisher(Protocol):
    def publish(self, events: list[PaymentEvent]) -> None:
        """Publish ``events``; raise a :class:`TransientError` when any is not accepted."""
        ...


class PaymentAction(enum.StrEnum):
    """What handling an event did, for the log line and the metrics."""

    CHARGED = "CHARGED"
    DECLINED = "DECLINED"
    REFUNDED = "REFUNDED"
    VOIDED = "VOIDED"
    #: A cancellation met a charge in flight: recorded (CANCELLING), the charge's delivery refunds it.
    REFUND_ON_ANSWER = "REFUND_ON_ANSWER"
    #: The event's effect was already recorded (a redelivery): its outcome is published again.
    REPUBLISHED = "REPUBLISHED"
    #: Nothing to do: a confirmation after a cancellation, a cancellation after a decline.
    SKIPPED = "SKIPPED"


#: The metric each action counts.
ACTION_METRICS = {
    PaymentAction.CHARGED: "PaymentsCaptured",
    PaymentAction.DECLINED: "PaymentsDeclined",
    PaymentAction.REFUNDED: "PaymentsRefunded",
    PaymentAction.VOIDED: "PaymentsVoided",
    PaymentAction.REFUND_ON_ANSWER: "CancellationsDuringCharge",
    PaymentAction.REPUBLISHED: "PaymentEventsRepublished",
    PaymentAction.SKIPPED: "PaymentEventsSkipped",
}


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    action: PaymentAction
    payment: Payment
    message: str
    #: The provider replayed an earlier answer (a retry after a lost response or a timeout).
    replayed: bool = False

    def to_json(self) -> dict[str, str | bool]:
        """What Powertools Idempotency stores for the event and returns for a repeat."""
        return {"action": self.action.value, "status": self.payment.status.value, "message": self.message,
                "replayed": self.replayed}  # fmt: skip


class _Step(enum.Enum):
    START_CHARGE = enum.auto()
    CHARGE = enum.auto()
    VOID = enum.auto()
    START_REFUND = enum.auto()
    REFUND = enum.auto()
    CANCEL_CHARGE = enum.auto()
    REPUBLISH = enum.auto()
    SKIP = enum.auto()


#: What a confirmation does, by the payment it finds.
_ON_CONFIRMED = {
    None: _Step.START_CHARGE,
    PaymentStatus.CHARGING: _Step.CHARGE,
    # cancelled while this charge was in flight: its answer (the same key's) is refunded at once
    PaymentStatus.CANCELLING: _Step.CHARGE,
    PaymentStatus.CAPTURED: _Step.REPUBLISH,
    PaymentStatus.DECLINED: _Step.REPUBLISH,
    # the refund may be this charge's own (CANCELLING): whoever meets it finishes it, with its key
    PaymentStatus.REFUNDING: _Step.REFUND,
    PaymentStatus.REFUNDED: _Step.REPUBLISH,
    PaymentStatus.VOIDED: _Step.SKIP,
}
#: What a cancellation does, by the payment it finds.
_ON_CANCELLED = {
    None: _Step.VOID,
    PaymentStatus.CHARGING: _Step.CANCEL_CHARGE,
    PaymentStatus.CANCELLING: _Step.SKIP,
    PaymentStatus.CAPTURED: _Step.START_REFUND,
    PaymentStatus.DECLINED: _Step.SKIP,
    PaymentStatus.REFUNDING: _Step.REFUND,
    PaymentStatus.REFUNDED: _Step.REPUBLISH,
    PaymentStatus.VOIDED: _Step.SKIP,
}
#: States only move forward: each write settles one step, so this many rounds always suffice.
MAX_ROUNDS = 8


def _utc_now() -> datetime:
    return datetime.now(UTC)


class PaymentService:
    """Handles one order event at a time; safe to run for the same order on several threads or
    environments at once (every write is conditional)."""

    def __init__(
        self,
        *,
        store: PaymentStore,
        gateway: PaymentGateway,
        publisher: PaymentEventPublisher,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.publisher = publisher
        self.clock = clock

    def handle(self, event: OrderEvent) -> PaymentOutcome:
        confirmed = event.detail_type == ORDER_CONFIRMED
        decide = _ON_CONFIRMED if confirmed else _ON_CANCELLED
        step, payment = decide[None], None  # the state an event meets most often: none yet
        for _ in range(MAX_ROUNDS):
            if step is _Step.START_CHARGE or step is _Step.VOID:
                status = PaymentStatus.CHARGING if step is _Step.START_CHARGE else PaymentStatus.VOIDED
                new = Payment.new(event.detail, status, self.clock())
                current = self.store.create(new)
                if current is None and step is _Step.VOID:
                    return PaymentOutcome(PaymentAction.VOIDED, new, "Cancelled before any charge: never charged")
                payment, step = (new, _Step.CHARGE) if current is None else (current, decide[current.status])
                continue
            if payment is None:  # pragma: no cover - every other step follows a read of the payment
                raise RuntimeError(f"{step} without a payment")
            done = self._take(step, payment, confirmed=confirmed)
            if isinstance(done, PaymentOutcome):
                return done
            # another attempt recorded an answer first: decide again from the payment it left
            payment, step = done, decide[done.status]
        raise TransientError(f"order {event.detail.order_id}: its payment kept changing under {MAX_ROUNDS} writes")

    def _take(self, step: _Step, payment: Payment, *, confirmed: bool) -> PaymentOutcome | Payment:
        """Take ``step`` from ``payment``: the outcome, or the payment found when a write's condition failed."""
        if step is _Step.CHARGE:
            return self._charge(payment)
        if step is _Step.START_REFUND:
            refunding = payment.moved(PaymentStatus.REFUNDING, self.clock())
            current = self.store.advance(refunding, expected=PaymentStatus.CAPTURED)
            return self._refund(refunding, with_capture=False) if current is None else current
        if step is _Step.REFUND:
            return self._refund(payment, with_capture=confirmed)
        if step is _Step.CANCEL_CHARGE:
            cancelling = payment.moved(PaymentStatus.CANCELLING, self.clock())
            current = self.store.advance(cancelling, expected=PaymentStatus.CHARGING)
            if current is not None:
                return current
            message = "Cancelled while its charge is in flight: the charge's answer will be refunded"
            return PaymentOutcome(PaymentAction.REFUND_ON_ANSWER, cancelling, message)
        if step is _Step.REPUBLISH:
            # a confirmation whose charge was refunded may have refunded it itself (CANCELLING): both again
            types = [_charge_event(payment)] if confirmed else [PAYMENT_REFUNDED]
            if confirmed and payment.status is PaymentStatus.REFUNDED:
                types.append(PAYMENT_REFUNDED)
            self.publisher.publish([outcome_event(payment, detail_type) for detail_type in types])
            message = f"Already {payment.status.lower()}: {' and '.join(types)} published again"
            return PaymentOutcome(PaymentAction.REPUBLISHED, payment, message)
        if step is _Step.SKIP:
            return PaymentOutcome(PaymentAction.SKIPPED, payment, _SKIPPED[payment.status])
        raise RuntimeError(f"no step {step}")  # pragma: no cover - every step is handled above

    def _charge(self, payment: Payment) -> PaymentOutcome | Payment:
        """Ask for the charge (from CHARGING or CANCELLING) and record its answer; a capture of a
        cancelled order is recorded as REFUNDING and refunded at once."""
        result = self.gateway.charge(_charge_request(payment))
        now = self.clock()
        if result.captured:
            new = payment.moved(PaymentStatus.CAPTURED, now, charge_id=result.charge_id)
            if payment.status is PaymentStatus.CANCELLING:
                new = new.moved(PaymentStatus.REFUNDING, now)
        else:
            code = result.decline_code or "declined"
            new = payment.moved(PaymentStatus.DECLINED, now, charge_id=result.charge_id, decline_code=code)
        current = self.store.advance(new, expected=payment.status)
        if current is not None:
            return current
        if new.status is PaymentStatus.REFUNDING:
            return self._refund(new, with_capture=True)
        self.publisher.publish([outcome_event(new, _charge_event(new))])
        if result.captured:
            return PaymentOutcome(PaymentAction.CHARGED, new, "Charge captured", replayed=result.replayed)
        message = f"Charge declined ({new.decline_code})"
        return PaymentOutcome(PaymentAction.DECLINED, new, message, replayed=result.replayed)

    def _refund(self, payment: Payment, *, with_capture: bool) -> PaymentOutcome | Payment:
        """Ask for the refund and record it; ``with_capture`` (a confirmation finishing the refund of
        its own charge) publishes PaymentCaptured before PaymentRefunded, in the same call."""
        refund = self.gateway.refund(_refund_request(payment))
        new = payment.moved(PaymentStatus.REFUNDED, self.clock(), refund_id=refund.refund_id)
        current = self.store.advance(new, expected=PaymentStatus.REFUNDING)
        if current is not None:
            return current
        published = [PAYMENT_CAPTURED, PAYMENT_REFUNDED] if with_capture else [PAYMENT_REFUNDED]
        self.publisher.publish([outcome_event(new, detail_type) for detail_type in published])
        message = "Charged while the order was being cancelled: refunded at once" if with_capture else "Charge refunded"
        return PaymentOutcome(PaymentAction.REFUNDED, new, message, replayed=refund.replayed)


#: Why an event changed nothing, by the payment it met.
_SKIPPED = {
    PaymentStatus.VOIDED: "Cancelled before any charge: never charged",
    PaymentStatus.DECLINED: "The charge was declined: nothing to refund",
    PaymentStatus.CANCELLING: "Already cancelled while its charge is in flight: the charge's answer will be refunded",
}


def _charge_event(payment: Payment) -> str:
    """The charge's outcome event: captured, unless the provider declined it."""
    return PAYMENT_DECLINED if payment.status is PaymentStatus.DECLINED else PAYMENT_CAPTURED


def _metadata(payment: Payment) -> dict[str, str]:
    return {"order_id": payment.order_id, "created_at": payment.created_at}


def _charge_request(payment: Payment) -> ChargeRequest:
    return ChargeRequest(
        idempotency_key=payment.charge_key,
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        customer_id=payment.customer_id,
        metadata=_metadata(payment),
    )


def _refund_request(payment: Payment) -> RefundRequest:
    if payment.charge_id is None:  # a CAPTURED payment always has one: a corrupt item, not a retry's matter
        raise ValueError(f"order {payment.order_id}: a captured payment without a charge id")
    return RefundRequest(
        idempotency_key=payment.refund_key,
        charge_id=payment.charge_id,
        amount_minor=payment.amount_minor,
        metadata=_metadata(payment),
    )
