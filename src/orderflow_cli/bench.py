"""`orderflow bench`: benchmarks, each measured against a baseline in the same run."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

bench_app = typer.Typer(
    help="Benchmarks. Every figure is a ratio against a baseline measured in the same run.",
    invoke_without_command=True,
)
console = Console(highlight=False)
RESULTS = Path(".orderflow/bench.json")

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON, for machines.")]


def _emit(name: str, result: Any, as_json: bool, rows: list[tuple[str, str]], verdict: tuple[str, bool]) -> None:
    data = asdict(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    saved[name] = data
    RESULTS.write_text(json.dumps(saved, indent=2))
    if as_json:
        print(json.dumps({name: data, "goal": verdict[0], "met": verdict[1]}))
        return
    table = Table(title=f"orderflow bench {name}", show_header=False, title_justify="left")
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)
    console.print(f"{'[green]goal met[/green]' if verdict[1] else '[red]goal missed[/red]'}: {verdict[0]}")


@bench_app.callback()
def pipeline(
    ctx: typer.Context,
    orders: Annotated[int, typer.Option(min=10, help="How many orders to send.")] = 3000,
    ddb_latency_ms: Annotated[
        float, typer.Option(min=0.0, help="Add this many ms to each DynamoDB call, and measure a batch's cost.")
    ] = 0.0,
    emulator_process: Annotated[
        bool,
        typer.Option(
            "--emulator-process/--emulator-in-process",
            help="Run the embedded AWS in a process of its own, served by granian (as orderflow up does), or "
            "in the runner's process on moto's own werkzeug server, sharing its GIL (the experiment's baseline).",
        ),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Throughput and latency of the whole pipeline, against the emulator's own PutItem ceiling."""
    if ctx.invoked_subcommand is not None:
        return
    from orderflow_local.tools import bench

    result = bench.pipeline(
        orders,
        ddb_latency_ms=ddb_latency_ms,
        progress=lambda text: console.print(f"  {text}"),
        emulator_process=emulator_process,
    )
    rows = [
        ("orders", f"{result.orders} in {result.seconds:.1f} s"),
        ("embedded AWS", "in a process of its own" if result.emulator_process else "in the runner's process"),
        ("pipeline throughput", f"{result.throughput:.0f} orders/s"),
        (
            "emulator ceiling",
            f"{result.ceiling:.0f} conditional PutItem/s of a stored order, best from {result.client_threads} threads "
            "(" + ", ".join(f"{threads}: {rate:.0f}/s" for threads, rate in result.ceilings.items()) + ")",
        ),
        ("ratio", f"{result.ratio:.2f}"),
        *_cpu_rows(result),
        (
            "latency sent -> stored",
            f"p50 {result.latency_p50:.2f} s, p95 {result.latency_p95:.2f} s, p99 {result.latency_p99:.2f} s",
        ),
        ("invocations", f"{result.invocations} ({result.cold_starts} cold starts)"),
        ("full batch p50", f"{result.full_batch_ms_p50:.0f} ms"),
    ]
    _emit("pipeline", result, as_json, rows, ("throughput >= 0.8 x ceiling", result.ratio >= 0.8))
    if ddb_latency_ms:
        batch(latency_ms=ddb_latency_ms, as_json=as_json)


def _cpu_rows(result: Any) -> list[tuple[str, str]]:
    """Where the CPU went: per order in the pipeline, per call in the ceiling, and what the cores allow."""
    if not result.cpu_ms_per_order:
        return []
    parts = ", ".join(f"{name} {ms:.2f}" for name, ms in result.cpu_ms_per_order.items())
    ceiling = ", ".join(f"{name} {ms:.2f}" for name, ms in result.ceiling_cpu_ms_per_call.items())
    return [
        (
            "CPU per order",
            f"{result.cpu_ms_total:.2f} ms ({parts}); {result.cores_used:.2f} of {result.cores} cores busy",
        ),
        (
            "the cores allow",
            f"{result.cpu_limit:.0f} orders/s at that CPU per order; throughput is "
            f"{result.throughput / result.cpu_limit:.2f} of it",
        ),
        ("ceiling CPU per call", f"{ceiling} ms"),
    ]


@bench_app.command("batch")
def batch(
    latency_ms: Annotated[float, typer.Option("--ddb-latency-ms", min=1.0, help="Added DynamoDB latency.")] = 10.0,
    as_json: JsonOption = False,
) -> None:
    """What a batch of 10 costs in write latencies: ~1 when its writes overlap, ~10 when sequential."""
    from orderflow_local.tools import bench

    result = bench.batch_latency(latency_ms)
    rows = [
        ("added DynamoDB latency", f"{result.ddb_latency_ms:g} ms per call"),
        ("batch of 10", f"{result.batch_of_10_ms:.1f} ms ({result.batch_of_10_no_latency_ms:.1f} ms without it)"),
        ("batch of 1", f"{result.batch_of_1_ms:.1f} ms"),
        ("latency cost of a batch", f"{result.latency_cost_in_writes:.2f} x one write's latency"),
    ]
    _emit("batch", result, as_json, rows, ("a batch of 10 costs <= 2 x one write's latency",
                                            result.latency_cost_in_writes <= 2))  # fmt: skip


@bench_app.command("emulator")
def emulator(
    calls: Annotated[int, typer.Option(min=100, help="PutItem calls per thread count and round.")] = 2000,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds, alternating stock and ours; the best counts.")] = 2,
    as_json: JsonOption = False,
) -> None:
    """The embedded AWS's conditional PutItem of a stored order, against stock moto's, side by side.

    Stock is moto's own ThreadedMotoServer from this venv; ours is the emulator as `orderflow up`
    runs it (our patches, IAM enforced, served by granian). Each runs in a process of its own
    and gets the same load: requests signed before the clock starts, replayed over kept-alive
    connections, so the client costs little. Each rate is the best over 1, 2, 4 and 8 client
    threads and the rounds.
    """
    from orderflow_local.tools import bench

    result = bench.emulator(calls=calls, rounds=rounds, progress=console.print)
    rows = [
        ("ours", f"{result.ours:.0f} PutItem/s ({result.ours_threads} threads)"),
        ("stock moto", f"{result.stock:.0f} PutItem/s ({result.stock_threads} threads)"),
        ("ratio", f"{result.ratio:.2f}x"),
        (
            "emulator CPU per PutItem",
            f"ours {result.ours_cpu_ms:.2f} ms, stock {result.stock_cpu_ms:.2f} ms ({result.cpu_ratio:.2f}x fewer)",
        ),
        *(
            (f"{label} by threads", ", ".join(f"{threads}: {rate:.0f}/s" for threads, rate in sorted(rates.items())))
            for label, rates in result.rates.items()
        ),
    ]
    goal = ">= 2.0 x stock moto's PutItem rate, side by side (pre-signed requests, client on the same cores)"
    _emit("emulator", result, as_json, rows, (goal, result.ratio >= 2.0))


@bench_app.command("sqs-depth")
def sqs_depth(
    depths: Annotated[str, typer.Option(help="Comma-separated queue depths.")] = "1000,10000",
    as_json: JsonOption = False,
) -> None:
    """ReceiveMessage and SendMessageBatch cost at depth, against a queue of 10 messages."""
    from orderflow_local.tools import bench

    rows_data = bench.sqs_depth([int(depth) for depth in depths.split(",")], progress=console.print)
    worst = max(max(row.receive_ratio, row.send_batch_ratio) for row in rows_data)
    rows = [
        (
            f"depth {row.depth}",
            f"receive {row.receive_ms:.1f} ms ({row.receive_ratio:.2f}x), "
            f"send batch {row.send_batch_ms:.1f} ms ({row.send_batch_ratio:.2f}x)",
        )
        for row in rows_data
    ]

    _emit("sqs-depth", bench.DepthRows(rows_data), as_json, rows, ("<= 2 x the cost on a 10-message queue", worst <= 2))


@bench_app.command("cold-start")
def cold_start(
    samples: Annotated[int, typer.Option(min=3, help="Fresh processes per side.")] = 15,
    as_json: JsonOption = False,
) -> None:
    """Importing the handler with its clients, against bare `import boto3; boto3.client("dynamodb")`."""
    from orderflow_local.tools import bench

    result = bench.cold_start(samples=samples)
    rows = [
        ("bare boto3 + client", f"{result.bare_ms:.0f} ms"),
        ("handler + its clients", f"{result.handler_ms:.0f} ms"),
        ("ratio", f"{result.ratio:.2f}"),
        (
            "handler, asset without bytecode",
            f"{result.no_bytecode_ms:.0f} ms ({result.no_bytecode_ms / result.bare_ms:.2f}x)",
        ),
    ]
    _emit("cold-start", result, as_json, rows, ("<= 2.0 x bare boto3", result.ratio <= 2.0))


@bench_app.command("load")
def load(
    orders: Annotated[int, typer.Option(min=10, help="How many messages in the burst.")] = 10_000,
    as_json: JsonOption = False,
) -> None:
    """A burst through the whole pipeline: nothing lost, and the runner's memory sampled."""
    from orderflow_local.tools import bench

    result = bench.load(orders, progress=lambda text: console.print(f"  {text}"))
    rows = [
        ("messages", f"{result.orders} drained in {result.seconds:.0f} s"),
        ("stored", str(result.stored)),
        ("rejected to the DLQ", str(result.rejected)),
        ("lost", str(result.lost)),
        (
            "runner RSS",
            f"start {result.runner_rss_start_mb:.0f} MB, peak {result.runner_rss_peak_mb:.0f} MB, "
            f"end {result.runner_rss_end_mb:.0f} MB",
        ),
        ("worker RSS peak", f"{result.worker_rss_peak_mb:.0f} MB"),
    ]
    _emit("load", result, as_json, rows, ("nothing lost, nothing stored twice", result.ok))
    if not result.ok:
        raise typer.Exit(1)
