"""`orderflow bench`: benchmarks, each measured against a baseline in the same run."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from orderflow_cli.common import console, fail

bench_app = typer.Typer(
    help="Benchmarks. Every figure is a ratio against a baseline measured in the same run.",
    invoke_without_command=True,
)
RESULTS = Path(".orderflow/bench.json")

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON, for machines.")]


@dataclass(frozen=True)
class Goal:
    """A target a benchmark reports on: what it is, what it means, and whether this run met it."""

    text: str
    means: str
    met: bool

    def to_json(self) -> dict[str, Any]:
        return {"goal": self.text, "means": self.means, "met": self.met}


def _emit(name: str, result: Any, as_json: bool, rows: list[tuple[str, str]], goals: list[Goal]) -> None:
    """Save ``result`` to .orderflow/bench.json and print it with the goals that stand.

    A missed goal is a finding, reported, not a failure: the exit status is 0 unless the run
    itself went wrong (``bench load`` exits 1 when something was lost).
    """
    data = asdict(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    saved[name] = data
    RESULTS.write_text(json.dumps(saved, indent=2))
    if as_json:
        print(json.dumps({name: data, "goals": [goal.to_json() for goal in goals]}))
        return
    table = Table(title=f"orderflow bench {name}", show_header=False, title_justify="left")
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)
    for goal in goals:
        console.print(f"{'[green]goal met[/green]' if goal.met else '[red]goal missed[/red]'}: {goal.text}")
        console.print(f"  {goal.means}")


@bench_app.callback()
def pipeline(
    ctx: typer.Context,
    orders: Annotated[int, typer.Option(min=10, help="How many orders to send.")] = 2000,
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
        ("of the ceiling", f"{result.ratio:.2f} (throughput / ceiling; a yardstick, no longer a goal)"),
        *_cpu_rows(result),
        (
            "latency sent -> stored",
            f"p50 {result.latency_p50:.2f} s, p95 {result.latency_p95:.2f} s, p99 {result.latency_p99:.2f} s",
        ),
        ("invocations", f"{result.invocations} ({result.cold_starts} cold starts)"),
        ("full batch p50", f"{result.full_batch_ms_p50:.0f} ms"),
    ]
    _emit("pipeline", result, as_json, rows, pipeline_goals(result))
    if ddb_latency_ms:
        batch(latency_ms=ddb_latency_ms, as_json=as_json)


#: The pipeline's goals (docs/performance.md): the first guards what is met, the second is the target.
CORES_GOAL = 0.85
CPU_GOAL_CEILING_CALLS = 1.5


def pipeline_goals(result: Any) -> list[Goal]:
    """The goals that stand for ``orderflow bench`` (the pipeline), each with what it means."""
    return [
        Goal(
            f"throughput >= {CORES_GOAL} x what the cores allow (this run: {result.of_what_the_cores_allow:.2f})",
            "what the cores allow is cores / CPU per order; below it, the pipeline waits (idle gaps, "
            "GIL contention) instead of working",
            result.of_what_the_cores_allow >= CORES_GOAL,
        ),
        Goal(
            f"CPU per order <= {CPU_GOAL_CEILING_CALLS} ceiling calls (this run: {result.ceiling_calls_per_order:.2f})",
            "a ceiling call is the CPU of one conditional PutItem of a stored order, client and emulator "
            "together; the floor is about 1.3 (the write and the order's share of the SQS calls), and the "
            "rest is the handler, the event source mapping, logs, metrics and alarms",
            0 < result.ceiling_calls_per_order <= CPU_GOAL_CEILING_CALLS,
        ),
    ]


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
    goal = Goal(
        "a batch of 10 costs <= 2 x one write's latency",
        "its ten writes overlap on threads (10 would mean one after another)",
        result.latency_cost_in_writes <= 2,
    )
    _emit("batch", result, as_json, rows, [goal])


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
    goal = Goal(
        ">= 2.0 x stock moto's PutItem rate",
        "side by side in one run: pre-signed requests, the client on the same cores, the best thread count each",
        result.ratio >= 2.0,
    )
    _emit("emulator", result, as_json, rows, [goal])


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

    goal = Goal(
        "<= 2 x the cost on a 10-message queue",
        "a deep queue must not slow the emulator's SQS calls (stock moto's grew with the depth)",
        worst <= 2,
    )
    _emit("sqs-depth", bench.DepthRows(rows_data), as_json, rows, [goal])


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
        ("ratio", f"{result.ratio:.2f}x (handler / bare)"),
        (
            "handler, asset without bytecode",
            f"{result.no_bytecode_ms:.0f} ms ({result.no_bytecode_ms / result.bare_ms:.2f}x)",
        ),
    ]
    goal = Goal(
        "<= 2.0 x bare boto3",
        "importing the handler with its clients, against `import boto3; boto3.client('dynamodb')` (docs/decisions.md)",
        result.ratio <= 2.0,
    )
    _emit("cold-start", result, as_json, rows, [goal])


#: `bench handler`'s goal: our handler's CPU per record at most this many times the bare handler's.
HANDLER_GOAL = 1.3


@bench_app.command("handler")
def handler(
    batches: Annotated[int, typer.Option(min=1, help="Batches of 10 new orders per side and round.")] = 50,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds, the sides' order rotating; each side's best counts.")] = 9,
    profile: Annotated[
        int, typer.Option(min=0, help="Then profile our handler (cProfile) and show this many top functions.")
    ] = 0,
    as_json: JsonOption = False,
) -> None:
    """Our handler's own CPU per record, against a bare handler written as the tutorial's.

    Both run in this process on the same batches of 10 new, valid orders and write to the
    same in-process store double (no boto3, no network), their stdout discarded alike: only
    each handler's Python is measured. Ours is orderflow.handler.lambda_handler as deployed
    (Powertools logger, metrics and tracer, pydantic validation, the lifecycle, the thread
    pool); the bare one parses the body with json.loads, makes the tutorial's checks and
    enrichment, a conditional PutItem and a partial batch response.
    """
    from orderflow_local.tools import bench

    result = bench.handler_cost(
        batches_per_round=batches, rounds=rounds, profile=profile, progress=lambda text: console.print(f"  {text}")
    )
    rows = [
        ("ours", _handler_side(result, "ours", "orderflow.handler.lambda_handler")),
        ("bare", _handler_side(result, "bare", "the tutorial's handler")),
        ("ratio", f"{result.ratio:.2f}x (ours / bare, best rounds)"),
        (
            "ours on a FIFO queue",
            _handler_side(result, "ours_fifo", "records one by one, no thread pool")
            + f"; the pool costs {result.ours_us - result.ours_fifo_us:.0f} µs",
        ),
        (
            "measured",
            f"{result.rounds} rounds x {result.batches} batches of {result.records_per_batch} per side, "
            "process CPU time (every thread), one process, one store double, stdout discarded on every side "
            f"(ours wrote {result.stdout_bytes['ours']:.0f} bytes per record, bare "
            f"{result.stdout_bytes['bare']:.0f})",
        ),
        *(
            (
                f"profile {index}",
                f"{row.share:6.1%} own, {row.cumulative_us:7.1f} µs cumulative, "
                f"{row.calls:5.1f} calls per record: {row.function}",
            )
            for index, row in enumerate(result.profile, start=1)
        ),
    ]
    goal = Goal(
        f"CPU per record <= {HANDLER_GOAL} x the bare handler's (this run: {result.ratio:.2f})",
        "our handler's own Python per record (Powertools, pydantic, the lifecycle, metrics, the thread pool) "
        "against the tutorial's json.loads, conditional PutItem and partial batch response; the same orders, "
        "the same store double, so boto3 and the network are in neither",
        result.ratio <= HANDLER_GOAL,
    )
    _emit("handler", result, as_json, rows, [goal])


def _handler_side(result: Any, side: str, what: str) -> str:
    return (
        f"{min(result.rounds_us[side]):.0f} µs CPU per record, best round (median {result.median_us(side):.0f}): {what}"
    )


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
    goal = Goal("nothing lost, nothing stored twice", "every message stored once or in the DLQ", result.ok)
    _emit("load", result, as_json, rows, [goal])
    if not result.ok:
        raise typer.Exit(1)


#: The workflow's goals (docs/performance.md): the cores guard, as the pipeline's, and the memory target.
MEMORY_GOAL_MB = 600


#: The console's goals (docs/performance.md): a page open must not slow the pipeline.
CONSOLE_THROUGHPUT_GOAL = 0.95
CONSOLE_LOAD_GOAL_MS = 1000


@bench_app.command("console")
def console_cost(
    orders: Annotated[
        int, typer.Option(min=10, help="Orders in each batch (half the batches with a page open).")
    ] = 500,
    rounds: Annotated[int, typer.Option(min=1, help="How many pairs of batches: one with no page, one with.")] = 2,
    idle_seconds: Annotated[float, typer.Option(min=1, help="How long each idle measurement lasts.")] = 20.0,
    as_json: JsonOption = False,
) -> None:
    """What the console costs: idle CPU and throughput with a page open against none, and its first load.

    The page is opened in Debian's Chromium (headless, driven by Playwright) on the stack's map.
    """
    from orderflow_local.tools import bench
    from orderflow_local.tools.browser import NoBrowserError

    try:
        result = bench.console(
            orders=orders, rounds=rounds, idle_seconds=idle_seconds, progress=lambda text: console.print(f"  {text}")
        )
    except NoBrowserError as exc:
        raise fail(str(exc)) from None
    rows = [
        (
            "idle, the stack's CPU",
            f"{result.idle_cpu_without_page * 1000:.0f} ms/s with no page, {result.idle_cpu_with_page * 1000:.0f} "
            f"ms/s with one open (x{result.idle_ratio:.2f}); the browser's own: {result.browser_cpu * 1000:.0f} ms/s",
        ),
        ("first load", f"p50 {result.first_load_p50:.0f} ms ({', '.join(f'{ms:.0f}' for ms in result.first_load_ms)})"),
        (
            "throughput",
            f"{statistics.median(result.throughput_without):.0f} orders/s with no page, "
            f"{statistics.median(result.throughput_with):.0f} with one open (x{result.throughput_ratio:.2f})",
        ),
        (
            "CPU per order",
            f"{statistics.median(result.cpu_ms_without):.1f} ms with no page, "
            f"{statistics.median(result.cpu_ms_with):.1f} with one open (x{result.cpu_ratio:.2f})",
        ),
    ]
    goals = [
        Goal(
            f"throughput with a page open >= {CONSOLE_THROUGHPUT_GOAL} x without "
            f"(this run: {result.throughput_ratio:.2f})",
            "an open console must not slow the pipeline",
            result.throughput_ratio >= CONSOLE_THROUGHPUT_GOAL,
        ),
        Goal(
            f"first load <= {CONSOLE_LOAD_GOAL_MS} ms (this run: p50 {result.first_load_p50:.0f} ms)",
            "from navigation to the map drawn with its live numbers",
            result.first_load_p50 <= CONSOLE_LOAD_GOAL_MS,
        ),
    ]
    _emit("console", result, as_json, rows, goals)


@bench_app.command("workflow")
def workflow(
    orders: Annotated[int, typer.Option(min=10, help="How many orders to send (none cancelled).")] = 500,
    as_json: JsonOption = False,
) -> None:
    """Orders through every service to the customer's e-mail: throughput, latency, CPU per function, memory."""
    from orderflow_local.tools import bench

    result = bench.workflow(orders, progress=lambda text: console.print(f"  {text}"))
    parts = ", ".join(f"{name} {ms:.2f}" for name, ms in result.cpu_ms_per_order.items())
    rows = [
        ("orders", f"{result.orders} e-mailed their confirmation in {result.seconds:.1f} s"),
        ("throughput", f"{result.throughput:.1f} orders/s, sent -> e-mailed"),
        (
            "latency sent -> e-mailed",
            f"p50 {result.latency_p50:.2f} s, p95 {result.latency_p95:.2f} s, p99 {result.latency_p99:.2f} s; the "
            f"batching windows on the way add up to {result.batching_seconds:.0f} s "
            f"({result.batching_share_p50:.0%} of the p50)",
        ),
        (
            "CPU per order",
            f"{result.cpu_ms_total:.2f} ms ({parts}); {result.cores_used:.2f} of {result.cores} cores busy",
        ),
        (
            "the cores allow",
            f"{result.cpu_limit:.1f} orders/s at that CPU per order; throughput is "
            f"{result.of_what_the_cores_allow:.2f} of it",
        ),
        (
            "memory (RSS)",
            f"{result.rss_mb['total']:.0f} MB: runner {result.rss_mb['runner']:.0f}, emulator "
            f"{result.rss_mb['emulator']:.0f}, functions {result.rss_mb['functions']:.0f} ("
            + ", ".join(f"{name} x{count}" for name, count in result.environments.items())
            + " environments)",
        ),
    ]
    goals = [
        Goal(
            f"throughput >= {CORES_GOAL} x what the cores allow (this run: {result.of_what_the_cores_allow:.2f})",
            "below it, the workflow waits (batching windows, idle gaps) instead of working",
            result.of_what_the_cores_allow >= CORES_GOAL,
        ),
        Goal(
            f"memory <= {MEMORY_GOAL_MB} MB with every function warm (this run: {result.rss_mb['total']:.0f} MB)",
            "the local stack's resident memory: the runner, the embedded AWS and every execution environment",
            result.rss_mb["total"] <= MEMORY_GOAL_MB,
        ),
    ]
    _emit("workflow", result, as_json, rows, goals)
