"""Narrow fixes to moto's models, applied by the local stack to its in-process server.

Each patch names the moto behaviour it corrects and why local runs need it. They are
written against one moto version (``PATCHED_VERSION``): on any other version the local
stack refuses to start rather than run on a model these patches no longer fit. To
upgrade moto, re-read each patched function against the new source, adjust, and bump
``PATCHED_VERSION`` (tests/integration/test_moto_patches.py shows each fix at work).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from typing import Any

PATCHED_VERSION = "5.2.5"
#: moto's own implementations, kept for the tests that compare against them.
ORIGINALS: dict[str, Any] = {}
_applied = False
_lock = threading.Lock()


class MotoVersionError(RuntimeError):
    """moto is not the version the patches were written for."""


def apply(version: str | None = None) -> None:
    """Apply every patch once per process (idempotent)."""
    global _applied
    import moto

    found = version or moto.__version__
    if found != PATCHED_VERSION:
        raise MotoVersionError(
            f"orderflow_local patches moto {PATCHED_VERSION}, but moto {found} is installed: "
            "reinstall with `make setup` (pyproject pins it), or re-check orderflow_local/moto_patches.py "
            "against the new moto before bumping PATCHED_VERSION"
        )
    with _lock:
        if _applied:
            return
        _fifo_visibility_expiry_keeps_group_order()
        _queue_attributes_computed_on_demand()
        _visible_messages_scanned_lazily()
        _delete_finds_the_message_without_two_full_scans()
        _dynamodb_writes_are_atomic()
        _applied = True


def _fifo_visibility_expiry_keeps_group_order() -> None:
    """A FIFO message whose visibility expired no longer holds its message group.

    moto 5.2.5 counts a message as in flight until ``receive_message`` happens to walk past
    it, so after a failed batch's visibility expires, the *later* messages of a group can
    be delivered before the earlier one (``receive_message`` drops the first expired
    message from the pending set, sees the group still held by the second, skips the
    first, then delivers the second). SQS delivers a group strictly in order.
    """
    from moto.sqs.models import Queue

    def pending_message_groups(self: Any) -> set[str]:
        return {
            message.group_id
            for message in self._pending_messages
            if message.group_id is not None and not message.visible
        }

    Queue.pending_message_groups = property(pending_message_groups)  # type: ignore[assignment,method-assign]


# --- SQS cost grows with queue depth -------------------------------------------------------
# Measured on moto 5.2.5: ReceiveMessage(10) took 76 ms at depth 0, 702 ms at 1,000 and
# 3,018 ms at 4,000 messages, so a 10,000-order burst is quadratic. The three patches below
# make send, receive and delete cost independent of depth (benchmark: `orderflow bench sqs-depth`).


class _QueueAttributes(Mapping[str, Any]):
    """``Queue.attributes`` computed per key, on access.

    moto builds the whole dict on every access, counting every message three times
    (``ApproximateNumberOfMessages*``), and it reads it on each send (for
    ``ContentBasedDeduplication``) and once per received message (for the retention check).
    Same keys and values as moto's, but a key is computed only when it is read.
    """

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def _names(self) -> list[str]:
        queue = self._queue
        names = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:
            names += queue.KMS_ATTRIBUTES
        return names

    def __getitem__(self, name: str) -> Any:
        if name not in self._names():
            raise KeyError(name)
        from moto.core.utils import camelcase_to_underscores

        queue = self._queue
        if name == "Policy" and queue.policy:
            value = queue.policy
        elif name == "RedrivePolicy" and queue.redrive_policy:
            value = json.dumps(queue.redrive_policy)
        else:
            value = getattr(queue, camelcase_to_underscores(name))
        return str(value).lower() if isinstance(value, bool) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


def _queue_attributes_computed_on_demand() -> None:
    from moto.sqs.models import Queue

    ORIGINALS["Queue.attributes"] = Queue.attributes
    Queue.attributes = property(_QueueAttributes)  # type: ignore[assignment,method-assign]


class _VisibleMessages:
    """``Queue.messages`` as a lazy view: receive stops scanning once it has its batch.

    moto rebuilds the list of every visible message on each receive pass, so a receive of
    10 messages from a queue of 10,000 checks all 10,000 first.
    """

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def __iter__(self) -> Iterator[Any]:
        return (message for message in list(self._queue._messages) if message.visible and not message.delayed)

    def __bool__(self) -> bool:
        return any(True for _ in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _visible_messages_scanned_lazily() -> None:
    from moto.sqs.models import Queue

    Queue.messages = property(_VisibleMessages)  # type: ignore[assignment,method-assign]


def _delete_finds_the_message_without_two_full_scans() -> None:
    """Deleting looks among in-flight messages first, and removes the one message found.

    moto scans every message twice per delete (once to validate the handle, once to
    rebuild the list), so deleting a burst is quadratic.
    """
    from moto.sqs.exceptions import ReceiptHandleIsInvalid
    from moto.sqs.models import Queue

    def delete_message(self: Any, receipt_handle: str) -> None:
        if receipt_handle in self.deleted_messages:
            return  # already deleted: moto (and SQS) accept deleting again
        found = next((m for m in self.pending_messages if m.had_receipt_handle(receipt_handle)), None)
        if found is None:
            found = next((m for m in self._messages if m.had_receipt_handle(receipt_handle)), None)
        if found is None:
            raise ReceiptHandleIsInvalid()
        self.pending_messages.discard(found)
        self.deleted_messages.update(found.all_receipt_handles)
        self._messages.remove(found)

    Queue.delete_message = delete_message  # type: ignore[method-assign]


#: DynamoDB's write operations in moto's backend, each evaluated and applied under one lock.
DYNAMODB_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
_dynamodb_write_lock = threading.RLock()


def _dynamodb_writes_are_atomic() -> None:
    """A DynamoDB write evaluates its condition and applies itself as one step.

    On AWS a conditional write is atomic: of two ``PutItem`` calls with
    ``attribute_not_exists`` on one key, exactly one succeeds. moto 5.2.5 reads the item,
    parses and evaluates the condition, then writes, with nothing held in between; the
    server runs each request on its own thread, so two requests can both pass the
    condition and the second silently overwrites the first (the lost update conditions
    exist to prevent). Each write now runs under one lock; reads are not serialised.
    """
    from moto.dynamodb.models import DynamoDBBackend

    for name in DYNAMODB_WRITES:
        original = getattr(DynamoDBBackend, name)
        ORIGINALS[f"DynamoDBBackend.{name}"] = original
        setattr(DynamoDBBackend, name, _serialised(original))


def _serialised(method: Any) -> Any:
    import functools

    @functools.wraps(method)
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _dynamodb_write_lock:
            return method(self, *args, **kwargs)

    return locked
