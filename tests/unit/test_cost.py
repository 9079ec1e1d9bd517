"""The monthly cost model: each service's share responds to what drives it."""

from __future__ import annotations

import json
import re
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
        # the payment service: its queue's idle polls, the API key's secret and its cached reads
        + cost.IDLE_POLLS_PER_MONTH / 1e6 * cost.SQS_PER_MILLION_REQUESTS
        + cost.SECRET_PER_MONTH
        + cost.DEFAULT_ENVIRONMENTS
        * 30
        * 24
        * cost.SECRET_READS_PER_ENVIRONMENT_HOUR
        / 10_000
        * cost.SECRETS_PER_10K_CALLS
        # the notification service: its queue's idle polls
        + cost.IDLE_POLLS_PER_MONTH / 1e6 * cost.SQS_PER_MILLION_REQUESTS
    )
    assert idle.total == pytest.approx(floor, abs=0.01)


def test_the_counts_and_prices_are_the_templates_and_the_price_pages() -> None:
    # 18 alarms (us-east-1: $0.10 each a month): the order service's 6, the outbox's, the payment
    # service's 5, the notification service's 5 consumer alarms and EmailsUncertain
    assert cost.ALARMS == 18
    assert cost.ALARM_PER_MONTH == 0.10
    # the order service's 8 custom metrics, and the Notifier's 9 names and its ColdStart ($0.30 each)
    assert cost.CUSTOM_METRICS == 18
    assert cost.METRIC_PER_MONTH == 0.30
    # SES: $0.10 per 1,000 e-mails (https://aws.amazon.com/ses/pricing/); DynamoDB on demand:
    # $0.125 per million read units, $0.625 per million write units
    assert cost.SES_PER_THOUSAND_EMAILS == 0.10
    assert cost.DYNAMODB_PER_MILLION_RRU == 0.125
    assert cost.DYNAMODB_PER_MILLION_WRU == 0.625


def test_the_alarm_count_is_the_synthesized_templates() -> None:
    """ALARMS prices the template's alarms: as many as `make synth` writes (all topologies have the same)."""
    from orderflow_local.stack.synthesis import ensure_template

    template = json.loads(ensure_template().read_text())
    alarms = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert len(alarms) == cost.ALARMS


def test_each_order_is_e_mailed_about_once_and_each_cancellation_twice() -> None:
    orders = 1_000_000
    notified = cost.estimate(orders, batch_ms_at_256=60).notifications
    # 1.2 million e-mails: a confirmation per order, a cancellation and a refund note per cancelled one
    emails = orders * (1 + 2 * cost.CANCEL_SHARE)
    assert emails == 1_200_000
    ses = emails / 1000 * cost.SES_PER_THOUSAND_EMAILS
    assert ses == pytest.approx(120.0)
    # each event: two writes of the claim, two of Powertools' record, one read of the order
    dynamodb = emails * 4 / 1e6 * 0.625 + emails / 1e6 * 0.125
    assert dynamodb == pytest.approx(3.15)
    # EventBridge's sends to its queue, a receive and a delete per batch of 10, and the idle polls
    sqs = (emails + 2 * emails / 10 + cost.IDLE_POLLS_PER_MONTH) / 1e6 * 0.40
    # a batch of 10 for 400 ms at 256 MB, and Lambda's requests
    lambda_ = emails / 10 * 0.4 * 0.25 * cost.LAMBDA_ARM_PER_GB_SECOND + emails / 10 / 1e6 * 0.20
    logs = emails * cost.LOG_KB_PER_ORDER / 1024 / 1024 * 0.50
    assert notified == pytest.approx(ses + dynamodb + sqs + lambda_ + logs)
    assert 125 < notified < 126  # SES is most of it
    # and it scales with the orders, its idle polls apart
    idle = cost.IDLE_POLLS_PER_MONTH / 1e6 * cost.SQS_PER_MILLION_REQUESTS
    tenfold = cost.estimate(10 * orders, batch_ms_at_256=60).notifications
    assert tenfold - idle == pytest.approx(10 * (notified - idle))


def test_the_notifier_is_billed_at_the_chosen_batch_size_and_memory() -> None:
    base = cost.estimate(1_000_000, batch_ms_at_256=60)
    ones = cost.estimate(1_000_000, batch_size=1, batch_ms_at_256=60)
    bigger = cost.estimate(1_000_000, memory_mb=1024, batch_ms_at_256=60)
    assert ones.notifications > base.notifications  # ten times the invocations, receives and deletes
    assert bigger.notifications > base.notifications  # the same 400 ms, at four times the memory


def test_each_order_is_published_and_paid_for() -> None:
    small, large = cost.estimate(1_000_000, batch_ms_at_256=60), cost.estimate(10_000_000, batch_ms_at_256=60)
    # a confirmation (and a cancellation for some) through the pipe, then on the bus with the payment's events
    transitions = 1_000_000 * (1 + cost.CANCEL_SHARE)
    assert small.events >= transitions / 1e6 * cost.PIPES_PER_MILLION_REQUESTS + 2 * transitions / 1e6 * (
        cost.EVENTBRIDGE_PER_MILLION_EVENTS
    )
    assert large.events == pytest.approx(10 * small.events, rel=0.01)
    # the payment service writes its payment and Powertools' record for each event it takes
    assert small.payments >= transitions * cost.PAYMENT_WRITES_PER_EVENT / 1e6 * cost.DYNAMODB_PER_MILLION_WRU
    assert large.payments - small.payments > 8 * (small.payments - cost.SECRET_PER_MONTH - 0.1)
    assert small.total == pytest.approx(
        small.sqs
        + small.lambda_
        + small.dynamodb
        + small.cloudwatch
        + small.kms
        + small.events
        + small.payments
        + small.notifications
    )


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


def test_fifo_queues_cost_the_fifo_request_price() -> None:
    standard = cost.estimate(5_000_000, batch_ms_at_256=60)
    fifo = cost.estimate(5_000_000, batch_ms_at_256=60, fifo=True)
    assert fifo.sqs == pytest.approx(standard.sqs * cost.SQS_FIFO_PER_MILLION_REQUESTS / cost.SQS_PER_MILLION_REQUESTS)
    assert fifo.sns == standard.sns == 0
    assert fifo.total - standard.total == pytest.approx(fifo.sqs - standard.sqs)


def test_fanout_adds_a_publish_per_order_and_fifo_topics_bill_payload_and_deliveries() -> None:
    orders = 5_000_000
    fanout = cost.estimate(orders, batch_ms_at_256=60, fanout=True)
    assert fanout.sns == pytest.approx(orders / 1e6 * cost.SNS_PER_MILLION_PUBLISHES)
    both = cost.estimate(orders, batch_ms_at_256=60, fifo=True, fanout=True)
    publishes = orders / 1e6 * cost.SNS_FIFO_PER_MILLION_PUBLISHES
    assert both.sns > publishes  # payload and deliveries on top
    assert both.sns < publishes * 1.5
    # one delivery per publish: the order queue is the topic's one subscription (no notifications queue)
    gb = orders * cost.MESSAGE_KB / 1024 / 1024
    assert both.sns == pytest.approx(
        publishes
        + gb * cost.SNS_FIFO_PER_GB_PUBLISHED
        + orders / 1e6 * cost.SNS_FIFO_PER_MILLION_DELIVERIES
        + gb * cost.SNS_FIFO_PER_GB_DELIVERED
    )


@pytest.mark.parametrize(
    ("context", "name"),
    [
        ({}, "standard"),
        ({"fifo": "true"}, "fifo"),
        ({"fanout": "yes"}, "fanout"),
        ({"fifo": "1", "fanout": "on"}, "fifo-fanout"),
    ],
)
def test_the_topology_comes_from_the_same_context_as_the_stack(context: dict[str, str], name: str) -> None:
    assert cost.Topology.from_context(context).name == name


def test_a_topology_flag_that_is_not_a_boolean_is_refused() -> None:
    with pytest.raises(ValueError, match="use -c fanout=true or -c fanout=false"):
        cost.Topology.from_context({"fanout": "maybe"})


def test_init_is_billed_per_cold_start_as_duration() -> None:
    """Since 2025-08-01 Lambda bills the INIT phase: more environments or a slower init cost more."""
    base = cost.estimate(1_000_000, batch_ms_at_256=60, init_ms=400, environments=2)
    assert base.cold_starts == 2 * 30 * 24 / cost.ENVIRONMENT_LIFETIME_HOURS
    expected = base.cold_starts * 0.4 * 256 / 1024 * cost.LAMBDA_ARM_PER_GB_SECOND
    assert base.init == pytest.approx(expected)
    assert base.lambda_ > base.init > 0  # part of the Lambda line
    slower = cost.estimate(1_000_000, batch_ms_at_256=60, init_ms=800, environments=2)
    more = cost.estimate(1_000_000, batch_ms_at_256=60, init_ms=400, environments=20)
    assert slower.init == pytest.approx(2 * base.init)
    assert more.init == pytest.approx(10 * base.init)
    assert slower.lambda_ - base.lambda_ == pytest.approx(base.init)


def _usd(line: str) -> list[float]:
    return [float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*\.\d\d", line)]


def test_the_variants_table_bills_the_same_init_as_the_headline_once_bench_has_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`orderflow cost` with bench.json: the variant of the chosen batch size and memory is the headline."""
    from typer.testing import CliRunner

    from orderflow_cli.main import app

    # A slow INIT, measured (the default is 430 ms): its cost shows at two decimals.
    (tmp_path / ".orderflow").mkdir()
    measured = {"pipeline": {"full_batch_ms_p50": 42.5}, "cold-start": {"handler_ms": 30_000}}
    (tmp_path / ".orderflow" / "bench.json").write_text(json.dumps(measured))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, ["cost", "--orders-per-month", "1000000"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    [headline_lambda] = _usd(next(line for line in lines if "Lambda (arm64)" in line))
    [headline_total] = _usd(next(line for line in lines if re.search(r"\btotal\b.*\d", line)))
    [variant] = [line for line in lines if re.match(r"\W*10\W+256\W", line)]
    lambda_, _sqs, total = _usd(variant)
    assert "x 30000 ms" in result.output  # the headline bills the measured INIT
    assert (lambda_, total) == (headline_lambda, headline_total)
    chosen = cost.Measurements.load(tmp_path / ".orderflow" / "bench.json").estimate(1_000_000)
    assert chosen.init == pytest.approx(chosen.cold_starts * 30 * 256 / 1024 * cost.LAMBDA_ARM_PER_GB_SECOND)
    assert f"{chosen.lambda_:,.2f}" == f"{headline_lambda:,.2f}"


def test_every_variant_bills_init_at_its_memory() -> None:
    measured = cost.Measurements(60, "given", 1000, "given")
    for variant in measured.variants(1_000_000):
        assert variant.init == pytest.approx(
            variant.cold_starts * 1.0 * variant.memory_mb / 1024 * cost.LAMBDA_ARM_PER_GB_SECOND
        )
        assert variant.lambda_ > variant.init > 0


def test_the_command_shows_the_notification_service_in_its_total(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from orderflow_cli.main import app

    monkeypatch.chdir(tmp_path)  # no bench.json: the defaults
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, ["cost", "--orders-per-month", "1000000"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    [shown] = _usd(next(line for line in lines if "notification service (Lambda, SQS, DynamoDB, SES)" in line))
    chosen = cost.Measurements.load(tmp_path / "bench.json").estimate(1_000_000)
    assert f"{shown:,.2f}" == f"{chosen.notifications:,.2f}"
    assert "the Notifier's 400 ms (SES's)" in " ".join(result.output.split())
