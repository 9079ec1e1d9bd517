"""Listing and redriving the dead letter queue.

moto has no ``StartMessageMoveTask``, and AWS's task moves everything back, including
messages the handler rejected as permanently invalid, which would only come back. So the
redrive is ours, on the emulator and on AWS alike: it moves messages back to their source
queue with their attributes, at a limited rate, and refuses to loop a hopeless message:

- a message SQS moved after its retries ran out (no ``errorCode``) is redriven;
- a message the handler rejected (``errorCode`` set) is skipped unless ``include_rejected``;
- no message is redriven more than ``MAX_REDRIVES`` times (``redriveCount`` attribute,
  which the handler carries into the DLQ when it rejects a redriven message again);
- a message whose event is already in the table (``alreadyStored``: its batch failed after
  the write, so SQS moved it anyway) is deleted, not redriven: sending it again would change
  nothing.

Every dead letter is explained (:func:`explain`): by the handler's ``errorCode`` and
``errorReason`` attributes when it put the message there itself, else by the last failure
the function logged for the message in CloudWatch Logs (``FilterLogEvents``, locally and on
AWS alike).

Listing and redriving read the queue until it is drained, which an empty short poll does not
prove on AWS (it samples some of SQS's servers): see ``_receive_more``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orderflow.adapters.dead_letters import REDRIVE_COUNT, read_count

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef, MessageTypeDef

MAX_REDRIVES = 3
DEFAULT_RATE = 10.0  # messages per second
#: Skipped messages stay hidden while a redrive runs, so it never reads them twice.
SKIPPED_HIDDEN_FOR = 900
#: The long poll that decides a queue is drained when a short poll came back empty but the
#: queue still counts visible messages (a long poll asks every SQS server; a short one, some).
DRAIN_WAIT_SECONDS = 1


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
    def source_message_id(self) -> str:
        """The message's id on its source queue, which the function's logs carry: the handler's
        ``sourceMessageId`` attribute, else its own id (SQS keeps the id when it moves a message)."""
        return self._string("sourceMessageId") or self.message_id

    @property
    def moved_by(self) -> str:
        """``handler``: the function sent it, with its reason; ``sqs``: SQS moved it when its receives ran out."""
        return "handler" if self.error_code else "sqs"

    @property
    def receive_count(self) -> int:
        """How many times it was received from its source queue: the handler's attribute, else SQS's count
        less the receive that read it here (SQS keeps counting in the DLQ)."""
        written = self._string("receiveCount")
        if written and (count := read_count(written)) is not None:
            return count
        return max(0, int(self.attributes.get("ApproximateReceiveCount") or 1) - 1)

    @property
    def sent_at_ms(self) -> int:
        return int(self.attributes.get("SentTimestamp") or 0)

    @property
    def redrive_count(self) -> int:
        """Redrives so far; a producer's unreadable ``redriveCount`` (SQS moves the attributes along) counts 0."""
        return read_count(self._string(REDRIVE_COUNT)) or 0

    def _string(self, name: str) -> str | None:
        value = self.message_attributes.get(name, {}).get("StringValue")
        return str(value) if value is not None else None


def _receive(sqs: SQSClient, queue_url: str, *, most: int, hide_for: int, wait: int = 0) -> list[MessageTypeDef]:
    return sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=most,
        VisibilityTimeout=hide_for,
        WaitTimeSeconds=wait,
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["All"],
    ).get("Messages", [])


def _receive_more(sqs: SQSClient, queue_url: str, *, most: int, hide_for: int) -> list[MessageTypeDef]:
    """The next messages, or none once the queue has no visible message left.

    On AWS an empty short poll does not mean an empty queue: it samples a subset of SQS's
    servers. So an empty one is checked against the queue's count of visible messages: when
    that says some are left, a long poll (which asks every server) takes them, and only an
    empty long poll says none is left. Locally the count is exact, so a drained queue is
    known at once, without waiting out a long poll the emulator would answer only at its end.
    """
    batch = _receive(sqs, queue_url, most=most, hide_for=hide_for)
    if not batch and visible(sqs, queue_url) > 0:
        batch = _receive(sqs, queue_url, most=most, hide_for=hide_for, wait=DRAIN_WAIT_SECONDS)
    return batch


def visible(sqs: SQSClient, queue_url: str) -> int:
    """Messages any reader may receive now (SQS's approximate count; exact on the emulator)."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"
    ]
    return int(attributes.get("ApproximateNumberOfMessages", 0))


def table_reader(dynamodb: DynamoDBClient, table_name: str) -> Callable[[str, str], dict[str, Any] | None]:
    """Reads an order by key (a consistent read), as plain Python values: ``read(orderId, createdAt)``."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()

    def read(order_id: str, created_at: str) -> dict[str, Any] | None:
        key: dict[str, Any] = {"orderId": {"S": order_id}, "createdAt": {"S": created_at}}
        item = dynamodb.get_item(TableName=table_name, Key=key, ConsistentRead=True).get("Item")
        return {name: deserializer.deserialize(value) for name, value in item.items()} if item else None

    return read


def in_flight(sqs: SQSClient, queue_url: str) -> int:
    """Messages received by someone and not yet deleted: hidden from a listing until their visibility ends."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])[
        "Attributes"
    ]
    return int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0))


def peek(sqs: SQSClient, queue_url: str, *, limit: int = 1000, hide_for: int = 30) -> list[MessageTypeDef]:
    """Read up to ``limit`` messages of any queue without removing them, with all their attributes.

    Each is hidden for ``hide_for`` seconds while the read goes on (so none is read twice), then
    made visible again at once. Each read still counts as a receive (``ApproximateReceiveCount``):
    on a queue with a redrive policy, SQS moves a message to its DLQ once it is received more
    than ``maxReceiveCount`` times, by readers like this one too.
    """
    seen: dict[str, MessageTypeDef] = {}
    while len(seen) < limit:
        batch = _receive_more(sqs, queue_url, most=min(10, limit - len(seen)), hide_for=hide_for)
        if not batch:
            break
        for message in batch:
            seen[message["MessageId"]] = message
    for message in seen.values():
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return list(seen.values())


def list_dead_letters(sqs: SQSClient, dlq_url: str, *, limit: int = 1000, hide_for: int = 30) -> list[DeadLetter]:
    """Read up to ``limit`` messages without removing them (they become visible again at once)."""
    return [DeadLetter.from_message(message) for message in peek(sqs, dlq_url, limit=limit, hide_for=hide_for)]


def depth(sqs: SQSClient, queue_url: str) -> tuple[int, int]:
    """(every message the queue holds, those of them in flight): visible, in flight and delayed."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    counts = {name: int(value) for name, value in attributes.items()}
    hidden = counts.get("ApproximateNumberOfMessagesNotVisible", 0)
    return sum(counts.values()), hidden


# --- why each message is there -------------------------------------------------------------

#: How far before a message's first send its logs are searched (clocks, batching).
LOG_SEARCH_MARGIN_MS = 60_000


@dataclass(frozen=True)
class Explained:
    """A dead letter with why it is there and whether its event is already stored."""

    letter: DeadLetter
    reason: str
    #: Where the reason comes from: ``attributes`` (the handler's), ``logs``, or ``unknown``.
    reason_source: str
    #: The rejection's code, when there was one (``RETRIES_EXHAUSTED`` for SQS's moves otherwise).
    error_code: str
    #: True: its event is in the table (redriving changes nothing); None: not a valid event, or not checked.
    already_stored: bool | None

    def to_json(self) -> dict[str, Any]:
        return {
            "messageId": self.letter.message_id,
            "sourceMessageId": self.letter.source_message_id,
            "body": self.letter.body,
            "reason": self.reason,
            "reasonSource": self.reason_source,
            "errorCode": self.error_code,
            "alreadyStored": self.already_stored,
            "receiveCount": self.letter.receive_count,
            "movedBy": self.letter.moved_by,
            "redriveCount": self.letter.redrive_count,
        }


class FunctionLogReader:
    """The function's log lines about a message or a request, via ``FilterLogEvents`` (local or AWS)."""

    def __init__(self, logs: CloudWatchLogsClient, group: str) -> None:
        self._logs = logs
        self.group = group
        self._outcomes: dict[str, str | None] = {}

    def lines(self, term: str, start_ms: int = 0) -> list[dict[str, Any]]:
        """Every JSON line containing ``term``, oldest first (a quoted-term filter pattern)."""
        from orderflow_local.cloudwatch.logs import filter_events

        lines = []
        for event in filter_events(self._logs, self.group, f'"{term}"', start_ms):
            try:
                line = json.loads(event.get("message", ""))
            except ValueError:
                continue
            if isinstance(line, dict):
                lines.append(line)
        return lines

    def failure(self, message_id: str, since_ms: int = 0) -> tuple[str, str] | None:
        """(reason, error code) of the last failure logged for ``message_id``, or None."""
        lines = self.lines(message_id, since_ms)
        failures = [
            line for line in lines if line.get("message_id") == message_id and line.get("level") in {"WARNING", "ERROR"}
        ]
        batches = [line for line in lines if message_id in (line.get("message_ids") or [])]
        last_request = batches[-1].get("function_request_id") if batches else None
        last_failure = failures[-1] if failures else None
        rejections = [line for line in failures if line.get("error_code")]
        if rejections:  # it can never succeed: that is its reason, whatever happened to it after
            rejected = rejections[-1]
            code = str(rejected["error_code"])
            return (
                f"rejected as {code}: {rejected.get('reason', '')} (the handler's send to the DLQ failed: "
                f"{rejected.get('error', '')}; SQS moved it when its receives ran out)",
                code,
            )
        if last_request and (last_failure is None or last_failure.get("function_request_id") != last_request):
            outcome = self._invocation_outcome(str(last_request), since_ms)
            if outcome is not None:
                return outcome, "RETRIES_EXHAUSTED"
        if last_failure is None:
            return None
        detail = last_failure.get("error") or last_failure.get("reason") or ""
        return f"{last_failure.get('message', 'failed')}: {detail}".rstrip(": "), "RETRIES_EXHAUSTED"

    def _invocation_outcome(self, request_id: str, since_ms: int) -> str | None:
        """How the invocation ``request_id`` ended, if it failed as a whole (timeout, crash, error)."""
        if request_id not in self._outcomes:
            lines = self.lines(request_id, since_ms)
            reports = [
                line.get("record", {})
                for line in lines
                if line.get("type") == "platform.report" and line.get("record", {}).get("requestId") == request_id
            ]
            status = reports[-1].get("status", "success") if reports else None
            errors = [
                str(line.get("message"))
                for line in lines
                if line.get("level") == "ERROR" and line.get("requestId") == request_id
            ]
            outcome = None
            if status and status != "success":
                detail = errors[-1] if errors else status
                outcome = f"its invocation {request_id} failed as a whole ({status}): {detail}"
            self._outcomes[request_id] = outcome
        return self._outcomes[request_id]


def explain(
    letters: list[DeadLetter],
    *,
    logs: FunctionLogReader | None,
    read_item: Callable[[str, str], Mapping[str, Any] | None] | None,
) -> list[Explained]:
    """Why each letter is in the DLQ, and whether its event is already stored."""
    from orderflow.domain.processing import already_applied

    explained = []
    for letter in letters:
        stored = already_applied(letter.body, read_item) if read_item is not None else None
        if letter.error_code:
            explained.append(Explained(letter, letter.reason, "attributes", letter.error_code, stored))
            continue
        found = (
            logs.failure(letter.source_message_id, max(0, letter.sent_at_ms - LOG_SEARCH_MARGIN_MS)) if logs else None
        )
        if found is not None:
            explained.append(Explained(letter, found[0], "logs", found[1], stored))
            continue
        where = f"in {logs.group}" if logs else "(logs not searched)"
        reason = (
            f"moved by SQS after {letter.receive_count} receives; no failure was logged for it {where}"
            " (the logs may have expired)"
        )
        explained.append(Explained(letter, reason, "unknown", "RETRIES_EXHAUSTED", stored))
    return explained


@dataclass
class RedriveReport:
    moved: int = 0
    skipped_rejected: int = 0
    skipped_capped: int = 0
    #: Deleted without a redrive: their event is already stored (with ``dry_run``: would be).
    deleted_stored: int = 0
    stored_ids: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (message id, why)
    #: With ``dry_run``: what would be moved.
    would_move: list[str] = field(default_factory=list)


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
    read_item: Callable[[str, str], Mapping[str, Any] | None] | None = None,
    dry_run: bool = False,
) -> RedriveReport:
    """Move dead letters back to ``source_url`` (see the module's rules).

    Given ``read_item`` (the table's item by key), letters whose event is already stored are
    deleted instead. With ``dry_run`` nothing is sent or deleted: the report says what would be.
    """
    from orderflow.domain.processing import already_applied

    if rate <= 0:
        raise ValueError("rate must be positive (messages per second)")
    report = RedriveReport()
    interval = 1.0 / rate
    held: list[str] = []  # receipt handles kept hidden for this run, made visible again at the end
    try:
        while limit is None or report.moved + len(report.would_move) < limit:
            batch = [
                DeadLetter.from_message(message)
                for message in _receive_more(sqs, dlq_url, most=10, hide_for=SKIPPED_HIDDEN_FOR)
            ]
            if not batch:
                break
            for letter in batch:
                if read_item is not None and already_applied(letter.body, read_item):
                    report.deleted_stored += 1
                    report.stored_ids.append(letter.message_id)
                    if dry_run:
                        held.append(letter.receipt_handle)
                    else:
                        sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=letter.receipt_handle)
                    continue
                why = _why_not(letter, include_rejected=include_rejected)
                if why is not None:
                    report.skipped.append((letter.message_id, why))
                    if letter.redrive_count >= MAX_REDRIVES:
                        report.skipped_capped += 1
                    else:
                        report.skipped_rejected += 1
                if why is not None or (limit is not None and report.moved + len(report.would_move) >= limit):
                    held.append(letter.receipt_handle)
                    continue
                if dry_run:
                    report.would_move.append(letter.message_id)
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
