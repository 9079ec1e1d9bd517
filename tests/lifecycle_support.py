"""An order store and a DLQ in memory, with DynamoDB's and SQS's semantics, for the domain's tests."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orderflow.domain.lifecycle import PutIfAbsent, UpdateIfStatus, WriteResult

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass
class MemoryStore:
    """Conditional writes on a dict, atomically, as DynamoDB applies them.

    ``before_write`` runs just before each write: a test uses it to let a competing
    worker change the order in between, the race that conditions exist for. ``stream``
    holds a copy of the item after each applied write, in order: what the table's stream
    (NEW_AND_OLD_IMAGES) carries as the record's new image, so the outbox's input.
    """

    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    writes: list[PutIfAbsent | UpdateIfStatus] = field(default_factory=list)
    stream: list[dict[str, Any]] = field(default_factory=list)
    before_write: Callable[[PutIfAbsent | UpdateIfStatus], None] | None = None

    def apply(self, write: PutIfAbsent | UpdateIfStatus) -> WriteResult:
        if self.before_write is not None:
            self.before_write(write)
        self.writes.append(write)
        if isinstance(write, PutIfAbsent):
            key = (write.item["orderId"], write.item["createdAt"])
            if key in self.items:
                return WriteResult(applied=False, current=copy.deepcopy(self.items[key]))
            self.items[key] = copy.deepcopy(write.item)
            self.stream.append(copy.deepcopy(write.item))
            return WriteResult(applied=True)
        item = self.items.get(write.key)
        if item is None or item.get("status") != write.expected.value:
            return WriteResult(applied=False, current=copy.deepcopy(item))
        item.update(copy.deepcopy(write.changes))
        self.stream.append(copy.deepcopy(item))
        return WriteResult(applied=True)


@dataclass
class MemoryDeadLetters:
    sent: list[dict[str, Any]] = field(default_factory=list)

    def publish(
        self,
        body: str,
        *,
        code: str,
        reason: str,
        source_message_id: str,
        receive_count: int,
        redrive_count: int,
        group_id: str | None = None,
    ) -> None:
        self.sent.append({"body": body, "code": code, "reason": reason, "receive_count": receive_count})
