"""The `orderflow` command: run the pipeline locally, send and cancel orders, inspect orders and the DLQ.

Every command but `up` and `demo` talks to the local stack (`orderflow up`) by default,
to any endpoint with --endpoint-url (or AWS_ENDPOINT_URL), or to real AWS with
--endpoint-url aws.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from orderflow_cli.bench import bench_app
from orderflow_cli.common import (
    ContextOption,
    console,
    parse_context,
)
from orderflow_cli.common import fail as _fail
from orderflow_cli.demo import demo
from orderflow_cli.dlq import dlq_app
from orderflow_cli.observe import logs, status
from orderflow_cli.orders import orders_app
from orderflow_cli.send import cancel, send
from orderflow_cli.up import up

app = typer.Typer(
    help=__doc__,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(orders_app, name="orders")
app.add_typer(dlq_app, name="dlq")
app.add_typer(bench_app, name="bench")
app.command()(logs)
app.command()(status)
app.command()(up)
app.command()(demo)
app.command()(send)
app.command()(cancel)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.print(f"orderflow {version('orderflow')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Run the pipeline locally, send and cancel orders, inspect orders and the DLQ."""


@app.command()
def cost(
    orders_per_month: Annotated[int, typer.Option(min=1, help="Orders a month.")] = 1_000_000,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="The mapping's BatchSize.")] = 10,
    memory_mb: Annotated[int, typer.Option(min=128, max=10_240, help="The function's memory.")] = 256,
    context: ContextOption = None,
) -> None:
    """What a month costs on AWS, and how batch size and memory change it.

    With -c fifo=true and/or -c fanout=true, for that topology of the stack (SQS FIFO, SNS).
    """
    from orderflow_cli import cost as pricing

    try:
        topology = pricing.Topology.from_context(parse_context(context))
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    measured = pricing.Measurements.load()
    chosen = measured.estimate(orders_per_month, batch_size=batch_size, memory_mb=memory_mb, topology=topology)
    table = Table(
        title=f"{orders_per_month:,} orders a month, {topology.name} topology "
        f"(us-east-1 list prices of {pricing.PRICES_AS_OF})"
    )
    table.add_column("service")
    table.add_column("USD / month", justify="right")
    rows = [("SQS" + (" FIFO" if topology.fifo else ""), chosen.sqs), ("Lambda (arm64)", chosen.lambda_),
            ("DynamoDB", chosen.dynamodb), ("CloudWatch", chosen.cloudwatch), ("KMS", chosen.kms)]  # fmt: skip
    if topology.fanout:
        rows.append(("SNS" + (" FIFO" if topology.fifo else ""), chosen.sns))
    for name, value in [*rows, ("total", chosen.total)]:
        table.add_row(name, f"{value:,.2f}")
    console.print(table)
    console.print(
        f"A batch of {batch_size} at {memory_mb} MB: {chosen.batch_ms:.0f} ms; 256 MB baseline {measured.batch_source}."
    )
    share = chosen.init / chosen.lambda_ if chosen.lambda_ else 0.0
    console.print(
        f"INIT (billed since 2025-08-01): {chosen.cold_starts:,} cold starts x {measured.init_ms:.0f} ms = "
        f"{chosen.init:,.4f} USD, {share:.1%} of Lambda; {pricing.DEFAULT_ENVIRONMENTS} environments replaced every "
        f"{pricing.ENVIRONMENT_LIFETIME_HOURS:g} h (an assumption); INIT {measured.init_source}."
    )
    variants = Table(title="How batch size and memory change it", show_lines=False)
    for column in ("batch size", "memory MB", "Lambda", "SQS", "total"):
        variants.add_column(column, justify="right")
    for e in measured.variants(orders_per_month, topology):  # the same measurements as above, INIT included
        variants.add_row(str(e.batch_size), str(e.memory_mb), f"{e.lambda_:,.2f}", f"{e.sqs:,.2f}", f"{e.total:,.2f}")
    console.print(variants)
    console.print(
        "Assumes full batches (at low traffic the 5 s window sends smaller ones), items under 1 KB (1 WRU), "
        "90 days of storage (TTL), producers sending one message per order; free tiers ignored."
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
