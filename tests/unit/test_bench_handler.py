"""`orderflow bench handler`: it runs both handlers on one store double, its arithmetic is right, and
the bare handler really is the tutorial's (a conditional write, a partial batch response).

Timings are not asserted (the machine is shared): the figures go to docs/performance.md.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from orderflow import handler as ours
from orderflow.domain import models
from orderflow.domain.enrichment import confirm
from orderflow.domain.models import OrderCreated, reject_control_characters
from orderflow_cli import bench as bench_cli
from orderflow_cli.main import app
from orderflow_local.tools.bench import handler as bench
from tests.support import body, cancellation, seed_order

if TYPE_CHECKING:
    from pathlib import Path


def _event(*bodies: str) -> dict[str, Any]:
    return {"Records": [bench.record(text) for text in bodies]}


def _key(order: dict[str, Any]) -> tuple[str, str]:
    return (order["orderId"], order["createdAt"])


# The bare handler: the tutorial's, in Python


def test_the_bare_handler_stores_each_order_with_the_tutorials_enrichment() -> None:
    store = bench.StoreDouble()
    event = _event(body(seed_order()))
    assert bench.tutorial_handler(store)(event, None) == {"batchItemFailures": []}
    item = store.items[_key(seed_order())]
    assert item["status"] == {"S": "CONFIRMED"}
    assert item["itemCount"] == {"N": "1"}
    assert item["sqsMessageId"] == {"S": event["Records"][0]["messageId"]}
    assert item["totalAmount"] == {"N": "149.99"}  # exact: parsed as Decimal, as DynamoDB needs
    assert {"processedAt", "ttl", "shippingAddress", "items"} <= set(item)


def test_the_bare_handler_writes_a_duplicate_in_the_batch_once_and_does_not_report_it() -> None:
    store = bench.StoreDouble()
    same = body(seed_order())
    response = bench.tutorial_handler(store)(_event(same, same, body(seed_order(orderId="ORD-2"))), None)
    assert response == {"batchItemFailures": []}  # the duplicate is skipped, as the tutorial does
    assert store.writes == 3  # it was tried: the condition refused it
    assert len(store.items) == 2


def test_the_bare_handler_reports_a_failed_write_and_a_body_that_is_not_an_order() -> None:
    store = bench.StoreDouble()
    store.failing.add("ORD-THROTTLED")
    event = _event(body(seed_order(orderId="ORD-THROTTLED")), "not json", body(seed_order()))
    response = bench.tutorial_handler(store)(event, None)
    failed = [record["messageId"] for record in event["Records"][:2]]
    assert response == {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
    assert list(store.items) == [_key(seed_order())]  # the rest of the batch is stored


# The store double: DynamoDB's answers to the conditions our store adapter makes


def test_the_store_double_refuses_a_put_of_a_stored_key_with_the_stored_item() -> None:
    store = bench.StoreDouble()
    item = {"orderId": {"S": "ORD-1"}, "createdAt": {"S": "2026-04-20T14:30:00Z"}, "status": {"S": "CONFIRMED"}}
    condition = "attribute_not_exists(orderId)"
    store.put_item(TableName="Orders", Item=item, ConditionExpression=condition)
    with pytest.raises(ClientError) as refused:
        store.put_item(
            TableName="Orders",
            Item={**item, "status": {"S": "OTHER"}},
            ConditionExpression=condition,
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert refused.value.response["Item"] == item  # type: ignore[typeddict-item]
    with pytest.raises(NotImplementedError):  # a condition it does not model is not silently accepted
        store.put_item(TableName="Orders", Item=item, ConditionExpression="attribute_exists(orderId)")


def test_our_handler_cancels_an_order_through_the_store_doubles_conditional_update() -> None:
    order = seed_order()
    with bench.sides() as both:
        both.ours(_event(body(order)), bench.LambdaContext())
        response = both.ours(_event(json.dumps(cancellation(order))), bench.LambdaContext())
        stored = both.store.items[_key(order)]
    assert response == {"batchItemFailures": []}
    assert stored["status"] == {"S": "CANCELLED"}
    assert stored["cancellationReason"] == {"S": "Customer changed their mind"}
    assert stored["customerId"] == {"S": "CUST-42"}  # the update kept the order


def test_our_handler_retries_a_throttled_write_on_the_store_double() -> None:
    with bench.sides() as both:
        both.store.failing.add("ORD-THROTTLED")
        event = _event(body(seed_order(orderId="ORD-THROTTLED")), body(seed_order()))
        response = both.ours(event, bench.LambdaContext())
        postponed = both.queue.postponed
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert [call["ReceiptHandle"] for call in postponed] == [event["Records"][0]["receiptHandle"]]


# The bench


def test_the_bench_measures_every_side_and_its_ratio_is_ours_over_bare(capsys: pytest.CaptureFixture[str]) -> None:
    result = bench.handler_cost(batches_per_round=2, rounds=3)
    assert sorted(result.rounds_us) == ["bare", "ours", "ours_fifo"]
    assert all(len(spent) == 3 and min(spent) > 0 for spent in result.rounds_us.values())
    assert result.ours_us == min(result.rounds_us["ours"])
    assert result.bare_us == min(result.rounds_us["bare"])
    assert result.ours_fifo_us == min(result.rounds_us["ours_fifo"])
    assert result.ratio == pytest.approx(result.ours_us / result.bare_us)
    assert result.median_us("ours") == sorted(result.rounds_us["ours"])[1]
    # Both sides logged, into the sink: ours a JSON line per record and its metrics, bare two lines
    assert result.stdout_bytes["ours"] > result.stdout_bytes["bare"] > 0
    assert capsys.readouterr().out == ""  # nothing reached the real stdout


def test_the_bench_leaves_the_environment_and_the_handler_as_it_found_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_DEV", "true")  # a developer's shell: Lambda sets no such thing
    monkeypatch.delenv("TABLE_NAME", raising=False)
    before = dict(os.environ)
    runtime, stream, level = ours._runtime, ours.logger.registered_handler.stream, ours.logger.log_level  # type: ignore[attr-defined]
    with bench.sides():
        assert os.environ["TABLE_NAME"] == "Orders"
        assert os.environ["POWERTOOLS_SERVICE_NAME"] == "order-processor"
        assert "POWERTOOLS_DEV" not in os.environ
        assert ours._runtime is not runtime
    assert dict(os.environ) == before
    assert (ours._runtime, ours.logger.registered_handler.stream, ours.logger.log_level) == (runtime, stream, level)  # type: ignore[attr-defined]


def test_cpu_per_record_is_the_clocks_difference_over_the_records() -> None:
    ticks = iter([10.0, 12.0])
    events = [_event(*[body(seed_order(orderId=f"ORD-{n}-{i}")) for i in range(10)]) for n in range(4)]
    spent = bench.cpu_per_record(bench.tutorial_handler(bench.StoreDouble()), events, clock=lambda: next(ticks))
    assert spent == pytest.approx(2.0 / 40)


def test_the_bench_refuses_a_run_where_a_record_failed_or_was_not_written_once() -> None:
    store = bench.StoreDouble()
    store.failing.add("ORD-THROTTLED")
    with pytest.raises(RuntimeError, match="1 record"):
        bench.run_batches(bench.tutorial_handler(store), [_event(body(seed_order(orderId="ORD-THROTTLED")))])
    same = body(seed_order())
    events = [_event(same, same)]
    bench.run_batches(bench.tutorial_handler(store), events)  # the duplicate is skipped: no failure
    with pytest.raises(RuntimeError, match="holds 1 orders after 3 writes, not 2"):
        bench._check_stored(store, events, store.writes)


def test_the_batches_are_new_orders_each_run_and_fifo_ones_carry_their_group() -> None:
    first, second = bench.batches(2, run="a"), bench.batches(2, run="b")
    assert [len(event["Records"]) for event in first] == [10, 10]
    ids = [{json.loads(r["body"])["orderId"] for e in run for r in e["Records"]} for run in (first, second)]
    assert len(ids[0]) == 20
    assert not ids[0] & ids[1]
    [fifo] = bench.batches(1, run="c", fifo=True)
    record = fifo["Records"][0]
    assert record["eventSourceARN"].endswith(".fifo")
    assert record["attributes"]["MessageGroupId"] == json.loads(record["body"])["orderId"]


def test_the_profile_covers_the_pool_threads_and_ranks_by_own_cpu() -> None:
    with bench.sides() as both:
        rows = bench.profile_ours(both.ours, bench.batches(2, run="profile"), top=200)
    assert [row.own_us for row in rows] == sorted((row.own_us for row in rows), reverse=True)
    assert 0 < sum(row.share for row in rows) <= 1.0001
    record_handler = next(row for row in rows if row.function.endswith("(_record_handler)"))
    assert record_handler.calls == 1  # each record, on its pool thread, was profiled once


def test_the_command_prints_the_goal_with_its_meaning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_cli, "RESULTS", tmp_path / "bench.json")
    result = CliRunner().invoke(
        app, ["bench", "handler", "--batches", "1", "--rounds", "1", "--json"], prog_name="orderflow"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    ratio = report["handler"]["ratio"]
    [goal] = report["goals"]
    assert goal["goal"] == f"CPU per record <= 1.3 x the bare handler's (this run: {ratio:.2f})"
    assert goal["met"] is (ratio <= 1.3)
    assert "same store double" in goal["means"]
    assert json.loads((tmp_path / "bench.json").read_text())["handler"]["ratio"] == ratio


# What the profile led to change in the domain (the same results, less CPU per order)


def test_a_confirmed_order_does_not_validate_its_order_again(monkeypatch: pytest.MonkeyPatch) -> None:
    order = OrderCreated.model_validate(seed_order())
    checked: list[object] = []

    def counted(value: object) -> int:
        checked.append(value)
        return 0

    monkeypatch.setattr(models, "_decimal_places", counted)
    item = confirm(order, sqs_message_id="m-1", now=datetime(2026, 4, 20, 14, 30, 1, tzinfo=UTC)).to_item()
    assert checked == []  # OrderCreated's model validator ran once, when the order arrived
    assert item["orderId"] == order.order_id
    assert item["status"] == "CONFIRMED"


@pytest.mark.parametrize("code", range(128))
def test_printable_ascii_takes_the_short_way_with_the_same_answer(code: int) -> None:
    value = f"A{chr(code)}B"
    if chr(code).isprintable():
        assert reject_control_characters(value) == value
    else:  # the ASCII control characters, each named
        with pytest.raises(ValueError, match=f"U\\+{code:04X}"):
            reject_control_characters(value)


def test_the_bench_command_has_help() -> None:
    result = CliRunner().invoke(app, ["bench", "handler", "--help"], prog_name="orderflow", env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "tutorial" in result.stdout
