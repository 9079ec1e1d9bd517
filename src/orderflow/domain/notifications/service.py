"""The notification use case: one domain event, at most one e-mail to the customer.

At most once, whatever is redelivered, by two layers:

1. Powertools Idempotency (in the handler) answers a redelivered event from its record while the
   record lives.
2. A claim in the ``Notifications`` table, written with ``attribute_not_exists`` *before* SES is
   asked: a claim that is already there means an earlier attempt asked SES, so this one never
   asks again. It is what Powertools alone cannot give: its in-progress record expires with the
   invocation's remaining time (powertools-lambda-python #8049), and a function killed after SES
   accepted the e-mail would send it again on the retry.

SES has no idempotency key, so an attempt interrupted between the claim and SES's answer (a
timeout, a crash) leaves the e-mail's fate unknown. The service then chooses at most once: it
does not send again, and it says so (``UNCERTAIN``: logged with the event's id, counted by the
``EmailsUncertain`` metric and alarmed on). A definite refusal (throttling, a 5xx, a rejected
address) releases the claim, so the retry, or a redrive, sends it.
"""

from __future__ import annotations

import contextlib
import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from orderflow.domain.errors import PermanentError, StoreUnavailableError, TransientError
from orderflow.domain.notifications.errors import MailOutcomeUnknownError, NotifiedOrderNotFoundError
from orderflow.domain.notifications.models import Claim, ClaimStatus
from orderflow.domain.notifications.render import render

if TYPE_CHECKING:
    from collections.abc import Callable

    from orderflow.domain.notifications.models import DomainEvent, Email, Order


class OrderReader(Protocol):
    def get(self, key: tuple[str, str]) -> Order | None:
        """The order stored under ``key`` (a consistent read), or None."""
        ...


class NotificationStore(Protocol):
    def claim(self, claim: Claim) -> Claim | None:
        """Store ``claim`` unless the event has one. None when stored; else the claim the event has."""
        ...

    def mark_sent(self, claim: Claim, message_id: str) -> None:
        """Record that SES accepted the claimed e-mail as ``message_id``."""
        ...

    def release(self, claim: Claim) -> None:
        """Delete the claim (SES did not send the e-mail), if it is still ``SENDING``."""
        ...


class Mailer(Protocol):
    def send(self, email: Email, sender: str) -> str:
        """Send ``email``; SES's message id. Raises ``MailUnavailableError`` (not sent; retry),
        ``MailRejectedError`` (not sent; never will be) or ``MailOutcomeUnknownError`` (maybe sent)."""
        ...


class NotificationAction(enum.StrEnum):
    SENT = "SENT"
    #: The event's claim says the e-mail was sent already: not sent again.
    ALREADY_SENT = "ALREADY_SENT"
    #: An earlier attempt was interrupted after asking SES, or SES did not answer: not sent again.
    UNCERTAIN = "UNCERTAIN"
    #: The order has no ``customerEmail``: nobody to e-mail.
    NO_ADDRESS = "NO_ADDRESS"


#: The metric each action counts.
ACTION_METRICS = {
    NotificationAction.SENT: "EmailsSent",
    NotificationAction.ALREADY_SENT: "DuplicateEmailsSkipped",
    NotificationAction.UNCERTAIN: "EmailsUncertain",
    NotificationAction.NO_ADDRESS: "EmailsWithoutAddress",
}


@dataclass(frozen=True, slots=True)
class NotificationOutcome:
    action: NotificationAction
    message: str
    kind: str
    to: str | None = None
    message_id: str | None = None

    def to_json(self) -> dict[str, str | None]:
        """What Powertools Idempotency stores for the event and returns for a repeat."""
        return {"action": self.action.value, "message": self.message, "kind": self.kind, "to": self.to,
                "messageId": self.message_id}  # fmt: skip


def _utc_now() -> datetime:
    return datetime.now(UTC)


class NotificationService:
    def __init__(
        self,
        *,
        orders: OrderReader,
        store: NotificationStore,
        mailer: Mailer,
        sender: str,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.orders = orders
        self.store = store
        self.mailer = mailer
        self.sender = sender
        self.clock = clock

    def handle(self, event: DomainEvent) -> NotificationOutcome:
        kind = event.kind
        detail = event.detail
        order = self.orders.get((detail.order_id, detail.created_at))
        if order is None:
            raise NotifiedOrderNotFoundError(
                f"order {detail.order_id} created at {detail.created_at} is not in the Orders table (expired by "
                f"its TTL, or never stored): nothing to e-mail about {event.detail_type}"
            )
        if order.email is None:
            return NotificationOutcome(
                NotificationAction.NO_ADDRESS, "Not e-mailed: the order has no customerEmail", kind.value
            )
        email = render(event, order, order.email)
        claim = Claim(
            order_id=order.order_id,
            event_id=detail.event_id,
            kind=kind,
            to=order.email,
            status=ClaimStatus.SENDING,
            claimed_at=self.clock().isoformat(timespec="milliseconds"),
        )
        held = self.store.claim(claim)
        if held is not None:
            return self._claimed_before(held)
        try:
            message_id = self.mailer.send(email, self.sender)
        except MailOutcomeUnknownError as error:
            return NotificationOutcome(
                NotificationAction.UNCERTAIN,
                f"SES did not answer ({error}): it may have sent the e-mail, so it is not sent again",
                kind.value,
                to=order.email,
            )
        except (TransientError, PermanentError):
            self._release(claim)  # SES did not send it: the retry (or a redrive) may
            raise
        try:
            self.store.mark_sent(claim, message_id)
        except StoreUnavailableError as error:
            # Sent: the claim stays SENDING, so a redelivery after Powertools' record expires reports it
            # uncertain and does not send it again.
            return NotificationOutcome(
                NotificationAction.SENT,
                f"E-mail sent; its claim was not marked sent ({error})",
                kind.value,
                to=order.email,
                message_id=message_id,
            )
        return NotificationOutcome(
            NotificationAction.SENT, f"E-mail sent: {email.subject}", kind.value, to=order.email, message_id=message_id
        )

    def _claimed_before(self, held: Claim) -> NotificationOutcome:
        if held.status is ClaimStatus.SENT:
            return NotificationOutcome(
                NotificationAction.ALREADY_SENT,
                "E-mail already sent for this event: not sent again",
                held.kind.value,
                to=held.to,
                message_id=held.message_id,
            )
        return NotificationOutcome(
            NotificationAction.UNCERTAIN,
            f"An attempt claimed this e-mail at {held.claimed_at} and did not record SES's answer (interrupted, still "
            "running, or its release after a refusal failed): it may have been sent, so it is not sent again",
            held.kind.value,
            to=held.to,
        )

    def _release(self, claim: Claim) -> None:
        # If the release fails, the claim stays: the retry reports the e-mail uncertain, never sends it twice.
        with contextlib.suppress(StoreUnavailableError):
            self.store.release(claim)
