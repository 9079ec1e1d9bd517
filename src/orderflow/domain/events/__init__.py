"""The event types on the queue, and how a body names its type.

A body's ``eventType`` picks the type; a body without one is an ``OrderCreated`` (the
seed's producers send none). To add an event type (paid, shipped, ...): write its module
here (model, key, transitions, with the table in its docstring), add it to
:data:`EVENT_TYPES`, and test it. The processor, the handler and the adapters stay as
they are.
"""

from __future__ import annotations

from typing import Any

from orderflow.domain.errors import UnknownEventTypeError
from orderflow.domain.events.base import EventType
from orderflow.domain.events.cancelled import ORDER_CANCELLED, OrderCancelled
from orderflow.domain.events.created import ORDER_CREATED
from orderflow.domain.parsing import json_type

EVENT_TYPES: dict[str, EventType[Any]] = {event.name: event for event in (ORDER_CREATED, ORDER_CANCELLED)}
#: The type of a body that names none.
DEFAULT_EVENT_TYPE = ORDER_CREATED.name
EVENT_TYPE_FIELD = "eventType"


def event_type_of(data: dict[str, Any]) -> EventType[Any]:
    """The event type ``data`` names (``OrderCreated`` when it names none).

    Raises
    ------
    UnknownEventTypeError
        When ``eventType`` is present but not the name of a known type.
    """
    name = data.get(EVENT_TYPE_FIELD, DEFAULT_EVENT_TYPE)
    if isinstance(name, str) and name in EVENT_TYPES:
        return EVENT_TYPES[name]
    known = ", ".join(EVENT_TYPES)
    shown = repr(name)[:64] if isinstance(name, str) else f"a JSON {json_type(name)}"
    raise UnknownEventTypeError(f"eventType: must be one of {known} (or absent for OrderCreated), got {shown}")


__all__ = ["DEFAULT_EVENT_TYPE", "EVENT_TYPES", "EventType", "OrderCancelled", "event_type_of"]
