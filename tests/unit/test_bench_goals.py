"""`orderflow bench` reports the goals that stand, each with what it means, computed from the run."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orderflow_cli import bench
from orderflow_local.tools.bench.throughput import PipelineResult


def _result(**changes: Any) -> PipelineResult:
    fields: dict[str, Any] = {
        "orders": 2000, "seconds": 10.0, "throughput": 220.0, "latency_p50": 1.0, "latency_p95": 2.0,
        "latency_p99": 3.0, "ceiling": 400.0, "ratio": 0.5, "client_threads": 4, "ceilings": {4: 400.0},
        "invocations": 200, "cold_starts": 2, "full_batch_ms_p50": 50.0, "ddb_latency_ms": 0.0,
        # 8 ms of CPU per order on 2 cores: the cores allow 250 orders/s
        "cpu_ms_per_order": {"runner": 2.0, "emulator": 3.0, "functions": 2.5, "producer": 0.5},
        "cores": 2, "cores_used": 1.6, "cpu_limit": 250.0,
        # a ceiling call costs 4 ms: an order costs 2 of them
        "ceiling_cpu_ms_per_call": {"client": 1.5, "emulator": 2.5},
    }  # fmt: skip
    fields.update(changes)
    return PipelineResult(**fields)


def test_the_pipeline_goals_are_computed_from_the_cpu_it_measured() -> None:
    cores, cpu = bench.pipeline_goals(_result())
    assert cores.met is True  # 220 of the 250 the cores allow: 0.88
    assert "0.88" in cores.text
    assert cpu.met is False  # 8 ms per order is 2.00 ceiling calls of 4 ms
    assert "2.00" in cpu.text
    assert "ceiling call is" in cpu.means


def test_the_pipeline_goals_are_met_when_the_run_meets_them() -> None:
    cores, cpu = bench.pipeline_goals(_result(throughput=240.0, cpu_ms_per_order={"functions": 5.0}, cpu_limit=400.0))
    assert cores.met is False  # 240 of 400: 0.60
    assert cpu.met is True  # 5 ms: 1.25 ceiling calls


def test_an_unmeasured_cpu_meets_no_goal() -> None:
    assert [goal.met for goal in bench.pipeline_goals(_result(cpu_limit=0.0, ceiling_cpu_ms_per_call={}))] == [
        False,
        False,
    ]


@pytest.mark.parametrize("as_json", [False, True])
def test_every_goal_is_printed_with_its_meaning(
    as_json: bool, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench, "RESULTS", tmp_path / "bench.json")
    result = _result()
    bench._emit("pipeline", result, as_json, [("orders", "2000")], bench.pipeline_goals(result))
    out = capsys.readouterr().out
    if as_json:
        goals = json.loads(out)["goals"]
        assert [goal["met"] for goal in goals] == [True, False]
        assert all(goal["means"] for goal in goals)
    else:
        assert "goal missed: CPU per order <= 1.5 ceiling calls (this run: 2.00)" in out
        assert "goal met: throughput >= 0.85 x what the cores allow" in out
        assert "a ceiling call is the CPU of one conditional PutItem" in out
    assert json.loads((tmp_path / "bench.json").read_text())["pipeline"]["orders"] == 2000
