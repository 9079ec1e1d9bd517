"""Shared test helpers: sample events and strategies."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).parent / "events"


def load_event(name: str) -> dict[str, Any]:
    """A sample event from tests/events, numbers as Decimal like the parser reads them."""
    return json.loads((EVENTS / name).read_text(), parse_float=Decimal)


def seed_order(**changes: Any) -> dict[str, Any]:
    order = copy.deepcopy(load_event("seed_order.json"))
    order.update(changes)
    return order


def body(order: dict[str, Any]) -> str:
    """The JSON a producer would send. Decimals go through float, whose shortest repr
    writes back the same literal for the amounts used in tests (149.99 -> 149.99)."""
    return json.dumps(order, default=_number)


def _number(value: object) -> object:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def sqs_record(raw_body: str, *, message_id: str | None = None, receive_count: int = 1) -> dict[str, Any]:
    """One record of a Lambda SQS event, shaped as AWS delivers it."""
    import hashlib
    import time
    import uuid

    now_ms = str(int(time.time() * 1000))
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": f"handle-{uuid.uuid4()}",
        "body": raw_body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": now_ms,
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": now_ms,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(raw_body.encode()).hexdigest(),  # noqa: S324 - SQS's checksum, not security
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:OrderCreatedQueue",
        "awsRegion": "us-east-1",
    }


class FakeLambdaContext:
    """The attributes of Lambda's context object that Powertools and handlers read."""

    function_name = "OrderProcessor"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:OrderProcessor"
    aws_request_id = "6f6c6f6c-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/OrderProcessor"
    log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def cancellation(order: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """An OrderCancelled body for ``order`` (by its key), as a producer would send it."""
    event = {
        "eventType": "OrderCancelled",
        "orderId": order["orderId"],
        "createdAt": order["createdAt"],
        "cancelledAt": "2026-04-20T15:00:00Z",
        "reason": "Customer changed their mind",
    }
    event.update(changes)
    return event


def aws_cli(endpoint: str, *args: str) -> dict[str, Any]:
    """The AWS CLI that `make setup` installs, run against ``endpoint`` with the local keys (whatever
    the developer's own AWS settings are); its JSON answer ({} when it prints nothing)."""
    import os
    import shutil
    import subprocess
    import sys

    cli = shutil.which("aws", path=str(Path(sys.executable).parent)) or "aws"
    environment = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    environment.pop("AWS_PROFILE", None)
    environment.pop("AWS_SESSION_TOKEN", None)
    done = subprocess.run(
        [cli, "--endpoint-url", endpoint, "--output", "json", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(check: Any, what: str, timeout: float = 60, interval: float = 0.2) -> Any:
    """Poll ``check()`` until it returns something truthy (returned), or fail naming ``what``."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def examples(full: int) -> int:
    """A property's example count under the active Hypothesis profile: ``full`` in
    `make test`, a tenth of it (at least 5) in `make check` (tests/conftest.py)."""
    from hypothesis import settings

    return max(5, full * settings().max_examples // 100)


def create_orders_table(dynamodb: Any, name: str = "Orders") -> None:
    """A table shaped as the stack's Orders: (orderId, createdAt), the CustomerIndex GSI, on demand."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "orderId", "KeyType": "HASH"},
            {"AttributeName": "createdAt", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "orderId", "AttributeType": "S"},
            {"AttributeName": "createdAt", "AttributeType": "S"},
            {"AttributeName": "customerId", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "CustomerIndex",
                "KeySchema": [
                    {"AttributeName": "customerId", "KeyType": "HASH"},
                    {"AttributeName": "createdAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )


#: The order service's function alone (StackOptions.functions): a test of the order pipeline does not run
#: the payment and notification services on every order it sends.
ORDER_SERVICE = ("OrderProcessor",)
