"""One EMF parser, reading every directive of a line, as CloudWatch does: the alarms and the environments agree."""

from __future__ import annotations

import json

from orderflow_local.cloudwatch.emf import parse_emf
from orderflow_local.cloudwatch.metrics import MetricStore, dimensions_of, record_emf
from orderflow_local.lambda_runtime.runtime import _OutputSink

#: Two directives in one line (the specification allows several): each metric is read once.
TWO_DIRECTIVES = json.dumps(
    {
        "_aws": {
            "Timestamp": 1_000_000,
            "CloudWatchMetrics": [
                {"Namespace": "Orderflow", "Dimensions": [["service"]], "Metrics": [{"Name": "OrdersStored"}]},
                {
                    "Namespace": "Orderflow",
                    "Dimensions": [["service", "reason"]],
                    "Metrics": [{"Name": "OrdersRejectedByReason", "Unit": "Count"}],
                },
            ],
        },
        "service": "order-processor",
        "reason": "INVALID_AMOUNT",
        "OrdersStored": [1, 1],
        "OrdersRejectedByReason": 1,
    },
    separators=(",", ":"),
)


def test_every_directive_of_a_line_is_read() -> None:
    metrics = parse_emf(TWO_DIRECTIVES)
    assert [(metric.name, metric.values, metric.dimension_sets) for metric in metrics] == [
        ("OrdersStored", (1, 1), ((("service", "order-processor"),),)),
        ("OrdersRejectedByReason", (1,), ((("service", "order-processor"), ("reason", "INVALID_AMOUNT")),)),
    ]
    assert {metric.at for metric in metrics} == {1000.0}


def test_the_alarms_and_the_environments_count_both_directives() -> None:
    store = MetricStore()
    record_emf(store, TWO_DIRECTIVES, at=0)
    by_reason = dimensions_of({"service": "order-processor", "reason": "INVALID_AMOUNT"})
    assert store.values("Orderflow", "OrdersStored", dimensions_of({"service": "order-processor"}), 0, 2000) == [
        1.0,
        1.0,
    ]
    assert store.values("Orderflow", "OrdersRejectedByReason", by_reason, 0, 2000) == [1.0]

    sink = _OutputSink(log_path=None)
    sink.write(TWO_DIRECTIVES + "\n")
    assert sink.take_metrics() == {"OrdersStored": 2, "OrdersRejectedByReason[INVALID_AMOUNT]": 1}


def test_a_line_that_is_not_emf_has_no_metrics() -> None:
    assert parse_emf('{"_aws": {"CloudWatchMetrics": "none"}}') == []
    assert parse_emf('{"_aws": {"CloudWatchMetrics": [7, {"Metrics": [{"Unit": "Count"}]}]}}') == []
    assert parse_emf("not json") == []
