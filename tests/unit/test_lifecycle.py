"""Every transition of an order's lifecycle, each event type's table, and the processor's loop."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orderflow.domain.errors import AwaitingOrderError, ConflictingDuplicateError, StoreUnavailableError
from orderflow.domain.events.cancelled import ORDER_CANCELLED, OrderCancelled
from orderflow.domain.events.created import ORDER_CREATED
from orderflow.domain.lifecycle import (
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
from tests.support import body, cancellation, seed_order

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
