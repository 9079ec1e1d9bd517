"""The console's dashboard: the template's widgets with the local metrics, periods scaled as the
alarms' are; and the metric store's reads behind it (newest point, totals, units, series)."""

from __future__ import annotations

import pytest

from orderflow_local.cloudwatch.alarms import AlarmSpec
from orderflow_local.cloudwatch.metrics import MetricStore, dimensions_of
from orderflow_local.console.dashboard import Dashboard, render

NOW = 10_000.0
FUNCTION = dimensions_of({"FunctionName": "OrderProcessor"})


def test_the_store_answers_the_newest_point_the_total_since_the_start_and_the_unit() -> None:
    store = MetricStore(retention=10)
    store.add("AWS/Lambda", "Invocations", FUNCTION, 1, at=100.0, unit="Count")
    store.add("AWS/Lambda", "Invocations", FUNCTION, 1, at=90.0, unit="Count")  # late: not the newest
    assert store.latest("AWS/Lambda", "Invocations", FUNCTION) == (100.0, 1.0)
    assert store.latest("AWS/Lambda", "Errors", FUNCTION) is None
    for at in range(1200):  # past the retention: old points pruned, the total kept
        store.add("AWS/Lambda", "Invocations", FUNCTION, 1, at=200.0 + at)
    assert len(store.values("AWS/Lambda", "Invocations", FUNCTION, 0, 10_000)) < 1202
    assert store.total("AWS/Lambda", "Invocations", FUNCTION) == 1202
    assert store.unit("AWS/Lambda", "Invocations", FUNCTION) == "Count"  # a point without a unit keeps it
    assert store.unit("AWS/Lambda", "Errors", FUNCTION) is None


def test_a_series_is_one_statistic_per_period_and_a_period_without_data_has_no_point() -> None:
    store = MetricStore()
    for at, value in [(0.5, 3), (1.5, 5), (9.0, 1), (31.0, 7), (35.0, 2)]:
        store.add("Orderflow", "OrdersStored", (), value, at=at)
    assert store.series("Orderflow", "OrdersStored", (), "Sum", 10, 0, 40) == [(0, 9.0), (30, 9.0)]
    assert store.series("Orderflow", "OrdersStored", (), "Maximum", 10, 0, 40) == [(0, 5.0), (30, 7.0)]
    assert store.series("Orderflow", "OrdersStored", (), "SampleCount", 10, 0, 35) == [(0, 3.0), (30, 1.0)]


def widget(metrics: list[object], **properties: object) -> dict[str, object]:
    return {
        "type": "metric",
        "x": 6,
        "y": 12,
        "width": 12,
        "height": 6,
        "properties": {"title": "OrderProcessor", "view": "timeSeries", "metrics": metrics, **properties},
    }


def test_a_metric_widget_keeps_its_place_title_and_statistics_with_periods_scaled() -> None:
    store = MetricStore()
    for offset in (5, 15, 15, 25):  # seconds before NOW: three 10 s periods
        store.add("AWS/Lambda", "Invocations", FUNCTION, 1, at=NOW - offset, unit="Count")
    store.add("AWS/Lambda", "Duration", FUNCTION, 120.0, at=NOW - 5, unit="Milliseconds")
    store.add("AWS/Lambda", "Duration", FUNCTION, 80.0, at=NOW - 6, unit="Milliseconds")
    board = Dashboard(
        "orderflow",
        [
            widget(
                [
                    ["AWS/Lambda", "Invocations", "FunctionName", "OrderProcessor", {"stat": "Sum"}],
                    [".", "Duration", ".", ".", {"stat": "p50", "yAxis": "right", "label": "p50"}],
                    [".", "Errors", ".", ".", {"visible": False}],
                ],
                period=300,
            )
        ],
    )
    shown = render(board, store, [], period_scale=30, now=NOW)
    (chart,) = shown["widgets"]
    assert (chart["title"], chart["x"], chart["y"], chart["width"], chart["height"]) == ("OrderProcessor", 6, 12, 12, 6)
    assert (chart["period"], chart["templatePeriod"]) == (10, 300)
    invocations, duration = chart["series"]  # the hidden one is not drawn
    assert (invocations["label"], invocations["stat"], invocations["unit"], invocations["axis"]) == (
        "Invocations", "Sum", "Count", "left",
    )  # fmt: skip
    assert sum(value for _, value in invocations["points"]) == 4
    assert sorted(value for _, value in invocations["points"]) == [1, 1, 2]
    assert all(isinstance(at, int) and at <= NOW * 1000 for at, _ in invocations["points"])  # epoch ms
    assert (duration["label"], duration["unit"], duration["axis"]) == ("p50", "Milliseconds", "right")
    assert duration["dimensions"] == {"FunctionName": "OrderProcessor"}  # "." repeated the row above
    assert [value for _, value in duration["points"]] == [80.0]  # p50 of 80 and 120, nearest rank


def test_the_range_shown_is_three_hours_scaled_down() -> None:
    store = MetricStore()
    store.add("Orderflow", "OrdersStored", (), 1, at=NOW - 3 * 3600 / 30 - 1)  # just before the range
    store.add("Orderflow", "OrdersStored", (), 1, at=NOW - 3 * 3600 / 30 + 1)
    board = Dashboard("b", [widget([["Orderflow", "OrdersStored", {"stat": "Sum"}]])])
    (chart,) = render(board, store, [], period_scale=30, now=NOW)["widgets"]
    assert [value for _, value in chart["series"][0]["points"]] == [1]


def test_a_statistic_not_computed_locally_is_an_empty_series_that_says_so() -> None:
    store = MetricStore()
    store.add("Orderflow", "OrdersStored", (), 1, at=NOW - 1)
    board = Dashboard("b", [widget([["Orderflow", "OrdersStored", {"stat": "TM(10%:90%)"}]])])
    (chart,) = render(board, store, [], period_scale=30, now=NOW)["widgets"]
    assert chart["series"][0]["points"] == []
    assert "not computed locally" in chart["series"][0]["label"]


def test_an_alarm_annotation_draws_the_alarm_metric_and_its_threshold() -> None:
    alarm = AlarmSpec.from_properties(
        "DlqAlarm",
        {
            "AlarmName": "orderflow-DlqNotEmpty",
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": "OrderCreatedDLQ"}],
            "Statistic": "Maximum",
            "Period": 60,
            "EvaluationPeriods": 1,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        },
    )
    store = MetricStore()
    store.add("AWS/SQS", "ApproximateNumberOfMessagesVisible", alarm.dimensions, 3, at=NOW - 1, unit="Count")
    arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:orderflow-DlqNotEmpty"
    board = Dashboard(
        "b",
        [
            {"type": "metric", "properties": {"title": "DLQ", "annotations": {"alarms": [arn]}}},
            {"type": "alarm", "properties": {"title": "Alarms", "alarms": [arn]}},
            {"type": "text", "properties": {"markdown": "# <b>Runbook</b>"}},
            {"type": "log", "properties": {"query": "fields @message"}},
        ],
    )
    chart, alarms, text, log = render(board, store, [alarm], period_scale=30, now=NOW)["widgets"]
    assert chart["thresholds"] == [{"label": "orderflow-DlqNotEmpty", "value": 1.0}]
    assert chart["templatePeriod"] == 60
    assert chart["period"] == 2
    assert chart["series"][0]["metric"] == "AWS/SQS/ApproximateNumberOfMessagesVisible"
    assert [value for _, value in chart["series"][0]["points"]] == [3.0]
    assert alarms == {"type": "alarm", "title": "Alarms", "x": 0, "y": 0, "width": 0, "height": 0,
                      "alarms": ["orderflow-DlqNotEmpty"]}  # fmt: skip
    assert text["markdown"] == "# <b>Runbook</b>"  # as written: the page shows it as text
    assert log["type"] == "text"
    assert "log widget: not drawn locally" in log["markdown"]


@pytest.mark.parametrize("scale", [1, 30])
def test_a_widget_without_a_period_takes_cloudwatchs_default(scale: float) -> None:
    board = Dashboard("b", [widget([["Orderflow", "OrdersStored"]])])
    (chart,) = render(board, MetricStore(), [], period_scale=scale, now=NOW)["widgets"]
    assert chart["templatePeriod"] == 300
    assert chart["period"] == 300 / scale
    assert chart["series"][0]["stat"] == "Average"


def test_periods_start_on_multiples_of_the_period_and_an_annotation_keeps_the_widgets_own() -> None:
    store = MetricStore()
    for at in (NOW - 13.0, NOW - 7.5, NOW - 2.2):
        store.add("Orderflow", "OrdersStored", (), 1, at=at)
    arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:orderflow-X"
    alarm = AlarmSpec.from_properties(
        "X",
        {"AlarmName": "orderflow-X", "Namespace": "Orderflow", "MetricName": "OrdersStored", "Statistic": "Sum",
         "Period": 60, "Threshold": 5, "ComparisonOperator": "GreaterThanThreshold"},
    )  # fmt: skip
    board = Dashboard(
        "b", [widget([["Orderflow", "OrdersStored", {"stat": "Sum"}]], period=300, annotations={"alarms": [arn]})]
    )
    (chart,) = render(board, store, [alarm], period_scale=30, now=NOW)["widgets"]
    assert chart["templatePeriod"] == 300  # the widget's own, not the alarm's 60
    assert chart["thresholds"] == [{"label": "orderflow-X", "value": 5.0}]
    points = chart["series"][0]["points"]
    assert all(at % 10_000 == 0 for at, _ in points)  # aligned: the same buckets on every refresh
    assert sum(value for _, value in points) == 3
