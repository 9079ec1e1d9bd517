"""The state of an order, and the vocabulary in which events decide how to change it.

An order is one item in the store, under its ``(orderId, createdAt)`` key. Its status:

``CONFIRMED``
    An ``OrderCreated`` was stored (the seed's behaviour).
``CANCELLED``
    Cancelled, with all of its order data plus ``cancelledAt`` and ``cancellationReason``.
    Final: nothing moves an order out of it.
``AWAITING_ORDER``
    A tombstone: an ``OrderCancelled`` arrived before its ``OrderCreated``. It holds only
    the key and the cancellation; the late create completes it to ``CANCELLED``.

An event type decides from the item it finds (``None``: no item) what to do: write
(:class:`Write`, always conditional on the state it decided from), stop (:class:`Done`),
wait for a state that has not arrived (:class:`Wait`), or reject (a ``PermanentError``).
When a conditional write fails the store returns the item that made it fail, and the
event decides again from that: optimistic concurrency, never a read-then-write without
a condition. States only move forward (absent -> AWAITING_ORDER or CONFIRMED ->
CANCELLED), so a few rounds always settle.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from orderflow.domain.errors import PermanentError


class OrderStatus(enum.StrEnum):
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"
    AWAITING_ORDER = "AWAITING_ORDER"


def status_of(item: Mapping[str, Any]) -> str | None:
    status = item.get("status")
    return status if isinstance(status, str) else None


@dataclass(frozen=True, slots=True)
class Context:
    """What an event knows about its delivery."""

    message_id: str
    now: datetime


@dataclass(frozen=True, slots=True)
class Effect:
    """What an event did, for the logs and metrics (the handler reports it as given)."""

    outcome: Outcome
    message: str
    metrics: tuple[str, ...] = ()


class Outcome(enum.Enum):
    STORED = "stored"
    CANCELLED = "cancelled"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class PutIfAbsent:
    """Write ``item`` (key included) only if no item has its key."""

    item: dict[str, Any]


@dataclass(frozen=True, slots=True)
class UpdateIfStatus:
    """Set ``changes`` on the item under ``key`` only if its status is ``expected``."""

    key: tuple[str, str]
    changes: dict[str, Any]
    expected: OrderStatus


@dataclass(frozen=True, slots=True)
class Done:
    """Finished: nothing (more) to write."""

    effect: Effect


@dataclass(frozen=True, slots=True)
class Wait:
    """The event needs a state that has not arrived yet: retry later, within a bound.

    ``metric`` is counted on each wait; once the bound is reached the message is rejected
    with ``give_up`` (code and reason of a permanent error).
    """

    reason: str
    metric: str
    give_up: PermanentError
    #: The effect instead of waiting when the queue delivers each order's events in order
    #: (a FIFO group): what is awaited can only come after this message, and a retry would
    #: hold the group, the awaited event included, behind it.
    in_order: Effect | None = None


@dataclass(frozen=True, slots=True)
class Write:
    """Apply ``operation``; if it succeeds, ``then`` is the result."""

    operation: PutIfAbsent | UpdateIfStatus
    then: Done | Wait


Decision = Write | Done | Wait


@dataclass(frozen=True, slots=True)
class WriteResult:
    """A conditional write's result: applied, or refused with the item found (None: no item)."""

    applied: bool
    current: Mapping[str, Any] | None = None
