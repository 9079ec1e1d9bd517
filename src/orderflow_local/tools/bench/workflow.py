"""``workflow``: orders through every service (order, outbox, payment, e-mail): throughput against what
the cores allow, the latency from sent to e-mailed and the batching windows' share of it, CPU per
order by process and function, and the resident memory of the whole local stack with every function
warm."""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from orderflow_local.stack import LocalStack


@dataclass
class WorkflowResult:
    orders: int
    seconds: float
    #: Orders e-mailed their confirmation per second, first send -> last confirmation claimed.
    throughput: float
    latency_p50: float
    latency_p95: float
    latency_p99: float
    #: Seconds an order waits, at most, in the batching windows on its path: each consumer's
    #: mapping and the outbox pipe (a lone order waits them out in full; a busy stream fills batches first).
    batching_seconds: float
    #: CPU time per order e-mailed, in ms: "runner" (the mappings, the pipe, logs, alarms, the payment
    #: provider), "emulator", each function by name, and "producer" (the bench's sends).
    cpu_ms_per_order: dict[str, float] = field(default_factory=dict)
    cores: int = 0
    cores_used: float = 0.0
    #: Orders per second the cores allow at the measured CPU per order.
    cpu_limit: float = 0.0
    #: Resident memory in MB once the run is over, every function warm: "runner", "emulator",
    #: "functions" (every execution environment) and "total".
    rss_mb: dict[str, float] = field(default_factory=dict)
    #: Live execution environments per function, when the memory was read.
    environments: dict[str, int] = field(default_factory=dict)

    @property
    def cpu_ms_total(self) -> float:
        return sum(self.cpu_ms_per_order.values())

    @property
    def of_what_the_cores_allow(self) -> float:
        return self.throughput / self.cpu_limit if self.cpu_limit else 0.0

    @property
    def batching_share_p50(self) -> float:
        """The batching windows as a share of the median latency (at most 1)."""
        return min(1.0, self.batching_seconds / self.latency_p50) if self.latency_p50 else 0.0

    def to_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {**asdict(self), "cpu_ms_total": self.cpu_ms_total,
                "of_what_the_cores_allow": self.of_what_the_cores_allow,
                "batching_share_p50": self.batching_share_p50}  # fmt: skip


def workflow(
    orders: int,
    *,
    progress: Callable[[str], None] = lambda _: None,
    timeout: float = 1800,
    options: Any | None = None,
) -> WorkflowResult:
    """Send ``orders`` valid orders (each with a customerEmail), none cancelled, and measure until every
    one is e-mailed its confirmation."""
    import concurrent.futures

    from orderflow_local.ops.notifications import scan_claims
    from orderflow_local.ops.traffic import percentile, plan_traffic, send
    from orderflow_local.stack import LocalStack, StackOptions
    from orderflow_local.tools.bench.throughput import wait_for

    plan = plan_traffic(
        orders, seed=1, duplicate_rate=0, malformed_rate=0, invalid_rate=0, cancel_rate=0, run=uuid.uuid4().hex[:6]
    )
    with LocalStack(options or StackOptions(port=0), progress=progress) as stack:
        sqs, dynamodb = stack.emulator.sqs(), stack.emulator.dynamodb()
        queue_url, claims_table = stack.outputs["QueueUrl"], stack.outputs["NotificationsTableName"]

        def confirmations() -> int:
            return sum(
                1 for _, event_id in scan_claims(dynamodb, claims_table) if event_id.endswith("#PaymentCaptured")
            )

        progress("warming up (one order through every service, so cold starts are not in the measurement)")
        warmup = plan_traffic(1, seed=2, duplicate_rate=0, malformed_rate=0, invalid_rate=0, run="warmup")
        send(sqs, queue_url, warmup.messages)
        wait_for(lambda: confirmations() >= 1, 180)
        cpu_before = _cpu(stack)
        progress(f"sending {orders} orders")
        chunks = [plan.messages[start : start + 100] for start in range(0, orders, 100)]
        sent_at: dict[str, float] = {}
        started = time.time()

        def produce(chunk: list[Any]) -> tuple[dict[int, float], float]:
            cpu = time.thread_time()
            return send(sqs, queue_url, chunk), time.thread_time() - cpu

        producer_cpu = 0.0
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            for chunk, (times, cpu) in zip(chunks, pool.map(produce, chunks), strict=False):
                producer_cpu += cpu
                for index, at in times.items():
                    sent_at[chunk[index].order_id or ""] = at
        progress("waiting until every order is e-mailed its confirmation")
        wait_for(lambda: confirmations() >= orders + 1, timeout)
        cpu_after = _cpu(stack)
        claims = scan_claims(dynamodb, claims_table)
        rss, environments = _memory(stack)
        batching = sum(mapping.config.batching_window for mapping in stack.mappings) + sum(
            pipe.config.batching_window for pipe in stack.pipes
        )
    claimed = {
        order_id: _epoch(str(claim["claimedAt"]))
        for (order_id, event_id), claim in claims.items()
        if event_id.endswith("#PaymentCaptured") and order_id in sent_at
    }
    finished = max(claimed.values())
    latencies = [max(0.0, at - sent_at[order_id]) for order_id, at in claimed.items()]
    spent = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
    spent["runner"] -= producer_cpu  # the producer's sends ran here, but on AWS they run elsewhere
    spent["producer"] = producer_cpu
    seconds = finished - started
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    cpu_ms = {name: 1000 * value / orders for name, value in spent.items()}
    per_order = sum(cpu_ms.values())
    return WorkflowResult(
        orders=orders,
        seconds=seconds,
        throughput=orders / seconds,
        latency_p50=percentile(latencies, 0.5),
        latency_p95=percentile(latencies, 0.95),
        latency_p99=percentile(latencies, 0.99),
        batching_seconds=batching,
        cpu_ms_per_order=cpu_ms,
        cores=cores,
        cores_used=sum(spent.values()) / seconds,
        cpu_limit=cores * 1000 / per_order if per_order else 0.0,
        rss_mb=rss,
        environments=environments,
    )


def _cpu(stack: LocalStack) -> dict[str, float]:
    """CPU seconds so far: this process, the emulator's, each function's environments."""
    spent = {"runner": time.process_time()}
    emulator = stack.emulator.cpu_seconds()
    if emulator is not None:
        spent["emulator"] = emulator
    for pool in stack.pools:
        seconds = pool.cpu_seconds()
        if seconds is not None:
            spent[pool.config.name] = spent.get(pool.config.name, 0.0) + seconds
    return spent


def _memory(stack: LocalStack) -> tuple[dict[str, float], dict[str, int]]:
    """Resident memory (MB) of this process, the emulator's process tree and every environment."""
    import psutil

    from orderflow_local.processes import descendants

    def rss(pids: list[int]) -> float:
        total = 0
        for pid in pids:
            try:
                total += psutil.Process(pid).memory_info().rss
            except psutil.Error:
                continue
        return total / 2**20

    emulator_pid = stack.emulator.pid
    emulator = rss([emulator_pid, *descendants(emulator_pid)]) if emulator_pid else 0.0
    environments: dict[str, int] = {}
    function_pids: list[int] = []
    for pool in stack.pools:
        pids = pool.pids()
        environments[pool.config.name] = len(pids)
        function_pids += pids
    found = {"runner": rss([os.getpid()]), "emulator": emulator, "functions": rss(function_pids)}
    found["total"] = sum(found.values())
    return found, environments


def _epoch(timestamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
