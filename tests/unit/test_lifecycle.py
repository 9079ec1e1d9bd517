"""Every transition of an order's lifecycle, each event type's table, and the processor's loop."""

from __future__ import annotations

import contextlib
import copy
import itertools
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from orderflow.domain.errors import AwaitingOrderError, ConflictingDuplicateError, StoreUnavailableError
from orderflow.domain.events.cancelled import ORDER_CANCELLED, OrderCancelled
from orderflow.domain.events.created import ORDER_CREATED
from orderflow.domain.lifecycle import (
    TRANSITIONS,
    Context,
    Done,
    OrderStatus,
    Outcome,
    PutIfAbsent,
    UpdateIfStatus,
    Wait,
    Write,
)
from orderflow.domain.models import OrderCreated
from orderflow.domain.processing import InboundMessage, OrderProcessor
from tests.lifecycle_support import MemoryDeadLetters, MemoryStore
from tests.strategies import valid_orders
from tests.support import body, cancellation, examples, seed_order

NOW = datetime(2026, 4, 20, 16, 0, tzinfo=UTC)
KEY = ("ORD-20260420-001", "2026-04-20T14:30:00Z")
CONTEXT = Context(message_id="m-1", now=NOW)


def _created(**changes: Any) -> OrderCreated:
    return OrderCreated.model_validate(seed_order(**changes))


def _cancelled(**changes: Any) -> OrderCancelled:
    return OrderCancelled.model_validate(cancellation(seed_order(), **changes))


def _confirmed_item(**changes: Any) -> dict[str, Any]:
    decision = ORDER_CREATED.decide(_created(), None, CONTEXT)
    assert isinstance(decision, Write)
    assert isinstance(decision.operation, PutIfAbsent)
    return {**decision.operation.item, **changes}


def _tombstone(message_id: str = "m-1") -> dict[str, Any]:
    decision = ORDER_CANCELLED.decide(_cancelled(), None, Context(message_id=message_id, now=NOW))
    assert isinstance(decision, Write)
    assert isinstance(decision.operation, PutIfAbsent)
    return dict(decision.operation.item)


# --- OrderCreated ------------------------------------------------------------------------


def test_a_create_meeting_no_order_stores_it_confirmed_if_still_absent() -> None:
    decision = ORDER_CREATED.first(_created(), CONTEXT)
    assert isinstance(decision, Write)
    assert isinstance(decision.operation, PutIfAbsent)
    item = decision.operation.item
    assert (item["orderId"], item["createdAt"]) == KEY
    assert item["status"] == "CONFIRMED"
    assert item["sqsMessageId"] == "m-1"
    assert isinstance(decision.then, Done)
    assert decision.then.effect.outcome is Outcome.STORED
    assert decision.then.effect.metrics == ("OrdersStored",)


def test_a_create_meeting_a_tombstone_completes_it_as_cancelled() -> None:
    decision = ORDER_CREATED.decide(_created(), _tombstone(), Context(message_id="m-2", now=NOW))
    assert isinstance(decision, Write)
    operation = decision.operation
    assert isinstance(operation, UpdateIfStatus)
    assert operation.key == KEY
    assert operation.expected is OrderStatus.AWAITING_ORDER
    assert operation.changes["status"] == "CANCELLED"
    assert operation.changes["customerId"] == "CUST-42"
    assert operation.changes["sqsMessageId"] == "m-2"
    assert "orderId" not in operation.changes  # the key is never rewritten
    assert "cancelledAt" not in operation.changes  # the tombstone's cancellation is kept
    assert isinstance(decision.then, Done)
    assert decision.then.effect.outcome is Outcome.CANCELLED
    assert decision.then.effect.metrics == ("OrdersStored", "OrdersCancelled")


@pytest.mark.parametrize("status", ["CONFIRMED", "CANCELLED"])
def test_a_create_meeting_the_same_order_is_a_duplicate(status: str) -> None:
    decision = ORDER_CREATED.decide(_created(), _confirmed_item(status=status), CONTEXT)
    assert isinstance(decision, Done)
    assert decision.effect.outcome is Outcome.DUPLICATE
    assert decision.effect.metrics == ("DuplicatesSkipped",)
    assert status in decision.effect.message


@pytest.mark.parametrize("status", ["CONFIRMED", "CANCELLED"])
def test_a_create_meeting_another_order_under_its_key_is_a_conflict(status: str) -> None:
    stored = _confirmed_item(status=status, customerId="CUST-OTHER")
    with pytest.raises(ConflictingDuplicateError, match="already stored with different content"):
        ORDER_CREATED.decide(_created(), stored, CONTEXT)


# --- OrderCancelled ----------------------------------------------------------------------


def test_a_cancel_first_tries_to_cancel_a_confirmed_order() -> None:
    decision = ORDER_CANCELLED.first(_cancelled(), CONTEXT)
    assert isinstance(decision, Write)
    operation = decision.operation
    assert isinstance(operation, UpdateIfStatus)
    assert operation.key == KEY
    assert operation.expected is OrderStatus.CONFIRMED
    assert operation.changes == {
        "status": "CANCELLED",
        "version": 2,
        "domainEvent": "OrderCancelled",
        "eventId": "ORD-20260420-001#2026-04-20T14:30:00Z#2",
        "statusChangedAt": "2026-04-20T16:00:00.000Z",
        "cancelledAt": "2026-04-20T15:00:00Z",
        "cancellationReason": "Customer changed their mind",
        "cancellationMessageId": "m-1",
    }
    assert isinstance(decision.then, Done)
    assert decision.then.effect.outcome is Outcome.CANCELLED
    assert decision.then.effect.metrics == ("OrdersCancelled",)


def test_a_cancel_meeting_no_order_writes_a_tombstone_then_waits() -> None:
    decision = ORDER_CANCELLED.decide(_cancelled(), None, CONTEXT)
    assert isinstance(decision, Write)
    assert isinstance(decision.operation, PutIfAbsent)
    item = decision.operation.item
    assert item["status"] == "AWAITING_ORDER"
    assert (item["orderId"], item["createdAt"]) == KEY
    assert item["cancellationReason"] == "Customer changed their mind"
    assert "customerId" not in item  # a tombstone is not in the CustomerIndex
    assert item["ttl"] > NOW.timestamp()
    assert isinstance(decision.then, Wait)
    assert decision.then.metric == "CancellationsAwaitingOrder"
    assert decision.then.give_up.code == "ORDER_NOT_FOUND"


def test_a_cancel_meeting_its_own_tombstone_keeps_waiting() -> None:
    decision = ORDER_CANCELLED.decide(_cancelled(), _tombstone("m-1"), CONTEXT)
    assert isinstance(decision, Wait)


def test_a_cancel_meeting_another_messages_tombstone_is_a_duplicate() -> None:
    decision = ORDER_CANCELLED.decide(_cancelled(), _tombstone("m-0"), CONTEXT)
    assert isinstance(decision, Done)
    assert decision.effect.outcome is Outcome.DUPLICATE
    assert decision.effect.metrics == ("DuplicatesSkipped", "CancellationDuplicatesSkipped")


def test_a_cancel_whose_tombstone_was_completed_is_done_without_counting_again() -> None:
    completed = {**_confirmed_item(), **_tombstone("m-1"), "status": "CANCELLED"}
    decision = ORDER_CANCELLED.decide(_cancelled(), completed, CONTEXT)
    assert isinstance(decision, Done)
    assert decision.effect.outcome is Outcome.CANCELLED
    assert decision.effect.metrics == ()  # the create counted OrdersCancelled


@pytest.mark.parametrize(
    ("changes", "kept_note"),
    [({}, False), ({"reason": "Found it cheaper"}, True), ({"cancelledAt": "2026-04-20T15:30:00Z"}, True)],
)
def test_a_second_cancel_is_a_duplicate_keeping_the_first(changes: dict[str, str], kept_note: bool) -> None:
    stored = {**_confirmed_item(), **_tombstone("m-0"), "status": "CANCELLED"}
    decision = ORDER_CANCELLED.decide(_cancelled(**changes), stored, CONTEXT)
    assert isinstance(decision, Done)
    assert decision.effect.outcome is Outcome.DUPLICATE
    assert decision.effect.metrics == ("DuplicatesSkipped", "CancellationDuplicatesSkipped")
    assert ("first cancellation is kept" in decision.effect.message) is kept_note


# --- the processor: sequences against a store with DynamoDB's conditional semantics ------


def _processor(store: MemoryStore, dlq: MemoryDeadLetters | None = None, max_receives: int = 3) -> OrderProcessor:
    return OrderProcessor(
        store=store, dead_letters=dlq or MemoryDeadLetters(), clock=lambda: NOW, max_receives=max_receives
    )


def _create(message_id: str = "c-1", receive: int = 1, **changes: Any) -> InboundMessage:
    return InboundMessage(message_id=message_id, body=body(seed_order(**changes)), receive_count=receive)


def _cancel(message_id: str = "x-1", receive: int = 1, **changes: Any) -> InboundMessage:
    raw = body(cancellation(seed_order(), **changes))
    return InboundMessage(message_id=message_id, body=raw, receive_count=receive)


def test_create_then_cancel_ends_cancelled_with_the_orders_data() -> None:
    store = MemoryStore()
    processor = _processor(store)
    assert processor.process(_create()).outcome is Outcome.STORED
    result = processor.process(_cancel())
    assert result.outcome is Outcome.CANCELLED
    assert result.event_type == "OrderCancelled"
    item = store.items[KEY]
    assert item["status"] == "CANCELLED"
    assert item["customerId"] == "CUST-42"
    assert item["cancellationReason"] == "Customer changed their mind"
    assert item["sqsMessageId"] == "c-1"
    assert len(store.writes) == 2  # one write each: no read, no retry


def test_cancel_before_create_waits_then_the_create_completes_it() -> None:
    store = MemoryStore()
    processor = _processor(store)
    # the cancel arrives first: a tombstone, and the message waits (retried by SQS)
    with pytest.raises(AwaitingOrderError) as waiting:
        processor.process(_cancel(receive=1))
    assert waiting.value.metric == "CancellationsAwaitingOrder"
    assert waiting.value.order_id == KEY[0]
    assert store.items[KEY]["status"] == "AWAITING_ORDER"
    # its retry still waits
    with pytest.raises(AwaitingOrderError):
        processor.process(_cancel(receive=2))
    # the create arrives: stored straight as cancelled
    created = processor.process(_create())
    assert created.outcome is Outcome.CANCELLED
    assert created.metrics == ("OrdersStored", "OrdersCancelled")
    # the cancel's next receive finds it done
    retried = processor.process(_cancel(receive=3))
    assert retried.outcome is Outcome.CANCELLED
    assert retried.metrics == ()
    item = store.items[KEY]
    assert item["status"] == "CANCELLED"
    assert item["customerId"] == "CUST-42"
    assert item["cancelledAt"] == "2026-04-20T15:00:00Z"


def test_on_a_fifo_group_a_cancel_before_its_order_is_recorded_without_waiting() -> None:
    """A FIFO group delivers in order: waiting would hold the group, and with it the very create awaited."""
    store = MemoryStore()
    processor = _processor(store)
    fifo_cancel = InboundMessage(
        message_id="x-1", body=body(cancellation(seed_order())), receive_count=1, group_id=KEY[0]
    )
    recorded = processor.process(fifo_cancel)  # no AwaitingOrderError: the group moves on
    assert recorded.outcome is Outcome.CANCELLED
    assert recorded.metrics == ("CancellationsRecordedBeforeOrder",)
    assert store.items[KEY]["status"] == "AWAITING_ORDER"
    fifo_create = InboundMessage(message_id="c-1", body=body(seed_order()), group_id=KEY[0])
    created = processor.process(fifo_create)  # next in the group: completes the tombstone
    assert created.outcome is Outcome.CANCELLED
    assert created.metrics == ("OrdersStored", "OrdersCancelled")
    assert store.items[KEY]["customerId"] == "CUST-42"
    # a duplicate of the cancel later in the group changes nothing
    again = processor.process(InboundMessage(message_id="x-2", body=body(cancellation(seed_order())), group_id=KEY[0]))
    assert again.outcome is Outcome.DUPLICATE


def test_a_cancel_whose_order_never_arrives_goes_to_the_dlq_on_its_last_receive() -> None:
    store, dlq = MemoryStore(), MemoryDeadLetters()
    processor = _processor(store, dlq)
    for receive in (1, 2):
        with pytest.raises(AwaitingOrderError):
            processor.process(_cancel(receive=receive))
    result = processor.process(_cancel(receive=3))
    assert result.outcome is Outcome.REJECTED
    assert result.error_code == "ORDER_NOT_FOUND"
    [letter] = dlq.sent
    assert letter["code"] == "ORDER_NOT_FOUND"
    assert "applies if the order arrives later" in letter["reason"]
    # the cancellation is still recorded: a create arriving even later ends cancelled
    assert processor.process(_create()).outcome is Outcome.CANCELLED
    assert store.items[KEY]["status"] == "CANCELLED"


def test_the_wait_is_bounded_by_the_configured_receives() -> None:
    processor = _processor(MemoryStore(), max_receives=5)
    for receive in (1, 2, 3, 4):
        with pytest.raises(AwaitingOrderError):
            processor.process(_cancel(receive=receive))
    assert processor.process(_cancel(receive=5)).error_code == "ORDER_NOT_FOUND"


def test_a_create_redelivered_after_the_cancel_changes_nothing() -> None:
    store = MemoryStore()
    processor = _processor(store)
    processor.process(_create())
    processor.process(_cancel())
    before = dict(store.items[KEY])
    result = processor.process(_create(message_id="c-2"))
    assert result.outcome is Outcome.DUPLICATE
    assert store.items[KEY] == before


def test_a_conflicting_create_never_uncancels_an_order() -> None:
    store, dlq = MemoryStore(), MemoryDeadLetters()
    processor = _processor(store, dlq)
    processor.process(_create())
    processor.process(_cancel())
    result = processor.process(_create(message_id="c-2", customerId="CUST-7"))
    assert result.error_code == "CONFLICTING_DUPLICATE"
    assert store.items[KEY]["status"] == "CANCELLED"
    assert store.items[KEY]["customerId"] == "CUST-42"


def test_a_create_landing_between_a_cancels_two_writes_is_not_lost() -> None:
    # Given a cancel that finds no confirmed order, and a create by another worker that
    # lands just before the cancel writes its tombstone
    store = MemoryStore()

    def create_lands_first(write: Any) -> None:
        if isinstance(write, PutIfAbsent) and write.item["status"] == "AWAITING_ORDER":
            store.before_write = None
            store.items[KEY] = _confirmed_item()

    store.before_write = create_lands_first
    # When the cancel runs
    result = _processor(store).process(_cancel())
    # Then its tombstone write fails on the order's key, it re-decides, and cancels the order
    assert result.outcome is Outcome.CANCELLED
    assert [type(write).__name__ for write in store.writes] == ["UpdateIfStatus", "PutIfAbsent", "UpdateIfStatus"]
    assert store.items[KEY]["status"] == "CANCELLED"
    assert store.items[KEY]["customerId"] == "CUST-42"


def test_a_duplicate_cancel_after_the_completion_keeps_the_first_cancellation() -> None:
    # Given a tombstone that a create completed
    store = MemoryStore()
    with pytest.raises(AwaitingOrderError):
        _processor(store).process(_cancel(message_id="x-1"))
    assert _processor(store).process(_create()).outcome is Outcome.CANCELLED
    # When a duplicate of the cancel (another message id) arrives
    result = _processor(store).process(_cancel(message_id="x-2"))
    # Then it is a duplicate and the cancellation kept is the first
    assert result.outcome is Outcome.DUPLICATE
    assert store.items[KEY]["cancellationMessageId"] == "x-1"


def test_a_store_whose_state_keeps_flipping_makes_the_message_retry_not_guess() -> None:
    # A misbehaving store: every update finds no item, every put finds a confirmed order.
    class Flapping(MemoryStore):
        def apply(self, write: Any) -> Any:
            from orderflow.domain.lifecycle import WriteResult

            self.writes.append(write)
            if isinstance(write, PutIfAbsent):
                return WriteResult(applied=False, current=_confirmed_item())
            return WriteResult(applied=False, current=None)

    store = Flapping()
    with pytest.raises(StoreUnavailableError, match="kept changing"):
        _processor(store).process(_cancel())
    assert len(store.writes) == 4


def test_an_unknown_event_type_goes_to_the_dlq_naming_the_known_ones() -> None:
    dlq = MemoryDeadLetters()
    message = InboundMessage(message_id="m-9", body=body({**seed_order(), "eventType": "OrderShipped"}))
    result = _processor(MemoryStore(), dlq).process(message)
    assert result.outcome is Outcome.REJECTED
    assert result.error_code == "UNKNOWN_EVENT_TYPE"
    assert dlq.sent[0]["reason"] == (
        "eventType: must be one of OrderCreated, OrderCancelled (or absent for OrderCreated), got 'OrderShipped'"
    )


def test_an_explicit_order_created_type_is_the_same_order() -> None:
    store = MemoryStore()
    processor = _processor(store)
    processor.process(_create())
    result = processor.process(_create(message_id="c-2", eventType="OrderCreated"))
    assert result.outcome is Outcome.DUPLICATE
    assert result.ignored_fields == []
    assert "eventType" not in store.items[KEY]


# --- the outbox: what each stored transition carries for the table's stream ---------------

#: Every move a write makes (None: no item yet). A new status adds its moves here.
MOVES = [
    (None, OrderStatus.CONFIRMED),
    (None, OrderStatus.AWAITING_ORDER),
    (OrderStatus.CONFIRMED, OrderStatus.CANCELLED),
    (OrderStatus.AWAITING_ORDER, OrderStatus.CANCELLED),
]
OUTBOX_FIELDS = ("version", "domainEvent", "eventId", "statusChangedAt")


def _outbox(item: dict[str, Any]) -> dict[str, Any]:
    return {name: item[name] for name in OUTBOX_FIELDS if name in item}


def test_every_status_has_one_version_and_every_move_raises_it() -> None:
    assert set(TRANSITIONS) == set(OrderStatus)
    for before, after in MOVES:
        previous = 0 if before is None else TRANSITIONS[before].version
        assert TRANSITIONS[after].version > previous, (before, after)
    assert {status: spec.event for status, spec in TRANSITIONS.items()} == {
        OrderStatus.CONFIRMED: "OrderConfirmed",
        OrderStatus.CANCELLED: "OrderCancelled",
        OrderStatus.AWAITING_ORDER: None,  # the order does not exist yet: not a published fact
    }


def test_a_stored_order_is_version_1_and_publishes_order_confirmed() -> None:
    decision = ORDER_CREATED.first(_created(), CONTEXT)
    assert isinstance(decision, Write)
    assert isinstance(decision.operation, PutIfAbsent)
    item = decision.operation.item
    assert _outbox(item) == {
        "version": 1,
        "domainEvent": "OrderConfirmed",
        "eventId": "ORD-20260420-001#2026-04-20T14:30:00Z#1",
        "statusChangedAt": "2026-04-20T16:00:00.000Z",
    }
    assert item["statusChangedAt"] == item["processedAt"]


def test_a_tombstone_is_version_1_and_publishes_nothing() -> None:
    item = _tombstone()
    assert _outbox(item) == {"version": 1, "statusChangedAt": "2026-04-20T16:00:00.000Z"}
    assert item["status"] == "AWAITING_ORDER"


def test_a_completed_tombstone_is_version_2_and_publishes_order_cancelled_only() -> None:
    later = Context(message_id="m-2", now=datetime(2026, 4, 20, 17, 0, tzinfo=UTC))
    decision = ORDER_CREATED.decide(_created(), _tombstone(), later)
    assert isinstance(decision, Write)
    assert isinstance(decision.operation, UpdateIfStatus)
    assert _outbox(decision.operation.changes) == {
        "version": 2,
        "domainEvent": "OrderCancelled",  # never OrderConfirmed: it was never confirmed
        "eventId": "ORD-20260420-001#2026-04-20T14:30:00Z#2",
        "statusChangedAt": "2026-04-20T17:00:00.000Z",  # the completion, not the tombstone
    }


def test_status_changed_at_is_utc_with_milliseconds_and_z() -> None:
    elsewhere = datetime(2026, 4, 20, 18, 0, 5, 123456, tzinfo=timezone(timedelta(hours=2)))
    decision = ORDER_CANCELLED.first(_cancelled(), Context(message_id="m-1", now=elsewhere))
    assert isinstance(decision, Write)
    assert isinstance(decision.operation, UpdateIfStatus)
    assert decision.operation.changes["statusChangedAt"] == "2026-04-20T16:00:05.123Z"


@settings(max_examples=examples(100), deadline=None)
@given(order=valid_orders())
def test_an_event_id_names_its_order_and_version_whatever_the_order_id(order: dict[str, Any]) -> None:
    # order ids may hold '#': createdAt (a timestamp) and the version never do, so the id reads from the right
    decision = ORDER_CREATED.first(OrderCreated.model_validate(order), CONTEXT)
    assert isinstance(decision, Write)
    assert isinstance(decision.operation, PutIfAbsent)
    item = decision.operation.item
    assert item["eventId"].rsplit("#", 2) == [order["orderId"], order["createdAt"], "1"]


def test_a_create_redelivered_onto_a_cancelled_order_is_a_duplicate_not_a_conflict() -> None:
    store = MemoryStore()
    processor = _processor(store)
    processor.process(_create())
    processor.process(_cancel())
    stored = store.items[KEY]
    assert _outbox(stored)["version"] == 2  # the outbox's attributes are not the order's content
    assert processor.process(_create(message_id="c-2")).outcome is Outcome.DUPLICATE
    assert ORDER_CREATED.applied(_created(), stored)
    assert ORDER_CANCELLED.applied(_cancelled(), stored)


def test_a_total_sent_with_an_exponent_is_stored_and_published_plain() -> None:
    store = MemoryStore()
    processor = _processor(store)
    raw = body(seed_order(totalAmount=0)).replace('"totalAmount": 0', '"totalAmount": 1.4999E+2')
    assert processor.process(InboundMessage(message_id="c-1", body=raw)).outcome is Outcome.STORED
    assert str(store.items[KEY]["totalAmount"]) == "149.99"
    big = seed_order(orderId="ORD-BIG", items=[{**seed_order()["items"][0], "unitPrice": 0}], totalAmount=0)
    raw_big = (
        body(big).replace('"unitPrice": 0', '"unitPrice": 1E+1').replace('"totalAmount": 0', '"totalAmount": 1E+1')
    )
    assert processor.process(InboundMessage(message_id="c-2", body=raw_big)).outcome is Outcome.STORED
    stored = store.items[("ORD-BIG", KEY[1])]
    assert str(stored["totalAmount"]) == "10"
    # the same body again is the same order
    assert processor.process(InboundMessage(message_id="c-3", body=raw_big)).outcome is Outcome.DUPLICATE


def _nothing_written_after(setup: list[InboundMessage], then: InboundMessage, outcome: Outcome) -> None:
    store = MemoryStore()
    processor = _processor(store)
    for message in setup:
        with contextlib.suppress(AwaitingOrderError):
            processor.process(message)
    before = copy.deepcopy(store.stream)
    with contextlib.suppress(AwaitingOrderError):
        assert processor.process(then).outcome is outcome
    assert store.stream == before


def test_a_duplicate_create_writes_nothing() -> None:
    _nothing_written_after([_create()], _create(message_id="c-2"), Outcome.DUPLICATE)


def test_a_duplicate_cancel_writes_nothing() -> None:
    _nothing_written_after(
        [_create(), _cancel()], _cancel(message_id="x-2", reason="Found it cheaper"), Outcome.DUPLICATE
    )


def test_a_cancel_meeting_a_tombstone_of_another_message_writes_nothing() -> None:
    _nothing_written_after([_cancel()], _cancel(message_id="x-2"), Outcome.DUPLICATE)


def test_a_stale_cancel_whose_update_is_refused_writes_nothing() -> None:
    # Given an order another worker cancels between the cancel's decision and its write
    store = MemoryStore()
    processor = _processor(store)
    processor.process(_create())

    def cancelled_meanwhile(write: Any) -> None:
        store.before_write = None
        processor.process(_cancel(message_id="x-0"))

    store.before_write = cancelled_meanwhile
    before_stream = len(store.stream)
    # When the cancel's UpdateIfStatus(CONFIRMED) meets CANCELLED
    result = processor.process(_cancel(message_id="x-1", reason="Found it cheaper"))
    # Then it is a duplicate: the worker's cancel was the one transition written
    assert result.outcome is Outcome.DUPLICATE
    assert [item["version"] for item in store.stream[before_stream:]] == [2]
    assert store.items[KEY]["cancellationMessageId"] == "x-0"


def test_a_rejected_order_writes_nothing() -> None:
    _nothing_written_after([_create()], _create(message_id="c-2", customerId="CUST-7"), Outcome.REJECTED)
    _nothing_written_after([], _create(totalAmount=1), Outcome.REJECTED)


def test_a_waiting_cancel_retried_writes_nothing_more() -> None:
    store = MemoryStore()
    processor = _processor(store)
    for receive in (1, 2):
        with pytest.raises(AwaitingOrderError):
            processor.process(_cancel(receive=receive))
    assert [_outbox(item) for item in store.stream] == [{"version": 1, "statusChangedAt": "2026-04-20T16:00:00.000Z"}]


# --- the property: any delivery order publishes each status once, versions only rising ----


@settings(max_examples=examples(300), deadline=None)
@given(creates=st.integers(0, 3), cancels=st.integers(0, 3), data=st.data())
def test_any_delivery_order_writes_each_status_once_with_rising_versions(
    creates: int, cancels: int, data: st.DataObject
) -> None:
    assume(creates + cancels > 0)
    ticks = itertools.count()
    store, dlq = MemoryStore(), MemoryDeadLetters()
    processor = OrderProcessor(
        store=store,
        dead_letters=dlq,
        clock=lambda: NOW + timedelta(seconds=next(ticks)),
        max_receives=3,
    )
    # each copy is its own message (a producer's retry); a waiting cancel is redelivered later, same id
    queue = [_create(message_id=f"c-{n}") for n in range(creates)] + [
        _cancel(message_id=f"x-{n}") for n in range(cancels)
    ]
    queue = list(data.draw(st.permutations(queue), label="delivery order"))
    while queue:
        message = queue.pop(0)
        try:
            processor.process(message)
        except AwaitingOrderError:
            again = InboundMessage(message.message_id, message.body, receive_count=message.receive_count + 1)
            queue.insert(data.draw(st.integers(0, len(queue)), label="redelivered at"), again)

    versions = [item["version"] for item in store.stream]
    assert versions == sorted(set(versions)), "versions strictly rise, one write each"
    statuses = [item["status"] for item in store.stream]
    assert len(statuses) == len(set(statuses)), "one write per status"
    assert [TRANSITIONS[OrderStatus(status)].version for status in statuses] == versions
    changed = [item["statusChangedAt"] for item in store.stream]
    assert changed == sorted(changed)
    for item in store.stream:  # a published fact carries its id; the tombstone neither
        assert ("domainEvent" in item) is ("eventId" in item) is (item["status"] != "AWAITING_ORDER")
        expected_id = f"{KEY[0]}#{KEY[1]}#{item['version']}"
        assert item.get("eventId", expected_id) == expected_id
    published = [(item["domainEvent"], item["eventId"]) for item in store.stream if "domainEvent" in item]
    final = store.items[KEY]
    if creates and cancels:
        assert (final["status"], final["version"], final["domainEvent"], final["eventId"]) == (
            "CANCELLED",
            2,
            "OrderCancelled",
            f"{KEY[0]}#{KEY[1]}#2",
        )
        # confirmed then cancelled; or the tombstone first, completed straight to cancelled
        tombstone_first = statuses[0] == "AWAITING_ORDER"
        assert [name for name, _ in published] == (
            ["OrderCancelled"] if tombstone_first else ["OrderConfirmed", "OrderCancelled"]
        )
    elif creates:
        assert published == [("OrderConfirmed", f"{KEY[0]}#{KEY[1]}#1")]
        assert (final["status"], final["version"]) == ("CONFIRMED", 1)
    else:
        assert published == []  # only the tombstone: the order never came
        assert (final["status"], final["version"]) == ("AWAITING_ORDER", 1)
