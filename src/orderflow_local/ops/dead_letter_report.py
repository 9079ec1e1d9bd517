"""Why valid orders reach the DLQ under chaos: a measurement (docs/reliability.md).

    python -m orderflow_local.ops.dead_letter_report --valid 300 --invalid 10 --rate 0.2 --seeds 1 2

Runs the local stack with fault injection (by default as the issue measured it:
``--visibility-timeout 2 --function-timeout 2``), sends valid and invalid orders, waits for
the queue to drain, then explains every dead letter (orderflow_local.ops.dlq.explain) and
prints what it found: how many, moved by whom, already stored, with no reason, and the
faults injected.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from typing import Any

from orderflow_local.ops.dlq import FunctionLogReader, explain, list_dead_letters, table_reader
from orderflow_local.ops.traffic import plan_traffic
from orderflow_local.stack import LocalStack, StackOptions


def measure(
    *, valid: int, invalid: int, rate: float, seed: int, visibility_timeout: int, function_timeout: float
) -> dict[str, Any]:
    options = StackOptions(
        port=0,
        chaos_rate=rate,
        chaos_seed=seed,
        visibility_timeout=visibility_timeout,
        function_timeout=function_timeout,
    )
    with LocalStack(options) as stack:
        sqs = stack.emulator.sqs()
        url = stack.outputs["QueueUrl"]
        plan = plan_traffic(valid, seed=seed, duplicate_rate=0, malformed_rate=0, invalid_rate=0, run=f"dlq{seed}")
        bodies = [message.body for message in plan.messages]
        bodies += [json.dumps({"orderId": f"BAD-R{seed}-{n}"}) for n in range(invalid)]
        for start in range(0, len(bodies), 10):
            sqs.send_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(n), "MessageBody": text} for n, text in enumerate(bodies[start : start + 10])],
            )
        quiet, deadline = 0, time.monotonic() + 900
        while quiet < 3 and time.monotonic() < deadline:
            time.sleep(1)
            attributes = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
            busy = sum(int(value) for value in attributes.values()) + sum(m.stats.in_flight for m in stack.mappings)
            quiet = quiet + 1 if busy == 0 else 0
        time.sleep(1.5)  # the last log events
        read = table_reader(stack.emulator.dynamodb(), "Orders")
        letters = list_dead_letters(sqs, stack.outputs["DLQUrl"], limit=10_000)
        explained = explain(
            letters, logs=FunctionLogReader(stack.emulator.logs(), "/aws/lambda/OrderProcessor"), read_item=read
        )
        stored = int(stack.emulator.dynamodb().scan(TableName="Orders", Select="COUNT")["Count"])
        faults = stack.faults()
    valid_dead = [entry for entry in explained if entry.already_stored is not None]
    return {
        "seed": seed,
        "stored": stored,
        "dlq": len(explained),
        "valid in DLQ": len(valid_dead),
        "already stored": sum(1 for entry in explained if entry.already_stored),
        "moved by SQS": sum(1 for entry in explained if entry.letter.moved_by == "sqs"),
        "no reason": sum(1 for entry in explained if entry.reason_source == "unknown"),
        "invalid with their code": sum(1 for entry in explained if entry.error_code == "VALIDATION_FAILED"),
        "valid, last failure": dict(Counter(_kind(entry.reason) for entry in valid_dead)),
        "faults": dict(sorted(faults.items())),
    }


def _kind(reason: str) -> str:
    if "failed as a whole" in reason:
        return "whole invocation (" + ("timeout" if "(timeout)" in reason else "crash/error") + ")"
    if "PutItem" in reason or "UpdateItem" in reason:
        return "DynamoDB write"
    return reason[:40]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--valid", type=int, default=300)
    parser.add_argument("--invalid", type=int, default=10)
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--visibility-timeout", type=int, default=2)
    parser.add_argument("--function-timeout", type=float, default=2.0)
    arguments = parser.parse_args()
    for seed in arguments.seeds:
        result = measure(
            valid=arguments.valid,
            invalid=arguments.invalid,
            rate=arguments.rate,
            seed=seed,
            visibility_timeout=arguments.visibility_timeout,
            function_timeout=arguments.function_timeout,
        )
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
