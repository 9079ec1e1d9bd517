"""`orderflow logs` and `orderflow status` in process (typer's CliRunner) against emulated CloudWatch Logs,
CloudWatch and SQS (moto): lines that reach CloudWatch Logs late while --follow runs, a dead letter's id
given to --message-id, and alarm names on an 80-column terminal."""

from __future__ import annotations

import io
import json
import time
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from typer.testing import CliRunner

from orderflow import handler
from orderflow_cli import observe
from orderflow_cli.aws import Target
from orderflow_cli.common import OutputConsole
from orderflow_cli.main import app
from orderflow_local.ops.dlq import list_dead_letters
from tests.support import FakeLambdaContext, body, seed_order, sqs_record

if TYPE_CHECKING:
    from tests.functional.conftest import EmulatedAws

GROUP = "/aws/lambda/OrderProcessor"
STREAMS = ("2026/11/27/[$LATEST]" + "a" * 32, "2026/11/27/[$LATEST]" + "b" * 32)


@pytest.fixture
def logs(aws: EmulatedAws, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The function's log group with two streams (two execution environments); the CLI's clients are moto's."""
    client = boto3.client("logs", region_name="us-east-1")
    client.create_log_group(logGroupName=GROUP)
    for stream in STREAMS:
        client.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    monkeypatch.setattr(Target, "logs", lambda self: client)
    monkeypatch.setattr(Target, "sqs", lambda self: aws.sqs)
    return client


def _put(client: Any, stream: str, *lines: tuple[int, str]) -> None:
    client.put_log_events(
        logGroupName=GROUP, logStreamName=stream, logEvents=[{"timestamp": at, "message": text} for at, text in lines]
    )


def _line(message: str, **fields: Any) -> str:
    return json.dumps({"level": "INFO", "message": message, **fields})


def _run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"}, prog_name="orderflow")


def _printed(output: str) -> list[str]:
    """The messages printed, one per log line (the text after the time and the stream)."""
    return [line.split(" ", 2)[2] for line in output.splitlines() if line.strip()]


def test_follow_prints_lines_that_arrive_late_once_and_none_twice(logs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given lines already sent, then, while --follow runs, lines that reach CloudWatch Logs
    # after newer ones were printed (another environment's invocation ended later), as a
    # cold batch's INIT_START, START and first lines do
    now = int(time.time() * 1000)
    _put(logs, STREAMS[0], (now - 20_000, _line("early")), (now - 5_000, _line("newest at the start")))
    arrivals = [
        # stamped before the newest printed line, sent after it was printed
        [(STREAMS[1], now - 8_000, _line("late INIT_START")), (STREAMS[1], now - 7_999, _line("late START"))],
        # a minute late, and a line of now
        [(STREAMS[1], now - 65_000, _line("a minute late")), (STREAMS[0], now, _line("new"))],
        [],  # a poll that reads the same window again: nothing new
    ]
    polls = 0

    def between_polls(seconds: float) -> None:
        nonlocal polls
        if polls == len(arrivals):
            raise KeyboardInterrupt
        for stream, at, text in arrivals[polls]:
            _put(logs, stream, (at, text))
        polls += 1

    monkeypatch.setattr(observe, "_pause", between_polls)
    result = _run("logs", "--follow", "--since", "5m")
    # Then every line is printed exactly once, the late ones when they arrive
    assert result.exit_code == 0, result.output
    assert _printed(result.output) == [
        f"INFO {name}"
        for name in ("early", "newest at the start", "late INIT_START", "late START", "a minute late", "new")
    ]


def test_follow_never_reads_before_since_and_forgets_ids_the_window_left_behind() -> None:
    window = observe.FollowWindow(start_ms=1_000_000, overlap_ms=60_000)
    assert window.start_ms == 1_000_000  # nothing printed yet: from --since

    def event(n: int, at: int) -> dict[str, Any]:
        return {"eventId": str(n), "timestamp": at, "message": str(n)}

    first = [event(1, 1_000_000), event(2, 1_030_000)]
    assert window.new(first) == first
    assert window.start_ms == 1_000_000  # the overlap would reach before --since
    assert window.new([*first, event(3, 1_100_000)]) == [event(3, 1_100_000)]
    assert window.start_ms == 1_040_000
    # Once the window moved past them, the first two are forgotten: no poll reads them again
    assert len(window) == 1
    # while a late line inside the window is new, and counted once
    assert window.new([event(4, 1_050_000), event(3, 1_100_000)]) == [event(4, 1_050_000)]
    assert window.new([event(4, 1_050_000), event(3, 1_100_000)]) == []
    assert len(window) == 2


def _reject(aws: EmulatedAws, logs: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """An invalid order the handler sends to the DLQ, its log lines in CloudWatch Logs as Lambda sends them:
    (its message id on the order queue, its dead letter's id)."""
    stream = io.StringIO()
    monkeypatch.setattr(handler.logger.registered_handler, "stream", stream)
    record = sqs_record(body(seed_order(orderId="ORD-REJECTED", items=[])))
    handler.lambda_handler({"Records": [record]}, FakeLambdaContext())
    now = int(time.time() * 1000)
    _put(logs, STREAMS[0], *[(now, line) for line in stream.getvalue().splitlines()])
    (letter,) = list_dead_letters(aws.sqs, aws.dlq_url)
    assert letter.message_id != record["messageId"]  # the DLQ copy is a message of its own
    return record["messageId"], letter.message_id


def test_message_id_takes_a_dead_letters_id_and_shows_its_source_messages_lines(
    aws: EmulatedAws, logs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    source_id, dead_letter_id = _reject(aws, logs, monkeypatch)
    by_source = _run("logs", "--message-id", source_id)
    assert by_source.exit_code == 0, by_source.output
    assert f"message_id={source_id}" in by_source.stdout
    assert by_source.stderr == ""  # found in the logs: the DLQ is not read
    # When given the dead letter's id, as `dlq list` shows it
    by_dead_letter = _run("logs", "--message-id", dead_letter_id)
    # Then it shows the same lines, and says on one line whose they are
    assert by_dead_letter.exit_code == 0, by_dead_letter.output
    assert by_dead_letter.stdout == by_source.stdout
    assert by_dead_letter.stderr.count("\n") == 1
    assert f"{dead_letter_id} is a dead letter's id in the DLQ" in by_dead_letter.stderr
    assert f"its source message {source_id}" in by_dead_letter.stderr
    # and the dead letter is still there, visible
    assert [letter.message_id for letter in list_dead_letters(aws.sqs, aws.dlq_url)] == [dead_letter_id]


def test_message_id_that_is_neither_says_so(aws: EmulatedAws, logs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _reject(aws, logs, monkeypatch)
    result = _run("logs", "--message-id", "no-such-id")
    assert result.exit_code == 0, result.output
    assert 'No log lines in /aws/lambda/OrderProcessor since 10m ago matching "no-such-id".' in result.stdout
    assert "No dead letter in the DLQ has that id either." in result.stdout


@pytest.mark.parametrize("given", ["source", "dead letter"])
def test_a_dead_letter_sent_before_since_says_to_look_further_back(
    aws: EmulatedAws, logs: Any, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    ids = dict(zip(("source", "dead letter"), _reject(aws, logs, monkeypatch), strict=True))
    monkeypatch.setattr(time, "time", lambda: time.time_ns() / 1e9 + 3600)  # an hour later (the CLI reads the clock)
    result = _run("logs", "--message-id", ids[given])
    assert result.exit_code == 0, result.output
    assert "Its dead letter was sent at" in result.stdout
    assert "give a longer --since" in result.stdout


ALARMS = ("orderflow-DlqNotEmpty", "orderflow-DurationP99NearTimeout", "orderflow-DynamoDbWriteThrottles")


@pytest.fixture
def alarms(aws: EmulatedAws, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three alarms whose names begin alike, as the template's do, one in ALARM."""
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    for name in ALARMS:
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/SQS",
            MetricName="ApproximateNumberOfMessagesVisible",
            Dimensions=[{"Name": "QueueName", "Value": "OrderCreatedDLQ"}],
            Statistic="Maximum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
    cloudwatch.set_alarm_state(
        AlarmName=ALARMS[0], StateValue="ALARM", StateReason="Threshold Crossed: 1 datapoint [3.0 (27/11/26 10:00:00)]"
    )
    monkeypatch.setattr(Target, "cloudwatch", lambda self: cloudwatch)
    # moto's Pipes, with no pipe: status says so after the alarms (tests/functional/test_cli_outbox.py)
    monkeypatch.setattr(Target, "pipes", lambda self: boto3.client("pipes", region_name="us-east-1"))


def test_status_shows_whole_alarm_names_on_an_80_column_terminal(alarms: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(observe, "console", OutputConsole(width=80, force_terminal=True, highlight=False))
    result = _run("status")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for name in ALARMS:
        assert any(line.startswith(name) for line in lines), result.stdout
    assert "…" not in result.stdout
    assert "1 of 3 in ALARM: orderflow-DlqNotEmpty." in result.stdout
    assert "orderflow-DlqNotEmpty: Threshold Crossed: 1 datapoint [3.0 (27/11/26 10:00:00)]" in result.stdout


def test_status_prints_one_whole_line_per_alarm_when_not_a_terminal(alarms: None) -> None:
    result = _run("status")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if "AWS/SQS/ApproximateNumberOfMessagesVisible" in line]
    assert len(rows) == len(ALARMS)
    for name, row in zip(ALARMS, rows, strict=True):
        assert f"│ {name} " in row
        assert "[QueueName=OrderCreatedDLQ] Maximum / 300 s" in row
