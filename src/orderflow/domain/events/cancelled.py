"""``OrderCancelled``: cancel an order, whichever of its events SQS delivers first.

| order found        | decision                                                            |
| ------------------ | ------------------------------------------------------------------- |
| ``CONFIRMED``      | status ``CANCELLED`` with ``cancelledAt``/``cancellationReason`` (if still confirmed) |
| none               | write a tombstone ``AWAITING_ORDER`` (if still absent), then wait     |
| ``AWAITING_ORDER`` | this message's tombstone: wait; another message's: duplicate        |
| ``CANCELLED``      | completed by the create after this message's tombstone: done;       |
|                    | otherwise a duplicate (the first cancellation is kept)              |

Each write carries its status's :data:`~orderflow.domain.lifecycle.TRANSITIONS` attributes:
``OrderCancelled`` version 2 on the cancel; the tombstone is version 1 with no domain event
(the order does not exist yet: the create that completes it publishes ``OrderCancelled``).
Waiting, a duplicate and a stale cancel write nothing, so publish nothing.

Waiting means the message is retried with backoff; on its last receive it goes to the DLQ
as ``ORDER_NOT_FOUND``. The tombstone stays (with the usual 90-day TTL), so a create that
arrives even later still ends the order ``CANCELLED``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, Strict, StringConstraints, model_validator

from orderflow.domain.enrichment import expiry
from orderflow.domain.errors import OrderNotFoundError
from orderflow.domain.events.base import EventType
from orderflow.domain.lifecycle import (
    Decision,
    Done,
    Effect,
    OrderStatus,
    Outcome,
    PutIfAbsent,
    UpdateIfStatus,
    Wait,
    Write,
    status_of,
    transition,
    utc_timestamp,
)
from orderflow.domain.models import Identifier, Timestamp, Wire, reject_control_characters

if TYPE_CHECKING:
    from collections.abc import Mapping

    from orderflow.domain.lifecycle import Context

MAX_REASON_LENGTH = 500

Reason = Annotated[
    str,
    Strict(),
    StringConstraints(min_length=1, max_length=MAX_REASON_LENGTH),
    AfterValidator(reject_control_characters),
]


class OrderCancelled(Wire):
    """A cancellation: it addresses the order by the table's key, exactly as the create sent it."""

    event_type: Literal["OrderCancelled"]
    order_id: Identifier
    created_at: Timestamp
    cancelled_at: Timestamp
    reason: Reason

    @model_validator(mode="after")
    def _not_before_creation(self) -> OrderCancelled:
        if datetime.fromisoformat(self.cancelled_at) < datetime.fromisoformat(self.created_at):
            raise ValueError("cancelledAt: must not be earlier than createdAt")
        return self


def _key(event: OrderCancelled) -> tuple[str, str]:
    return (event.order_id, event.created_at)


def _cancellation(event: OrderCancelled, context: Context) -> dict[str, Any]:
    return {
        "cancelledAt": event.cancelled_at,
        "cancellationReason": event.reason,
        "cancellationMessageId": context.message_id,
    }


def _first(event: OrderCancelled, context: Context) -> Decision:
    return _decide(event, {"status": OrderStatus.CONFIRMED.value}, context)


def _decide(event: OrderCancelled, current: Mapping[str, Any] | None, context: Context) -> Decision:
    if current is None:
        tombstone = {
            "orderId": event.order_id,
            "createdAt": event.created_at,
            **transition(OrderStatus.AWAITING_ORDER, _key(event), utc_timestamp(context.now)),
            **_cancellation(event, context),
            "ttl": expiry(context.now),
        }
        return Write(PutIfAbsent(tombstone), then=_wait(event))
    status = status_of(current)
    if status == OrderStatus.CONFIRMED:
        changes = {
            **transition(OrderStatus.CANCELLED, _key(event), utc_timestamp(context.now)),
            **_cancellation(event, context),
        }
        effect = Effect(Outcome.CANCELLED, "Order cancelled", ("OrdersCancelled",))
        return Write(UpdateIfStatus(_key(event), changes, expected=OrderStatus.CONFIRMED), then=Done(effect))
    ours = current.get("cancellationMessageId") == context.message_id
    if status == OrderStatus.AWAITING_ORDER and ours:
        return _wait(event)
    if status == OrderStatus.CANCELLED and ours:
        # Our tombstone was completed by the create, which counted the cancellation.
        return Done(Effect(Outcome.CANCELLED, "Cancellation applied: its order arrived and completed it"))
    same = current.get("cancelledAt") == event.cancelled_at and current.get("cancellationReason") == event.reason
    message = "Duplicate cancellation skipped: the order is already cancelled" + (
        "" if same else " (with another reason or time; the first cancellation is kept)"
    )
    if status == OrderStatus.AWAITING_ORDER:
        message = "Duplicate cancellation skipped: a cancellation already awaits this order"
    return Done(Effect(Outcome.DUPLICATE, message, ("DuplicatesSkipped", "CancellationDuplicatesSkipped")))


def _wait(event: OrderCancelled) -> Wait:
    return Wait(
        reason=f"order {event.order_id} created at {event.created_at} is not stored yet; "
        "the cancellation is recorded and waits for it",
        metric="CancellationsAwaitingOrder",
        in_order=Effect(
            Outcome.CANCELLED,
            "Cancellation recorded before its order: the order comes later in its FIFO group and completes it",
            ("CancellationsRecordedBeforeOrder",),
        ),
        give_up=OrderNotFoundError(
            f"order {event.order_id} created at {event.created_at} did not arrive while the cancellation was "
            "retried; the cancellation is recorded (status AWAITING_ORDER) and applies if the order arrives later"
        ),
    )


def _applied(event: OrderCancelled, stored: Mapping[str, Any] | None) -> bool:
    """This cancellation is stored: applied (CANCELLED), or recorded and waiting for its order."""
    return (
        stored is not None
        and status_of(stored) in {OrderStatus.CANCELLED, OrderStatus.AWAITING_ORDER}
        and stored.get("cancelledAt") == event.cancelled_at
        and stored.get("cancellationReason") == event.reason
    )


ORDER_CANCELLED: EventType[OrderCancelled] = EventType(
    name="OrderCancelled", model=OrderCancelled, key=_key, first=_first, decide=_decide, applied=_applied
)
