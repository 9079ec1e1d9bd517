"""``load``: a burst through the whole pipeline, with memory sampled, checked for anything lost."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass
class LoadResult:
    orders: int
    seconds: float
    stored: int
    valid_in_dlq: int
    rejected: int
    lost: int
    unexpected_items: int
    runner_rss_start_mb: float
    runner_rss_peak_mb: float
    runner_rss_end_mb: float
    worker_rss_peak_mb: float
    ok: bool


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def load(orders: int, *, progress: Callable[[str], None] = lambda _: None, timeout: float = 3600) -> LoadResult:
    """Send a burst of ``orders`` (with duplicates and bad ones) and check nothing was lost."""
    import os
    import threading

    from orderflow_local.ops.traffic import plan_traffic, send, verify
    from orderflow_local.stack import LocalStack, StackOptions

    plan = plan_traffic(orders, seed=21, run=uuid.uuid4().hex[:6])
    peak = {"runner": 0.0, "worker": 0.0}
    stop = threading.Event()
    # The order service alone: what the burst checks (and the memory it samples) is its.
    with LocalStack(StackOptions(port=0, functions=("OrderProcessor",)), progress=progress) as stack:

        def sample() -> None:
            while not stop.wait(0.5):
                peak["runner"] = max(peak["runner"], _rss_mb(os.getpid()))
                for pool in stack.pools:
                    for environment in list(pool._all):
                        peak["worker"] = max(peak["worker"], _rss_mb(environment.process.pid or 0))

        start_rss = _rss_mb(os.getpid())
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        sqs = stack.emulator.sqs()
        started = time.time()
        progress(f"sending {orders} messages")
        send(sqs, stack.outputs["QueueUrl"], plan.messages)
        progress("waiting for the queue to drain")
        quiet = 0
        deadline = time.monotonic() + timeout
        while quiet < 3 and time.monotonic() < deadline:
            time.sleep(1)
            attributes = sqs.get_queue_attributes(
                QueueUrl=stack.outputs["QueueUrl"],
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            waiting = sum(int(value) for value in attributes.values())
            in_flight = sum(mapping.stats.in_flight for mapping in stack.mappings)
            quiet = quiet + 1 if waiting == 0 and in_flight == 0 else 0
            progress(f"{waiting} waiting, runner RSS {_rss_mb(os.getpid()):.0f} MB")
        seconds = time.time() - started
        verdict = verify(
            plan, dynamodb=stack.emulator.dynamodb(), table_name=stack.outputs["TableName"],
            sqs=sqs, dlq_url=stack.outputs["DLQUrl"],
        )  # fmt: skip
        end_rss = _rss_mb(os.getpid())
        stop.set()
    return LoadResult(
        orders=orders,
        seconds=seconds,
        stored=verdict.stored,
        valid_in_dlq=verdict.valid_in_dlq,
        rejected=sum(verdict.rejected_by_reason.values()),
        lost=len(verdict.missing) + verdict.rejected_missing,
        unexpected_items=verdict.unexpected_items,
        runner_rss_start_mb=start_rss,
        runner_rss_peak_mb=peak["runner"],
        runner_rss_end_mb=end_rss,
        worker_rss_peak_mb=peak["worker"],
        ok=verdict.ok and quiet >= 3,
    )
