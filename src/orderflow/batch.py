"""Processing the records of a batch concurrently, on top of Powertools' batch utility.

With real DynamoDB a write takes milliseconds of network wait; one after another, a batch
of 10 bills 10 round trips of Lambda time. On a standard queue the records are
independent, so they run on a small thread pool kept for the execution environment. On a
FIFO queue order matters: Powertools' FIFO processor takes them one by one, and on a
failure skips the rest of that message group only.

With tracing on, each pool thread runs its record inside the handler's trace entity: the
X-Ray SDK keeps the current segment per thread, so without it a record's boto3 calls would
not hang under the handler's subsegment.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, SqsFifoPartialProcessor
from aws_lambda_powertools.utilities.batch.exceptions import SQSFifoMessageGroupCircuitBreakerError

from orderflow.adapters.dead_letters import REDRIVE_COUNT, read_count
from orderflow.domain.errors import WaitingError

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools import Logger, Tracer
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

_Result = TypeVar("_Result")

#: How much of an attribute a producer set is logged when it is unreadable.
MAX_LOGGED_ATTRIBUTE_CHARS = 64

#: One thread per record of a full batch (the stack's BatchSize).
MAX_THREADS = 10


@cache
def _pool() -> ThreadPoolExecutor:
    # Created on first use and kept for the execution environment's lifetime.
    return ThreadPoolExecutor(max_workers=MAX_THREADS, thread_name_prefix="record")


@runtime_checkable
class TraceContext(Protocol):
    """What moves a trace between threads: the X-Ray SDK's recorder has these."""

    def get_trace_entity(self) -> Any: ...

    def set_trace_entity(self, trace_entity: Any) -> None: ...

    def clear_trace_entities(self) -> None: ...


def trace_context_of(tracer: Tracer | None) -> TraceContext | None:
    """The recorder to carry into pool threads, or ``None`` when ``tracer`` does not trace."""
    if tracer is None or tracer.disabled:
        return None
    provider = tracer.provider
    return provider if isinstance(provider, TraceContext) else None


def _in_trace(trace: TraceContext, work: Callable[[Any], _Result]) -> Callable[[Any], _Result]:
    """``work``, run in the calling thread's current trace entity from whichever thread calls it.

    The entity is taken now, in the caller's thread; a pool thread sets it before the record
    and clears it after, so a thread reused by the next invocation starts with nothing stale.
    """
    entity = trace.get_trace_entity()
    if entity is None:  # no segment to carry (outside Lambda, the SDK has logged it)
        return work

    def traced(record: Any) -> _Result:
        trace.set_trace_entity(entity)
        try:
            return work(record)
        finally:
            trace.clear_trace_entities()

    return traced


class ConcurrentBatchProcessor(BatchProcessor):
    """``BatchProcessor`` that runs the record handler for each record on a thread pool.

    The record handler must be thread-safe (use ``Logger.thread_safe_append_keys``). Given
    ``trace`` (tracing on), every record runs in the trace entity current at ``process()``.
    """

    def __init__(self, *args: Any, trace: TraceContext | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._trace = trace

    def _entire_batch_failed(self) -> bool:
        """Every record failed, and not only because each waits (:class:`WaitingError`).

        A batch of cancellations that all arrived before their orders (the EventBridge ingress
        gives cancellations a queue of their own, so such batches happen), or of payment events
        each waiting for a charge's answer or for the same event in another environment, is
        waiting, not broken: each record is reported for SQS to retry, and the invocation is no
        Lambda error (FunctionErrors means "a dependency is down"). Any other failure counts.
        """
        waiting = all(isinstance(info[1], WaitingError) for info in self.exceptions)
        return super()._entire_batch_failed() and not waiting

    def process(self) -> list[tuple[Any, ...]]:
        if len(self.records) <= 1:
            return super().process()  # in this thread: its trace entity is already current
        work: Callable[[Any], tuple[Any, ...]] = self._process_record
        if self._trace is not None:
            work = _in_trace(self._trace, work)
        return list(_pool().map(work, self.records))


class OrderedBatchProcessor(SqsFifoPartialProcessor):
    """Powertools' FIFO processor, skipping the rest of a message group after a failure, that logs each
    record it skips with that record's message id.

    A skipped record is retried like the failed one (SQS redelivers the group in order) and its
    receives count as well: if they run out on a skip, SQS moves it with no reason of its own, and
    without this line `orderflow dlq list` could not say why.
    """

    def __init__(self, *, logger: Logger | None = None) -> None:
        super().__init__(skip_group_on_error=True)
        self._log = logger

    def failure_handler(self, record: Any, exception: Any) -> Any:
        if self._log is not None and exception[0] is SQSFifoMessageGroupCircuitBreakerError:
            # FIFO records run one after another in this thread: the keys are this record's from here on
            self._log.thread_safe_clear_keys()
            self._log.thread_safe_append_keys(message_id=record.message_id)
            self._log.warning(
                "Skipped after an earlier message of its group failed in this batch; SQS will redeliver them in order",
                extra={"message_group_id": record.attributes.message_group_id,
                       "receive_count": int(record.attributes.approximate_receive_count or 1)},
            )  # fmt: skip
        return super().failure_handler(record, exception)


def processor_for(
    event: dict[str, Any], *, tracer: Tracer | None = None, logger: Logger | None = None
) -> BatchProcessor:
    """The processor an event needs: ordered for FIFO queues, concurrent otherwise.

    An entirely failed batch raises (Powertools' default), so the invocation counts as a
    Lambda error: every record failing at once means something systemic (DynamoDB down,
    the DLQ unreachable), which must show on the Errors alarm, and Lambda backs off polling
    instead of hammering the broken dependency. The messages are retried either way. A batch
    whose records all wait (for their orders, a charge, the same event elsewhere) is not such a
    failure (see ``_entire_batch_failed``).
    Records on pool threads stay in ``tracer``'s trace when it traces; on a FIFO queue each record
    skipped after a failure in its group is logged with ``logger``.
    """
    records = event.get("Records") or [{}]
    if str(records[0].get("eventSourceARN", "")).endswith(".fifo"):
        return OrderedBatchProcessor(logger=logger)
    return ConcurrentBatchProcessor(
        event_type=EventType.SQS, raise_on_entire_batch_failure=True, trace=trace_context_of(tracer)
    )


def redrive_count(record: SQSRecord, logger: Logger) -> int:
    """How many times the record was redriven from a DLQ (its ``redriveCount`` attribute, which
    `orderflow dlq redrive` sets); 0, with a warning, when it is not a count.

    Any producer can set the attribute, so it is not trusted: raising here would fail the
    record before the domain runs, and after its retries SQS would move it to the DLQ with
    no reason. The message itself is processed as usual (see docs/decisions.md).
    """
    attribute = record.message_attributes[REDRIVE_COUNT]
    raw = attribute.string_value if attribute else None
    count = read_count(raw)
    if count is not None:
        return count
    logger.warning(
        "Unreadable redriveCount ignored",
        extra={"redrive_count": (raw or "")[:MAX_LOGGED_ATTRIBUTE_CHARS], "counted_as": 0},
    )
    return 0
