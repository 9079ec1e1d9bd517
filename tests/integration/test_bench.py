"""The benchmarks run and report (their figures are recorded in docs/, not asserted here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(300)
ORDERFLOW = str(Path(sys.executable).parent / "orderflow")


def _bench(tmp_path: Path, *args: str) -> dict[str, object]:
    result = subprocess.run(
        [ORDERFLOW, "bench", *args, "--json"], capture_output=True, text=True, timeout=280, check=False, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_sqs_depth_bench_reports_ratios_to_an_empty_queue(tmp_path: Path) -> None:
    report = _bench(tmp_path, "sqs-depth", "--depths", "200")
    rows = report["sqs-depth"]["rows"]  # type: ignore[index]
    assert [row["depth"] for row in rows] == [10, 200]
    assert rows[0]["receive_ratio"] == 1.0
    assert (tmp_path / ".orderflow" / "bench.json").exists()


def test_batch_bench_reports_the_latency_cost_of_a_batch(tmp_path: Path) -> None:
    report = _bench(tmp_path, "batch", "--ddb-latency-ms", "5")
    batch = report["batch"]
    assert batch["ddb_latency_ms"] == 5  # type: ignore[index]
    # timings are noisy on a shared machine: only that each was measured (figures go to docs/)
    for field in ("batch_of_10_ms", "batch_of_10_no_latency_ms", "batch_of_1_ms"):
        assert batch[field] > 0  # type: ignore[index,operator]


def test_pipeline_bench_measures_throughput_against_the_ceiling(tmp_path: Path) -> None:
    report = _bench(tmp_path, "--orders", "60")
    pipeline = report["pipeline"]
    assert pipeline["orders"] == 60  # type: ignore[index]
    assert pipeline["ceiling"] > 0  # type: ignore[index,operator]
    assert pipeline["ratio"] > 0  # type: ignore[index,operator]
    # the ceiling is the best over 1, 2, 4 and 8 client threads, and says which won
    ceilings = {int(threads): rate for threads, rate in pipeline["ceilings"].items()}  # type: ignore[index,union-attr]
    assert sorted(ceilings) == [1, 2, 4, 8]
    assert pipeline["ceiling"] == max(ceilings.values())  # type: ignore[index]
    assert ceilings[pipeline["client_threads"]] == pipeline["ceiling"]  # type: ignore[index]
    # where the CPU went: each process's share per order, what the cores allow, the ceiling's per call
    cpu: dict[str, float] = pipeline["cpu_ms_per_order"]  # type: ignore[index,assignment]
    assert sorted(cpu) == ["emulator", "functions", "producer", "runner"]
    assert all(ms > 0 for ms in cpu.values()), cpu
    cores: int = pipeline["cores"]  # type: ignore[index,assignment]
    assert cores == len(os.sched_getaffinity(0))
    assert 0 < pipeline["cores_used"] <= cores * 1.1  # type: ignore[index,operator]
    assert pipeline["cpu_limit"] == pytest.approx(cores * 1000 / sum(cpu.values()))  # type: ignore[index]
    ceiling_cpu: dict[str, float] = pipeline["ceiling_cpu_ms_per_call"]  # type: ignore[index,assignment]
    assert sorted(ceiling_cpu) == ["client", "emulator"]
    assert all(ms > 0 for ms in ceiling_cpu.values()), ceiling_cpu
    # the goals that stand, each computed from this run's CPU and said with what it means
    goals: list[dict[str, object]] = report["goals"]  # type: ignore[assignment]
    calls = sum(cpu.values()) / sum(ceiling_cpu.values())
    share = pipeline["throughput"] / pipeline["cpu_limit"]  # type: ignore[index,operator]
    assert [goal["met"] for goal in goals] == [share >= 0.85, calls <= 1.5]
    assert f"this run: {calls:.2f}" in str(goals[1]["goal"])
    assert all(goal["means"] for goal in goals)


def test_emulator_bench_measures_ours_and_stock_moto_side_by_side(tmp_path: Path) -> None:
    report = _bench(tmp_path, "emulator", "--calls", "100", "--rounds", "1")
    result = report["emulator"]
    for label in ("ours", "stock"):
        rates = {int(threads): rate for threads, rate in result["rates"][label].items()}  # type: ignore[index]
        assert sorted(rates) == [1, 2, 4, 8]
        assert result[label] == max(rates.values())  # type: ignore[index]
        assert rates[result[f"{label}_threads"]] == result[label]  # type: ignore[index]
        assert result[f"{label}_cpu_ms"] > 0  # type: ignore[index,operator]
    assert result["ratio"] == pytest.approx(result["ours"] / result["stock"])  # type: ignore[index,operator]


def test_the_bench_writes_an_order_as_the_pipeline_stores_it() -> None:
    from boto3.dynamodb.types import TypeDeserializer

    from orderflow_local.tools.bench import stored_order

    deserializer = TypeDeserializer()
    item = {name: deserializer.deserialize(value) for name, value in stored_order().items()}
    assert item["status"] == "CONFIRMED"
    assert len(item["items"]) >= 2  # the generated order with the most line items
    assert item["itemCount"] == len(item["items"])
    assert item["totalAmount"] == sum(line["quantity"] * line["unitPrice"] for line in item["items"])
    assert {"shippingAddress", "processedAt", "sqsMessageId", "ttl", "currency"} <= set(item)
    assert not {"orderId", "createdAt"} & set(item)  # each request sets its own key


def test_the_emulator_bench_load_refuses_an_answer_that_is_not_200() -> None:
    from orderflow_local.emulator import Emulator
    from orderflow_local.tools.bench import replay, signed_put_items, stored_order

    with Emulator(port=0, own_process=True) as server:
        requests = signed_put_items(server.endpoint, "NoSuchTable", stored_order(), 3)
        with pytest.raises(RuntimeError, match=r"PutItem answered 400.*ResourceNotFoundException"):
            replay(server.port, requests, 1)


def test_cold_start_bench_measures_the_handler_with_and_without_bytecode(tmp_path: Path) -> None:
    report = _bench(tmp_path, "cold-start", "--samples", "3")
    cold = report["cold-start"]
    assert cold["samples"] == 3  # type: ignore[index]
    for field in ("bare_ms", "handler_ms", "no_bytecode_ms"):
        assert cold[field] > 0  # type: ignore[index,operator]


def test_handler_bench_measures_ours_and_the_bare_handler_side_by_side(tmp_path: Path) -> None:
    report = _bench(tmp_path, "handler", "--batches", "2", "--rounds", "2", "--profile", "5")
    result = report["handler"]
    assert result["ratio"] == pytest.approx(result["ours_us"] / result["bare_us"])  # type: ignore[index,operator]
    assert all(len(spent) == 2 for spent in result["rounds_us"].values())  # type: ignore[index,union-attr]
    assert len(result["profile"]) == 5  # type: ignore[index,arg-type]
    [goal] = report["goals"]  # type: ignore[misc]
    assert goal["met"] is (result["ratio"] <= 1.3)  # type: ignore[index,operator]


def test_workflow_bench_follows_orders_to_the_email_with_cpu_by_function_and_memory(tmp_path: Path) -> None:
    report = _bench(tmp_path, "workflow", "--orders", "20")
    workflow = report["workflow"]
    assert workflow["orders"] == 20  # type: ignore[index]
    assert 0 < workflow["latency_p50"] <= workflow["latency_p95"] <= workflow["latency_p99"]  # type: ignore[index,operator]
    assert workflow["throughput"] == pytest.approx(20 / workflow["seconds"])  # type: ignore[index,operator]
    # the batching windows on the way: the three consumers' mappings and the outbox pipe, from the template
    assert workflow["batching_seconds"] > 0  # type: ignore[index,operator]
    # CPU by process, and by function: every service took part
    cpu: dict[str, float] = workflow["cpu_ms_per_order"]  # type: ignore[index,assignment]
    assert {"runner", "emulator", "producer", "OrderProcessor", "PaymentProcessor", "Notifier"} <= set(cpu)
    assert all(cpu[name] > 0 for name in ("emulator", "OrderProcessor", "PaymentProcessor", "Notifier")), cpu
    cores: int = workflow["cores"]  # type: ignore[index,assignment]
    assert workflow["cpu_limit"] == pytest.approx(cores * 1000 / sum(cpu.values()))  # type: ignore[index]
    # memory, every function warm: each part measured, the total their sum
    rss: dict[str, float] = workflow["rss_mb"]  # type: ignore[index,assignment]
    assert all(rss[part] > 0 for part in ("runner", "emulator", "functions")), rss
    assert rss["total"] == pytest.approx(rss["runner"] + rss["emulator"] + rss["functions"])
    assert all(count >= 1 for count in workflow["environments"].values())  # type: ignore[index,union-attr]
    goals: list[dict[str, object]] = report["goals"]  # type: ignore[assignment]
    share = workflow["throughput"] / workflow["cpu_limit"]  # type: ignore[index,operator]
    assert [goal["met"] for goal in goals] == [share >= 0.85, rss["total"] <= 600]


def test_console_bench_measures_a_page_open_against_none(tmp_path: Path) -> None:
    report = _bench(tmp_path, "console", "--orders", "20", "--rounds", "1", "--idle-seconds", "2")
    measured = report["console"]
    assert measured["orders_per_batch"] == 20  # type: ignore[index]
    # one batch with no page and one with a page open: each measured, in the same run
    assert len(measured["throughput_without"]) == len(measured["throughput_with"]) == 1  # type: ignore[index,arg-type]
    assert all(rate > 0 for rate in measured["throughput_without"] + measured["throughput_with"])  # type: ignore[index,operator]
    assert all(ms > 0 for ms in measured["cpu_ms_without"] + measured["cpu_ms_with"])  # type: ignore[index,operator]
    assert measured["idle_cpu_without_page"] > 0
    assert measured["idle_cpu_with_page"] > 0
    assert measured["browser_cpu"] > 0  # type: ignore[index,operator]  # the page ran in a real browser
    assert len(measured["first_load_ms"]) == 5
    assert all(ms > 0 for ms in measured["first_load_ms"])
    goals: list[dict[str, object]] = report["goals"]  # type: ignore[assignment]
    assert [goal["goal"].split(" (")[0] for goal in goals] == [  # type: ignore[union-attr]
        "throughput with a page open >= 0.95 x without", "first load <= 1000 ms",
    ]  # fmt: skip
