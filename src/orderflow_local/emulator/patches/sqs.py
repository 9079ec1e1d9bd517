"""Patches to moto's SQS: FIFO order and deduplication, what SQS refuses, and costs that grew with queue depth."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from orderflow_local.emulator.patches.core import ORIGINALS


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


def _sqs_clock() -> float:
    """The clock moto's SQS messages read (looked up on each call, so whatever patches it applies here too)."""
    from moto.sqs import models

    return float(models.unix_time_millis())  # type: ignore[attr-defined]


class _VisibleMessages:
    """``Queue.messages`` as a lazy view: receive stops scanning once it has its batch.

    moto rebuilds the list of every visible message on each receive pass, so a receive of
    10 messages from a queue of 10,000 checks all 10,000 first.
    """

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def __iter__(self) -> Iterator[Any]:
        # moto's Message.visible and .delayed, with the clock read once per scan instead of
        # twice per message (moto's clock builds datetimes: most of a deep queue's scan).
        now = _sqs_clock()
        return (
            message
            for message in list(self._queue._messages)
            if now > message.visible_at and not now < message.delayed_until
        )

    def __bool__(self) -> bool:
        return any(True for _ in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _visible_messages_scanned_lazily() -> None:
    from moto.sqs.models import Queue

    Queue.messages = property(_VisibleMessages)  # type: ignore[assignment,method-assign]

    # The queue's other two counts (GetQueueAttributes, sampled every second by the local
    # alarms), by moto's same tests, with the clock read once per count.
    def not_visible(self: Any) -> int:
        now = _sqs_clock()
        return sum(1 for message in list(self._messages) if not now > message.visible_at)

    def delayed(self: Any) -> int:
        now = _sqs_clock()
        return sum(1 for message in list(self._messages) if now < message.delayed_until)

    ORIGINALS["Queue.approximate_number_of_messages_not_visible"] = Queue.approximate_number_of_messages_not_visible
    ORIGINALS["Queue.approximate_number_of_messages_delayed"] = Queue.approximate_number_of_messages_delayed
    Queue.approximate_number_of_messages_not_visible = property(not_visible)  # type: ignore[assignment,method-assign]
    Queue.approximate_number_of_messages_delayed = property(delayed)  # type: ignore[assignment,method-assign]


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


#: SQS's message limits that moto 5.2.5 does not enforce (see _sqs_refuses_what_sqs_refuses).
MAX_MESSAGE_ATTRIBUTES = 10
MAX_ATTRIBUTE_NAME = 256
MAX_DELAY_SECONDS = 900
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_RESERVED_PREFIXES = ("aws.", "amazon.")


def sqs_refusal(body: str, attributes: Mapping[str, Any] | None, delay: object, limit: int) -> Any:
    """Why SQS would refuse this message (moto's SQSException to raise, with code and message), or None.

    AWS: the body must not be empty and may hold only #x9, #xA, #xD and #x20 to #x10FFFF
    outside the surrogates and #xFFFE/#xFFFF; at most 10 message attributes, each name up to
    256 characters of A-Z a-z 0-9 _ - ., not starting with AWS. or Amazon. (any case), not
    starting or ending with a period, no two periods in a row; body and attributes together
    at most the queue's MaximumMessageSize in UTF-8 bytes; DelaySeconds 0 to 900.
    """
    from moto.sqs.exceptions import InvalidParameterValue, MissingParameter, SQSException

    if body == "":
        return MissingParameter("MessageBody")
    found = _NOT_ALLOWED_IN_BODY.search(body)
    if found is not None:
        bad = found.group()
        return SQSException(
            "InvalidMessageContents",
            f"Invalid binary character '#x{ord(bad):X}' was found in the message body, the set of allowed "
            "characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
        )
    attributes = attributes or {}
    if len(attributes) > MAX_MESSAGE_ATTRIBUTES:
        return InvalidParameterValue(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum [{MAX_MESSAGE_ATTRIBUTES}]."
        )
    for name in attributes:
        problem = _attribute_name_problem(name)
        if problem is not None:
            return InvalidParameterValue(f"The message attribute name '{name}' is invalid. {problem}")
    size = len(body.encode("utf-8")) + sum(_attribute_size(name, value) for name, value in attributes.items())
    if size > limit:
        return InvalidParameterValue(
            f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
        )
    if delay is not None and not 0 <= int(str(delay)) <= MAX_DELAY_SECONDS:
        return InvalidParameterValue(
            f"Value {delay} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= "
            f"{MAX_DELAY_SECONDS}."
        )
    return None


#: A character SQS refuses in a body: anything but #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
_NOT_ALLOWED_IN_BODY = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _attribute_name_problem(name: str) -> str | None:
    if not _ATTRIBUTE_NAME.match(name):  # moto's own check and message, kept word for word
        return "Attribute name can contain A-Z, a-z, 0-9, underscore (_), hyphen (-), and period (.) characters."
    if name.lower().startswith(_RESERVED_PREFIXES):
        return "Names beginning with AWS. or Amazon. (in any case) are reserved."
    if name.startswith(".") or name.endswith(".") or ".." in name:
        return "Attribute name must not start or end with a period (.) or hold two periods in a row."
    if len(name) > MAX_ATTRIBUTE_NAME:
        return f"Attribute name can be up to {MAX_ATTRIBUTE_NAME} characters long."
    return None


def _attribute_size(name: str, value: Any) -> int:
    """Name, type and value all count towards a message's size (SQS developer guide)."""
    if not isinstance(value, Mapping):
        return len(name.encode("utf-8"))
    parts = [name, value.get("DataType") or value.get("data_type") or ""]
    parts.append(value.get("StringValue") or value.get("string_value") or "")
    binary = value.get("BinaryValue") or value.get("binary_value") or b""
    encoded = sum(len(str(part).encode("utf-8")) for part in parts)
    return encoded + (len(binary) if isinstance(binary, bytes) else len(str(binary).encode("utf-8")))


def _sqs_refuses_what_sqs_refuses() -> None:
    """SendMessage and SendMessageBatch refuse what SQS refuses.

    moto 5.2.5 accepts an empty body (SQS answers MissingParameter), characters outside
    SQS's set, more than 10 message attributes, attribute names SQS reserves or forbids
    (``AWS.``, ``Amazon.``, leading, trailing or doubled periods), a negative DelaySeconds,
    and it measures size in characters without the attributes, where SQS counts UTF-8 bytes
    of the body and of every attribute's name, type and value. In a batch each such entry is
    reported in ``Failed`` (SenderFault) while the others are sent, as SQS reports entries;
    request-level errors (ids, count, total size) stay moto's.
    """
    from moto.sqs.models import SQSBackend

    send_message = SQSBackend.send_message
    send_message_batch = SQSBackend.send_message_batch
    ORIGINALS["SQSBackend.send_message"] = send_message
    ORIGINALS["SQSBackend.send_message_batch"] = send_message_batch

    def checked_send_message(self: Any, queue_name: str, message_body: str, *args: Any, **kwargs: Any) -> Any:
        queue = self.get_queue(queue_name)
        attributes = kwargs.get("message_attributes", args[0] if args else None)
        delay = kwargs.get("delay_seconds", args[1] if len(args) > 1 else None)
        refusal = sqs_refusal(message_body, attributes, delay, int(queue.maximum_message_size))
        if refusal is not None:
            raise refusal
        return send_message(self, queue_name, message_body, *args, **kwargs)

    def checked_send_message_batch(self: Any, queue_name: str, entries: dict[str, dict[str, Any]]) -> Any:
        if not _batch_is_well_formed(entries):
            return send_message_batch(self, queue_name, entries)  # moto raises the request's error
        limit = int(self.get_queue(queue_name).maximum_message_size)
        failed: list[dict[str, Any]] = []
        accepted: dict[str, dict[str, Any]] = {}
        for key, entry in entries.items():
            refusal = sqs_refusal(
                entry["MessageBody"], entry.get("MessageAttributes"), entry.get("DelaySeconds"), limit
            )
            if refusal is None:
                accepted[key] = entry
            else:
                failed.append(
                    {"Id": entry["Id"], "SenderFault": True, "Code": refusal.code, "Message": refusal.message}
                )
        messages, moto_failed = send_message_batch(self, queue_name, accepted) if accepted else ([], [])
        return messages, [*failed, *moto_failed]

    SQSBackend.send_message = checked_send_message  # type: ignore[method-assign]
    SQSBackend.send_message_batch = checked_send_message_batch  # type: ignore[method-assign]


def _batch_is_well_formed(entries: Mapping[str, Mapping[str, Any]]) -> bool:
    """moto's own request-level checks of a batch (ids, count, distinct ids, total length)."""
    from moto.sqs.constants import MAXIMUM_MESSAGE_LENGTH

    ids = [entry["Id"] for entry in entries.values()]
    return (
        all(re.match(r"^[\w-]{1,80}$", entry_id) for entry_id in ids)
        and len(set(ids)) == len(ids)
        and len(ids) <= 10
        and sum(len(entry["MessageBody"]) for entry in entries.values()) <= MAXIMUM_MESSAGE_LENGTH
    )


_BOTO_PREFIX = re.compile(r"^An error occurred \([^)]*\) when calling the \w+ operation: ")


def _sqs_errors_carry_the_plain_message() -> None:
    """An SQS error's message is SQS's plain text, not boto's rendering of it.

    moto 5.2.5 writes two of ReceiveMessage's messages (MaxNumberOfMessages,
    WaitTimeSeconds) with boto's "An error occurred (Code) when calling the X operation:"
    prefix baked in, so every other SDK (the JavaScript v3 SDK shows the message as is)
    prints it, and botocore prints it twice. The WaitTimeSeconds one also states the range
    backwards, with HTML entities. SQS says "Value 21 for parameter WaitTimeSeconds is
    invalid. Reason: Must be >= 0 and <= 20, if provided."
    """
    from moto.sqs.exceptions import SQSException

    init = SQSException.__init__
    ORIGINALS["SQSException.__init__"] = init

    def plain(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        message = _BOTO_PREFIX.sub("", str(self.message))
        message = message.replace("must be &lt;= 0 and &gt;= 20 if provided", "Must be >= 0 and <= 20, if provided")
        message = message.replace("must be between 1 and 10, if provided", "Must be between 1 and 10, if provided")
        self.message = message
        self.args = (message,)

    SQSException.__init__ = plain  # type: ignore[method-assign]


def _sqs_fifo_deduplication_remembers_five_minutes() -> None:
    """A FIFO queue drops a message whose deduplication id it saw in the last 5 minutes, deleted or not.

    moto 5.2.5 compares a new message only with the messages still in the queue, so once the
    first is received and deleted, the same body (content-based deduplication) or the same
    ``MessageDeduplicationId`` is accepted again. SQS remembers every id for its 5-minute
    deduplication interval: a producer's retry, or a redrive that reuses the original id,
    is accepted and not delivered. Locally, that mistake must show as it would on AWS.
    """
    from moto.sqs import models
    from moto.sqs.models import Queue

    add_message = Queue.add_message
    ORIGINALS["Queue.add_message"] = add_message

    def add_message_once(self: Any, message: Any) -> None:
        deduplicating = self.attributes.get("ContentBasedDeduplication") == "true" or message.deduplication_id
        if self.fifo_queue and deduplicating and message.deduplication_id is not None:
            seen: dict[str, int] = self.__dict__.setdefault("_orderflow_deduplication", {})
            now = int(message.sent_timestamp)
            window_ms = models.DEDUPLICATION_TIME_IN_SECONDS * 1000  # read per call: moto's tests shorten it
            with _sqs_deduplication_lock:
                for key in [key for key, sent in seen.items() if now - sent >= window_ms]:
                    del seen[key]
                if message.deduplication_id in seen:
                    return
                seen[message.deduplication_id] = now
        add_message(self, message)

    Queue.add_message = add_message_once  # type: ignore[method-assign]


_sqs_deduplication_lock = threading.Lock()


_receive_lock = threading.Lock()


def _a_receive_takes_its_messages_in_one_step() -> None:
    """A ``ReceiveMessage`` picks and marks its messages as one step, as SQS does.

    moto 5.2.5 notes the FIFO queue's message groups in flight when a receive starts, then
    walks the messages, marking each one it takes. Two receives running at once on the
    server's threads could both start before either marked anything: one took a group's
    first message, the other its second, and the group's order was lost (an order's
    cancellation processed before its creation). A standard queue's message could likewise
    go to both. Each pass over the queue now runs under one lock. A long poll waits between
    passes without it, as before: moto's own wait, for a message or one second. Each pass
    takes the groups in flight afresh, so a group released while a poll waits is delivered
    to it, as on SQS.
    """
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    original = SQSBackend.receive_message
    ORIGINALS["SQSBackend.receive_message"] = original

    def receive_message(
        self: Any,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> list[Any]:
        deadline = unix_time() + wait_seconds_timeout
        while True:
            with _receive_lock:
                result = original(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
            if result or not wait_seconds_timeout or unix_time() > deadline:
                return result
            self.get_queue(queue_name).wait_for_messages(1)

    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]
