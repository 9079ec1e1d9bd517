"""`orderflow logs` against the local stack: --follow through a burst of orders prints what a plain read prints,
and a dead letter's id, as `dlq list` shows it, finds its source message's lines."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from orderflow_cli import observe
from orderflow_cli.main import app
from orderflow_local.ops.dlq import list_dead_letters
from orderflow_local.stack import LocalStack, StackOptions
from tests.support import ORDER_SERVICE, body, seed_order, wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

# One worker runs this module's tests, so its module-scoped stack starts once (make test: --dist loadgroup).
pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("test_cli_logs")]

GROUP = "/aws/lambda/OrderProcessor"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(StackOptions(port=0, batching_window=1, alarms=False, functions=ORDER_SERVICE)) as running:
        yield running


def _send(stack: LocalStack, bodies: list[str]) -> list[str]:
    sqs = stack.emulator.sqs()
    return [sqs.send_message(QueueUrl=stack.outputs["QueueUrl"], MessageBody=text)["MessageId"] for text in bodies]


def _sent(stack: LocalStack, term: str) -> list[dict[str, Any]]:
    """The events carrying ``term`` that CloudWatch Logs holds."""
    logs = stack.emulator.logs()
    arguments: dict[str, Any] = {"logGroupName": GROUP, "filterPattern": f'"{term}"'}
    events: list[dict[str, Any]] = []
    while True:
        page = logs.filter_log_events(**arguments)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        arguments["nextToken"] = page["nextToken"]


def _late_lines(stack: LocalStack, at_ms: int) -> None:
    logs = stack.emulator.logs()
    stream = "2026/11/27/[$LATEST]" + "0" * 32
    logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    lines = [{"level": "INFO", "message": f"late line {n}"} for n in range(3)]
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName=stream,
        logEvents=[{"timestamp": at_ms + n, "message": json.dumps(line)} for n, line in enumerate(lines)],
    )


def _logs(stack: LocalStack, *args: str) -> Any:
    return CliRunner().invoke(app, ["logs", "--endpoint-url", stack.endpoint, *args])


def test_follow_through_a_burst_prints_every_line_a_plain_read_prints(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a follow started on a stack no order reached yet, that goes on polling while a
    # burst of orders cold-starts several environments
    count = 200
    orders = [f"ORD-BURST-{n:03d}" for n in range(count)]
    polls = 0
    done = False

    def between_polls(seconds: float) -> None:
        nonlocal polls, done
        polls += 1
        if polls == 1:
            _send(stack, [body(seed_order(orderId=order)) for order in orders])
        elif done:  # one poll after every line was sent
            raise KeyboardInterrupt
        elif sum("ORD-BURST" in event["message"] for event in _sent(stack, "Order stored")) == count:
            done = True  # each invocation's lines are sent together: all of them are in CloudWatch Logs
            # and, after the follow printed them, lines of an environment whose invocation
            # began 30 s ago reach CloudWatch Logs (the runtime sends lines when it ends)
            _late_lines(stack, int(time.time() * 1000) - 30_000)
        time.sleep(seconds)  # what --follow does between polls

    monkeypatch.setattr(observe, "_pause", between_polls)
    followed = _logs(stack, "--follow", "--since", "1h")
    assert followed.exit_code == 0, followed.output
    # Then it printed each line once: the same lines as a plain read of everything since
    plain = _logs(stack, "--since", "1h")
    assert plain.exit_code == 0, plain.output
    assert sorted(followed.stdout.splitlines()) == sorted(plain.stdout.splitlines())
    assert followed.stdout.count("INIT_START") >= 1
    assert followed.stdout.count("INFO late line") == 3
    assert sum("Order stored" in line for line in followed.stdout.splitlines()) == count


def test_a_dead_letters_id_finds_its_source_messages_lines(stack: LocalStack) -> None:
    # Given an order the handler rejects into the DLQ, its lines sent to CloudWatch Logs
    dlq_url = stack.outputs["DLQUrl"]
    (source_id,) = _send(stack, [json.dumps({"orderId": "ORD-DEAD-LETTER"})])
    letter = wait_until(
        lambda: next(
            (
                letter
                for letter in list_dead_letters(stack.emulator.sqs(), dlq_url)
                if letter.source_message_id == source_id
            ),
            None,
        ),
        "the dead letter",
    )
    wait_until(lambda: _sent(stack, source_id), "its lines in CloudWatch Logs")
    # When its dead letter's id is given, as `dlq list` shows it
    result = _logs(stack, "--message-id", letter.message_id)
    # Then the source message's lines are shown, and stderr says whose they are
    assert result.exit_code == 0, result.output
    assert f"message_id={source_id}" in result.stdout
    assert "ORD-DEAD-LETTER" in result.stdout
    assert f"its source message {source_id}" in result.stderr
