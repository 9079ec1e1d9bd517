"""Our runner of an EventBridge Pipe from a DynamoDB stream to an event bus (moto keeps pipes only
as configuration).

Reproduces AWS's rules, listed with their sources in ``docs/event-source-mapping.md`` ("EventBridge
Pipes: the rules our runner reproduces"): each shard read in order from ``StartingPosition``,
polled four times a second; batches of up to ``BatchSize`` matching records within
``MaximumBatchingWindowInSeconds``; records that match no filter dropped; the input template and
dynamic path parameters; ``PutEvents`` to the bus, failed entries retried with backoff up to
``MaximumRetryAttempts`` (``AUTOMATIC_BISECT`` halves a failing batch first), older records than
``MaximumRecordAgeInSeconds`` given up; then AWS's failure record on the dead-letter queue. A shard
moves past a batch only once each of its records is published or dead-lettered, and the next batch
of a shard starts only then, so a shard's records reach the bus in order.

Differences from AWS, on purpose: backoff waits 0.2 s doubling to 5 s (AWS does not say); with
``MaximumRetryAttempts`` -1 a batch is retried until the pipe stops (AWS: until the record leaves
the stream's 24 h retention); ``ParallelizationFactor`` is accepted but a shard is read one
batch at a time, which keeps the order AWS keeps per item across the whole shard.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orderflow_local.lambda_runtime.pipe_config import PipeConfig, PipeConfigurationError
from orderflow_local.lambda_runtime.pipe_transform import (
    RecordFilter,
    TemplateContext,
    render_template,
    resolve_dynamic,
)

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.25  # AWS polls each shard four times a second
DISCOVERY_INTERVAL = 1.0  # how often the stream is described for new shards
PUT_EVENTS_LIMIT = 10  # entries per PutEvents call
DEFAULT_DETAIL_TYPE = "Event from aws:dynamodb"  # what AWS sets without a DetailType

__all__ = ["PipeConfig", "PipeConfigurationError", "PipeStats", "StreamPipe", "failure_record", "to_pipe_record"]


def default_backoff(retry: int) -> float:
    """Seconds to wait before retry number ``retry`` (0-based): 0.2 s doubling, at most 5 s."""
    return float(min(0.2 * 2**retry, 5.0))


@dataclass
class PipeStats:
    """Counters of what the pipe did; read them while it runs (``snapshot()`` for a consistent copy)."""

    records_read: int = 0
    filtered_out: int = 0  # records that matched no filter: dropped, as on AWS
    published: int = 0  # entries the bus accepted
    failed: int = 0  # entries a PutEvents attempt did not deliver (each attempt counts)
    retries: int = 0  # attempts after a failure, bisected halves included
    dead_lettered: int = 0  # records named in a failure record on the DLQ
    discarded: int = 0  # records given up without a DLQ to name them in
    batches: int = 0
    in_flight: int = 0
    last_error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **deltas: int) -> None:
        with self.lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def error(self, message: str) -> None:
        with self.lock:
            self.last_error = message

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "lock"}


def to_pipe_record(raw: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A ``GetRecords`` record as the pipe sees it: plain JSON, with ``eventSourceARN``.

    boto3 gives ``ApproximateCreationDateTime`` as a datetime and binary attributes as bytes; the
    pipe's event has epoch seconds and base64, as Lambda's DynamoDB event does.
    """
    record = _plain(raw)
    record["eventSourceARN"] = stream_arn
    return dict(record)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dt.datetime):
        return int(value.timestamp())
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    return value


def failure_record(
    config: PipeConfig, shard_id: str, records: list[dict[str, Any]], condition: str, now: float
) -> dict[str, Any]:
    """What the pipe puts on its dead-letter queue: where the records are, not the records.

    The stream keeps them 24 hours; the DLQ message says where to read them again.
    """

    def iso(seconds: float, *, millis: bool = False) -> str:
        moment = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{moment.microsecond // 1000:03d}" if millis else "") + "Z"

    first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
    return {
        "context": {"partnerResourceArn": config.arn, "condition": condition},
        "version": "1.0",
        "timestamp": iso(now, millis=True),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first["SequenceNumber"],
            "endSequenceNumber": last["SequenceNumber"],
            "approximateArrivalOfFirstRecord": iso(first.get("ApproximateCreationDateTime", now)),
            "approximateArrivalOfLastRecord": iso(last.get("ApproximateCreationDateTime", now)),
            "batchSize": len(records),
            "streamArn": config.source_arn,
        },
    }


class _AbortedError(Exception):
    """The pipe was stopped without draining: the batch in hand is left unsettled (not checkpointed)."""


class StreamPipe:
    """Reads one DynamoDB stream and publishes its records to one event bus, as the pipe would.

    ``client_factory(service)`` makes a boto3 client (``"dynamodbstreams"``, ``"events"``,
    ``"sqs"``), with the pipe role's credentials where IAM is enforced.

    Example
    -------
    >>> config = PipeConfig.from_properties("OrderOutbox", properties)  # doctest: +SKIP
    >>> pipe = StreamPipe(config, client_factory=make_client).start()  # doctest: +SKIP
    >>> pipe.wait_ready(10); ...; pipe.stop(drain=True); pipe.stats.snapshot()  # doctest: +SKIP
    """

    def __init__(
        self,
        config: PipeConfig,
        *,
        client_factory: Callable[[str], Any],
        backoff: Callable[[int], float] = default_backoff,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.stats = PipeStats()
        self._client_factory = client_factory
        self._backoff = backoff
        self._clock = clock
        self._filter = RecordFilter(config.filters)
        self._stopping = threading.Event()
        self._abort = threading.Event()
        self._ready = threading.Event()
        self._threads: list[threading.Thread] = []
        self._shards: dict[str, threading.Thread] = {}
        self._finished: set[str] = set()
        self._checkpoints: dict[str, str] = {}  # shard id -> last sequence number settled
        self._queue_url: str | None = None
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        running = any(thread.is_alive() for thread in self._threads)
        return "RUNNING" if running and not self._stopping.is_set() else "STOPPED"

    def start(self) -> StreamPipe:
        """Start polling (a pipe whose ``DesiredState`` is STOPPED stays stopped)."""
        if self.config.desired_state == "STOPPED":
            log.info("pipe %s: DesiredState is STOPPED; not polling", self.config.name)
            self._ready.set()
            return self
        self._stopping.clear()
        self._abort.clear()
        self._ready.clear()
        with self._lock:
            self._shards = {}  # a restart reads on from each shard's checkpoint
        thread = threading.Thread(target=self._discover, name=f"pipe-{self.config.name}", daemon=True)
        thread.start()
        self._threads = [thread]
        return self

    def wait_ready(self, timeout: float = 10) -> bool:
        """Wait until every shard has its starting position (records written after it are read)."""
        return self._ready.wait(timeout)

    def stop(self, *, drain: bool = True, timeout: float = 30) -> None:
        """Stop reading. With ``drain``, each batch in hand is published or dead-lettered first (up to
        ``timeout``); without it, or past it, the batch is left unsettled, to be read again."""
        self._stopping.set()
        if not drain:
            self._abort.set()
        deadline = time.monotonic() + timeout
        for thread in self._all_threads():
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._all_threads()):
            log.warning("pipe %s: a batch was still being delivered at stop; it will be read again", self.config.name)
            self._abort.set()
            for thread in self._all_threads():
                thread.join(2)

    def _all_threads(self) -> list[threading.Thread]:
        with self._lock:
            return [*self._threads, *self._shards.values()]

    # -- shards ------------------------------------------------------------------------------------

    def _discover(self) -> None:
        streams = self._client_factory("dynamodbstreams")
        first = True
        while not self._stopping.is_set():
            try:
                shards = self._describe(streams)
            except Exception as error:  # noqa: BLE001 - any failure: described again in a second
                self._record_error(f"describing {self.config.source_arn} failed: {error}")
                self._stopping.wait(DISCOVERY_INTERVAL)
                continue
            known = {shard["ShardId"] for shard in shards}
            started: list[threading.Event] = []
            with self._lock:
                for shard in shards:
                    shard_id, parent = shard["ShardId"], shard.get("ParentShardId")
                    if shard_id in self._shards or shard_id in self._finished:
                        continue
                    if parent in known and parent not in self._finished:
                        continue  # a child shard waits for its parent to be read to its end
                    position = self.config.starting_position if first or parent is None else "TRIM_HORIZON"
                    ready = threading.Event()
                    thread = threading.Thread(
                        target=self._run_shard,
                        args=(shard_id, position, ready),
                        name=f"pipe-{self.config.name}-{shard_id[-8:]}",
                        daemon=True,
                    )
                    thread.start()
                    self._shards[shard_id] = thread
                    started.append(ready)
            for ready in started:
                ready.wait(DISCOVERY_INTERVAL * 5)
            if first:
                first = False
                self._ready.set()
            self._stopping.wait(DISCOVERY_INTERVAL)

    def _describe(self, streams: Any) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        request: dict[str, Any] = {"StreamArn": self.config.source_arn}
        while True:
            description = streams.describe_stream(**request)["StreamDescription"]
            shards.extend(description.get("Shards", []))
            last = description.get("LastEvaluatedShardId")
            if not last:
                return shards
            request["ExclusiveStartShardId"] = last

    def _iterator(self, streams: Any, shard_id: str, position: str) -> str | None:
        request: dict[str, Any] = {"StreamArn": self.config.source_arn, "ShardId": shard_id}
        checkpoint = self._checkpoints.get(shard_id)
        if checkpoint:
            request.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=checkpoint)
        else:
            request["ShardIteratorType"] = position
        iterator: str | None = streams.get_shard_iterator(**request).get("ShardIterator")
        return iterator

    def _run_shard(self, shard_id: str, position: str, ready: threading.Event) -> None:
        streams = self._client_factory("dynamodbstreams")
        events = self._client_factory("events")
        sqs = self._client_factory("sqs") if self.config.dead_letter_arn else None
        iterator: str | None = None
        while not self._stopping.is_set():
            try:
                if iterator is None:
                    iterator = self._iterator(streams, shard_id, position)
                    ready.set()
                    if iterator is None:
                        break
                batch, iterator, last = self._collect(streams, iterator)
            except Exception as error:  # noqa: BLE001 - any failure: read again from the checkpoint
                self._record_error(f"reading shard {shard_id} failed: {error}; reading again from its checkpoint")
                iterator = None  # records read since the checkpoint are read again
                self._stopping.wait(1)
                continue
            try:
                if batch:
                    self._settle(events, sqs, shard_id, batch)
            except _AbortedError:
                return
            if last:
                self._checkpoints[shard_id] = last
            if iterator is None:  # the shard is closed and read to its end
                with self._lock:
                    self._finished.add(shard_id)
                return
        ready.set()

    def _collect(self, streams: Any, iterator: str) -> tuple[list[dict[str, Any]], str | None, str | None]:
        """Read one batch: up to BatchSize matching records, within the batching window.

        Returns the batch, the iterator after it, and the last sequence number read (filtered
        records included: once the batch is settled the shard moves past them too).
        """
        batch: list[dict[str, Any]] = []
        last: str | None = None
        deadline: float | None = None
        current: str | None = iterator
        while current is not None:
            response = streams.get_records(ShardIterator=current, Limit=self.config.batch_size - len(batch))
            records = response.get("Records", [])
            current = response.get("NextShardIterator")
            for raw in records:
                record = to_pipe_record(raw, self.config.source_arn)
                last = record["dynamodb"]["SequenceNumber"]
                if self._filter.matches(record):
                    batch.append(record)
                else:
                    self.stats.add(filtered_out=1)
            self.stats.add(records_read=len(records))
            if batch and deadline is None:
                deadline = time.monotonic() + self.config.batching_window
            if len(batch) >= self.config.batch_size or (records and not batch):
                break
            if batch and time.monotonic() >= deadline:  # type: ignore[operator]
                break
            wait = POLL_INTERVAL if deadline is None else min(POLL_INTERVAL, max(0.0, deadline - time.monotonic()))
            if self._stopping.wait(wait if not records else 0):
                break
        return batch, current, last

    # -- delivery ----------------------------------------------------------------------------------

    def _settle(self, events: Any, sqs: Any, shard_id: str, batch: list[dict[str, Any]]) -> None:
        """Publish or dead-letter every record of ``batch``, in order; raise :class:`_AbortedError` if stopped."""
        self.stats.add(batches=1, in_flight=len(batch))
        try:
            parts: deque[tuple[list[dict[str, Any]], int]] = deque([(batch, 0)])
            while parts:
                part, retries = parts.popleft()
                expired = [record for record in part if self._too_old(record)]
                if expired:
                    self._dead_letter(sqs, shard_id, expired, "RecordAgeExceeded")
                    part = [record for record in part if record not in expired]
                    if not part:
                        continue
                failed = self._publish(events, part)
                if not failed:
                    continue
                exhausted = 0 <= self.config.maximum_retry_attempts <= retries
                if self.config.bisect_on_failure and len(failed) > 1:
                    half = (len(failed) + 1) // 2  # splitting is not a retry: each half keeps the count
                    parts.extendleft([(failed[half:], retries), (failed[:half], retries)])
                elif exhausted:
                    self._dead_letter(sqs, shard_id, failed, "RetryAttemptsExhausted")
                    continue
                else:
                    parts.appendleft((failed, retries + 1))
                self._wait(self._backoff(retries))
                self.stats.add(retries=1)
        finally:
            self.stats.add(in_flight=-len(batch))

    def _too_old(self, record: dict[str, Any]) -> bool:
        limit = self.config.maximum_record_age
        created = record["dynamodb"].get("ApproximateCreationDateTime")
        return limit >= 0 and created is not None and self._clock() - float(created) > limit

    def _publish(self, events: Any, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """PutEvents, 10 entries a call; the records whose entries the bus did not take."""
        failed: list[dict[str, Any]] = []
        for start in range(0, len(records), PUT_EVENTS_LIMIT):
            chunk = records[start : start + PUT_EVENTS_LIMIT]
            try:
                response = events.put_events(Entries=[self._entry(record) for record in chunk])
            except Exception as error:  # noqa: BLE001 - any failure fails the chunk, which is retried
                self._record_error(f"PutEvents to {self.config.target_arn} failed: {error}")
                failed.extend(chunk)
                continue
            for record, entry in zip(chunk, response.get("Entries", []), strict=False):
                if entry.get("ErrorCode") or not entry.get("EventId"):
                    failed.append(record)
                    self._record_error(f"PutEvents entry failed: {entry.get('ErrorCode')}: {entry.get('ErrorMessage')}")
            failed.extend(chunk[len(response.get("Entries", [])) :])  # entries with no answer: not delivered
        self.stats.add(published=len(records) - len(failed), failed=len(failed))
        return failed

    def _entry(self, record: dict[str, Any]) -> dict[str, Any]:
        config = self.config
        if config.input_template is None:
            detail = json.dumps(record, separators=(",", ":"))
        else:
            context = TemplateContext(
                pipe_arn=config.arn,
                pipe_name=config.name,
                source_arn=config.source_arn,
                target_arn=config.target_arn,
                ingestion_time=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
            detail = render_template(config.input_template, record, context)
        entry: dict[str, Any] = {
            "EventBusName": config.target_arn,
            "Source": f"Pipe {config.name}"
            if config.event_source is None
            else resolve_dynamic(config.event_source, record),
            "DetailType": DEFAULT_DETAIL_TYPE
            if config.detail_type is None
            else resolve_dynamic(config.detail_type, record),
            "Detail": detail,
        }
        resources = [resolve_dynamic(resource, record) for resource in config.resources]
        if resources:
            entry["Resources"] = [resource for resource in resources if resource is not None]
        if config.time is not None and (moment := resolve_dynamic(config.time, record)) is not None:
            entry["Time"] = moment
        return {key: value for key, value in entry.items() if value is not None}

    def _dead_letter(self, sqs: Any, shard_id: str, records: list[dict[str, Any]], condition: str) -> None:
        """Send AWS's failure record for ``records``; keep trying until it is sent (or the pipe aborts)."""
        if sqs is None:
            log.error(
                "pipe %s: %d records given up (%s) with no DeadLetterConfig", self.config.name, len(records), condition
            )
            self.stats.add(discarded=len(records))
            return
        body = json.dumps(failure_record(self.config, shard_id, records, condition, self._clock()))
        attempt = 0
        while True:
            try:
                if self._queue_url is None:
                    self._queue_url = sqs.get_queue_url(
                        QueueName=self.config.dead_letter_queue_name, QueueOwnerAWSAccountId=self.config.account
                    )["QueueUrl"]
                sqs.send_message(QueueUrl=self._queue_url, MessageBody=body)
            except Exception as error:  # noqa: BLE001 - any failure: the failure record is sent again
                self._record_error(f"sending to the DLQ {self.config.dead_letter_arn} failed: {error}; retrying")
                self._wait(self._backoff(attempt))
                attempt += 1
                continue
            self.stats.add(dead_lettered=len(records))
            log.warning("pipe %s: %d records dead-lettered (%s)", self.config.name, len(records), condition)
            return

    def _wait(self, seconds: float) -> None:
        if self._abort.wait(seconds) or self._abort.is_set():
            raise _AbortedError

    def _record_error(self, message: str) -> None:
        log.warning("pipe %s: %s", self.config.name, message)
        self.stats.error(message)
