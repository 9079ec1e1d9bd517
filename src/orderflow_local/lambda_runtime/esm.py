"""Our emulation of Lambda's SQS event source mapping (moto's is not faithful).

Reproduces AWS's rules, listed with their sources in ``docs/event-source-mapping.md``: long polling; batches up to
``BatchSize`` within ``MaximumBatchingWindowInSeconds`` and the 6 MB payload cap;
concurrent batches scaling up to ``MaximumConcurrency``; the Lambda-shaped event; delete
on success, nothing on error/timeout/crash; ``ReportBatchItemFailures`` with AWS's rules
for partial, complete-success and complete-failure responses; FIFO group order.

Differences from AWS, on purpose: polls wait at most 1 s (so the runner stops promptly);
without ``MaximumConcurrency`` it scales to ``LOCAL_CONCURRENCY_LIMIT`` batches, not 1,250.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

    from orderflow_local.lambda_runtime.environment import Invocation

log = logging.getLogger(__name__)

PAYLOAD_LIMIT = 6 * 1024 * 1024  # Lambda's synchronous invocation payload limit
INITIAL_CONCURRENCY = 5  # AWS starts with 5 concurrent batches on a standard queue
SCALE_UP_INTERVAL = 0.2  # AWS adds up to 300 concurrent batches a minute: one per 0.2 s
LOCAL_CONCURRENCY_LIMIT = 10  # without MaximumConcurrency (AWS would go to 1,250)
POLL_WAIT_SECONDS = 1
SYSTEM_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)


class MappingConfigurationError(ValueError):
    """AWS would refuse to create this event source mapping."""


class Invoker(Protocol):
    def invoke(self, event: dict[str, Any]) -> Invocation: ...


@dataclass(frozen=True)
class MappingConfig:
    """An event source mapping between one queue and one function."""

    queue_url: str
    queue_arn: str
    visibility_timeout: int
    function_timeout: float
    batch_size: int = 10
    batching_window: float = 0
    report_batch_item_failures: bool = False
    max_concurrency: int | None = None
    fifo: bool = False
    region: str = "us-east-1"

    def validate(self) -> list[str]:
        """Raise as AWS does on an invalid mapping; return warnings for risky ones."""
        if self.function_timeout > self.visibility_timeout:
            raise MappingConfigurationError(
                f"the function timeout ({self.function_timeout:g} s) exceeds the queue's visibility timeout "
                f"({self.visibility_timeout} s): AWS refuses such a mapping. Raise the visibility timeout "
                f"(--visibility-timeout) to at least {self.recommended_visibility_timeout} s."
            )
        if self.fifo and self.batching_window:
            raise MappingConfigurationError(
                "MaximumBatchingWindowInSeconds is not supported for FIFO queues: AWS refuses such a mapping"
            )
        if not 1 <= self.batch_size <= (10 if self.fifo else 10_000):
            raise MappingConfigurationError(f"BatchSize {self.batch_size} is out of range for this queue type")
        if self.batch_size > 10 and self.batching_window < 1:
            raise MappingConfigurationError("a BatchSize above 10 needs a batching window of at least 1 s")
        if self.max_concurrency is not None and not 2 <= self.max_concurrency <= 1000:
            raise MappingConfigurationError("MaximumConcurrency must be between 2 and 1000")
        if self.visibility_timeout < self.recommended_visibility_timeout:
            return [
                f"the queue's visibility timeout ({self.visibility_timeout} s) is below AWS's recommendation of 6 x "
                f"the function timeout + the batching window ({self.recommended_visibility_timeout} s): a retried "
                "batch may overlap a message's next delivery."
            ]
        return []

    @property
    def recommended_visibility_timeout(self) -> int:
        return math.ceil(6 * self.function_timeout + self.batching_window)

    @property
    def concurrency_limit(self) -> int:
        return self.max_concurrency or LOCAL_CONCURRENCY_LIMIT


@dataclass
class MappingStats:
    """Counters of what the mapping did; read them while it runs."""

    received: int = 0
    invocations: int = 0
    succeeded: int = 0
    failed: int = 0  # invocations that errored, timed out or crashed
    timeouts: int = 0
    crashes: int = 0
    deleted: int = 0
    returned: int = 0  # messages left to reappear after their visibility timeout
    in_flight: int = 0
    cold_starts: int = 0
    handler_metrics: Counter[str] = field(default_factory=Counter)
    #: (records, seconds) of every successful invocation, for benchmarks and cost estimates.
    durations: list[tuple[int, float]] = field(default_factory=list)
    #: Age (s) of the oldest message received since it was last taken (the queue's age metric).
    oldest_age: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def observe_age(self, age: float) -> None:
        with self.lock:
            self.oldest_age = age if self.oldest_age is None else max(self.oldest_age, age)

    def take_oldest_age(self) -> float | None:
        """The age (s) of the oldest message received since the last call (None: none received)."""
        with self.lock:
            age, self.oldest_age = self.oldest_age, None
        return age

    def add(self, **deltas: int) -> None:
        with self.lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)


def to_lambda_record(message: MessageTypeDef, *, queue_arn: str, region: str, batching_window: float) -> dict[str, Any]:
    """One SQS message as Lambda delivers it in ``event["Records"]``.

    A message without attributes has no ``md5OfMessageAttributes``; AWS then leaves the key
    out of the record when the mapping has no batching window, and sets it to ``null`` when
    it has one, so the record depends on the mapping's ``batching_window``.
    """
    attributes = message.get("Attributes", {})
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {name: attributes[name] for name in SYSTEM_ATTRIBUTES if name in attributes},
        "messageAttributes": {
            name: _message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    elif batching_window > 0:
        record["md5OfMessageAttributes"] = None
    return record


def _message_attribute(value: Any) -> dict[str, Any]:
    attribute: dict[str, Any] = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    attribute["stringListValues"] = list(value.get("StringListValues", []))
    attribute["binaryListValues"] = [base64.b64encode(item).decode() for item in value.get("BinaryListValues", [])]
    attribute["dataType"] = value["DataType"]
    return attribute


def failed_message_ids(payload: str | None, batch_ids: list[str]) -> set[str]:
    """The messages to keep, from a ``ReportBatchItemFailures`` response (AWS's rules).

    Complete success: the response is empty or null, or ``batchItemFailures`` is empty,
    null or absent. Partial: the listed ids. Complete failure (every id): the response is
    not JSON or not an object of that shape, or an ``itemIdentifier`` is empty, null,
    missing, or not a message of this batch.
    """
    everything = set(batch_ids)
    if payload is None or payload.strip() in {"", "null"}:
        return set()
    try:
        response = json.loads(payload)
    except ValueError:
        return everything
    if response in ({}, "", None):
        return set()
    if not isinstance(response, dict):
        return everything
    failures = response.get("batchItemFailures")
    if failures is None or failures == []:
        return set()
    if not isinstance(failures, list):
        return everything
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in everything:
            return everything
        failed.add(identifier)
    return failed


def keep_fifo_order(records: list[dict[str, Any]], failed: set[str]) -> set[str]:
    """On a FIFO queue, a failed message holds back every later message of its group."""
    held: set[str] = set(failed)
    blocked_groups: set[str] = set()
    for record in records:
        group = record["attributes"].get("MessageGroupId", "")
        if group in blocked_groups:
            held.add(record["messageId"])
        elif record["messageId"] in failed:
            blocked_groups.add(group)
    return held


class EventSourceMapping:
    """Polls one queue and invokes one function with batches of its messages.

    Example
    -------
    >>> mapping = EventSourceMapping(config, sqs_factory=emulator.sqs, invoker=pool)  # doctest: +SKIP
    >>> mapping.start(); ...; mapping.stop()  # doctest: +SKIP
    """

    def __init__(
        self,
        config: MappingConfig,
        *,
        sqs_factory: Callable[[], SQSClient],
        invoker: Invoker,
        on_warning: Callable[[str], None] = log.warning,
    ) -> None:
        for warning in config.validate():
            on_warning(warning)
        self.config = config
        self.stats = MappingStats()
        self._sqs_factory = sqs_factory
        self._invoker = invoker
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._active = min(INITIAL_CONCURRENCY, config.concurrency_limit)
        self._backlog = threading.Event()

    def start(self) -> EventSourceMapping:
        for index in range(self.config.concurrency_limit):
            thread = threading.Thread(target=self._poll, args=(index,), name=f"esm-poller-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        scaler = threading.Thread(target=self._scale, name="esm-scaler", daemon=True)
        scaler.start()
        self._threads.append(scaler)
        return self

    def stop(self, timeout: float = 30) -> None:
        """Stop polling; batches in flight finish (or time out) first."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def active_pollers(self) -> int:
        return self._active

    def _scale(self) -> None:
        while not self._stop.wait(SCALE_UP_INTERVAL):
            if self._backlog.is_set() and self._active < self.config.concurrency_limit:
                self._active += 1
                self._backlog.clear()

    def _poll(self, index: int) -> None:
        sqs = self._sqs_factory()
        carry: list[dict[str, Any]] = []
        while not self._stop.is_set():
            if index >= self._active:
                self._stop.wait(SCALE_UP_INTERVAL)
                continue
            try:
                batch, carry = self._collect(sqs, carry)
            except Exception:
                log.exception("polling %s failed; retrying", self.config.queue_url)
                self._stop.wait(1)
                continue
            if not batch:
                continue
            try:
                self._invoke(sqs, batch)
            except Exception:
                if self._stop.is_set():  # stopped at once: the batch is abandoned, SQS delivers it again
                    return
                log.exception(
                    "invoking %s failed; its messages come back after their visibility timeout", ids_of(batch)
                )

    def _collect(
        self, sqs: SQSClient, carry: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        batch = list(carry)
        size = sum(len(json.dumps(record)) for record in batch)
        deadline = time.monotonic() + self.config.batching_window if batch else None
        while len(batch) < self.config.batch_size and not self._stop.is_set():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            wait = POLL_WAIT_SECONDS if remaining is None else max(0, min(POLL_WAIT_SECONDS, int(remaining)))
            wanted = min(10, self.config.batch_size - len(batch))
            messages = sqs.receive_message(
                QueueUrl=self.config.queue_url,
                MaxNumberOfMessages=wanted,
                WaitTimeSeconds=wait,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if len(messages) == wanted:
                self._backlog.set()
            self.stats.add(received=len(messages))
            if messages:
                sent = min(int(message.get("Attributes", {}).get("SentTimestamp", 0)) for message in messages)
                if sent:
                    self.stats.observe_age(max(0.0, time.time() - sent / 1000))
            for position, message in enumerate(messages):
                record = self._record(message)
                record_size = len(json.dumps(record))
                if batch and size + record_size > PAYLOAD_LIMIT:
                    rest = [self._record(later) for later in messages[position + 1 :]]
                    return batch, [record, *rest]
                batch.append(record)
                size += record_size
            if batch and deadline is None:
                deadline = time.monotonic() + self.config.batching_window
            if batch and self.config.batching_window == 0:
                break
            if not messages and wait == 0:
                self._stop.wait(0.05)
        return batch, []

    def _record(self, message: MessageTypeDef) -> dict[str, Any]:
        config = self.config
        return to_lambda_record(
            message, queue_arn=config.queue_arn, region=config.region, batching_window=config.batching_window
        )

    def _invoke(self, sqs: SQSClient, records: list[dict[str, Any]]) -> None:
        ids = [record["messageId"] for record in records]
        self.stats.add(in_flight=len(records), invocations=1)
        try:
            result = self._invoker.invoke({"Records": records})
        finally:
            self.stats.add(in_flight=-len(records))
        with self.stats.lock:
            self.stats.handler_metrics.update(result.metrics)
            if result.status == "ok":
                self.stats.durations.append((len(records), result.duration))
        self.stats.add(cold_starts=int(result.cold_start))
        if result.status == "ok":
            failed = failed_message_ids(result.payload, ids) if self.config.report_batch_item_failures else set()
            self.stats.add(succeeded=1)
        else:
            failed = set(ids)
            self.stats.add(failed=1, timeouts=int(result.status == "timeout"), crashes=int(result.status == "crash"))
            log.warning("invocation %s: %s", result.status, result.error)
        if failed and self.config.fifo:
            failed = keep_fifo_order(records, failed)
        done = [record for record in records if record["messageId"] not in failed]
        self._delete(sqs, done)
        self.stats.add(returned=len(records) - len(done))

    def _delete(self, sqs: SQSClient, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), 10):
            chunk = records[start : start + 10]
            response = sqs.delete_message_batch(
                QueueUrl=self.config.queue_url,
                Entries=[{"Id": str(n), "ReceiptHandle": record["receiptHandle"]} for n, record in enumerate(chunk)],
            )
            self.stats.add(deleted=len(response.get("Successful", [])))
            for failure in response.get("Failed", []):
                log.warning("could not delete a processed message: %s", failure.get("Message"))


def ids_of(records: list[dict[str, Any]]) -> str:
    return ", ".join(str(record.get("messageId")) for record in records[:3]) + (" ..." if len(records) > 3 else "")
