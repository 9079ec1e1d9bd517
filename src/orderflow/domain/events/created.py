"""``OrderCreated``: store a new order; complete a cancellation that arrived first.

| order found        | decision                                                        |
| ------------------ | --------------------------------------------------------------- |
| none               | store it ``CONFIRMED`` (``PutItem`` if absent)                   |
| ``AWAITING_ORDER`` | add the order's data, status ``CANCELLED`` (if still awaiting)  |
| ``CONFIRMED``      | same content: duplicate; other content: ``CONFLICTING_DUPLICATE`` |
| ``CANCELLED``      | same content: duplicate (a late redelivery); other: conflict    |

Each write carries its status's :data:`~orderflow.domain.lifecycle.TRANSITIONS` attributes:
``OrderConfirmed`` version 1 when stored, ``OrderCancelled`` version 2 when it completes a
tombstone. A duplicate writes nothing, so publishes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orderflow.domain.enrichment import confirm
from orderflow.domain.errors import ConflictingDuplicateError
from orderflow.domain.events.base import EventType
from orderflow.domain.lifecycle import (
    Decision,
    Done,
    Effect,
    OrderStatus,
    Outcome,
    PutIfAbsent,
    UpdateIfStatus,
    Write,
    status_of,
    transition,
)
from orderflow.domain.models import OrderCreated

if TYPE_CHECKING:
    from collections.abc import Mapping

    from orderflow.domain.lifecycle import Context

KEY_FIELDS = ("orderId", "createdAt")


def _key(order: OrderCreated) -> tuple[str, str]:
    return (order.order_id, order.created_at)


def _first(order: OrderCreated, context: Context) -> Decision:
    return _decide(order, None, context)


def _decide(order: OrderCreated, current: Mapping[str, Any] | None, context: Context) -> Decision:
    if current is None:
        item = confirm(order, sqs_message_id=context.message_id, now=context.now).to_item()
        return Write(PutIfAbsent(item), then=Done(Effect(Outcome.STORED, "Order stored", ("OrdersStored",))))
    status = status_of(current)
    if status == OrderStatus.AWAITING_ORDER:
        item = confirm(order, sqs_message_id=context.message_id, now=context.now).to_item()
        changes = {name: value for name, value in item.items() if name not in KEY_FIELDS}
        # straight to CANCELLED (version 2): the order is published once, already cancelled;
        # processedAt is this write's moment, formatted as statusChangedAt
        changes.update(transition(OrderStatus.CANCELLED, _key(order), item["processedAt"]))
        effect = Effect(
            Outcome.CANCELLED,
            "Order stored as cancelled: its cancellation arrived first",
            ("OrdersStored", "OrdersCancelled"),
        )
        return Write(UpdateIfStatus(_key(order), changes, expected=OrderStatus.AWAITING_ORDER), then=Done(effect))
    if not same_content(order, current):
        raise ConflictingDuplicateError(
            f"order {order.order_id} created at {order.created_at} is already stored with different content"
        )
    return Done(
        Effect(
            Outcome.DUPLICATE,
            f"Duplicate order skipped: already stored with the same content (status {status})",
            ("DuplicatesSkipped",),
        )
    )


def same_content(order: OrderCreated, stored: Mapping[str, Any]) -> bool:
    """Whether ``stored`` holds exactly ``order``'s fields (enrichment and cancellation aside)."""
    # Numbers come back from DynamoDB as Decimal; int == Decimal compares by value.
    wire = order.model_dump()
    return all(stored.get(name) == value for name, value in wire.items())


def _applied(order: OrderCreated, stored: Mapping[str, Any] | None) -> bool:
    """Stored with the same content (confirmed, or cancelled since); a tombstone still waits for it."""
    return stored is not None and status_of(stored) != OrderStatus.AWAITING_ORDER and same_content(order, stored)


ORDER_CREATED: EventType[OrderCreated] = EventType(
    name="OrderCreated", model=OrderCreated, key=_key, first=_first, decide=_decide, applied=_applied
)
