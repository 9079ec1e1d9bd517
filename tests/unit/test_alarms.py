"""Local CloudWatch: alarms (statistics, periods, missing data, M out of N), and the metrics put behind them."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from orderflow_local.cloudwatch.alarms import AlarmMonitor, AlarmSpec, QueueSource, create_alarms, evaluate
from orderflow_local.cloudwatch.metrics import (
    PUT_METRIC_DATA_LIMIT,
    MetricStore,
    dimensions_of,
    publish_metrics,
    record_emf,
    statistic,
)
from orderflow_local.cloudwatch.states import ALARM, INSUFFICIENT_DATA, OK

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_cloudwatch import CloudWatchClient

FUNCTION = dimensions_of({"FunctionName": "OrderProcessor"})


def alarm(**overrides: object) -> AlarmSpec:
    properties = {
        "AlarmName": "orderflow-FunctionErrors",
        "Namespace": "AWS/Lambda",
        "MetricName": "Errors",
        "Dimensions": [{"Name": "FunctionName", "Value": "OrderProcessor"}],
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        **overrides,
    }
    return AlarmSpec.from_properties("Alarm", properties)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Sum", 10.0), ("Average", 2.5), ("Maximum", 4.0), ("Minimum", 1.0), ("SampleCount", 4.0), ("p50", 2.0)],
)
def test_statistics(name: str, expected: float) -> None:
    assert statistic([1.0, 2.0, 3.0, 4.0], name) == expected


def test_p99_is_the_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert statistic(values, "p99") == 99.0
    assert statistic([5.0], "p99") == 5.0


def test_a_breaching_period_sets_off_the_alarm_with_a_cloudwatch_like_reason() -> None:
    store = MetricStore()
    store.add("AWS/Lambda", "Errors", FUNCTION, 1, at=1000.0)
    store.add("AWS/Lambda", "Errors", FUNCTION, 1, at=1010.0)
    result = evaluate(alarm(), store, now=1030.0)
    assert result.state == ALARM
    assert "[2.0 (" in result.reason
    assert "greater than or equal to the threshold (1.0)" in result.reason
    assert json.loads(result.reason_data(alarm()))["recentDatapoints"] == [2.0]


def test_values_outside_the_period_or_under_the_threshold_leave_it_ok() -> None:
    store = MetricStore()
    store.add("AWS/Lambda", "Errors", FUNCTION, 5, at=900.0)  # before the period
    store.add("AWS/Lambda", "Errors", FUNCTION, 0, at=1010.0)
    assert evaluate(alarm(), store, now=1030.0).state == OK


def test_another_functions_metric_does_not_count() -> None:
    store = MetricStore()
    store.add("AWS/Lambda", "Errors", dimensions_of({"FunctionName": "Other"}), 3, at=1010.0)
    assert evaluate(alarm(), store, now=1030.0).state == OK


@pytest.mark.parametrize(
    ("treatment", "current", "expected"),
    [
        ("notBreaching", ALARM, OK),
        ("breaching", OK, ALARM),
        ("missing", OK, INSUFFICIENT_DATA),
        ("ignore", ALARM, ALARM),
        ("ignore", OK, OK),
    ],
)
def test_missing_data_treatments(treatment: str, current: str, expected: str) -> None:
    result = evaluate(alarm(TreatMissingData=treatment), MetricStore(), now=1000.0, current=current)
    assert result.state == expected


def test_m_out_of_n_needs_enough_breaching_periods() -> None:
    spec = alarm(EvaluationPeriods=3, DatapointsToAlarm=2)
    store = MetricStore()
    store.add("AWS/Lambda", "Errors", FUNCTION, 1, at=1150.0)  # one breaching period of three
    assert evaluate(spec, store, now=1180.0).state == OK
    store.add("AWS/Lambda", "Errors", FUNCTION, 1, at=1100.0)  # a second one
    assert evaluate(spec, store, now=1180.0).state == ALARM


def test_a_scaled_period_is_shorter() -> None:
    store = MetricStore()
    store.add("AWS/Lambda", "Errors", FUNCTION, 1, at=1000.0)
    assert evaluate(alarm(Period=300), store, now=1015.0, period_scale=30).state == OK  # 10 s window
    assert evaluate(alarm(Period=300), store, now=1005.0, period_scale=30).state == ALARM


def test_extended_statistics_and_comparisons_come_from_the_template() -> None:
    spec = alarm(
        MetricName="Duration",
        Statistic=None,
        ExtendedStatistic="p99",
        Threshold=100,
        ComparisonOperator="LessThanThreshold",
    )
    assert spec.statistic == "p99"
    store = MetricStore()
    store.add("AWS/Lambda", "Duration", FUNCTION, 50, at=1000.0)
    assert evaluate(spec, store, now=1010.0).state == ALARM


def test_metric_math_alarms_are_refused_not_pretended() -> None:
    with pytest.raises(ValueError, match="metric math"):
        AlarmSpec.from_properties("Math", {"Metrics": [], "ComparisonOperator": "GreaterThanThreshold"})


def test_emf_lines_become_datapoints_under_their_dimensions() -> None:
    store = MetricStore()
    line = json.dumps(
        {
            "_aws": {
                "Timestamp": 1_000_000,
                "CloudWatchMetrics": [
                    {"Namespace": "Orderflow", "Dimensions": [["service"]], "Metrics": [{"Name": "OrdersStored"}]}
                ],
            },
            "service": "order-processor",
            "OrdersStored": [1, 1, 1],
        }
    )
    record_emf(store, line, at=0)
    dims = dimensions_of({"service": "order-processor"})
    assert store.values("Orderflow", "OrdersStored", dims, 999.0, 1001.0) == [1.0, 1.0, 1.0]


def test_the_monitor_reports_each_change_once() -> None:
    store = MetricStore()
    changes: list[tuple[str, str, str]] = []
    monitor = AlarmMonitor(
        [alarm()], store, period_scale=1, on_change=lambda spec, old, new: changes.append((spec.name, old, new.state))
    )
    monitor.evaluate_all(now=1000.0)
    monitor.evaluate_all(now=1001.0)
    store.add("AWS/Lambda", "Errors", FUNCTION, 1, at=1002.0)
    monitor.evaluate_all(now=1003.0)
    assert changes == [
        ("orderflow-FunctionErrors", INSUFFICIENT_DATA, OK),
        ("orderflow-FunctionErrors", OK, ALARM),
    ]
    assert monitor.in_alarm() == ["orderflow-FunctionErrors"]


class _SlowQueues:
    """SQS's GetQueueAttributes for a few queues, each answer taking ``delay`` s (a loaded machine);
    only ``DLQ`` holds a message."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:  # noqa: N803
        time.sleep(self.delay)
        depth = "1" if QueueUrl.endswith("/DLQ") else "0"
        return {"Attributes": {"ApproximateNumberOfMessages": depth, "ApproximateNumberOfMessagesNotVisible": "0"}}


def test_a_dlq_with_letters_stays_in_alarm_when_reading_the_queues_outlasts_a_period() -> None:
    # A scaled period of 0.3 s, and reading the four queues takes about 0.6 s: every tick's
    # points must still be in the window it evaluates, or the alarm flaps to OK (missing data).
    dlq = alarm(AlarmName="orderflow-DlqNotEmpty", Namespace="AWS/SQS", MetricName="ApproximateNumberOfMessagesVisible",
                Dimensions=[{"Name": "QueueName", "Value": "DLQ"}], Statistic="Maximum", Period=60)  # fmt: skip
    queues = [QueueSource(name, f"http://127.0.0.1/123456789012/{name}") for name in ("A", "B", "DLQ", "C")]
    changes: list[str] = []
    monitor = AlarmMonitor(
        [dlq], MetricStore(), period_scale=200, queues=queues, sqs=lambda: _SlowQueues(0.15),  # type: ignore[arg-type,return-value]
        on_change=lambda spec, old, new: changes.append(new.state),
    )  # fmt: skip

    for _ in range(3):
        monitor.tick()

    assert changes == [ALARM]


def test_a_metric_sums_what_it_gathered_until_taken_and_keeps_its_points_for_the_alarms() -> None:
    store = MetricStore()
    for at, value in [(100.0, 3.0), (102.0, 1.0), (101.0, 5.0)]:
        store.add("AWS/Lambda", "Duration", FUNCTION, value, at, "Milliseconds")
    [(key, gathered)] = store.take_unpublished().items()
    assert key == ("AWS/Lambda", "Duration", FUNCTION)
    assert (gathered.count, gathered.total, gathered.low, gathered.high) == (3, 9.0, 1.0, 5.0)
    assert gathered.last_at == 102.0  # the newest, whatever order the points came in
    assert gathered.unit == "Milliseconds"
    assert store.take_unpublished() == {}  # taken once
    assert store.values("AWS/Lambda", "Duration", FUNCTION, 0, 200) == [3.0, 1.0, 5.0]  # the alarms still see them


@pytest.fixture
def cloudwatch() -> Iterator[CloudWatchClient]:
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")


def test_published_metrics_answer_get_metric_statistics_as_on_aws(cloudwatch: CloudWatchClient) -> None:
    store = MetricStore()
    now = time.time()
    for value in (10.0, 30.0):
        store.add("AWS/Lambda", "Duration", FUNCTION, value, now - 1, "Milliseconds")
    # a function's EMF line may name a unit CloudWatch does not have: the metric goes without it
    store.add("Orderflow", "OrdersCreated", dimensions_of({"service": "order-processor"}), 2, now - 1, "Parsecs")
    assert publish_metrics(store, cloudwatch) == 2
    window = {"StartTime": datetime.fromtimestamp(now - 60, UTC), "EndTime": datetime.fromtimestamp(now + 60, UTC)}
    [duration] = cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Duration",
        Dimensions=[{"Name": "FunctionName", "Value": "OrderProcessor"}],
        Period=60,
        Statistics=["Sum", "Maximum", "Minimum", "SampleCount"],
        Unit="Milliseconds",
        **window,
    )["Datapoints"]
    assert (duration["Sum"], duration["Maximum"], duration["Minimum"], duration["SampleCount"]) == (40, 30, 10, 2)
    [created] = cloudwatch.get_metric_statistics(
        Namespace="Orderflow", MetricName="OrdersCreated", Period=60, Statistics=["Sum"], **window
    )["Datapoints"]
    assert created["Sum"] == 2
    assert publish_metrics(store, cloudwatch) == 0  # nothing new: nothing put twice


def test_more_metrics_than_one_request_takes_are_put_in_several(cloudwatch: CloudWatchClient) -> None:
    store = MetricStore()
    for n in range(2 * PUT_METRIC_DATA_LIMIT + 1):
        store.add("Orderflow", f"Metric{n}", (), 1.0)
    sizes: list[int] = []
    put = cloudwatch.put_metric_data

    def counted(**request: Any) -> Any:
        sizes.append(len(request["MetricData"]))
        return put(**request)

    cloudwatch.put_metric_data = counted  # type: ignore[method-assign]
    assert publish_metrics(store, cloudwatch) == 2 * PUT_METRIC_DATA_LIMIT + 1
    assert sizes == [PUT_METRIC_DATA_LIMIT, PUT_METRIC_DATA_LIMIT, 1]
    listed = cloudwatch.get_paginator("list_metrics").paginate(Namespace="Orderflow")
    assert sum(len(page["Metrics"]) for page in listed) == 2 * PUT_METRIC_DATA_LIMIT + 1


def test_a_state_change_is_published_to_the_alarms_topics_as_cloudwatch_notifies() -> None:
    with mock_aws():
        session = boto3.Session(region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
        sns, sqs = session.client("sns"), session.client("sqs")
        topic = sns.create_topic(Name="orderflow-alarms")["TopicArn"]
        inbox = sqs.create_queue(QueueName="alarm-inbox")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
        errors = alarm(AlarmActions=[topic], OKActions=[topic], AlarmDescription="the function failed")
        quiet = alarm(AlarmName="orderflow-Quiet", AlarmActions=[topic], ActionsEnabled=False)
        store = MetricStore()
        monitor = AlarmMonitor([errors, quiet], store, period_scale=1, sns=lambda: sns)
        # When the alarms go from INSUFFICIENT_DATA to OK, then into ALARM
        monitor.evaluate_all(now=1000.0)
        store.add("AWS/Lambda", "Errors", FUNCTION, 1, at=1002.0)
        monitor.evaluate_all(now=1003.0)
        received = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10)["Messages"]
    envelopes = [json.loads(message["Body"]) for message in received]
    # Then the enabled alarm notified its topic twice (OK, then ALARM); the disabled one never did
    assert [envelope["Subject"] for envelope in envelopes] == [
        'OK: "orderflow-FunctionErrors" in US East (N. Virginia)',
        'ALARM: "orderflow-FunctionErrors" in US East (N. Virginia)',
    ]
    notification = json.loads(envelopes[1]["Message"])
    assert notification["AlarmName"] == "orderflow-FunctionErrors"
    assert notification["AlarmDescription"] == "the function failed"
    assert (notification["OldStateValue"], notification["NewStateValue"]) == (OK, ALARM)
    assert notification["NewStateReason"] == monitor.evaluations["orderflow-FunctionErrors"].reason
    assert notification["AlarmArn"] == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:orderflow-FunctionErrors"
    assert notification["AWSAccountId"] == "123456789012"
    assert notification["AlarmActions"] == notification["OKActions"] == [topic]
    assert notification["Trigger"]["Statistic"] == "SUM"
    assert notification["Trigger"]["Dimensions"] == [{"value": "OrderProcessor", "name": "FunctionName"}]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", notification["StateChangeTime"])


def test_an_action_that_fails_leaves_the_state_changed_and_the_other_alarms_evaluated(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with mock_aws():
        sns = boto3.client("sns", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
        gone = "arn:aws:sns:us-east-1:123456789012:deleted-topic"  # never created: the publish fails
        changes: list[tuple[str, str]] = []
        monitor = AlarmMonitor(
            [alarm(OKActions=[gone]), alarm(AlarmName="orderflow-Other")],
            MetricStore(),
            period_scale=1,
            sns=lambda: sns,
            on_change=lambda spec, _old, new: changes.append((spec.name, new.state)),
        )
        monitor.evaluate_all(now=1000.0)
    assert changes == [("orderflow-FunctionErrors", OK), ("orderflow-Other", OK)]
    assert monitor.states == {"orderflow-FunctionErrors": OK, "orderflow-Other": OK}
    assert "alarm orderflow-FunctionErrors: its action failed" in caplog.text


class _FailingOnce:
    """The embedded CloudWatch, whose first ``SetAlarmState`` fails (the emulator answered an error)."""

    def __init__(self, real: CloudWatchClient) -> None:
        self._real = real
        self.failures = 1

    def set_alarm_state(self, **arguments: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the emulator did not answer")
        return self._real.set_alarm_state(**arguments)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_a_state_that_cloudwatch_did_not_take_is_retried_on_the_next_tick_and_the_other_alarms_go_on(
    cloudwatch: CloudWatchClient, caplog: pytest.LogCaptureFixture
) -> None:
    errors, other = alarm(), alarm(AlarmName="orderflow-Other")
    create_alarms([errors, other], cloudwatch)
    flaky: Any = _FailingOnce(cloudwatch)
    changes: list[tuple[str, str]] = []
    monitor = AlarmMonitor(
        [errors, other],
        MetricStore(),
        period_scale=1,
        on_change=lambda spec, _old, new: changes.append((spec.name, new.state)),
    )

    def set_in_cloudwatch() -> dict[str, str]:
        """Each alarm whose state the monitor set, with that state (moto gives a new alarm a state of its own)."""
        return {
            found["AlarmName"]: found["StateValue"]
            for found in cloudwatch.describe_alarms()["MetricAlarms"]
            if found["StateReason"] == monitor.evaluations[found["AlarmName"]].reason
        }

    monitor.evaluate_all(flaky, now=1000.0)
    # The failed change is not taken as made: no notification, the state as CloudWatch has it; the other went on.
    assert changes == [("orderflow-Other", OK)]
    assert monitor.states == {"orderflow-FunctionErrors": INSUFFICIENT_DATA, "orderflow-Other": OK}
    assert set_in_cloudwatch() == {"orderflow-Other": OK}
    assert "alarm orderflow-FunctionErrors: could not set its state to OK" in caplog.text
    monitor.evaluate_all(flaky, now=1001.0)
    assert changes == [("orderflow-Other", OK), ("orderflow-FunctionErrors", OK)]
    assert monitor.states == {"orderflow-FunctionErrors": OK, "orderflow-Other": OK}
    assert set_in_cloudwatch() == {"orderflow-FunctionErrors": OK, "orderflow-Other": OK}
