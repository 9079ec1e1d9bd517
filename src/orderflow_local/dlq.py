"""Listing and redriving the dead letter queue.

moto has no ``StartMessageMoveTask``, and AWS's task moves everything back, including
messages the handler rejected as permanently invalid, which would only come back. So the
redrive is ours, on the emulator and on AWS alike: it moves messages back to their source
queue with their attributes, at a limited rate, and refuses to loop a hopeless message:

- a message SQS moved after its retries ran out (no ``errorCode``) is redriven;
- a message the handler rejected (``errorCode`` set) is skipped unless ``include_rejected``;
- no message is redriven more than ``MAX_REDRIVES`` times (``redriveCount`` attribute,
  which the handler carries into the DLQ when it rejects a redriven message again).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orderflow.adapters.dead_letters import REDRIVE_COUNT

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef, MessageTypeDef

MAX_REDRIVES = 3
DEFAULT_RATE = 10.0  # messages per second
#: Skipped messages stay hidden while a redrive runs, so it never reads them twice.
SKIPPED_HIDDEN_FOR = 900


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    body: str
    receipt_handle: str
    attributes: dict[str, Any]
    message_attributes: dict[str, Any]

    @classmethod
    def from_message(cls, message: MessageTypeDef) -> DeadLetter:
        return cls(
            message_id=message["MessageId"],
            body=message["Body"],
            receipt_handle=message["ReceiptHandle"],
            attributes={str(name): value for name, value in message.get("Attributes", {}).items()},
            message_attributes=dict(message.get("MessageAttributes", {})),
        )

    @property
    def error_code(self) -> str | None:
        return self._string("errorCode")

    @property
    def reason(self) -> str:
        if self.error_code:
            return self._string("errorReason") or ""
        receives = self.attributes.get("ApproximateReceiveCount", "?")
        return f"moved by SQS after its receives ran out (processing kept failing); received {receives} times here"

    @property
    def redrive_count(self) -> int:
        return int(self._string(REDRIVE_COUNT) or 0)

    def _string(self, name: str) -> str | None:
        value = self.message_attributes.get(name, {}).get("StringValue")
        return str(value) if value is not None else None


def _receive(sqs: SQSClient, dlq_url: str, *, most: int, hide_for: int) -> list[DeadLetter]:
    messages = sqs.receive_message(
        QueueUrl=dlq_url,
        MaxNumberOfMessages=most,
        VisibilityTimeout=hide_for,
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["All"],
    ).get("Messages", [])
    return [DeadLetter.from_message(message) for message in messages]


def in_flight(sqs: SQSClient, queue_url: str) -> int:
    """Messages received by someone and not yet deleted: hidden from a listing until their visibility ends."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])[
        "Attributes"
    ]
    return int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0))


def list_dead_letters(sqs: SQSClient, dlq_url: str, *, limit: int = 1000, hide_for: int = 30) -> list[DeadLetter]:
    """Read up to ``limit`` messages without removing them (they become visible again at once)."""
    seen: dict[str, DeadLetter] = {}
    while len(seen) < limit:
        batch = _receive(sqs, dlq_url, most=min(10, limit - len(seen)), hide_for=hide_for)
        if not batch:
            break
        for letter in batch:
            seen[letter.message_id] = letter
    for letter in seen.values():
        sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=letter.receipt_handle, VisibilityTimeout=0)
    return list(seen.values())


@dataclass
class RedriveReport:
    moved: int = 0
    skipped_rejected: int = 0
    skipped_capped: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (message id, why)


def redrive(
    sqs: SQSClient,
    *,
    dlq_url: str,
    source_url: str,
    include_rejected: bool = False,
    rate: float = DEFAULT_RATE,
    limit: int | None = None,
    progress: Callable[[int], None] = lambda moved: None,
    sleep: Callable[[float], None] = time.sleep,
) -> RedriveReport:
    """Move dead letters back to ``source_url`` (see the module's rules)."""
    if rate <= 0:
        raise ValueError("rate must be positive (messages per second)")
    report = RedriveReport()
    interval = 1.0 / rate
    held: list[str] = []  # receipt handles kept hidden for this run, made visible again at the end
    try:
        while limit is None or report.moved < limit:
            batch = _receive(sqs, dlq_url, most=10, hide_for=SKIPPED_HIDDEN_FOR)
            if not batch:
                break
            for letter in batch:
                why = _why_not(letter, include_rejected=include_rejected)
                if why is not None:
                    report.skipped.append((letter.message_id, why))
                    if letter.redrive_count >= MAX_REDRIVES:
                        report.skipped_capped += 1
                    else:
                        report.skipped_rejected += 1
                if why is not None or (limit is not None and report.moved >= limit):
                    held.append(letter.receipt_handle)
                    continue
                started = time.monotonic()
                sqs.send_message(
                    QueueUrl=source_url,
                    MessageBody=letter.body,
                    MessageAttributes=_carried(letter),
                    **_fifo_fields(letter, source_url),  # type: ignore[arg-type]
                )
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=letter.receipt_handle)
                report.moved += 1
                progress(report.moved)
                sleep(max(0.0, interval - (time.monotonic() - started)))
    finally:
        for handle in held:
            sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return report


def _why_not(letter: DeadLetter, *, include_rejected: bool) -> str | None:
    if letter.redrive_count >= MAX_REDRIVES:
        return f"already redriven {letter.redrive_count} times (the cap is {MAX_REDRIVES}): fix it at the producer"
    if letter.error_code and not include_rejected:
        return f"rejected as {letter.error_code}: it would fail again (use --include-rejected after fixing the cause)"
    return None


def _fifo_fields(letter: DeadLetter, source_url: str) -> dict[str, str]:
    """Back to a FIFO queue: in its own group, and never taken for a duplicate of its first send.

    The queue deduplicates by content, and a redrive within 5 minutes of the original send
    would otherwise be accepted and silently dropped.
    """
    if not source_url.endswith(".fifo"):
        return {}
    return {
        "MessageGroupId": str(letter.attributes.get("MessageGroupId") or letter.message_id),
        "MessageDeduplicationId": f"{letter.message_id}-redrive-{letter.redrive_count + 1}",
    }


def _carried(letter: DeadLetter) -> dict[str, MessageAttributeValueTypeDef]:
    carried: dict[str, MessageAttributeValueTypeDef] = {
        name: {key: value for key, value in attribute.items() if key in {"DataType", "StringValue", "BinaryValue"}}  # type: ignore[misc]
        for name, attribute in letter.message_attributes.items()
    }
    carried[REDRIVE_COUNT] = {"DataType": "Number", "StringValue": str(letter.redrive_count + 1)}
    return carried
