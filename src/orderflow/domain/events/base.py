"""What an event type is: a model, the key of the order it addresses, and its transitions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from orderflow.domain.lifecycle import Context, Decision

E = TypeVar("E", bound=BaseModel)


@dataclass(frozen=True)
class EventType(Generic[E]):
    """One kind of event on the queue.

    ``first`` is the write to try before knowing the order's state: the state the event
    most often meets (a create meets no item; a cancel meets a confirmed order). When that
    write's condition fails, ``decide`` is called with the item the store found (``None``
    when there is none) and returns the next decision. ``applied`` says whether an item
    already holds the event's effect (so sending it again would change nothing: a dead
    letter that need not be redriven). All are pure: no I/O.
    """

    name: str
    model: type[E]
    key: Callable[[E], tuple[str, str]]
    first: Callable[[E, Context], Decision]
    decide: Callable[[E, Mapping[str, Any] | None, Context], Decision]
    applied: Callable[[E, Mapping[str, Any] | None], bool]
