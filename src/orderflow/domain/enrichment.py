"""What the processor adds to a valid order before storing it (the seed's enrichment)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orderflow.domain.lifecycle import utc_timestamp
from orderflow.domain.models import ConfirmedOrder, OrderCreated

RETENTION = timedelta(days=90)


def confirm(order: OrderCreated, *, sqs_message_id: str, now: datetime) -> ConfirmedOrder:
    """Confirm ``order``: status, processing time, item count, source message and TTL."""
    now = now.astimezone(UTC)
    return ConfirmedOrder(
        order=order,
        processed_at=utc_timestamp(now),
        item_count=len(order.items),
        sqs_message_id=sqs_message_id,
        ttl=expiry(now),
    )


def expiry(now: datetime) -> int:
    """The TTL of an item written at ``now``: epoch seconds, ``RETENTION`` later."""
    return int((now.astimezone(UTC) + RETENTION).timestamp())
