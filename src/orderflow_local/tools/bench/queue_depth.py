"""``sqs_depth``: the cost of ``ReceiveMessage`` and ``SendMessageBatch`` as the queue grows,
against the same calls on an empty queue."""

from __future__ import annotations

import statistics
import time
import uuid
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from orderflow_local.emulator import Emulator

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_sqs import SQSClient


def _median_ms(call: Callable[[], object], samples: int, after: Callable[[object], None] | None = None) -> float:
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        result = call()
        timings.append((time.perf_counter() - started) * 1000)
        if after is not None:
            after(result)
    return statistics.median(timings)


def _fill(sqs: SQSClient, queue_url: str, count: int, body: str) -> None:
    for start in range(0, count, 10):
        entries = [{"Id": str(n), "MessageBody": body} for n in range(min(10, count - start))]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)  # type: ignore[arg-type]


@dataclass
class DepthRow:
    depth: int
    receive_ms: float
    send_batch_ms: float
    receive_ratio: float
    send_batch_ratio: float


@dataclass
class DepthRows:
    rows: list[DepthRow]


def sqs_depth(
    depths: list[int], *, samples: int = 15, progress: Callable[[str], None] = lambda _: None
) -> list[DepthRow]:
    """Median ReceiveMessage(10) and SendMessageBatch(10) at each depth, and their ratio to the baseline.

    The baseline is a queue of 10 messages (one receive's worth: an empty queue would
    answer a receive with nothing to return). Received messages are made visible again
    between samples, so every receive returns 10 and the depth stays as set.
    """
    body = '{"orderId": "ORD-BENCH", "padding": "' + "x" * 400 + '"}'
    rows: list[DepthRow] = []
    with Emulator(port=0) as emulator:
        sqs = emulator.sqs()
        for depth in sorted({10, *depths}):
            progress(f"filling a queue to {depth} messages")
            queue_url = sqs.create_queue(
                QueueName=f"bench-{uuid.uuid4().hex[:8]}", Attributes={"VisibilityTimeout": "600"}
            )["QueueUrl"]
            _fill(sqs, queue_url, depth, body)
            progress(f"timing at depth {depth}")
            # Received messages stay in flight (not deleted): the depth seen by each call stays ~depth.
            entries: Any = [{"Id": str(n), "MessageBody": body} for n in range(10)]

            def release(response: Any, url: str = queue_url) -> None:
                entries: Any = [
                    {"Id": str(n), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
                    for n, message in enumerate(response.get("Messages", []))
                ]
                if entries:
                    sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)

            receive = _median_ms(
                partial(sqs.receive_message, QueueUrl=queue_url, MaxNumberOfMessages=10), samples, after=release
            )
            send = _median_ms(partial(sqs.send_message_batch, QueueUrl=queue_url, Entries=entries), samples)
            rows.append(DepthRow(depth, receive, send, 1.0, 1.0))
            sqs.delete_queue(QueueUrl=queue_url)
    base = rows[0]
    for row in rows:
        row.receive_ratio = row.receive_ms / base.receive_ms
        row.send_batch_ratio = row.send_batch_ms / base.send_batch_ms
    return rows
