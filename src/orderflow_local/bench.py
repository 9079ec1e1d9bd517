"""Benchmarks: every figure is a ratio against a baseline measured in the same run.

- ``sqs_depth``: the cost of ``ReceiveMessage`` and ``SendMessageBatch`` as the queue grows,
  against the same calls on an empty queue.
"""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
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


# --- the pipeline against the emulator's own ceiling ------------------------------------------


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
    options = StackOptions(port=0, ddb_latency_ms=ddb_latency_ms, emulator_process=emulator_process)
    with LocalStack(options, progress=progress) as stack:
        sqs, dynamodb = stack.emulator.sqs(), stack.emulator.dynamodb()
        queue_url, table = stack.outputs["QueueUrl"], stack.outputs["TableName"]
        progress("warming up (one order, so cold starts are not in the measurement)")
        warmup = plan_traffic(1, seed=2, duplicate_rate=0, malformed_rate=0, invalid_rate=0, run="warmup")
        send(sqs, queue_url, warmup.messages)
        _wait(lambda: dynamodb.describe_table(TableName=table)["Table"]["ItemCount"] >= 1, 120)
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
        _wait(lambda: dynamodb.describe_table(TableName=table)["Table"]["ItemCount"] - before >= orders, timeout)
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
        [table_spec] = stack.spec.tables.values()
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


@dataclass
class EmulatorResult:
    """Conditional PutItem of a stored order: our emulator against stock moto, best over thread counts."""

    ours: float
    ours_threads: int
    stock: float
    stock_threads: int
    ratio: float
    rounds: int
    calls: int
    #: Every rate measured: {"ours"|"stock": {threads: calls/s}}, best of the rounds.
    rates: dict[str, dict[int, float]]
    #: The emulator process's own CPU per PutItem (ms), least over the rounds: what the server
    #: spends, apart from the client that shares this machine's cores.
    ours_cpu_ms: float = 0.0
    stock_cpu_ms: float = 0.0

    @property
    def cpu_ratio(self) -> float:
        """How many more PutItems ours takes per CPU second than stock moto."""
        return self.stock_cpu_ms / self.ours_cpu_ms if self.ours_cpu_ms else 0.0


def stored_order() -> dict[str, Any]:
    """A stored order as the pipeline writes it (DynamoDB JSON), for the emulator benchmark.

    Built the pipeline's way, so it cannot drift from what the function stores: a generated
    order (the one with the most line items of a seeded plan), confirmed by the domain, and
    serialized as the store serializes it. The key fields are left to the caller.
    """
    from datetime import UTC, datetime
    from decimal import Decimal

    from boto3.dynamodb.types import TypeSerializer

    from orderflow.domain.enrichment import confirm
    from orderflow.domain.models import OrderCreated
    from orderflow_local.ops.traffic import plan_traffic

    plan = plan_traffic(20, seed=1, duplicate_rate=0, malformed_rate=0, invalid_rate=0, run="bench")
    orders = [OrderCreated.model_validate(json.loads(m.body, parse_float=Decimal)) for m in plan.messages]
    order = max(orders, key=lambda candidate: len(candidate.items))
    confirmed = confirm(order, sqs_message_id=str(uuid.UUID(int=1)), now=datetime(2026, 4, 20, 14, 30, 1, tzinfo=UTC))
    serializer = TypeSerializer()
    return {
        name: serializer.serialize(value)
        for name, value in confirmed.to_item().items()
        if name not in ("orderId", "createdAt")
    }


def signed_put_items(endpoint: str, table: str, item: dict[str, Any], count: int) -> list[tuple[bytes, dict[str, str]]]:
    """``count`` conditional PutItem requests of ``item``, each under a new key, signed (SigV4) ahead of time.

    Each is the JSON body and the headers boto3 would send for
    ``put_item(TableName=table, Item=..., ConditionExpression="attribute_not_exists(orderId)")``.
    """
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from orderflow_local.emulator import CREDENTIALS, REGION

    signer = SigV4Auth(
        Credentials(CREDENTIALS["aws_access_key_id"], CREDENTIALS["aws_secret_access_key"]), "dynamodb", REGION
    )
    signed = []
    for n in range(count):
        body = json.dumps(
            {
                "TableName": table,
                "Item": {**item, "orderId": {"S": f"ORD-{n}"}, "createdAt": {"S": "2026-04-20T14:30:00Z"}},
                "ConditionExpression": "attribute_not_exists(orderId)",
            }
        ).encode()
        request = AWSRequest(
            "POST",
            f"{endpoint}/",
            data=body,
            headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.PutItem"},
        )
        signer.add_auth(request)
        signed.append((body, dict(request.headers.items())))
    return signed


def replay(port: int, requests: list[tuple[bytes, dict[str, str]]], threads: int) -> float:
    """Send ``requests`` from ``threads`` threads over kept-alive HTTP connections; calls per second.

    A connection the server closes (stock moto closes every one) is opened again. Every answer
    must be 200: a refused or failed call raises, with the server's answer.
    """
    import concurrent.futures
    import http.client

    def send(share: list[tuple[bytes, dict[str, str]]]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for body, headers in share:
                connection.request("POST", "/", body=body, headers=headers)
                response = connection.getresponse()
                answer = response.read()
                if response.status != 200:
                    raise RuntimeError(f"PutItem answered {response.status}: {answer[:300]!r}")
                if response.will_close:
                    connection.close()  # the next request opens a new connection
        finally:
            connection.close()

    shares = [requests[offset::threads] for offset in range(threads)]
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, shares))
    return len(requests) / (time.perf_counter() - started)


def emulator(*, calls: int = 2000, rounds: int = 2, progress: Callable[[str], None] = lambda _: None) -> EmulatorResult:
    """Our emulator's PutItem rate against stock moto's, side by side, each in a process of its own.

    Stock is moto's own ``ThreadedMotoServer`` from this venv, unpatched. Ours is the emulator as
    ``orderflow up`` runs it: moto's app with our patches (orderflow_local.emulator.patches), IAM
    enforced, served by granian. The load is the same for both: conditional PutItems of a
    stored order, signed before the clock starts and replayed over kept-alive connections from
    each of :data:`CEILING_THREADS` client threads (:func:`replay`), so that the client costs
    little of the shared cores. Each round measures both, alternating; each rate is the best
    over the thread counts and the rounds. Every write must land (the table's count is checked).
    """
    from orderflow_local.stack.deploy import create_table
    from orderflow_local.stack.template import ensure_template, load_template, template_for

    spec = load_template(ensure_template(template_for({}), context={}, progress=progress))
    [table] = spec.tables.values()
    item = stored_order()
    rates: dict[str, dict[int, float]] = {"ours": {}, "stock": {}}
    cpu_ms: dict[str, float] = {}
    for round_ in range(1, rounds + 1):
        for label in ("stock", "ours"):
            progress(f"round {round_}/{rounds}: {label} moto, {calls} conditional PutItems per thread count")
            patched = label == "ours"  # as `orderflow up` runs it: patched, IAM enforced for role sessions
            with Emulator(port=0, own_process=True, patched=patched, enforce_iam=patched) as server:
                dynamodb = server.dynamodb()
                spent = 0.0
                for threads in CEILING_THREADS:
                    name = f"Ceiling{threads}"
                    create_table({**table.properties, "TableName": name}, dynamodb)
                    requests = signed_put_items(server.endpoint, name, item, calls)
                    before = server.cpu_seconds()
                    rate = replay(server.port, requests, threads)
                    after = server.cpu_seconds()
                    stored = dynamodb.describe_table(TableName=name)["Table"]["ItemCount"]
                    if stored != calls:
                        raise RuntimeError(f"{label} moto stored {stored} of {calls} PutItems")
                    rates[label][threads] = max(rate, rates[label].get(threads, 0.0))
                    if before is not None and after is not None:
                        spent += after - before
            per_call = spent * 1000 / (calls * len(CEILING_THREADS))
            if per_call:
                cpu_ms[label] = min(per_call, cpu_ms.get(label, per_call))
    ours_threads = max(rates["ours"], key=lambda threads: rates["ours"][threads])
    stock_threads = max(rates["stock"], key=lambda threads: rates["stock"][threads])
    ours, stock = rates["ours"][ours_threads], rates["stock"][stock_threads]
    return EmulatorResult(
        ours=ours,
        ours_threads=ours_threads,
        stock=stock,
        stock_threads=stock_threads,
        ratio=ours / stock,
        rounds=rounds,
        calls=calls,
        rates=rates,
        ours_cpu_ms=cpu_ms.get("ours", 0.0),
        stock_cpu_ms=cpu_ms.get("stock", 0.0),
    )


def _wait(condition: Callable[[], bool], timeout: float) -> None:
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


# --- in-batch concurrency ---------------------------------------------------------------------


@dataclass
class BatchLatencyResult:
    ddb_latency_ms: float
    batch_of_10_ms: float  # median invocation time, 10 new orders, with the added latency
    batch_of_10_no_latency_ms: float  # the same without it: the emulator's own cost
    batch_of_1_ms: float  # one write, with the added latency
    latency_cost_in_writes: float  # (batch_of_10_ms - batch_of_10_no_latency_ms) / latency: 1 = fully concurrent


def batch_latency(latency_ms: float, *, samples: int = 15) -> BatchLatencyResult:
    """How many write latencies a batch of 10 costs: ~1 if its writes overlap, ~10 if sequential.

    The in-process emulator serializes the writes' CPU work (one Python process), so the
    batch's own time includes ~10 x the emulator's cost per write whatever the handler does;
    measuring the same batches without the added latency, in the same run, takes that out.
    """
    from orderflow_local.lambda_runtime.environment import EnvironmentPool, FunctionConfig
    from orderflow_local.ops.traffic import plan_traffic
    from orderflow_local.stack.deploy import deploy
    from orderflow_local.stack.template import ensure_template, load_template

    spec = load_template(ensure_template())
    [function] = spec.functions.values()
    with Emulator(port=0) as emulator:
        deployed = deploy(spec, sqs=emulator.sqs(), dynamodb=emulator.dynamodb())  # the stack's queues and table
        environment = {
            **deployed.function_environment(function),
            **emulator.environment(),
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
        }

        def pool(latency: float) -> EnvironmentPool:
            return EnvironmentPool(
                FunctionConfig(
                    name=function.name,
                    handler=function.handler,
                    timeout=function.timeout,
                    memory_size=function.memory_size,
                    environment=environment,
                    ddb_latency_ms=latency,
                )
            )

        slow, fast = pool(latency_ms), pool(0)
        orders = iter(
            plan_traffic(samples * 25 + 10, seed=9, duplicate_rate=0, malformed_rate=0, invalid_rate=0).messages
        )

        def timed(target: EnvironmentPool, size: int) -> float:
            records = [_record(next(orders).body) for _ in range(size)]
            result = target.invoke({"Records": records})
            if result.status != "ok":
                raise RuntimeError(f"benchmark invocation failed: {result.error}")
            return result.duration * 1000

        try:
            timed(slow, 1), timed(fast, 1)  # cold starts out of the way
            tens = [timed(slow, 10) for _ in range(samples)]
            tens_fast = [timed(fast, 10) for _ in range(samples)]
            ones = [timed(slow, 1) for _ in range(samples)]
        finally:
            slow.shutdown()
            fast.shutdown()
    ten, ten_fast = statistics.median(tens), statistics.median(tens_fast)
    return BatchLatencyResult(
        ddb_latency_ms=latency_ms,
        batch_of_10_ms=ten,
        batch_of_10_no_latency_ms=ten_fast,
        batch_of_1_ms=statistics.median(ones),
        latency_cost_in_writes=(ten - ten_fast) / latency_ms if latency_ms else 0.0,
    )


def _record(body: str) -> dict[str, Any]:
    import hashlib

    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "bench",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000))},
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - SQS's checksum
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:OrderCreatedQueue",
        "awsRegion": "us-east-1",
    }


# --- cold start -----------------------------------------------------------------------------

_BARE = "import boto3; boto3.client('dynamodb')"
_HANDLER = "import orderflow.handler as h; h._runtime()"
_TIMER = (
    "import sys, time; sys.path[:0] = {path!r}; t = time.perf_counter(); {code}; "
    "print((time.perf_counter() - t) * 1000)"
)


@dataclass
class ColdStartResult:
    bare_ms: float  # import boto3 + one client, fresh process
    handler_ms: float  # import the handler module + build its clients, fresh process
    ratio: float
    samples: int
    #: The same handler from the asset without its bytecode: what each cold start pays when
    #: the asset is built without a Python interpreter of the runtime's version.
    no_bytecode_ms: float


def cold_start(*, samples: int = 15) -> ColdStartResult:
    """Median import time of the handler (with its clients) against bare boto3, in fresh processes.

    Both run as in Lambda: a clean interpreter (``-I -S``: no site-packages) that sees only the
    function's asset (built for this machine the way the deployed one is built, bytecode
    included) and the runtime's boto3, and writes no bytecode (``-B``: Lambda's code directory
    is read-only). Importing from a development venv full of packages would measure the venv.
    """
    import os
    import shutil
    import subprocess
    import sys
    import tempfile

    from orderflow_local.stack.template import ROOT

    if str(ROOT) not in sys.path:  # infra/ sits beside src/ in the clone: it is never installed or deployed
        sys.path.insert(0, str(ROOT))
    from infra.lambda_asset import build_asset, host_target, runtime_provided

    asset = build_asset(host_target())
    scratch = Path(tempfile.mkdtemp(prefix="orderflow-cold-start-"))
    try:
        provided = runtime_provided(scratch / "runtime-provided")
        bare_asset = shutil.copytree(asset, scratch / "asset", ignore=shutil.ignore_patterns("__pycache__"))
        env = {
            **os.environ,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
            "TABLE_NAME": "Orders",
            "DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/OrderCreatedDLQ",
            # As Lambda sets them: Powertools' Tracer is on, and the X-Ray SDK takes its Lambda
            # path (no sampling-rules client at import).
            "AWS_LAMBDA_FUNCTION_NAME": "OrderProcessor",
            "LAMBDA_TASK_ROOT": str(asset),
        }

        def once(code: str, path: list[str]) -> float:
            result = subprocess.run(  # noqa: S603 - our own interpreter and code
                [sys.executable, "-I", "-S", "-B", "-c", _TIMER.format(path=path, code=code)],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            return float(result.stdout.strip())

        bare, handler, uncompiled = [], [], []
        for _ in range(samples):  # interleaved, so load on the machine affects all alike
            bare.append(once(_BARE, [str(provided)]))
            handler.append(once(_HANDLER, [str(asset), str(provided)]))
            uncompiled.append(once(_HANDLER, [str(bare_asset), str(provided)]))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    bare_ms, handler_ms = statistics.median(bare), statistics.median(handler)
    return ColdStartResult(
        bare_ms=bare_ms,
        handler_ms=handler_ms,
        ratio=handler_ms / bare_ms,
        samples=samples,
        no_bytecode_ms=statistics.median(uncompiled),
    )


# --- a burst through the whole pipeline, with memory sampled ---------------------------------


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
    with LocalStack(StackOptions(port=0), progress=progress) as stack:

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
