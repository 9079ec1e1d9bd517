"""The console's feed: what a page gets when it opens (the backlog), what every open page gets, what
a stalled page loses (its oldest events, never the feed), and the lines and ledger turned into entries."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from orderflow_local.console.feed import BACKLOG, SUBSCRIBER_QUEUE, Feed
from orderflow_local.payments.ledger import ChargeEntry, DeclineEntry, Ledger, RefundEntry


class _State:
    """What the feed reads of the console's state: the live numbers, the stack's provider, no identities."""

    def __init__(self, ledger: Ledger | None = None) -> None:
        provider = SimpleNamespace(ledger=lambda: self.ledger) if ledger is not None else None
        self.ledger = ledger
        self.stack = SimpleNamespace(payment_provider=provider)
        self.deployed = SimpleNamespace(spec=SimpleNamespace(email_identities={}), buses={})
        self.lives = 0

    def live(self) -> dict[str, Any]:
        self.lives += 1
        return {"at": self.lives, "nodes": {}, "alarms": {}}


def drained(queue: asyncio.Queue[Any]) -> list[Any]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


def test_every_open_page_gets_each_event_and_a_new_page_gets_the_backlog_first() -> None:
    async def scenario() -> None:
        feed = Feed(_State())  # type: ignore[arg-type]
        loop = asyncio.get_running_loop()
        first = feed.subscribe(loop)
        feed._lines.extend([("OrderProcessor", 1000, '{"level": "INFO", "message": "Order stored"}'),
                            ("Notifier", 1001, "START RequestId: 1")])  # fmt: skip
        feed.gather()
        await asyncio.sleep(0)  # the feed's thread hands events over on the page's loop
        got = drained(first.queue)
        assert [kind for kind, _, _ in got] == ["log", "log", "live"]
        assert [sequence for _, _, sequence in got] == [1, 2, None]  # the live numbers have no id: not replayed
        second = feed.subscribe(loop)
        await asyncio.sleep(0)
        backlog = drained(second.queue)
        assert [(kind, entry["message"]) for kind, entry, _ in backlog] == [
            ("log", "Order stored"), ("log", "START RequestId: 1"),
        ]  # fmt: skip
        assert backlog[1][1]["level"] == "INFO"  # not JSON: Lambda's own line
        feed.unsubscribe(first)
        feed.gather()
        await asyncio.sleep(0)
        assert drained(first.queue) == []
        assert [kind for kind, _, _ in drained(second.queue)] == ["live"]
        # a page that reconnects says the last id it had: the backlog resumes after it, nothing twice
        resumed = feed.subscribe(loop, after=1)
        await asyncio.sleep(0)
        assert [(kind, sequence) for kind, _, sequence in drained(resumed.queue)] == [("log", 2)]

    asyncio.run(scenario())


def test_a_page_that_stops_reading_loses_its_oldest_events_not_the_feed() -> None:
    async def scenario() -> None:
        feed = Feed(_State())  # type: ignore[arg-type]
        stalled = feed.subscribe(asyncio.get_running_loop())
        for number in range(SUBSCRIBER_QUEUE + 5):
            feed._broadcast("mail", {"id": str(number)})
        await asyncio.sleep(0)
        kept = drained(stalled.queue)
        assert len(kept) == SUBSCRIBER_QUEUE
        assert kept[-1][1]["id"] == str(SUBSCRIBER_QUEUE + 4)
        assert kept[-1][2] == SUBSCRIBER_QUEUE + 5
        assert len(feed.backlog["mail"]) == BACKLOG  # the backlog keeps the newest

    asyncio.run(scenario())


def test_the_ledgers_new_entries_are_told_once_with_amounts_in_the_currencys_units() -> None:
    charge = ChargeEntry("ch_1", 14999, "usd", "CUST-1", {"order_id": "ORD-1"}, "key-1", 1_700_000_000)
    yen = ChargeEntry("ch_2", 1500, "jpy", "CUST-2", {"order_id": "ORD-2"}, "key-2", 1_700_000_001)
    state = _State(Ledger(charges=(charge,)))
    feed = Feed(state)  # type: ignore[arg-type]
    assert feed._new_ledger() == [
        {"at": 1_700_000_000_000, "kind": "charge", "orderId": "ORD-1", "amount": "149.99", "currency": "USD",
         "key": "key-1"},
    ]  # fmt: skip
    refund = RefundEntry("re_1", "ch_1", 14999, "usd", "CUST-1", {}, "key-3", 1_700_000_002)
    decline = DeclineEntry("ch_3", 500, "usd", "CUST-3", {"order_id": "ORD-3"}, "key-4", 1_700_000_003, "card_declined")
    state.ledger = Ledger(charges=(charge, yen), refunds=(refund,), declines=(decline,))
    told = feed._new_ledger()
    assert [(entry["kind"], entry["orderId"], entry["amount"]) for entry in told] == [
        ("charge", "ORD-2", "1500"), ("refund", "ORD-1", "149.99"), ("decline", "ORD-3", "5.00"),
    ]  # fmt: skip
    assert feed._new_ledger() == []


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("Traceback (most recent call last):", "ERROR"),
        ("[ERROR] Runtime.ImportModuleError", "ERROR"),
        ("REPORT RequestId: 1", "INFO"),
    ],
)
def test_a_line_that_is_not_json_gets_a_level_from_its_start(text: str, level: str) -> None:
    feed = Feed(_State())  # type: ignore[arg-type]
    feed._lines.append(("OrderProcessor", 1, text))
    (entry,) = feed._new_lines()
    assert (entry["level"], entry["message"], entry["text"]) == (level, text, text)
