"""The local evaluation of CloudWatch alarms: statistics, periods, missing data, M out of N."""

from __future__ import annotations

import json

import pytest

from orderflow_local.alarms import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    AlarmMonitor,
    AlarmSpec,
    MetricStore,
    dimensions_of,
    evaluate,
    record_emf,
    statistic,
)

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
