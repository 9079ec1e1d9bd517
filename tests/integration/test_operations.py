"""Operating the local stack as AWS is operated: the function's logs in CloudWatch Logs, the template's alarms."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from orderflow_cli.main import app
from orderflow_local.stack import LocalStack, StackOptions
from tests.support import body, seed_order, wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

# One worker runs this module's tests, so its module-scoped stack starts once (make test: --dist loadgroup).
pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("test_operations")]

GROUP = "/aws/lambda/OrderProcessor"
STREAM = re.compile(r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$")
ALARMS = {
    "orderflow-DlqNotEmpty",
    "orderflow-OldestMessageAge",
    "orderflow-FunctionErrors",
    "orderflow-FunctionThrottles",
    "orderflow-DurationP99NearTimeout",
    "orderflow-DynamoDbWriteThrottles",
    "orderflow-OrderOutboxDLQ",
    # the payment service's: its queue, its DLQ and its function, as the order service's
    "orderflow-PaymentDlqNotEmpty",
    "orderflow-PaymentOldestMessageAge",
    "orderflow-PaymentFunctionErrors",
    "orderflow-PaymentFunctionThrottles",
    "orderflow-PaymentDurationP99NearTimeout",
    # the notification service's: the same five, and an e-mail perhaps not sent (never sent again)
    "orderflow-NotificationDlqNotEmpty",
    "orderflow-NotificationOldestMessageAge",
    "orderflow-NotificationFunctionErrors",
    "orderflow-NotificationFunctionThrottles",
    "orderflow-NotificationDurationP99NearTimeout",
    "orderflow-EmailsUncertain",
}
#: Alarm periods of 300 s evaluated over 5 s.
SCALE = 60.0


def _send(stack: LocalStack, bodies: list[str]) -> list[str]:
    sqs = stack.emulator.sqs()
    return [sqs.send_message(QueueUrl=stack.outputs["QueueUrl"], MessageBody=text)["MessageId"] for text in bodies]


def _stored(stack: LocalStack) -> int:
    return int(stack.emulator.dynamodb().scan(TableName="Orders", Select="COUNT")["Count"])


def _events(stack: LocalStack, pattern: str = "") -> list[dict[str, Any]]:
    arguments: dict[str, Any] = {"logGroupName": GROUP, **({"filterPattern": pattern} if pattern else {})}
    return stack.emulator.logs().filter_log_events(**arguments)["events"]  # type: ignore[return-value]


def _ever_in_alarm(stack: LocalStack, since: int = 0) -> set[str]:
    """The alarms that went off, from the ``since``-th state change on."""
    return {name for name, _, evaluation in stack.alarm_changes[since:] if evaluation.state == "ALARM"}


def _empty(stack: LocalStack, queue_url: str) -> None:
    """Delete every message in the queue (PurgeQueue allows one purge a minute, as on AWS)."""
    sqs = stack.emulator.sqs()
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        entries = [{"Id": str(n), "ReceiptHandle": message["ReceiptHandle"]} for n, message in enumerate(batch)]
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)  # type: ignore[arg-type]


def _own_dlq(stack: LocalStack, name: str) -> str:
    """A DLQ of the test's own: it holds what the test put there, whatever ran before."""
    return stack.emulator.sqs().create_queue(QueueName=f"{name}-{time.monotonic_ns()}")["QueueUrl"]


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(StackOptions(port=0, alarm_period_scale=SCALE, batching_window=1)) as running:
        yield running


def test_the_functions_logs_are_in_its_log_group_as_lambda_writes_them(stack: LocalStack) -> None:
    # Given orders processed by the local function
    orders = [seed_order(orderId=f"ORD-LOGS-{n}") for n in range(3)]
    ids = _send(stack, [body(order) for order in orders])
    # (their own lines, not any order's: other tests may have run on this stack before)
    wait_until(lambda: all(_events(stack, f'"{message_id}"') for message_id in ids), "their logs are sent")
    # Then the template's log group holds one stream per execution environment, named as Lambda names them
    logs = stack.emulator.logs()
    group = logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"][0]
    assert group["retentionInDays"] == 7  # from the template
    streams = [stream["logStreamName"] for stream in logs.describe_log_streams(logGroupName=GROUP)["logStreams"]]
    assert streams
    assert all(STREAM.match(name) for name in streams)
    # with each invocation's start, end and report, the init duration on a cold start
    messages = [json.loads(event["message"]) for event in _events(stack)]
    reports = [line["record"] for line in messages if line.get("type") == "platform.report"]
    starts = {line["record"]["requestId"] for line in messages if line.get("type") == "platform.start"}
    ends = {line["record"]["requestId"] for line in messages if line.get("type") == "platform.runtimeDone"}
    assert {report["requestId"] for report in reports} == starts == ends
    assert any("initDurationMs" in report["metrics"] for report in reports)
    assert all(report["metrics"]["memorySizeMB"] == 256 for report in reports)
    assert all(report["metrics"]["billedDurationMs"] >= report["metrics"]["durationMs"] for report in reports)
    # and the handler's own lines, EMF metrics included
    assert any(line.get("message") == "Order stored" for line in messages)
    assert any("_aws" in line for line in messages)
    # And `orderflow logs --message-id` finds a message's lines through FilterLogEvents
    result = CliRunner().invoke(app, ["logs", "--endpoint-url", stack.endpoint, "--message-id", ids[0]])
    assert result.exit_code == 0, result.output
    assert "Batch received" in result.output
    assert f"message_id={ids[0]}" in result.output
    assert "ORD-LOGS-0" in result.output
    everything = CliRunner().invoke(app, ["logs", "--endpoint-url", stack.endpoint, "--since", "1h"])
    assert "START RequestId:" in everything.output
    assert "REPORT RequestId:" in everything.output


def test_logs_follow_prints_new_lines_and_stops_quietly_on_ctrl_c(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orderflow_cli import observe

    # Given a follow that gets one new order's lines between two polls, then Ctrl-C
    polls: list[float] = []

    def between_polls(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 1:
            _send(stack, [body(seed_order(orderId="ORD-FOLLOW"))])
            wait_until(lambda: _events(stack, '"ORD-FOLLOW"'), "the new order's lines")
            return
        raise KeyboardInterrupt

    monkeypatch.setattr(observe, "_pause", between_polls)
    result = CliRunner().invoke(app, ["logs", "--endpoint-url", stack.endpoint, "--follow", "--since", "1h"])
    # Then it printed the new lines once, and stopped without a traceback
    assert result.exit_code == 0, result.output
    assert result.output.count("order_id=ORD-FOLLOW") == 1
    assert "Traceback" not in result.output


def test_logs_refuses_a_json_pattern_locally_rather_than_match_everything(stack: LocalStack) -> None:
    result = CliRunner().invoke(app, ["logs", "--endpoint-url", stack.endpoint, "--filter", '{ $.level = "ERROR" }'])
    assert result.exit_code == 2
    assert "JSON filter patterns work on AWS only" in result.output


def test_a_clean_run_leaves_every_alarm_ok_and_invalid_orders_set_off_only_the_dlq_alarm(stack: LocalStack) -> None:
    monitor = stack.alarm_monitor
    assert monitor is not None
    assert {alarm.name for alarm in monitor.alarms} == ALARMS
    # Given a clean start, whatever ran before on this stack: an empty DLQ, every alarm OK
    _empty(stack, stack.outputs["DLQUrl"])
    wait_until(lambda: monitor.states == dict.fromkeys(ALARMS, "OK"), "every alarm is OK", timeout=30)
    since = len(stack.alarm_changes)
    # and valid orders only
    before = _stored(stack)
    _send(stack, [body(seed_order(orderId=f"ORD-CLEAN-{n}")) for n in range(10)])
    wait_until(lambda: _stored(stack) >= before + 10, "the orders are stored")
    time.sleep(2 * monitor.interval + 1)
    # Then every alarm is OK, and none went off
    assert monitor.states == dict.fromkeys(ALARMS, "OK")
    assert _ever_in_alarm(stack, since) == set()
    # When a producer sends invalid orders
    _send(stack, [json.dumps({"orderId": f"BAD-{n}"}) for n in range(2)])
    wait_until(lambda: monitor.states["orderflow-DlqNotEmpty"] == "ALARM", "the DLQ alarm goes off", timeout=30)
    time.sleep(2 * monitor.interval)
    # Then that alarm, and only that one, goes off, in the embedded CloudWatch too
    assert monitor.in_alarm() == ["orderflow-DlqNotEmpty"]
    assert _ever_in_alarm(stack, since) == {"orderflow-DlqNotEmpty"}
    described = stack.emulator.cloudwatch().describe_alarms(AlarmNamePrefix="orderflow-")["MetricAlarms"]
    assert {alarm["AlarmName"]: alarm["StateValue"] for alarm in described} == monitor.states
    # And `orderflow status` shows it with the metric behind it
    result = CliRunner().invoke(app, ["status", "--endpoint-url", stack.endpoint, "--json"])
    assert result.exit_code == 0, result.output
    shown = {alarm["name"]: alarm for alarm in json.loads(result.output)}
    dlq = shown["orderflow-DlqNotEmpty"]
    assert dlq["state"] == "ALARM"
    assert dlq["reasonData"]["recentDatapoints"][-1] >= 1
    assert dlq["reasonData"]["localPeriod"] == 300 / SCALE
    assert "Threshold Crossed" in dlq["reason"]
    text = CliRunner().invoke(app, ["status", "--endpoint-url", stack.endpoint])
    assert f"1 of {len(ALARMS)} in ALARM: orderflow-DlqNotEmpty." in " ".join(text.output.split())


@pytest.mark.parametrize(
    ("fault", "expected", "allowed"),
    [
        # a timeout is an error (the duration alarm's line is 80% of the template's 30 s timeout,
        # which the test's 1 s timeout never reaches)
        ("handler_timeout", {"orderflow-FunctionErrors"}, set()),
        # every write throttled: the table's alarm; each whole batch failing is also a Lambda error
        ("ddb_throttle", {"orderflow-DynamoDbWriteThrottles"}, {"orderflow-FunctionErrors"}),
    ],
)
def test_an_injected_fault_sets_off_the_alarm_it_should(fault: str, expected: set[str], allowed: set[str]) -> None:
    # Given every call failing with one kind of fault; the visibility timeout keeps the messages
    # out of the DLQ while the test looks. A 1 s timeout makes handler_timeout quick; a throttled
    # write needs the invocation to reach its first call, which a busy machine's cold start can
    # push past 1 s, and then nothing is retried before the visibility timeout ends.
    options = StackOptions(
        port=0,
        chaos_rate=1.0,
        chaos_only=(fault,),
        function_timeout=1 if fault == "handler_timeout" else 10,
        visibility_timeout=60,
        alarm_period_scale=SCALE,
        batching_window=1,
    )
    with LocalStack(options) as stack:
        monitor = stack.alarm_monitor
        assert monitor is not None
        _send(stack, [body(seed_order(orderId=f"ORD-{fault}-{n}")) for n in range(3)])
        wait_until(lambda: expected <= set(monitor.in_alarm()), f"{sorted(expected)} go off", timeout=60)
        time.sleep(2 * monitor.interval)
        fired = _ever_in_alarm(stack)
    # Then the alarms it should set off are in ALARM, and no other one went off
    assert expected <= fired <= expected | allowed


def test_dlq_list_without_readable_logs_warns_and_still_lists(stack: LocalStack) -> None:
    # Given a message SQS moved (no reason attributes), and a log group that does not exist
    dlq_url = _own_dlq(stack, "dlq-no-logs")
    moved = seed_order(orderId="ORD-NO-LOGS")
    stack.emulator.sqs().send_message(QueueUrl=dlq_url, MessageBody=body(moved))
    options = ["--endpoint-url", stack.endpoint, "--dlq-url", dlq_url, "--json", "--log-group", "/aws/lambda/Nope"]
    result = CliRunner().invoke(app, ["dlq", "list", *options])
    # Then it says so in one line, and every message is still listed with what is known
    assert result.exit_code == 0, result.output
    assert "warning: cannot read the log group /aws/lambda/Nope" in result.stderr
    [entry] = json.loads(result.stdout)
    assert "ORD-NO-LOGS" in entry["body"]
    assert entry["movedBy"] == "sqs"
    assert entry["reasonSource"] == "unknown"
    assert "(logs not searched)" in entry["reason"]
    assert entry["alreadyStored"] is False


def test_the_metrics_behind_the_alarms_answer_get_metric_statistics(stack: LocalStack) -> None:
    # Given orders the pipeline stored
    before = _stored(stack)
    _send(stack, [body(seed_order(orderId=f"ORD-METRICS-{n}")) for n in range(5)])
    wait_until(lambda: _stored(stack) >= before + 5, "the orders are stored")
    cloudwatch = stack.emulator.cloudwatch()
    now = datetime.now(UTC)
    window = {"StartTime": now - timedelta(minutes=10), "EndTime": now + timedelta(minutes=1), "Period": 3600}

    def statistics(namespace: str, name: str, dimensions: dict[str, str], stat: str) -> float:
        points = cloudwatch.get_metric_statistics(
            Namespace=namespace,
            MetricName=name,
            Dimensions=[{"Name": key, "Value": value} for key, value in dimensions.items()],
            Statistics=[stat],  # type: ignore[list-item]
            **window,  # type: ignore[arg-type]
        )["Datapoints"]
        return sum(float(point.get(stat, 0)) for point in points)  # type: ignore[arg-type]

    function = {"FunctionName": "OrderProcessor"}
    # Then Lambda's, SQS's and the function's own (EMF) metrics are in the embedded CloudWatch
    invocations = wait_until(
        lambda: statistics("AWS/Lambda", "Invocations", function, "Sum"), "Lambda's metrics are put", timeout=30
    )
    assert invocations >= 1
    assert statistics("AWS/Lambda", "Duration", function, "Maximum") > 0
    queue = {"QueueName": stack.outputs["QueueUrl"].rsplit("/", 1)[1]}
    assert statistics("AWS/SQS", "ApproximateNumberOfMessagesVisible", queue, "SampleCount") >= 1
    own = cloudwatch.list_metrics(Namespace="Orderflow")["Metrics"]
    assert own, "the function's EMF metrics"
    # And list-metrics names each with its dimensions, as on AWS: one Duration per function, the payment
    # service's too once it has charged the orders (the outbox, the bus and its queue, then its batch), and
    # the notification service's once it has taken their PaymentCaptured events (e-mailed or not)
    names = ("Notifier", "OrderProcessor", "PaymentProcessor")
    functions = [[{"Name": "FunctionName", "Value": name}] for name in names]

    def durations() -> list[Any]:
        listed = cloudwatch.list_metrics(Namespace="AWS/Lambda", MetricName="Duration")["Metrics"]
        return sorted((metric["Dimensions"] for metric in listed), key=str)

    wait_until(lambda: durations() == functions, "each function's Duration is listed", timeout=60)


def test_an_alarms_state_change_reaches_a_subscriber_of_its_topic(stack: LocalStack) -> None:
    monitor, deployed = stack.alarm_monitor, stack.deployed
    assert monitor is not None
    assert deployed is not None
    [topic] = [arn for logical_id, arn in deployed.topics.items() if "AlarmTopic" in logical_id]
    # The template's actions are on the alarms in the embedded CloudWatch
    described = stack.emulator.cloudwatch().describe_alarms(AlarmNamePrefix="orderflow-")["MetricAlarms"]
    assert {alarm["AlarmName"]: (alarm["AlarmActions"], alarm["OKActions"]) for alarm in described} == dict.fromkeys(
        ALARMS, ([topic], [topic])
    )
    # Given an empty DLQ (its alarm OK) and a queue subscribed to the alarm topic, as an on-call tool would be
    sqs, sns = stack.emulator.sqs(), stack.emulator.sns()
    sqs.purge_queue(QueueUrl=stack.outputs["DLQUrl"])
    wait_until(lambda: monitor.states["orderflow-DlqNotEmpty"] == "OK", "the DLQ alarm is OK", timeout=30)
    inbox = sqs.create_queue(QueueName="alarm-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "true"})
    # When an invalid order lands in the DLQ
    _send(stack, [json.dumps({"orderId": "BAD-NOTIFIED"})])

    def notified() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        found = [json.loads(message["Body"]) for message in messages]
        # (not the OK that a first evaluation may have notified as the subscription began)
        return [one for one in found if one["AlarmName"] == "orderflow-DlqNotEmpty" and one["NewStateValue"] == "ALARM"]

    # Then CloudWatch's notification of the DLQ alarm going off reaches the subscriber
    [notification] = wait_until(notified, "the alarm's notification", timeout=30)
    assert (notification["OldStateValue"], notification["NewStateValue"]) == ("OK", "ALARM")
    assert "Threshold Crossed" in notification["NewStateReason"]
