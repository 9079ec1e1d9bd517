"""The function's log events wait until CloudWatch Logs takes them: none lost, none twice, in order, bounded."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from orderflow_local.cloudwatch.logs import FunctionLogs
from orderflow_local.lambda_runtime.environment import Invocation

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_logs import CloudWatchLogsClient

GROUP = "/aws/lambda/OrderProcessor"


class FlakyLogs:
    """CloudWatch Logs (moto's) whose ``PutLogEvents`` fails while ``failures`` last."""

    def __init__(self, real: CloudWatchLogsClient, failures: int) -> None:
        self._real = real
        self.failures = failures

    def put_log_events(self, **arguments: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise ClientError({"Error": {"Code": "ServiceUnavailableException", "Message": "down"}}, "PutLogEvents")
        return self._real.put_log_events(**arguments)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@pytest.fixture
def logs() -> Iterator[CloudWatchLogsClient]:
    with mock_aws():
        client = boto3.client("logs", region_name="us-east-1")
        client.create_log_group(logGroupName=GROUP)
        yield client


def _invocation(stream: str, n: int, at: float) -> Invocation:
    return Invocation(
        "ok",
        request_id=f"request-{stream}-{n}",
        started_at=at,
        ended_at=at + 0.005,
        log_stream=stream,
        lines=[(int(at * 1000) + 1, f"{stream} line {n}.1"), (int(at * 1000) + 2, f"{stream} line {n}.2")],
    )


def _stored(logs: CloudWatchLogsClient, stream: str) -> list[str]:
    return [
        event["message"]
        for event in logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)["events"]
    ]


def _sender(flaky: FlakyLogs, **options: Any) -> FunctionLogs:
    return FunctionLogs(lambda: flaky, group=GROUP, function_name="OrderProcessor", memory_size=256, **options)  # type: ignore[arg-type, return-value]


def test_a_failed_send_is_retried_on_the_next_flush_with_nothing_lost_or_repeated(
    logs: CloudWatchLogsClient,
) -> None:
    flaky = FlakyLogs(logs, failures=1)
    sender = _sender(flaky)
    now = time.time()
    for n in range(2):
        sender.record(_invocation("a", n, now + n / 100))
    with contextlib.suppress(ClientError):  # it must not be lost, however the failure shows
        sender.flush()
    assert flaky.failures == 0, "the send failed"
    assert _stored(logs, "a") == []
    sender.record(_invocation("a", 2, now + 0.02))  # written while CloudWatch Logs was away
    sender.flush()
    stored = _stored(logs, "a")
    lines = [message for message in stored if " line " in message]
    assert lines == [f"a line {n}.{part}" for n in range(3) for part in (1, 2)]
    assert len(stored) == 3 * 5  # each: start, 2 lines, runtimeDone, report; once
    assert sender.sent == len(stored)
    sender.flush()
    assert len(_stored(logs, "a")) == len(stored)


def test_another_stream_is_not_held_up_by_a_failed_one(logs: CloudWatchLogsClient) -> None:
    flaky = FlakyLogs(logs, failures=1)
    sender = _sender(flaky)
    now = time.time()
    sender.record(_invocation("a", 0, now))
    sender.record(_invocation("b", 0, now))
    sender.flush()  # "a" fails, "b" goes
    assert (_stored(logs, "a"), len(_stored(logs, "b"))) == ([], 5)
    sender.flush()
    assert len(_stored(logs, "a")) == 5
    assert len(_stored(logs, "b")) == 5


def test_past_the_bound_new_events_are_dropped_and_said_once(
    logs: CloudWatchLogsClient, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = FlakyLogs(logs, failures=1_000)
    sender = _sender(flaky, max_pending=12)  # two invocations of 5 events fit, not three
    now = time.time()
    with caplog.at_level(logging.WARNING, logger="orderflow_local.cloudwatch.logs"):
        for n in range(5):
            sender.record(_invocation("a", n, now + n / 100))
            sender.flush()
    assert sender.dropped == 3 * 5
    assert sum("dropped" in record.getMessage() for record in caplog.records) == 1
    assert sum("did not take" in record.getMessage() for record in caplog.records) == 1  # one outage, said once
    flaky.failures = 0
    sender.flush()
    lines = [message for message in _stored(logs, "a") if " line " in message]
    assert lines == [f"a line {n}.{part}" for n in range(2) for part in (1, 2)]  # the first two, whole
