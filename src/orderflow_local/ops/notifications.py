"""The Notifier's work checked against the ground truth: what SES sent (the emulator's store), what
the payment provider charged and refunded (its ledger), and what the Orders table holds.

Every captured payment, every refund and every cancelled order with a ``customerEmail`` must have
its e-mail, exactly one per event, unless the Notifier reported that event uncertain (an attempt
interrupted after asking SES: at most once means it is never sent again); nothing else is e-mailed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from orderflow_local.ops.mail import duplicate_events

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from mypy_boto3_logs import CloudWatchLogsClient

    from orderflow_local.ops.mail import SentMail
    from orderflow_local.payments.ledger import Ledger

#: What the Notifier logs for an event whose e-mail may or may not have been sent.
UNCERTAIN = "UNCERTAIN"


@dataclass
class MailVerdict:
    sent: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    #: Event ids e-mailed more than once.
    duplicates: list[str] = field(default_factory=list)
    #: Order ids whose e-mail of that kind is missing, and not reported uncertain.
    captures_not_emailed: list[str] = field(default_factory=list)
    refunds_not_emailed: list[str] = field(default_factory=list)
    cancellations_not_emailed: list[str] = field(default_factory=list)
    #: E-mails for no event that asks for one (an order neither charged, refunded nor cancelled).
    unexpected: list[str] = field(default_factory=list)
    #: Event ids the Notifier reported uncertain (not sent again).
    uncertain: list[str] = field(default_factory=list)
    #: Seconds from an order's first send to its confirmation's claim (when SES was asked).
    latencies: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems()

    def problems(self) -> list[str]:
        listed = (
            ("e-mailed more than once (event ids)", self.duplicates),
            ("charged but never sent a confirmation", self.captures_not_emailed),
            ("refunded but never sent a refund note", self.refunds_not_emailed),
            ("cancelled but never sent a cancellation note", self.cancellations_not_emailed),
            ("e-mailed for no event that asks for one", self.unexpected),
        )
        return [f"{len(ids)} {what}: {', '.join(ids[:5])}" for what, ids in listed if ids]


def verify_mail(
    mails: Iterable[SentMail],
    ledger: Ledger,
    orders: Mapping[tuple[str, str], Mapping[str, Any]],
    *,
    uncertain: Iterable[str] = (),
    claims: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
    first_sent: Mapping[str, float] | None = None,
) -> MailVerdict:
    """Check what SES sent (``mails``) against ``ledger`` and ``orders`` (the Orders table's items, plain
    values, by key). ``uncertain``: the event ids the Notifier reported so. With ``claims`` (the
    Notifications table's items, by (orderId, eventId)) and ``first_sent`` (each order id's first send,
    epoch seconds), the verdict also holds each confirmation's latency."""
    mails = list(mails)
    unsure = set(uncertain)
    verdict = MailVerdict(sent=len(mails), uncertain=sorted(unsure))
    verdict.by_kind.update(mail.kind or "other" for mail in mails)
    verdict.duplicates = sorted(duplicate_events(mails))
    emailed = {mail.event_id for mail in mails if mail.event_id}
    expected: set[str] = set()
    books = ledger.by_order()
    for (order_id, created_at), item in orders.items():
        if not item.get("customerEmail"):
            continue
        money = books.get(order_id)
        wanted = []
        if money is not None and money.charges:
            wanted.append((f"{order_id}#{created_at}#PaymentCaptured", verdict.captures_not_emailed))
        if money is not None and money.refunds:
            wanted.append((f"{order_id}#{created_at}#PaymentRefunded", verdict.refunds_not_emailed))
        if item.get("status") == "CANCELLED":
            wanted.append((f"{order_id}#{created_at}#{item.get('version')}", verdict.cancellations_not_emailed))
        for event_id, missing in wanted:
            expected.add(event_id)
            if event_id not in emailed and event_id not in unsure:
                missing.append(order_id)
    verdict.unexpected = sorted(emailed - expected)
    for (order_id, event_id), claim in (claims or {}).items():
        sent = (first_sent or {}).get(order_id)
        if event_id.endswith("#PaymentCaptured") and claim.get("claimedAt") and sent is not None:
            claimed = datetime.fromisoformat(str(claim["claimedAt"])).timestamp()
            verdict.latencies.append(max(0.0, claimed - sent))
    return verdict


def uncertain_events(logs: CloudWatchLogsClient, group: str = "/aws/lambda/Notifier") -> set[str]:
    """The event ids the Notifier reported uncertain, from its log group (locally, or on AWS)."""
    from orderflow_local.ops.dlq import FunctionLogReader

    found = set()
    for line in FunctionLogReader(logs, group).lines(UNCERTAIN):
        answer = line.get("answer")
        answer = answer if isinstance(answer, dict) else {}
        # the attempt's own line, or a redelivery answered from Powertools' record of it
        if UNCERTAIN in {line.get("action"), answer.get("action")} and line.get("event_id"):
            found.add(str(line["event_id"]))
    return found


def scan_claims(dynamodb: Any, table: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The Notifications table, whole, as plain values, by (orderId, eventId)."""
    from orderflow_local.ops.payments import scan_items

    return scan_items(dynamodb, table, key=("orderId", "eventId"))
