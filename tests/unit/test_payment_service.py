"""The payment use case: charged once, refunded once, never charged after a cancellation, whatever
the order of delivery, the repeats and the failures between the provider and the store."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderflow.domain.errors import StoreUnavailableError, TransientError
from orderflow.domain.payments.errors import EventPublishError, PaymentProviderUnavailableError
from orderflow.domain.payments.models import (
    ChargeRequest,
    ChargeResult,
    PaymentStatus,
    RefundRequest,
    RefundResult,
    to_minor_units,
)
from orderflow.domain.payments.service import PaymentAction, PaymentService
from tests.payments_support import FakeProvider, MemoryPaymentStore, RecordingPublisher, SteppingClock, order_event

if TYPE_CHECKING:
    from collections.abc import Callable

CONFIRMED, CANCELLED = order_event("OrderConfirmed"), order_event("OrderCancelled")


def _service(
    provider: FakeProvider | None = None, store: MemoryPaymentStore | None = None
) -> tuple[PaymentService, FakeProvider, MemoryPaymentStore, RecordingPublisher]:
    provider, store, publisher = provider or FakeProvider(), store or MemoryPaymentStore(), RecordingPublisher()
    return (
        PaymentService(store=store, gateway=provider, publisher=publisher, clock=SteppingClock()),
        provider,
        store,
        publisher,
    )


def _cancel_during_charge(service: PaymentService) -> None:
    """The charge is made but its answer not recorded (the store's next advance fails), then the order's
    cancellation arrives: the payment is CANCELLING, the charge's message still to be redelivered."""
    with pytest.raises(StoreUnavailableError):
        service.handle(CONFIRMED)
    assert service.handle(CANCELLED).action is PaymentAction.REFUND_ON_ANSWER


def test_a_confirmed_order_is_charged_its_total_in_minor_units_once_and_the_capture_published() -> None:
    service, provider, store, publisher = _service()

    outcome = service.handle(CONFIRMED)

    assert outcome.action is PaymentAction.CHARGED
    assert [charge["amount"] for charge in provider.charges] == [14999]
    payment = store.items[("ord-1", "2026-12-07T09:00:00Z")]
    assert payment.status is PaymentStatus.CAPTURED
    assert payment.charge_id == provider.charges[0]["id"]
    assert [(event.detail_type, event.event_id) for event in publisher.published] == [
        ("PaymentCaptured", "ord-1#2026-12-07T09:00:00Z#PaymentCaptured")
    ]
    detail = publisher.published[0].detail
    assert (detail["amount"], detail["currency"], detail["chargeId"]) == ("149.99", "USD", payment.charge_id)
    assert provider.charges[0]["key"] == "orderflow:ord-1#2026-12-07T09:00:00Z:charge"


@pytest.mark.parametrize(("amount", "currency", "minor"), [("149.99", "USD", 14999), ("100", "USD", 10000),
                                                            ("5000", "JPY", 5000), ("1.234", "KWD", 1234)])  # fmt: skip
def test_amounts_go_to_the_provider_in_the_currency_s_minor_units(amount: str, currency: str, minor: int) -> None:
    assert to_minor_units(amount, currency) == minor


def test_an_amount_finer_than_its_currency_is_not_an_order_event_the_service_takes() -> None:
    with pytest.raises(ValueError, match="decimal place"):
        order_event("OrderConfirmed", total="1.5", currency="JPY")


def test_a_redelivered_confirmation_publishes_the_same_capture_again_and_charges_nothing() -> None:
    service, provider, _, publisher = _service()
    service.handle(CONFIRMED)

    again = service.handle(CONFIRMED)

    assert again.action is PaymentAction.REPUBLISHED
    assert len(provider.charges) == 1
    assert publisher.published[0] == publisher.published[1]  # same id, same detail, same occurredAt


def test_a_cancellation_before_the_charge_means_the_order_is_never_charged_whatever_arrives_later() -> None:
    service, provider, store, publisher = _service()

    assert service.handle(CANCELLED).action is PaymentAction.VOIDED
    later = service.handle(CONFIRMED)

    assert later.action is PaymentAction.SKIPPED
    assert provider.charges == []
    assert store.items[CONFIRMED.key].status is PaymentStatus.VOIDED
    assert publisher.published == []


def test_a_cancellation_after_the_charge_refunds_it_once() -> None:
    service, provider, store, publisher = _service()
    service.handle(CONFIRMED)

    outcome = service.handle(CANCELLED)
    service.handle(CANCELLED)  # redelivered

    assert outcome.action is PaymentAction.REFUNDED
    assert [refund["amount"] for refund in provider.refunds] == [14999]
    assert provider.net("ord-1") == 0
    assert store.items[CONFIRMED.key].status is PaymentStatus.REFUNDED
    refunded = [event for event in publisher.published if event.detail_type == "PaymentRefunded"]
    assert len(refunded) == 2
    assert refunded[0] == refunded[1]
    assert refunded[0].detail["refundId"] == provider.refunds[0]["id"]
    # a confirmation redelivered after the refund publishes the capture as it was, and charges nothing
    service.handle(CONFIRMED)
    captured = [event for event in publisher.published if event.detail_type == "PaymentCaptured"]
    assert len(captured) == 2
    assert captured[0] == captured[1]
    assert len(provider.charges) == 1


def test_a_declined_charge_is_published_and_a_later_cancellation_refunds_nothing() -> None:
    service, provider, store, publisher = _service()
    declined = order_event("OrderConfirmed", customer_id="decline-card")

    assert service.handle(declined).action is PaymentAction.DECLINED
    assert service.handle(order_event("OrderCancelled", customer_id="decline-card")).action is PaymentAction.SKIPPED

    assert provider.charges == []
    assert provider.refunds == []
    assert store.items[declined.key].decline_code == "generic_decline"
    assert [event.detail_type for event in publisher.published] == ["PaymentDeclined"]
    assert publisher.published[0].detail["declineCode"] == "generic_decline"


def test_a_cancellation_that_meets_a_charge_in_flight_is_recorded_and_the_charge_s_retry_refunds_it() -> None:
    service, provider, store, publisher = _service(store=MemoryPaymentStore(fail_advances=1))
    with pytest.raises(StoreUnavailableError):  # charged, but the answer was not recorded: still CHARGING
        service.handle(CONFIRMED)

    cancelled = service.handle(CANCELLED)  # nothing to wait for: SQS deletes it

    assert cancelled.action is PaymentAction.REFUND_ON_ANSWER
    assert store.items[CONFIRMED.key].status is PaymentStatus.CANCELLING
    assert provider.refunds == []
    assert service.handle(CANCELLED).action is PaymentAction.SKIPPED  # a repeat changes nothing

    retried = service.handle(CONFIRMED)  # SQS redelivers the charge: its key's answer, refunded at once

    assert retried.action is PaymentAction.REFUNDED
    assert len(provider.charges) == 1
    assert [refund["charge"] for refund in provider.refunds] == [provider.charges[0]["id"]]
    assert provider.net("ord-1") == 0
    payment = store.items[CONFIRMED.key]
    assert payment.status is PaymentStatus.REFUNDED
    assert payment.charged_at is not None
    assert [event.detail_type for event in publisher.published] == ["PaymentCaptured", "PaymentRefunded"]
    assert service.handle(CANCELLED).action is PaymentAction.REPUBLISHED


def test_a_charge_in_flight_that_is_declined_ends_a_cancelled_payment_with_nothing_to_refund() -> None:
    declined = order_event("OrderConfirmed", customer_id="decline-1")
    cancelled = order_event("OrderCancelled", customer_id="decline-1")
    service, provider, store, publisher = _service(store=MemoryPaymentStore(fail_advances=1))
    with pytest.raises(StoreUnavailableError):
        service.handle(declined)
    assert service.handle(cancelled).action is PaymentAction.REFUND_ON_ANSWER

    assert service.handle(declined).action is PaymentAction.DECLINED

    assert store.items[declined.key].status is PaymentStatus.DECLINED
    assert provider.refunds == []
    assert [event.detail_type for event in publisher.published] == ["PaymentDeclined"]


class _CancelledDuringCharge(FakeProvider):
    """A provider whose first charge is followed, before the charge's answer is recorded, by the
    order's cancellation on another delivery (``cancel``)."""

    cancel: Callable[[], object] | None = None

    def charge(self, request: ChargeRequest) -> ChargeResult:
        result = super().charge(request)
        cancel, self.cancel = self.cancel, None
        if cancel is not None:
            cancel()
        return result


def test_a_cancellation_recorded_between_the_provider_s_answer_and_its_write_gets_the_capture_refunded() -> None:
    provider = _CancelledDuringCharge()
    service, _, store, publisher = _service(provider=provider)
    during: list[PaymentAction] = []
    provider.cancel = lambda: during.append(service.handle(CANCELLED).action)

    outcome = service.handle(CONFIRMED)  # its CAPTURED write finds CANCELLING: it asks again, then refunds

    assert during == [PaymentAction.REFUND_ON_ANSWER]
    assert outcome.action is PaymentAction.REFUNDED
    assert len(provider.charges) == 1
    assert len(provider.refunds) == 1
    assert store.items[CONFIRMED.key].status is PaymentStatus.REFUNDED
    assert [event.detail_type for event in publisher.published] == ["PaymentCaptured", "PaymentRefunded"]


class _RefundsFail(FakeProvider):
    """A provider whose next ``refunds_down`` refunds fail before executing."""

    refunds_down: int = 0

    def refund(self, request: RefundRequest) -> RefundResult:
        if self.refunds_down:
            self.refunds_down -= 1
            raise PaymentProviderUnavailableError("provider: 503 before executing")
        return super().refund(request)


def test_a_refund_of_a_charge_in_flight_that_fails_is_finished_by_the_charge_s_retry() -> None:
    provider = _RefundsFail()
    service, _, store, publisher = _service(provider=provider, store=MemoryPaymentStore(fail_advances=1))
    _cancel_during_charge(service)
    provider.refunds_down = 1
    with pytest.raises(PaymentProviderUnavailableError):
        service.handle(CONFIRMED)
    assert store.items[CONFIRMED.key].status is PaymentStatus.REFUNDING
    assert publisher.published == []

    assert service.handle(CONFIRMED).action is PaymentAction.REFUNDED

    assert provider.net("ord-1") == 0
    assert len(provider.refunds) == 1
    assert [event.detail_type for event in publisher.published] == ["PaymentCaptured", "PaymentRefunded"]


def test_a_refund_of_a_charge_in_flight_not_published_is_published_by_the_charge_s_retry() -> None:
    service, provider, _, publisher = _service(store=MemoryPaymentStore(fail_advances=1))
    _cancel_during_charge(service)
    publisher.fail = 1
    with pytest.raises(EventPublishError):  # refunded and recorded; its events not accepted
        service.handle(CONFIRMED)

    assert service.handle(CONFIRMED).action is PaymentAction.REPUBLISHED

    assert len(provider.refunds) == 1
    assert [event.detail_type for event in publisher.published] == ["PaymentCaptured", "PaymentRefunded"]


def test_a_charge_made_but_never_recorded_is_answered_again_by_its_key_not_made_again() -> None:
    # the function timed out (or died) after the provider charged and before the store recorded it
    service, provider, store, publisher = _service(store=MemoryPaymentStore(fail_advances=1))
    with pytest.raises(StoreUnavailableError):
        service.handle(CONFIRMED)

    retried = service.handle(CONFIRMED)

    assert retried.action is PaymentAction.CHARGED
    assert retried.replayed  # the provider's answer to the same key
    assert len(provider.charges) == 1
    assert store.items[CONFIRMED.key].charge_id == provider.charges[0]["id"]
    assert [event.detail_type for event in publisher.published] == ["PaymentCaptured"]


def test_a_lost_response_is_retried_with_the_same_key_and_charges_once() -> None:
    service, provider, _, _ = _service(provider=FakeProvider(lose_response=1))
    with pytest.raises(PaymentProviderUnavailableError):
        service.handle(CONFIRMED)

    assert service.handle(CONFIRMED).action is PaymentAction.CHARGED
    assert len(provider.charges) == 1


def test_a_capture_not_published_is_published_by_the_retry_with_the_same_detail() -> None:
    service, provider, _, publisher = _service()
    publisher.fail = 1
    with pytest.raises(EventPublishError):
        service.handle(CONFIRMED)

    assert service.handle(CONFIRMED).action is PaymentAction.REPUBLISHED
    assert len(provider.charges) == 1
    assert [event.detail_type for event in publisher.published] == ["PaymentCaptured"]


def test_the_same_confirmation_on_many_threads_at_once_charges_once() -> None:
    service, provider, _, publisher = _service()
    barrier = threading.Barrier(8)
    actions: list[PaymentAction] = []

    def run() -> None:
        barrier.wait()
        try:
            actions.append(service.handle(CONFIRMED).action)
        except TransientError:
            actions.append(PaymentAction.SKIPPED)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(provider.charges) == 1
    assert actions.count(PaymentAction.CHARGED) == 1
    assert {event.event_id for event in publisher.published} == {
        CONFIRMED.detail.event_id.rsplit("#", 1)[0] + "#PaymentCaptured"
    }


#: One delivery: which event, and which failure strikes it (None: none).
_DELIVERY = st.tuples(
    st.sampled_from(["OrderConfirmed", "OrderCancelled"]),
    st.sampled_from([None, "provider_down", "response_lost", "store_timeout", "publish_fails"]),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    deliveries=st.lists(_DELIVERY, min_size=1, max_size=8),
    cancelled=st.booleans(),
    declined=st.booleans(),
    cancelled_last=st.booleans(),
)
def test_any_deliveries_with_any_failures_charge_exactly_once_or_net_zero(
    deliveries: list[tuple[str, str | None]], cancelled: bool, declined: bool, cancelled_last: bool
) -> None:
    """Delivered in any order, any number of times, with failures anywhere; then, as SQS does, each
    event whose last delivery failed (or that was never delivered) once more without failures, in
    either order: the ledger holds what the order's fate says. Nothing waits on anything: an event
    delivered without a failure always succeeds."""
    customer = "decline-x" if declined else "cust-1"
    events = {name: order_event(name, customer_id=customer) for name in ("OrderConfirmed", "OrderCancelled")}
    names = [name for name in events if cancelled or name == "OrderConfirmed"]
    sent = [(name, fault) for name, fault in deliveries if name in names]
    provider, store = FakeProvider(), MemoryPaymentStore()
    service, _, _, publisher = _service(provider=provider, store=store)
    pending = set(names)  # SQS keeps a message until a delivery of it succeeds
    for name, fault in sent:
        provider.fail_before = int(fault == "provider_down")
        provider.lose_response = int(fault == "response_lost")
        store.fail_advances = int(fault == "store_timeout")
        publisher.fail = int(fault == "publish_fails")
        try:
            service.handle(events[name])
        except TransientError:
            pending.add(name)
        else:
            pending.discard(name)
    provider.fail_before = provider.lose_response = store.fail_advances = publisher.fail = 0
    for name in sorted(pending, reverse=cancelled_last):  # the redeliveries that finally pass
        service.handle(events[name])
    payment = store.items.get(events["OrderConfirmed"].key)
    charged = sum(charge["amount"] for charge in provider.charges)
    assert len(provider.charges) <= 1
    assert len(provider.refunds) <= 1
    if declined:
        assert charged == 0
    elif cancelled:
        assert provider.net("ord-1") == 0
        assert payment is not None
        assert payment.status in {PaymentStatus.VOIDED, PaymentStatus.REFUNDED}
    else:
        assert charged == 14999
        assert provider.net("ord-1") == 14999
        assert payment is not None
        assert payment.status is PaymentStatus.CAPTURED
    # every outcome the payment reached was published, each event id always with the same detail
    published = {event.detail_type for event in publisher.published}
    outcomes = {PaymentStatus.CAPTURED: {"PaymentCaptured"}, PaymentStatus.DECLINED: {"PaymentDeclined"},
                PaymentStatus.REFUNDED: {"PaymentCaptured", "PaymentRefunded"}}  # fmt: skip
    assert outcomes.get(payment.status if payment else PaymentStatus.VOIDED, set()) <= published
    by_id: dict[str, set[str]] = {}
    for event in publisher.published:
        by_id.setdefault(event.event_id, set()).add(repr(sorted(event.detail.items())))
    assert all(len(details) == 1 for details in by_id.values())
    assert Decimal(payment.amount if payment else "149.99") == Decimal("149.99")
