"""The monthly cost model: each service's share responds to what drives it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from orderflow_cli import cost

if TYPE_CHECKING:
    from pathlib import Path


def test_an_idle_pipeline_costs_its_fixed_floor() -> None:
    idle = cost.estimate(1, batch_ms_at_256=60)
    floor = (
        cost.KMS_KEY_PER_MONTH
        + cost.DASHBOARD_PER_MONTH
        + cost.ALARMS * cost.ALARM_PER_MONTH
        + cost.CUSTOM_METRICS * cost.METRIC_PER_MONTH
        + cost.IDLE_POLLS_PER_MONTH / 1e6 * cost.SQS_PER_MILLION_REQUESTS
    )
    assert idle.total == pytest.approx(floor, abs=0.01)


def test_writes_scale_with_orders() -> None:
    small, large = cost.estimate(1_000_000, batch_ms_at_256=60), cost.estimate(10_000_000, batch_ms_at_256=60)
    assert large.dynamodb > 9 * small.dynamodb
    assert small.dynamodb >= 1_000_000 / 1e6 * cost.DYNAMODB_PER_MILLION_WRU


def test_batching_cuts_lambda_and_sqs_costs() -> None:
    one, ten = (cost.estimate(5_000_000, batch_size=size, batch_ms_at_256=60) for size in (1, 10))
    assert ten.lambda_ < one.lambda_ / 5
    assert ten.sqs < one.sqs


def test_more_memory_costs_more_for_an_io_bound_batch() -> None:
    small, big = (cost.estimate(5_000_000, memory_mb=memory, batch_ms_at_256=60) for memory in (256, 1024))
    assert big.lambda_ > small.lambda_
    assert big.batch_ms < small.batch_ms  # its CPU part runs faster


def test_the_batch_duration_comes_from_the_benchmark_when_it_has_run(tmp_path: Path) -> None:
    results = tmp_path / "bench.json"
    assert cost.measured_batch_ms(results)[0] == cost.DEFAULT_BATCH_MS
    results.write_text(json.dumps({"pipeline": {"full_batch_ms_p50": 42.5}}))
    assert cost.measured_batch_ms(results)[0] == 42.5
