"""`orderflow cost`: what a month of orders costs on AWS, from measured durations and list prices.

List prices, us-east-1, as recorded by the team on 2026-11-26 (check the AWS pricing pages
before budgeting; free tiers are ignored).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from orderflow_cli.common import ContextOption, console, fail, parse_context

PRICES_AS_OF = "2026-11-26"
SQS_PER_MILLION_REQUESTS = 0.40
SQS_FIFO_PER_MILLION_REQUESTS = 0.50
#: SNS standard topics: publishes; deliveries to SQS queues are free (https://aws.amazon.com/sns/pricing/).
SNS_PER_MILLION_PUBLISHES = 0.50
#: SNS FIFO topics: publishes and their payload, deliveries and theirs.
SNS_FIFO_PER_MILLION_PUBLISHES = 0.30
SNS_FIFO_PER_GB_PUBLISHED = 0.017
SNS_FIFO_PER_MILLION_DELIVERIES = 0.01
SNS_FIFO_PER_GB_DELIVERED = 0.001
LAMBDA_ARM_PER_GB_SECOND = 0.0000133334
LAMBDA_PER_MILLION_REQUESTS = 0.20
DYNAMODB_PER_MILLION_WRU = 0.625
DYNAMODB_STORAGE_PER_GB_MONTH = 0.25
DYNAMODB_PITR_PER_GB_MONTH = 0.20
LOGS_PER_GB_INGESTED = 0.50
METRIC_PER_MONTH = 0.30
ALARM_PER_MONTH = 0.10
DASHBOARD_PER_MONTH = 3.00
KMS_KEY_PER_MONTH = 1.00
#: EventBridge custom events put on a bus, each 64 KB chunk one event (the outbox's and the payment
#: service's); Pipes requests after filtering; the archive, per GB processed and per GB-month kept.
#: https://aws.amazon.com/eventbridge/pricing/
EVENTBRIDGE_PER_MILLION_EVENTS = 1.00
PIPES_PER_MILLION_REQUESTS = 0.40
ARCHIVE_PER_GB_PROCESSED = 0.10
ARCHIVE_STORAGE_PER_GB_MONTH = 0.023
#: Secrets Manager: the provider's API key, and the reads the function's 5-minute cache lets through.
#: https://aws.amazon.com/secrets-manager/pricing/
SECRET_PER_MONTH = 0.40
SECRETS_PER_10K_CALLS = 0.05
SECRET_READS_PER_ENVIRONMENT_HOUR = 12
#: SES: e-mail sent (the Notifier's; no attachments, so no per-GB charge).
#: https://aws.amazon.com/ses/pricing/
SES_PER_THOUSAND_EMAILS = 0.10
#: DynamoDB on-demand reads (the Notifier's consistent GetItem of an order under 4 KB: one RRU).
#: https://aws.amazon.com/dynamodb/pricing/on-demand/
DYNAMODB_PER_MILLION_RRU = 0.125

ITEM_KB = 0.6  # a stored order, measured on the seed's order
MESSAGE_KB = 0.5  # an order event as sent
#: Share of orders cancelled: each is refunded, and e-mailed about twice (the cancellation, the refund).
CANCEL_SHARE = 0.1
LOG_KB_PER_ORDER = 1.5  # one JSON log line per record plus EMF lines per invocation
#: Custom metrics, one per name and dimension set: the order service's 8 (as counted when this model
#: was written: OrdersStored, DuplicatesSkipped, OrdersRejected, TransientFailures, ColdStart, and
#: OrdersRejectedByReason for 3 reasons), and the Notifier's 10 (its 9: EmailsSent,
#: DuplicateEmailsSkipped, EmailsUncertain, EmailsWithoutAddress, NotificationEventsRejected,
#: TransientFailures, DuplicateEventsDropped, NotificationEventsInProgress, EmailServiceErrors; and
#: ColdStart).
CUSTOM_METRICS = 8 + 10
#: The template's alarms: the order service's 6, the outbox's 1, the payment service's 5, the
#: notification service's 6 (its consumer's 5 and EmailsUncertain).
ALARMS = 18
#: An order event or a payment event on the bus (a detail of about 400 bytes, and EventBridge's envelope).
EVENT_KB = 1.0
#: A batch of payment events: the provider's answers, which the records of a batch wait for at once.
#: An assumption (the provider's latency, not our code, sets it), shown as such.
PAYMENT_BATCH_MS = 500.0
#: DynamoDB writes per payment event: Powertools' record (put, then completed) and the payment's
#: conditional writes (CHARGING then CAPTURED; REFUNDING then REFUNDED).
PAYMENT_WRITES_PER_EVENT = 4
#: A batch of the Notifier's events: SES's answers, which the records of a batch wait for at once.
#: An assumption (SES's latency, not our code, sets it), shown as such.
NOTIFIER_BATCH_MS = 400.0
#: DynamoDB writes per event the Notifier e-mails about: Powertools' record (put, then completed) and
#: the e-mail's claim in Notifications (put, then marked sent); and one read, the order's.
NOTIFIER_WRITES_PER_EVENT = 4
NOTIFIER_READS_PER_EVENT = 1
#: The event source mapping's pollers long-poll even when idle: ~5 pollers x 3 polls a minute.
IDLE_POLLS_PER_MONTH = 5 * 3 * 60 * 24 * 30
RETENTION_MONTHS = 3  # TTL deletes orders after 90 days
DEFAULT_BATCH_MS = 60.0
#: The INIT phase (a cold start) is billed as duration since 2025-08-01. Measured by
#: `orderflow bench cold-start` (the handler's import and clients, with bytecode).
DEFAULT_INIT_MS = 430.0
#: How long an execution environment lives before Lambda replaces it. AWS does not publish
#: it; hours is what is commonly observed for a busy function. An assumption, shown as such.
ENVIRONMENT_LIFETIME_HOURS = 2.0
#: Environments kept busy: the dev stage's MaximumConcurrency (prod's is 20).
DEFAULT_ENVIRONMENTS = 2
CPU_SHARE = 0.5  # share of a batch's time that is CPU (scales with memory); the rest is waiting
#: Where `orderflow bench` records what it measured.
BENCH_RESULTS = Path(".orderflow/bench.json")
#: The variants `orderflow cost` compares with the chosen batch size and memory.
VARIANT_BATCH_SIZES = (1, 10, 100)
VARIANT_MEMORY_MB = (128, 256, 512, 1024)


@dataclass(frozen=True)
class Topology:
    """The stack options that change the bill (the same -c flags infra/config.py reads)."""

    fifo: bool = False
    fanout: bool = False

    @classmethod
    def from_context(cls, context: dict[str, str]) -> Topology:
        return cls(fifo=_flag(context, "fifo"), fanout=_flag(context, "fanout"))

    @property
    def name(self) -> str:
        return "-".join(part for part, on in (("fifo", self.fifo), ("fanout", self.fanout)) if on) or "standard"


def _flag(context: dict[str, str], name: str) -> bool:
    value = context.get(name, "false").strip().lower()
    if value in {"true", "1", "yes", "on"}:
        return True
    if value in {"false", "0", "no", "off", ""}:
        return False
    raise ValueError(f"-c {name}={context[name]} is not a boolean: use -c {name}=true or -c {name}=false")


@dataclass(frozen=True)
class Estimate:
    orders: int
    batch_size: int
    memory_mb: int
    batch_ms: float
    sqs: float
    lambda_: float
    dynamodb: float
    cloudwatch: float
    kms: float
    sns: float = 0.0
    #: The outbox's pipe, the events on the order events bus (the order service's and the payment
    #: service's) and its archive.
    events: float = 0.0
    #: The payment service: its function, queue, tables and secret (the provider's own fees are not AWS's).
    payments: float = 0.0
    #: The notification service: its function, queue, tables and the e-mail SES sends.
    notifications: float = 0.0
    #: Of ``lambda_``: the INIT phases (cold starts), billed as duration.
    init: float = 0.0
    cold_starts: int = 0

    @property
    def total(self) -> float:
        return (
            self.sqs
            + self.lambda_
            + self.dynamodb
            + self.cloudwatch
            + self.kms
            + self.sns
            + self.events
            + self.payments
            + self.notifications
        )


def measured_init_ms(results: Path = BENCH_RESULTS) -> tuple[float, str]:
    """A cold start's INIT: the handler's import and clients, from `orderflow bench cold-start` when it has run."""
    if results.exists():
        cold = json.loads(results.read_text()).get("cold-start", {})
        if cold.get("handler_ms"):
            return float(cold["handler_ms"]), f"measured by `orderflow bench cold-start` ({results})"
    return DEFAULT_INIT_MS, "default, measured here (run `orderflow bench cold-start` to measure it)"


def measured_batch_ms(results: Path = BENCH_RESULTS) -> tuple[float, str]:
    """A full batch's duration at 256 MB: from `orderflow bench` when it has run, else a default."""
    if results.exists():
        pipeline = json.loads(results.read_text()).get("pipeline", {})
        if pipeline.get("full_batch_ms_p50"):
            return float(pipeline["full_batch_ms_p50"]), f"measured by `orderflow bench` ({results})"
    return DEFAULT_BATCH_MS, "default (run `orderflow bench` to measure it)"


@dataclass(frozen=True)
class Measurements:
    """The durations every estimate of one `orderflow cost` run shares: a batch's and INIT's.

    Both come from `orderflow bench` when it has run (else defaults). The headline and the
    variants are computed through :meth:`estimate`, so they bill the same INIT: since
    2025-08-01 Lambda bills it as duration, whatever the batch size or memory.
    """

    batch_ms_at_256: float
    batch_source: str
    init_ms: float
    init_source: str

    @classmethod
    def load(cls, results: Path = BENCH_RESULTS) -> Measurements:
        batch_ms, batch_source = measured_batch_ms(results)
        init_ms, init_source = measured_init_ms(results)
        return cls(batch_ms, batch_source, init_ms, init_source)

    def estimate(
        self, orders: int, *, batch_size: int = 10, memory_mb: int = 256, topology: Topology | None = None
    ) -> Estimate:
        shape = topology or Topology()
        return estimate(
            orders,
            batch_size=batch_size,
            memory_mb=memory_mb,
            batch_ms_at_256=self.batch_ms_at_256,
            init_ms=self.init_ms,
            fifo=shape.fifo,
            fanout=shape.fanout,
        )

    def variants(self, orders: int, topology: Topology | None = None) -> list[Estimate]:
        """How batch size and memory change the bill: each of the variants, on the same measurements."""
        return [
            self.estimate(orders, batch_size=size, memory_mb=memory, topology=topology)
            for size in VARIANT_BATCH_SIZES
            for memory in VARIANT_MEMORY_MB
        ]


def estimate(
    orders: int,
    *,
    batch_size: int = 10,
    memory_mb: int = 256,
    batch_ms_at_256: float,
    fifo: bool = False,
    fanout: bool = False,
    init_ms: float = DEFAULT_INIT_MS,
    environments: int = DEFAULT_ENVIRONMENTS,
) -> Estimate:
    """A month of ``orders`` on the stack's topology (``fifo``, ``fanout``: the stack options)."""
    # A batch's CPU part runs faster with more memory (Lambda allots CPU with it); its wait does not.
    per_record_at_256 = batch_ms_at_256 / 10
    cpu_ms = per_record_at_256 * batch_size * CPU_SHARE * (256 / memory_mb)
    wait_ms = per_record_at_256 * 10 * (1 - CPU_SHARE)  # the writes of a batch overlap: one wait
    batch_ms = cpu_ms + wait_ms
    invocations = math.ceil(orders / batch_size)
    calls_per_batch = math.ceil(batch_size / 10)  # ReceiveMessage and DeleteMessageBatch take at most 10
    # With fan-out SNS sends to the queue (an SQS request, as a producer's send is).
    sqs_requests = orders + 2 * calls_per_batch * invocations + IDLE_POLLS_PER_MONTH
    sqs_price = SQS_FIFO_PER_MILLION_REQUESTS if fifo else SQS_PER_MILLION_REQUESTS
    gb_seconds = invocations * math.ceil(batch_ms) / 1000 * memory_mb / 1024
    cold_starts = math.ceil(environments * 30 * 24 / ENVIRONMENT_LIFETIME_HOURS) if orders else 0
    init = cold_starts * math.ceil(init_ms) / 1000 * memory_mb / 1024 * LAMBDA_ARM_PER_GB_SECOND
    stored_gb = orders * RETENTION_MONTHS * ITEM_KB / 1024 / 1024
    return Estimate(
        orders=orders,
        batch_size=batch_size,
        memory_mb=memory_mb,
        batch_ms=batch_ms,
        sqs=sqs_requests / 1e6 * sqs_price,
        lambda_=gb_seconds * LAMBDA_ARM_PER_GB_SECOND + invocations / 1e6 * LAMBDA_PER_MILLION_REQUESTS + init,
        dynamodb=orders / 1e6 * DYNAMODB_PER_MILLION_WRU
        + stored_gb * (DYNAMODB_STORAGE_PER_GB_MONTH + DYNAMODB_PITR_PER_GB_MONTH),
        cloudwatch=orders * LOG_KB_PER_ORDER / 1024 / 1024 * LOGS_PER_GB_INGESTED
        + CUSTOM_METRICS * METRIC_PER_MONTH
        + ALARMS * ALARM_PER_MONTH
        + DASHBOARD_PER_MONTH,
        kms=KMS_KEY_PER_MONTH,
        sns=_sns(orders, fifo=fifo) if fanout else 0.0,
        events=_events(orders),
        payments=_payments(orders, batch_size=batch_size, memory_mb=memory_mb, environments=environments),
        notifications=_notifications(orders, batch_size=batch_size, memory_mb=memory_mb),
        init=init,
        cold_starts=cold_starts,
    )


def _events(orders: int) -> float:
    """The outbox and the bus: one stored transition per order (and per cancellation) through the pipe, and
    on the bus those and the payment service's (a capture per order, a refund per cancellation), archived."""
    transitions = orders * (1 + CANCEL_SHARE)
    published = 2 * transitions
    gb = published * EVENT_KB / 1024 / 1024
    return (
        transitions / 1e6 * PIPES_PER_MILLION_REQUESTS
        + published / 1e6 * EVENTBRIDGE_PER_MILLION_EVENTS
        + gb * ARCHIVE_PER_GB_PROCESSED
        + gb * RETENTION_MONTHS * ARCHIVE_STORAGE_PER_GB_MONTH
    )


def _payments(orders: int, *, batch_size: int, memory_mb: int, environments: int) -> float:
    """The payment service: the order events it takes (a confirmation per order, a cancellation per
    cancelled one), in batches like the order service's, each writing its records and Powertools'."""
    handled = orders * (1 + CANCEL_SHARE)
    invocations = math.ceil(handled / batch_size) if handled else 0
    calls_per_batch = math.ceil(batch_size / 10)
    # EventBridge's sends to the queue, then the mapping's receives and deletes, and its idle polls
    sqs_requests = handled + 2 * calls_per_batch * invocations + IDLE_POLLS_PER_MONTH
    gb_seconds = invocations * math.ceil(PAYMENT_BATCH_MS) / 1000 * memory_mb / 1024
    secret_reads = environments * 30 * 24 * SECRET_READS_PER_ENVIRONMENT_HOUR if orders else 0
    return (
        sqs_requests / 1e6 * SQS_PER_MILLION_REQUESTS
        + gb_seconds * LAMBDA_ARM_PER_GB_SECOND
        + invocations / 1e6 * LAMBDA_PER_MILLION_REQUESTS
        + handled * PAYMENT_WRITES_PER_EVENT / 1e6 * DYNAMODB_PER_MILLION_WRU
        + handled * LOG_KB_PER_ORDER / 1024 / 1024 * LOGS_PER_GB_INGESTED
        + SECRET_PER_MONTH
        + secret_reads / 10_000 * SECRETS_PER_10K_CALLS
    )


def _notifications(orders: int, *, batch_size: int, memory_mb: int) -> float:
    """The notification service: the events it takes from the bus (a PaymentCaptured per order; an
    OrderCancelled and a PaymentRefunded per cancelled one), in batches like the payment service's,
    each read, written (its claim and Powertools' record) and e-mailed once. Every order is assumed to
    have a customerEmail: an upper bound (one without is read, not e-mailed)."""
    handled = orders * (1 + 2 * CANCEL_SHARE)
    invocations = math.ceil(handled / batch_size) if handled else 0
    calls_per_batch = math.ceil(batch_size / 10)
    # EventBridge's sends to the queue, then the mapping's receives and deletes, and its idle polls
    sqs_requests = handled + 2 * calls_per_batch * invocations + IDLE_POLLS_PER_MONTH
    gb_seconds = invocations * math.ceil(NOTIFIER_BATCH_MS) / 1000 * memory_mb / 1024
    return (
        sqs_requests / 1e6 * SQS_PER_MILLION_REQUESTS
        + gb_seconds * LAMBDA_ARM_PER_GB_SECOND
        + invocations / 1e6 * LAMBDA_PER_MILLION_REQUESTS
        + handled * NOTIFIER_WRITES_PER_EVENT / 1e6 * DYNAMODB_PER_MILLION_WRU
        + handled * NOTIFIER_READS_PER_EVENT / 1e6 * DYNAMODB_PER_MILLION_RRU
        + handled * LOG_KB_PER_ORDER / 1024 / 1024 * LOGS_PER_GB_INGESTED
        + handled / 1000 * SES_PER_THOUSAND_EMAILS
    )


def _sns(orders: int, *, fifo: bool) -> float:
    if not fifo:
        return orders / 1e6 * SNS_PER_MILLION_PUBLISHES
    deliveries = orders  # to the topic's one subscription, the order queue
    gb = MESSAGE_KB / 1024 / 1024
    return (
        orders / 1e6 * SNS_FIFO_PER_MILLION_PUBLISHES
        + orders * gb * SNS_FIFO_PER_GB_PUBLISHED
        + deliveries / 1e6 * SNS_FIFO_PER_MILLION_DELIVERIES
        + deliveries * gb * SNS_FIFO_PER_GB_DELIVERED
    )


def cost_command(
    orders_per_month: Annotated[int, typer.Option(min=1, help="Orders a month.")] = 1_000_000,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="The mapping's BatchSize.")] = 10,
    memory_mb: Annotated[int, typer.Option(min=128, max=10_240, help="The function's memory.")] = 256,
    context: ContextOption = None,
) -> None:
    """What a month costs on AWS, and how batch size and memory change it.

    With -c fifo=true and/or -c fanout=true, for that topology of the stack (SQS FIFO, SNS).
    """
    try:
        topology = Topology.from_context(parse_context(context))
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    measured = Measurements.load()
    chosen = measured.estimate(orders_per_month, batch_size=batch_size, memory_mb=memory_mb, topology=topology)
    table = Table(
        title=f"{orders_per_month:,} orders a month, {topology.name} topology (us-east-1 list prices of {PRICES_AS_OF})"
    )
    table.add_column("service")
    table.add_column("USD / month", justify="right")
    rows = [("SQS" + (" FIFO" if topology.fifo else ""), chosen.sqs), ("Lambda (arm64)", chosen.lambda_),
            ("DynamoDB", chosen.dynamodb), ("CloudWatch", chosen.cloudwatch), ("KMS", chosen.kms)]  # fmt: skip
    if topology.fanout:
        rows.append(("SNS" + (" FIFO" if topology.fifo else ""), chosen.sns))
    rows += [("EventBridge (outbox pipe, bus, archive)", chosen.events),
             ("payment service (Lambda, SQS, DynamoDB, Secrets Manager)", chosen.payments),
             ("notification service (Lambda, SQS, DynamoDB, SES)", chosen.notifications)]  # fmt: skip
    for name, value in [*rows, ("total", chosen.total)]:
        table.add_row(name, f"{value:,.2f}")
    console.print(table)
    console.print(
        f"A batch of {batch_size} at {memory_mb} MB: {chosen.batch_ms:.0f} ms; 256 MB baseline {measured.batch_source}."
    )
    share = chosen.init / chosen.lambda_ if chosen.lambda_ else 0.0
    console.print(
        f"INIT (billed since 2025-08-01): {chosen.cold_starts:,} cold starts x {measured.init_ms:.0f} ms = "
        f"{chosen.init:,.4f} USD, {share:.1%} of Lambda; {DEFAULT_ENVIRONMENTS} environments replaced every "
        f"{ENVIRONMENT_LIFETIME_HOURS:g} h (an assumption); INIT {measured.init_source}."
    )
    variants = Table(title="How batch size and memory change it", show_lines=False)
    for column in ("batch size", "memory MB", "Lambda", "SQS", "total"):
        variants.add_column(column, justify="right")
    for e in measured.variants(orders_per_month, topology):  # the same measurements as above, INIT included
        variants.add_row(str(e.batch_size), str(e.memory_mb), f"{e.lambda_:,.2f}", f"{e.sqs:,.2f}", f"{e.total:,.2f}")
    console.print(variants)
    console.print(
        "Assumes full batches (at low traffic the 5 s window sends smaller ones), items under 1 KB (1 WRU), "
        "90 days of storage (TTL), producers sending one message per order; free tiers ignored. The payment "
        f"service's batch is assumed to take {PAYMENT_BATCH_MS:.0f} ms (the provider's answers), the Notifier's "
        f"{NOTIFIER_BATCH_MS:.0f} ms (SES's), and every order to have a customerEmail; the payment provider's own "
        "fees, and the pipe's reads of the table's stream, are not priced."
    )
