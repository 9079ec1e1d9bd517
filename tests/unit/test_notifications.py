"""The notification service's use case: which e-mail each event sends, to whom, and at most once
whatever is redelivered or fails (docs/services.md, "Notifier")."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orderflow.domain.notifications.errors import (
    MailOutcomeUnknownError,
    MailRejectedError,
    MailUnavailableError,
    NotifiedOrderNotFoundError,
)
from orderflow.domain.notifications.models import ClaimStatus, Line, NotificationKind
from orderflow.domain.notifications.render import money
from orderflow.domain.notifications.service import NotificationAction, NotificationService
from tests.notifications_support import MemoryClaims, MemoryOrders, RecordingMailer, an_order, domain_event

SENDER = "orders@shop.example"


class Crash(BaseException):
    """The execution environment dying (not an Exception: nothing in the service may catch it)."""


def service(*orders: object, claims: MemoryClaims | None = None, mailer: RecordingMailer | None = None):  # type: ignore[no-untyped-def]
    return NotificationService(
        orders=MemoryOrders(*(orders or (an_order(),))),  # type: ignore[arg-type]
        store=claims or MemoryClaims(),
        mailer=mailer or RecordingMailer(),
        sender=SENDER,
    )


def test_a_captured_payment_sends_a_confirmation_with_the_orders_lines_and_total() -> None:
    mailer, claims = RecordingMailer(), MemoryClaims()
    event = domain_event("PaymentCaptured")

    outcome = service(claims=claims, mailer=mailer).handle(event)

    assert (outcome.action, outcome.to, outcome.message_id) == (NotificationAction.SENT, "jane@example.com", "ses-1")
    [(sender, email)] = mailer.sent
    assert (sender, email.to, email.kind, email.event_id) == (SENDER, "jane@example.com", "confirmation",
                                                              event.detail.event_id)  # fmt: skip
    assert email.subject == "Your order ord-1 is confirmed"
    assert "2 x Widget at 10.00 USD = 20.00 USD" in email.text
    assert "1 x Gadget at 129.99 USD = 129.99 USD" in email.text
    assert "Total: 149.99 USD" in email.text
    assert "<td>Widget</td>" in email.html
    assert "149.99 USD" in email.html
    assert claims.claims[event.detail.event_id].status is ClaimStatus.SENT
    assert claims.claims[event.detail.event_id].message_id == "ses-1"


@pytest.mark.parametrize(
    ("detail_type", "kind", "subject", "phrase"),
    [
        ("OrderCancelled", NotificationKind.CANCELLATION, "Your order ord-1 is cancelled", "2 x Widget"),
        ("PaymentRefunded", NotificationKind.REFUND, "Your refund for order ord-1", "We refunded 149.99 USD"),
    ],
)
def test_a_cancellation_and_a_refund_each_send_their_own_note(
    detail_type: str, kind: NotificationKind, subject: str, phrase: str
) -> None:
    mailer = RecordingMailer()

    service(mailer=mailer).handle(domain_event(detail_type))

    [(_, email)] = mailer.sent
    assert (email.kind, email.subject) == (kind, subject)
    assert phrase in email.text


def test_customer_data_is_escaped_in_the_html_part_and_shown_as_written_in_the_text_part() -> None:
    hostile = "<script>alert('x')</script> & <b>"
    order = an_order(lines=(Line(hostile, 1, Decimal("149.99")),))
    mailer = RecordingMailer()

    service(order, mailer=mailer).handle(domain_event("PaymentCaptured"))

    [(_, email)] = mailer.sent
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;" in email.html
    assert hostile in email.text


def test_a_redelivered_event_finds_its_claim_sent_and_sends_nothing() -> None:
    mailer, claims = RecordingMailer(), MemoryClaims()
    notifier = service(claims=claims, mailer=mailer)
    event = domain_event("PaymentCaptured")
    notifier.handle(event)

    again = notifier.handle(event)

    assert (again.action, again.message_id) == (NotificationAction.ALREADY_SENT, "ses-1")
    assert mailer.sent_for(event.detail.event_id) == 1


def test_a_crash_after_ses_accepted_the_email_never_sends_it_again() -> None:
    mailer, claims = RecordingMailer(), MemoryClaims()
    notifier = service(claims=claims, mailer=mailer)
    event = domain_event("PaymentCaptured")

    def crash() -> None:
        raise Crash

    mailer.after_send = crash
    with pytest.raises(Crash):
        notifier.handle(event)

    retried = notifier.handle(event)  # Powertools' record gone (expired, or its in-progress window over)

    assert retried.action is NotificationAction.UNCERTAIN
    assert mailer.sent_for(event.detail.event_id) == 1


def test_a_crash_between_the_claim_and_the_send_is_reported_uncertain_not_sent_later() -> None:
    mailer, claims = RecordingMailer(), MemoryClaims()
    notifier = service(claims=claims, mailer=mailer)
    event = domain_event("PaymentCaptured")
    mailer.next_failure = Crash
    with pytest.raises(Crash):
        notifier.handle(event)

    retried = notifier.handle(event)

    assert retried.action is NotificationAction.UNCERTAIN
    assert "may have been sent" in retried.message
    assert mailer.sent == []  # at most once: an unknown outcome is never resolved by sending again


def test_ses_refusing_for_now_releases_the_claim_so_the_retry_sends_it_once() -> None:
    mailer, claims = RecordingMailer(), MemoryClaims()
    notifier = service(claims=claims, mailer=mailer)
    event = domain_event("PaymentCaptured")
    mailer.next_failure = lambda: MailUnavailableError("SES SendEmail failed: TooManyRequestsException")

    with pytest.raises(MailUnavailableError):
        notifier.handle(event)
    assert claims.claims == {}

    assert notifier.handle(event).action is NotificationAction.SENT
    assert mailer.sent_for(event.detail.event_id) == 1


def test_ses_rejecting_the_email_releases_the_claim_so_a_redrive_after_the_fix_sends_it() -> None:
    mailer, claims = RecordingMailer(), MemoryClaims()
    notifier = service(claims=claims, mailer=mailer)
    event = domain_event("PaymentCaptured")
    mailer.next_failure = lambda: MailRejectedError("SES refused the e-mail: MessageRejected: not verified")

    with pytest.raises(MailRejectedError) as rejected:
        notifier.handle(event)

    assert rejected.value.code == "EMAIL_REJECTED"
    assert claims.claims == {}
    assert notifier.handle(event).action is NotificationAction.SENT


def test_a_failed_release_keeps_the_claim_so_the_retry_reports_it_uncertain_and_never_sends_twice() -> None:
    mailer, claims = RecordingMailer(), MemoryClaims()
    notifier = service(claims=claims, mailer=mailer)
    event = domain_event("PaymentCaptured")
    mailer.next_failure = lambda: MailUnavailableError("SES SendEmail failed: InternalFailure")
    claims.fail.add("release")

    with pytest.raises(MailUnavailableError):
        notifier.handle(event)

    assert notifier.handle(event).action is NotificationAction.UNCERTAIN
    assert mailer.sent == []


def test_no_answer_from_ses_is_uncertain_at_once_and_stays_so() -> None:
    mailer, claims = RecordingMailer(), MemoryClaims()
    notifier = service(claims=claims, mailer=mailer)
    event = domain_event("PaymentRefunded")
    mailer.next_failure = lambda: MailOutcomeUnknownError("ReadTimeoutError: read timed out")

    first = notifier.handle(event)

    assert first.action is NotificationAction.UNCERTAIN
    assert "ReadTimeoutError" in first.message
    assert claims.claims[event.detail.event_id].status is ClaimStatus.SENDING
    assert notifier.handle(event).action is NotificationAction.UNCERTAIN
    assert mailer.sent == []


def test_a_claim_not_marked_sent_still_answers_sent_and_is_never_sent_again() -> None:
    mailer, claims = RecordingMailer(), MemoryClaims()
    notifier = service(claims=claims, mailer=mailer)
    event = domain_event("PaymentCaptured")
    claims.fail.add("mark_sent")

    first = notifier.handle(event)

    assert (first.action, first.message_id) == (NotificationAction.SENT, "ses-1")
    assert "not marked sent" in first.message
    assert notifier.handle(event).action is NotificationAction.UNCERTAIN
    assert mailer.sent_for(event.detail.event_id) == 1


def test_an_order_without_an_address_is_not_emailed_and_leaves_no_claim() -> None:
    mailer, claims = RecordingMailer(), MemoryClaims()

    outcome = service(an_order(email=None), claims=claims, mailer=mailer).handle(domain_event("PaymentCaptured"))

    assert outcome.action is NotificationAction.NO_ADDRESS
    assert (mailer.sent, claims.claims) == ([], {})


def test_an_event_whose_order_is_not_stored_is_a_dead_letter_with_its_reason() -> None:
    with pytest.raises(NotifiedOrderNotFoundError, match=r"order ord-9 created at .* is not in the Orders table"):
        service().handle(domain_event("PaymentCaptured", order_id="ord-9"))


def test_a_cancellation_stored_before_its_order_arrived_has_no_address_to_email() -> None:
    tombstone = an_order(email=None, lines=(), total=None, currency=None, status="CANCELLED")

    outcome = service(tombstone).handle(domain_event("OrderCancelled"))

    assert outcome.action is NotificationAction.NO_ADDRESS


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("1234.5", "USD", "1,234.50 USD"),
        ("1500", "JPY", "1,500 JPY"),
        ("0.125", "KWD", "0.125 KWD"),
        (None, "USD", "-"),
    ],
)
def test_amounts_are_shown_in_the_currencys_own_minor_units(amount: str | None, currency: str, shown: str) -> None:
    assert money(amount, currency) == shown


#: What can happen to one delivery of an event: it succeeds, SES refuses it for now, SES does not
#: answer, or the environment dies before SES is asked, or after SES accepted the e-mail.
_FATES = st.sampled_from(["ok", "unavailable", "unknown", "crash_before_send", "crash_after_send"])


@given(deliveries=st.lists(st.tuples(st.sampled_from(["PaymentCaptured", "OrderCancelled", "PaymentRefunded"]),
                                     _FATES), min_size=1, max_size=12))  # fmt: skip
def test_no_event_is_ever_emailed_twice_and_one_delivered_without_an_interruption_is_emailed(
    deliveries: list[tuple[str, str]],
) -> None:
    mailer, claims = RecordingMailer(), MemoryClaims()
    notifier = service(claims=claims, mailer=mailer)
    interrupted: set[str] = set()
    delivered_cleanly: set[str] = set()
    for detail_type, fate in deliveries:
        event = domain_event(detail_type)
        event_id = event.detail.event_id
        if fate == "unavailable":
            mailer.next_failure = lambda: MailUnavailableError("SES SendEmail failed: Throttling")
        elif fate == "unknown":
            mailer.next_failure = lambda: MailOutcomeUnknownError("ReadTimeoutError")
        elif fate == "crash_before_send":
            mailer.next_failure = Crash
        elif fate == "crash_after_send":
            mailer.after_send = _raise_crash
        try:
            outcome = notifier.handle(event)
        except (Crash, MailUnavailableError):
            outcome = None
        mailer.next_failure = mailer.after_send = None
        if fate in {"unknown", "crash_before_send", "crash_after_send"} and event_id not in delivered_cleanly:
            interrupted.add(event_id)
        if outcome is not None and fate == "ok" and event_id not in interrupted:
            delivered_cleanly.add(event_id)

    assert all(mailer.sent_for(event_id) <= 1 for event_id in claims.claims)
    assert len(mailer.sent) == len({email.event_id for _, email in mailer.sent})
    for event_id in delivered_cleanly:
        assert mailer.sent_for(event_id) == 1


def _raise_crash() -> None:
    raise Crash


def test_the_notifiers_settings_name_every_missing_variable_and_refuse_a_bad_expiry() -> None:
    from orderflow.composition import ConfigurationError, NotifierSettings

    with pytest.raises(
        ConfigurationError, match="ORDERS_TABLE, NOTIFICATIONS_TABLE, IDEMPOTENCY_TABLE, DLQ_URL, SENDER_EMAIL"
    ):
        NotifierSettings.from_env({})
    env = {"ORDERS_TABLE": "O", "NOTIFICATIONS_TABLE": "N", "IDEMPOTENCY_TABLE": "I", "DLQ_URL": "q",
           "SENDER_EMAIL": SENDER}  # fmt: skip
    with pytest.raises(ConfigurationError, match="IDEMPOTENCY_EXPIRY_SECONDS must be a positive number"):
        NotifierSettings.from_env({**env, "IDEMPOTENCY_EXPIRY_SECONDS": "0"})
    settings = NotifierSettings.from_env({**env, "RETRY_DELAYS": "1,2"})
    assert (settings.sender, settings.idempotency_expiry, settings.retry_delays) == (SENDER, 3600, (1, 2))
