"""The Notifier's work checked against SES's store, the provider's ledger and the orders: what the demo
and the invariants report."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from orderflow_local.ops.mail import SentMail
from orderflow_local.ops.notifications import verify_mail
from orderflow_local.payments.ledger import OrderPayments

CREATED = "2026-12-07T09:00:00Z"


class Books:
    """A ledger's per-order view (what verify_mail reads of it)."""

    def __init__(self, **orders: OrderPayments) -> None:
        self.orders = orders

    def by_order(self) -> dict[str, OrderPayments]:
        return {payments.order_id: payments for payments in self.orders.values()}


def _mail(event_id: str, kind: str, number: int = 1) -> SentMail:
    order_id = event_id.split("#", 1)[0]
    return SentMail(id=f"ses-{event_id}-{number}", sender="orders@shop.example", to=("c@customers.example",),
                    subject="s", date="", event_id=event_id, order_id=order_id, kind=kind, text="t",
                    html="<p>t</p>")  # fmt: skip


def _order(status: str, version: int, email: str | None = "c@customers.example") -> dict[str, Any]:
    item: dict[str, Any] = {"status": status, "version": Decimal(version)}
    if email:
        item["customerEmail"] = email
    return item


ORDERS = {
    ("A", CREATED): _order("CONFIRMED", 1),  # charged
    ("B", CREATED): _order("CANCELLED", 2),  # charged, refunded, cancelled
    ("C", CREATED): _order("CANCELLED", 2),  # cancelled before its charge: never charged
    ("D", CREATED): _order("CONFIRMED", 1, email=None),  # charged, no address
    ("E", CREATED): _order("CONFIRMED", 1),  # declined
}
BOOKS = Books(
    A=OrderPayments("A", charged=100, charges=1),
    B=OrderPayments("B", charged=100, refunded=100, charges=1, refunds=1),
    D=OrderPayments("D", charged=100, charges=1),
    E=OrderPayments("E", declined=1),
)
EVERY_EMAIL = [
    _mail(f"A#{CREATED}#PaymentCaptured", "confirmation"),
    _mail(f"B#{CREATED}#PaymentCaptured", "confirmation"),
    _mail(f"B#{CREATED}#2", "cancellation"),
    _mail(f"B#{CREATED}#PaymentRefunded", "refund"),
    _mail(f"C#{CREATED}#2", "cancellation"),
]


def test_every_event_emailed_once_is_ok() -> None:
    verdict = verify_mail(EVERY_EMAIL, BOOKS, ORDERS)  # type: ignore[arg-type]

    assert verdict.problems() == []
    assert (verdict.sent, dict(verdict.by_kind)) == (5, {"confirmation": 2, "cancellation": 2, "refund": 1})


def test_a_missing_email_of_each_kind_is_named_by_its_order() -> None:
    verdict = verify_mail(EVERY_EMAIL[2:], BOOKS, ORDERS)  # type: ignore[arg-type]

    assert (verdict.captures_not_emailed, verdict.refunds_not_emailed, verdict.cancellations_not_emailed) == (
        ["A", "B"], [], []
    )  # fmt: skip
    verdict = verify_mail([EVERY_EMAIL[0], EVERY_EMAIL[1]], BOOKS, ORDERS)  # type: ignore[arg-type]
    assert (verdict.refunds_not_emailed, verdict.cancellations_not_emailed) == (["B"], ["B", "C"])


def test_an_event_reported_uncertain_excuses_its_missing_email_and_is_listed() -> None:
    missing_a = EVERY_EMAIL[1:]

    verdict = verify_mail(missing_a, BOOKS, ORDERS, uncertain=[f"A#{CREATED}#PaymentCaptured"])  # type: ignore[arg-type]

    assert verdict.problems() == []
    assert verdict.uncertain == [f"A#{CREATED}#PaymentCaptured"]


def test_an_event_emailed_twice_and_an_email_nobody_asked_for_are_problems() -> None:
    twice = [*EVERY_EMAIL, _mail(f"A#{CREATED}#PaymentCaptured", "confirmation", number=2)]
    stray = [*EVERY_EMAIL, _mail(f"E#{CREATED}#PaymentCaptured", "confirmation"), _mail(f"D#{CREATED}#PaymentCaptured",
                                                                                          "confirmation")]  # fmt: skip

    assert verify_mail(twice, BOOKS, ORDERS).duplicates == [f"A#{CREATED}#PaymentCaptured"]  # type: ignore[arg-type]
    assert verify_mail(stray, BOOKS, ORDERS).unexpected == [  # type: ignore[arg-type]
        f"D#{CREATED}#PaymentCaptured",  # charged, but stored without an address
        f"E#{CREATED}#PaymentCaptured",  # declined
    ]


def test_the_latency_runs_from_an_orders_first_send_to_its_confirmations_claim() -> None:
    claims = {
        ("A", f"A#{CREATED}#PaymentCaptured"): {"claimedAt": "2026-12-07T10:00:02.500+00:00"},
        ("B", f"B#{CREATED}#2"): {"claimedAt": "2026-12-07T10:00:09.000+00:00"},  # not a confirmation
    }
    sent = {"A": 1_796_637_600.0, "B": 1_796_637_600.0}  # 2026-12-07T10:00:00Z

    verdict = verify_mail(EVERY_EMAIL, BOOKS, ORDERS, claims=claims, first_sent=sent)  # type: ignore[arg-type]

    assert verdict.latencies == [2.5]


def test_uncertain_events_are_read_from_the_notifiers_own_lines_and_from_replayed_answers() -> None:
    import json
    import time

    import boto3
    from moto import mock_aws

    from orderflow_local.ops.notifications import uncertain_events

    lines = [
        {"level": "ERROR", "message": "may have been sent", "action": "UNCERTAIN", "event_id": "A#1#PaymentCaptured"},
        {"level": "INFO", "message": "Event already handled: its first answer returned", "event_id": "B#1#2",
         "answer": {"action": "UNCERTAIN", "message": "may have been sent"}},
        {"level": "INFO", "message": "E-mail sent: UNCERTAIN in a subject", "action": "SENT", "event_id": "C#1#2"},
        {"level": "INFO", "message": "Event already handled", "event_id": "D#1#2", "answer": {"action": "SENT"}},
    ]  # fmt: skip
    with mock_aws():
        logs = boto3.client("logs", region_name="us-east-1")
        logs.create_log_group(logGroupName="/aws/lambda/Notifier")
        logs.create_log_stream(logGroupName="/aws/lambda/Notifier", logStreamName="s")
        now = int(time.time() * 1000)
        logs.put_log_events(
            logGroupName="/aws/lambda/Notifier",
            logStreamName="s",
            logEvents=[{"timestamp": now + n, "message": json.dumps(line)} for n, line in enumerate(lines)],
        )

        assert uncertain_events(logs) == {"A#1#PaymentCaptured", "B#1#2"}
