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

Every write is a status change, and carries the attributes of :data:`TRANSITIONS` (see
:func:`transition`): the item's ``version``, and, for a published fact, its ``domainEvent``
and ``eventId``. The table's stream turns each such write into one domain event (the
outbox, docs/events.md).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from orderflow.domain.errors import PermanentError


class OrderStatus(enum.StrEnum):
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"
    AWAITING_ORDER = "AWAITING_ORDER"


@dataclass(frozen=True, slots=True)
class Transition:
    """What an item holds once a write moves it to a status.

    ``version`` orders an order's events: consumers ignore one older than what they have.
    ``event`` is the domain event the write publishes, ``None`` for a state that is not a
    published fact.
    """

    version: int
    event: str | None


#: One line per status. A status maps to one version, so a write conditional on the status
#: it expects always writes the right version without reading it first; a later status
#: (paid, shipped, ...) takes a higher number than those it moves from.
TRANSITIONS: Mapping[OrderStatus, Transition] = MappingProxyType({
    # a cancellation waiting for its order: the order does not exist yet, nothing to publish
    OrderStatus.AWAITING_ORDER: Transition(version=1, event=None),
    OrderStatus.CONFIRMED: Transition(version=1, event="OrderConfirmed"),
    # from CONFIRMED, or from AWAITING_ORDER completed by the late create
    OrderStatus.CANCELLED: Transition(version=2, event="OrderCancelled"),
})  # fmt: skip

#: Built once per status, copied per write: ``status``, ``version`` and ``domainEvent``.
_FIXED_ATTRIBUTES: Mapping[OrderStatus, dict[str, Any]] = {
    status: {"status": status.value, "version": spec.version}
    | ({"domainEvent": spec.event} if spec.event is not None else {})
    for status, spec in TRANSITIONS.items()
}


def transition(status: OrderStatus, key: tuple[str, str], changed_at: str) -> dict[str, Any]:
    """The attributes a write that moves the order under ``key`` to ``status`` sets.

    ``status``, ``version``, ``statusChangedAt`` (``changed_at``, see :func:`utc_timestamp`)
    and, when the status is a published fact, ``domainEvent`` and ``eventId``:
    ``{orderId}#{createdAt}#{version}``, the same on every redelivery of the stream record,
    so a consumer drops duplicates by it.
    """
    attributes = dict(_FIXED_ATTRIBUTES[status])
    attributes["statusChangedAt"] = changed_at
    if "domainEvent" in attributes:
        attributes["eventId"] = f"{key[0]}#{key[1]}#{attributes['version']}"
    return attributes


def utc_timestamp(moment: datetime) -> str:
    """``moment`` in UTC, ISO 8601 with milliseconds and ``Z`` (as ``processedAt``, ``statusChangedAt``)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
