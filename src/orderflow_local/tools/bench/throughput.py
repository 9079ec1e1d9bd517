"""``pipeline``: the pipeline's throughput and latency against the emulator's own ceiling
(conditional ``PutItem`` calls per second: ``best_put_item_ceiling``)."""

from __future__ import annotations

import os
import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from orderflow_local.emulator import Emulator


@dataclass
class PipelineResult:
    orders: int
    seconds: float
    throughput: float  # orders stored per second, first send -> last stored
    latency_p50: float
    latency_p95: float
    latency_p99: float
    ceiling: float  # conditional PutItem calls per second the emulator sustains: the best over thread counts
    ratio: float  # throughput / ceiling
    client_threads: int  # the thread count that gave the ceiling
    ceilings: dict[int, float]  # the rate from each thread count tried
    invocations: int
    cold_starts: int
    full_batch_ms_p50: float  # duration of an invocation with a full batch
    ddb_latency_ms: float
    emulator_process: bool = False  # the embedded AWS ran in a process of its own
    #: CPU time per order stored, in ms, by process: "runner" (the event source mapping, logs
    #: and alarms; the embedded AWS too when it runs in-process), "emulator" (its own process),
    #: "functions" (the execution environments) and "producer" (the bench's sends, in the
    #: runner's process: on the same cores, but not the pipeline's work).
    cpu_ms_per_order: dict[str, float] = field(default_factory=dict)
    cores: int = 0  # CPUs this process may run on
    cores_used: float = 0.0  # CPU time of every process above / wall time, while the pipeline ran
    #: Orders per second the cores allow at the measured CPU per order (cores / CPU per order).
    cpu_limit: float = 0.0
    #: The ceiling's own CPU per call, in ms, at its best thread count: "client" (the runner's
    #: boto3 threads) and "emulator".
    ceiling_cpu_ms_per_call: dict[str, float] = field(default_factory=dict)

    @property
    def cpu_ms_total(self) -> float:
        return sum(self.cpu_ms_per_order.values())

    @property
    def of_what_the_cores_allow(self) -> float:
        """Throughput as a share of what the cores allow at this CPU per order (0 when not measured)."""
        return self.throughput / self.cpu_limit if self.cpu_limit else 0.0

    @property
    def ceiling_calls_per_order(self) -> float:
        """CPU per order in ceiling calls: one conditional PutItem of a stored order, client and
        emulator together (0 when not measured)."""
        call = sum(self.ceiling_cpu_ms_per_call.values())
        return self.cpu_ms_total / call if call else 0.0


#: Client thread counts the ceiling is measured with; the best one is the ceiling (Python
#: threads share one GIL, so more threads can be slower: no one count is best on every machine).
CEILING_THREADS = (1, 2, 4, 8)


def best_put_item_ceiling(
    emulator: Emulator,
    *,
    table_properties: dict[str, Any],
    item: dict[str, Any] | None = None,
    calls: int,
    thread_counts: tuple[int, ...] = CEILING_THREADS,
) -> tuple[float, int, dict[int, float], dict[str, float]]:
    """The emulator's best conditional PutItem rate over ``thread_counts``.

    Returns (rate, its thread count, every rate, the best run's CPU ms per call by
    "client" and "emulator"; the emulator's is absent when it runs in this process).
    """
    rates: dict[int, float] = {}
    cpu: dict[int, dict[str, float]] = {}
    for threads in thread_counts:
        client, server = time.process_time(), emulator.cpu_seconds()
        rates[threads] = put_item_ceiling(
            emulator, table_properties=table_properties, item=item, threads=threads, calls=calls
        )
        spent = {"client": time.process_time() - client}
        server_after = emulator.cpu_seconds()
        if server is not None and server_after is not None:
            spent["emulator"] = server_after - server
        cpu[threads] = {name: 1000 * seconds / calls for name, seconds in spent.items()}
    best = max(rates, key=lambda threads: rates[threads])
    return rates[best], best, rates, cpu[best]


def put_item_ceiling(
    emulator: Emulator,
    *,
    table_properties: dict[str, Any],
    threads: int,
    calls: int,
    item: dict[str, Any] | None = None,
) -> float:
    """Conditional PutItem calls per second from ``threads`` client threads, on a copy of the stack's table.

    ``item`` (DynamoDB JSON) is what each call writes, under a new key: pass a stored order,
    so the ceiling costs what the pipeline's writes cost.
    """
    import concurrent.futures

    from orderflow_local.stack.deploy import create_table

    dynamodb = emulator.dynamodb()
    table = f"Ceiling{uuid.uuid4().hex[:8]}"
    create_table({**table_properties, "TableName": table}, dynamodb)
    item = item or {"customerId": {"S": "CUST-1"}, "status": {"S": "CONFIRMED"}, "totalAmount": {"N": "149.99"}}

    def worker(offset: int) -> None:
        client = emulator.dynamodb()
        for n in range(offset, calls, threads):
            client.put_item(
                TableName=table,
                Item={**item, "orderId": {"S": f"ORD-{n}"}, "createdAt": {"S": "2026-04-20T14:30:00Z"}},
                ConditionExpression="attribute_not_exists(orderId)",
            )

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, range(threads)))
    elapsed = time.perf_counter() - started
    dynamodb.delete_table(TableName=table)
    return calls / elapsed


def pipeline(
    orders: int,
    *,
    ddb_latency_ms: float = 0.0,
    progress: Callable[[str], None] = lambda _: None,
    timeout: float = 1800,
    emulator_process: bool = True,
) -> PipelineResult:
    """Send ``orders`` valid orders through the local stack and measure it against the ceiling."""
    import concurrent.futures

    from orderflow_local.ops.traffic import percentile, plan_traffic, send
    from orderflow_local.stack import LocalStack, StackOptions

    plan = plan_traffic(orders, seed=1, duplicate_rate=0, malformed_rate=0, invalid_rate=0, run=uuid.uuid4().hex[:6])
    # The order service alone: the payment and notification services' work is `bench workflow`'s.
    options = StackOptions(
        port=0, ddb_latency_ms=ddb_latency_ms, emulator_process=emulator_process, functions=("OrderProcessor",)
    )
    with LocalStack(options, progress=progress) as stack:
        sqs, dynamodb = stack.emulator.sqs(), stack.emulator.dynamodb()
        queue_url, table = stack.outputs["QueueUrl"], stack.outputs["TableName"]
        progress("warming up (one order, so cold starts are not in the measurement)")
        warmup = plan_traffic(1, seed=2, duplicate_rate=0, malformed_rate=0, invalid_rate=0, run="warmup")
        send(sqs, queue_url, warmup.messages)
        wait_for(lambda: dynamodb.describe_table(TableName=table)["Table"]["ItemCount"] >= 1, 120)
        before = dynamodb.describe_table(TableName=table)["Table"]["ItemCount"]
        cpu_before = _pipeline_cpu(stack)
        progress(f"sending {orders} orders")
        chunks = [plan.messages[start : start + 100] for start in range(0, orders, 100)]
        sent_at: dict[str, float] = {}
        started = time.time()

        def produce(chunk: list[Any]) -> tuple[dict[int, float], float]:
            cpu = time.thread_time()
            return send(sqs, queue_url, chunk), time.thread_time() - cpu

        producer_cpu = 0.0
        with concurrent.futures.ThreadPoolExecutor(4) as pool:  # one client (thread-safe): each costs tens of ms
            for chunk, (times, cpu) in zip(chunks, pool.map(produce, chunks), strict=False):
                producer_cpu += cpu
                for index, at in times.items():
                    sent_at[chunk[index].body] = at
        progress("waiting until every order is stored")
        wait_for(lambda: dynamodb.describe_table(TableName=table)["Table"]["ItemCount"] - before >= orders, timeout)
        finished = time.time()
        cpu_after = _pipeline_cpu(stack)
        cpu_spent = {name: cpu_after[name] - cpu_before[name] for name in cpu_after if name in cpu_before}
        # The producer's sends ran in this process, but are not the pipeline's work: on AWS they run elsewhere.
        cpu_spent["runner"] -= producer_cpu
        cpu_spent["producer"] = producer_cpu
        latencies = _latencies(dynamodb, table, plan.messages, sent_at)
        stats = [mapping.stats for mapping in stack.mappings]
        # The ceiling: the same conditional PutItem of a whole stored order, with the emulator
        # otherwise idle (the mappings stop polling first), best over several thread counts.
        stored = dynamodb.scan(TableName=table, Limit=1)["Items"][0]
        for mapping in stack.mappings:
            mapping.stop()
        [table_spec] = [spec for spec in stack.spec.tables.values() if spec.name == table]  # Orders, of several
        progress(
            f"measuring the emulator's ceiling: conditional PutItem of a stored order from {CEILING_THREADS} threads"
        )
        ceiling, threads, ceilings, ceiling_cpu = best_put_item_ceiling(
            stack.emulator, table_properties=table_spec.properties, item=stored, calls=max(1000, orders // 2)
        )
    seconds = finished - started
    full = [d for s in stats for n, d in s.durations if n == 10]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    cpu_ms = {name: 1000 * spent / orders for name, spent in cpu_spent.items()}
    cpu_per_order = sum(cpu_ms.values())
    return PipelineResult(
        orders=orders,
        seconds=seconds,
        throughput=orders / seconds,
        latency_p50=percentile(latencies, 0.5),
        latency_p95=percentile(latencies, 0.95),
        latency_p99=percentile(latencies, 0.99),
        ceiling=ceiling,
        ratio=(orders / seconds) / ceiling,
        client_threads=threads,
        ceilings=ceilings,
        invocations=sum(s.invocations for s in stats),
        cold_starts=sum(s.cold_starts for s in stats),
        full_batch_ms_p50=statistics.median(full) * 1000 if full else 0.0,
        ddb_latency_ms=ddb_latency_ms,
        emulator_process=emulator_process,
        cpu_ms_per_order=cpu_ms,
        cores=cores,
        cores_used=sum(cpu_spent.values()) / seconds,
        cpu_limit=cores * 1000 / cpu_per_order if cpu_per_order else 0.0,
        ceiling_cpu_ms_per_call=ceiling_cpu,
    )


def _pipeline_cpu(stack: Any) -> dict[str, float]:
    """CPU seconds so far, by process: the runner (this one), the emulator's, the functions'.

    A process that ends between two readings loses its share: the bench keeps its
    environments warm, so none does.
    """
    spent = {"runner": time.process_time()}
    emulator = stack.emulator.cpu_seconds()
    if emulator is not None:
        spent["emulator"] = emulator
    functions = [pool.cpu_seconds() for pool in stack.pools]
    if all(seconds is not None for seconds in functions):
        spent["functions"] = sum(seconds for seconds in functions if seconds is not None)
    return spent


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    """Until ``condition()`` holds, polled every 0.2 s; TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s")
        time.sleep(0.2)


def _latencies(dynamodb: Any, table: str, messages: list[Any], sent_at: dict[str, float]) -> list[float]:
    from datetime import datetime

    wanted = {(m.order_id, m.created_at): m.body for m in messages}
    latencies = []
    request: dict[str, Any] = {"TableName": table, "ProjectionExpression": "orderId, createdAt, processedAt"}
    while True:
        page = dynamodb.scan(**request)
        for item in page["Items"]:
            body = wanted.get((item["orderId"]["S"], item["createdAt"]["S"]))
            if body in sent_at:
                processed = datetime.fromisoformat(item["processedAt"]["S"].replace("Z", "+00:00")).timestamp()
                latencies.append(max(0.0, processed - sent_at[body]))
        if "LastEvaluatedKey" not in page:
            return latencies
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
