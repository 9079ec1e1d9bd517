"""``batch_latency``: in-batch concurrency, how many write latencies a batch of 10 costs."""

from __future__ import annotations

import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Any

from orderflow_local.emulator import Emulator


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
    from orderflow_local.stack.synthesis import ensure_template
    from orderflow_local.stack.template import load_template

    spec = load_template(ensure_template())
    # The order service's function: the stack has others (PaymentProcessor) the bench does not measure.
    [function] = [function for function in spec.functions.values() if function.name == "OrderProcessor"]
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
