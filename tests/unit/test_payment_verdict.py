"""verify_payments: each way the ledger can break the payments' promise is found, by order."""

from __future__ import annotations

from typing import Any

from orderflow_local.ops.payments import verify_payments
from orderflow_local.payments import ChargeEntry, DeclineEntry, Ledger, RefundEntry

CREATED = "2026-12-07T09:00:00Z"


def _charge(order_id: str, number: int, amount: int = 1000) -> ChargeEntry:
    return ChargeEntry(id=f"ch_{order_id}_{number}", amount=amount, currency="usd", customer="c",
                       metadata={"order_id": order_id}, idempotency_key=f"k-{order_id}", created=0)  # fmt: skip


def _refund(charge: ChargeEntry, amount: int | None = None) -> RefundEntry:
    return RefundEntry(
        id=f"re_{charge.id}", charge=charge.id, amount=amount or charge.amount, currency="usd",
        customer="c", metadata={"order_id": charge.order_id}, idempotency_key=None, created=0,
    )  # fmt: skip


def _orders(**statuses: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(order_id, CREATED): {"status": status} for order_id, status in statuses.items()}


def test_a_ledger_that_keeps_every_promise_is_ok_and_totals_by_currency() -> None:
    kept, cancelled = _charge("A", 1), _charge("B", 1, 500)
    declined = DeclineEntry(
        id="ch_d", amount=700, currency="usd", customer="decline-x", metadata={"order_id": "D"},
        idempotency_key="k-D", created=0, decline_code="generic_decline",
    )  # fmt: skip
    ledger = Ledger(charges=(kept, cancelled), refunds=(_refund(cancelled),), declines=(declined,))

    verdict = verify_payments(ledger, _orders(A="CONFIRMED", B="CANCELLED", C="CANCELLED", D="CONFIRMED"))

    assert verdict.ok, verdict.problems()
    assert (verdict.charges, verdict.refunds, verdict.declines) == (2, 1, 1)
    assert (verdict.charged["USD"], verdict.refunded["USD"]) == (1500, 500)


def test_each_broken_promise_is_named_with_its_order() -> None:
    twice = (_charge("A", 1), _charge("A", 2))
    kept_after_cancel = _charge("B", 1)
    over = _charge("E", 1)
    ledger = Ledger(
        charges=(*twice, kept_after_cancel, _charge("GHOST", 1), over),
        refunds=(_refund(over), _refund(over)),
    )

    verdict = verify_payments(
        ledger, _orders(A="CONFIRMED", B="CANCELLED", C="CONFIRMED", E="CANCELLED", W="AWAITING_ORDER")
    )

    assert not verdict.ok
    assert verdict.charged_twice == ["A"]
    assert verdict.cancelled_not_zero == ["B", "E"]
    assert verdict.not_charged == ["C"]
    assert verdict.unknown_charged == ["GHOST"]
    assert verdict.refunded_twice == ["E"]
    assert len(verdict.problems()) == 5


def test_latency_runs_from_the_first_send_to_the_charge_recorded() -> None:
    verdict = verify_payments(
        Ledger(charges=(_charge("A", 1),)),
        _orders(A="CONFIRMED"),
        payments={("A", CREATED): {"chargedAt": "2026-12-07T10:00:02.500Z"}},
        first_sent={"A": 1796637600.0},  # 2026-12-07T10:00:00Z
    )
    assert verdict.latencies == [2.5]
