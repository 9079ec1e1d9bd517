"""Processing the records of a batch concurrently, on top of Powertools' batch utility.

With real DynamoDB a write takes milliseconds of network wait; one after another, a batch
of 10 bills 10 round trips of Lambda time. On a standard queue the records are
independent, so they run on a small thread pool kept for the execution environment. On a
FIFO queue order matters: Powertools' FIFO processor takes them one by one, and on a
failure skips the rest of that message group only.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, SqsFifoPartialProcessor

#: One thread per record of a full batch (the stack's BatchSize).
MAX_THREADS = 10


@cache
def _pool() -> ThreadPoolExecutor:
    # Created on first use and kept for the execution environment's lifetime.
    return ThreadPoolExecutor(max_workers=MAX_THREADS, thread_name_prefix="record")


class ConcurrentBatchProcessor(BatchProcessor):
    """``BatchProcessor`` that runs the record handler for each record on a thread pool.

    The record handler must be thread-safe (use ``Logger.thread_safe_append_keys``).
    """

    def process(self) -> list[tuple[Any, ...]]:
        if len(self.records) <= 1:
            return super().process()
        return list(_pool().map(self._process_record, self.records))


def processor_for(event: dict[str, Any]) -> BatchProcessor:
    """The processor an event needs: ordered for FIFO queues, concurrent otherwise.

    An entirely failed batch raises (Powertools' default), so the invocation counts as a
    Lambda error: every record failing at once means something systemic (DynamoDB down,
    the DLQ unreachable), which must show on the Errors alarm, and Lambda backs off polling
    instead of hammering the broken dependency. The messages are retried either way.
    """
    records = event.get("Records") or [{}]
    if str(records[0].get("eventSourceARN", "")).endswith(".fifo"):
        return SqsFifoPartialProcessor(skip_group_on_error=True)
    return ConcurrentBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=True)
