"""`orderflow demo`: the whole pipeline, end to end, with a summary of what happened."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from orderflow_cli.common import (
    ChaosOption,
    ChaosSeedOption,
    ContextOption,
    console,
    fail,
    handle_sigterm,
    parse_context,
    start_stack,
)

if TYPE_CHECKING:  # the stack is imported when the demo runs, not when the command starts
    from collections.abc import Callable

    from rich.console import Console

    from orderflow_local.ops.notifications import MailVerdict
    from orderflow_local.ops.payments import PaymentVerdict
    from orderflow_local.ops.traffic import Verdict
    from orderflow_local.stack import LocalStack, StackOptions

#: Share of new orders the demo also cancels (some of the cancellations sent before their order).
CANCEL_RATE = 0.15
#: Share of new orders from a test customer whose charge the payment provider declines.
DECLINE_RATE = 0.03

#: Said under the DLQ alarm's OK -> ALARM line during the demo.
EXPECTED_DLQ_ALARM = "expected: the demo sends bad messages on purpose, and they are in the DLQ"
#: The commands `_next_steps` prints (each one checked against a running `orderflow up`).
NEXT_STEPS = [
    ("orderflow up", "the stack on http://localhost:4566 until Ctrl-C; it prints the exports"),
    ("# in another shell, with those exports:", ""),
    ("orderflow send", "the tutorial's sample order"),
    ("orderflow orders get ORD-20260420-001 --wait 15", "stored after the 5 s batching window"),
    ('orderflow cancel ORD-20260420-001 --reason "Changed my mind"', "its status becomes CANCELLED"),
    ('echo \'{"orderId": "ORD-BAD"}\' | orderflow send -', "an invalid order: rejected to the DLQ"),
    ("orderflow dlq list", "what is in the DLQ, and why"),
    ("orderflow payments list", "what the payment provider charged and refunded, per order"),
    ("orderflow mail", "the confirmation the Notifier e-mailed (`orderflow mail show ID` prints it)"),
    ("aws dynamodb scan --table-name Orders", "the AWS CLI and SDKs work against it too"),
]


def demo(
    orders: Annotated[int, typer.Option(min=1, help="How many messages to send.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the generated traffic (same seed, same orders).")] = 7,
    port: Annotated[int, typer.Option(help="Port for the embedded AWS (0: any free port).")] = 0,
    timeout: Annotated[
        float, typer.Option(help="Give up waiting for the queue to drain after this many seconds.")
    ] = 300,
    chaos: ChaosOption = 0.0,
    chaos_seed: ChaosSeedOption = 0,
    context: ContextOption = None,
) -> None:
    """Boot everything, send a realistic stream of orders, wait until it drains, and report.

    Exits non-zero if any order was lost or stored twice.
    """
    from orderflow_local.stack import StackOptions

    handle_sigterm()
    try:
        options = StackOptions(
            port=port, chaos_rate=chaos, chaos_seed=chaos_seed, context=parse_context(context),
            provider_chaos_rate=chaos, provider_chaos_seed=chaos_seed,
        )  # fmt: skip
        if chaos:  # faults that kill or time out cost a visibility timeout: keep it short for a demo
            options.visibility_timeout, options.function_timeout = 10, 3
        ok = run_demo(console, orders=orders, seed=seed, port=port, timeout=timeout, start=start_stack, options=options)
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None
    if not ok:
        raise typer.Exit(1)


def run_demo(
    console: Console,
    *,
    orders: int,
    seed: int,
    port: int,
    timeout: float,
    start: Callable[[LocalStack], Any],
    options: StackOptions | None = None,
) -> bool:
    """Run the demo; return True when nothing was lost or stored twice."""
    from orderflow_local.ops.traffic import plan_traffic, send, verify
    from orderflow_local.stack import LocalStack, StackOptions

    console.print(
        "[bold]Booting the local stack[/bold] (embedded AWS, the template's resources, the event source mapping)..."
    )

    sends_bad_messages = False

    def stack_progress(line: str) -> None:  # the stack's progress lines; an alarm the demo sets off on purpose says so
        console.print(line)
        if sends_bad_messages and _is_dlq_alarm(line, local):
            console.print(f"  {EXPECTED_DLQ_ALARM}")

    local = LocalStack(options or StackOptions(port=port), progress=stack_progress)
    stack = start(local)
    try:
        outputs = stack.outputs
        topic, bus = outputs.get("TopicArn"), outputs.get("IngressBusName")
        route = f"topic {topic} -> queue" if topic else "queue"
        if bus:
            route = f"event bus {bus} -> OrderCreated to queue {outputs['QueueUrl']}, OrderCancelled to queue"
            route += f" {outputs['CancellationQueueUrl']}"
            console.print(f"AWS endpoint {stack.endpoint}; {route}")
        else:
            console.print(f"AWS endpoint {stack.endpoint}; {route} {outputs['QueueUrl']}")
        plan = plan_traffic(
            orders, seed=seed, cancel_rate=CANCEL_RATE, decline_rate=DECLINE_RATE,
            run=f"{seed:04d}{int(time.time()) % 100000:05d}",
        )  # fmt: skip
        mistakes = [f"{plan.count(kind)} {kind}" for kind in ("malformed", "invalid") if plan.count(kind)]
        if mistakes:
            sends_bad_messages = True
            alarms = _dlq_alarms(stack)
            console.print(
                f"The traffic has mistakes on purpose ({' and '.join(mistakes)} messages): the function rejects "
                "them to the DLQ with their reason"
                + (
                    f", so the DLQ alarm {', '.join(sorted(alarms))} goes to ALARM. That is expected."
                    if alarms
                    else "."
                )
            )
        sqs, dynamodb, sns = stack.emulator.sqs(), stack.emulator.dynamodb(), stack.emulator.sns()
        events = stack.emulator.events() if bus else None
        refused: dict[int, str] = {}
        with _progress(console) as progress:
            task = progress.add_task("sending", total=len(plan.messages))
            began = time.time()
            sent_at: dict[int, float] = {}
            for start_index in range(0, len(plan.messages), 50):
                chunk = plan.messages[start_index : start_index + 50]
                chunk_refused: dict[int, str] = {}
                times = send(
                    sqs, outputs["QueueUrl"], chunk, sns=sns, topic_arn=topic, events=events, bus_name=bus,
                    refused=chunk_refused if bus else None,
                )  # fmt: skip
                sent_at.update({start_index + index: at for index, at in times.items()})
                refused.update({start_index + index: why for index, why in chunk_refused.items()})
                progress.advance(task, len(chunk))
            drained = _wait_for_drain(stack, progress, total=len(plan.messages) - len(refused), timeout=timeout)
            elapsed = time.time() - began
        verdict = verify(
            plan,
            dynamodb=dynamodb,
            table_name=outputs["TableName"],
            sqs=sqs,
            dlq_url=outputs["DLQUrl"],
            sent_at=sent_at,
            more_dlq_urls=tuple(url for name, url in outputs.items() if name == "CancellationDLQUrl"),
            refused=refused,
        )
        if refused:
            console.print(
                f"The bus refused {len(refused)} of the mistaken messages at the producer (EventBridge takes only a "
                "JSON object as an event's detail): they were never sent, and the producer was told why."
            )
        counts = {k: plan.count(k) for k in ("valid", "cancel", "duplicate", "malformed", "invalid")}
        counts["cancel_first"] = plan.cancelled_first
        payments = _payments(stack, plan, sent_at)
        mail = _mail(stack, plan, sent_at)
        _report(
            console, plan_counts=counts, verdict=verdict, stack=stack, elapsed=elapsed, drained=drained, began=began,
            payments=payments, mail=mail,
        )  # fmt: skip
        ok = drained and verdict.ok and (payments is None or payments.ok) and (mail is None or mail.ok)
    except BaseException:  # Ctrl-C included: an interrupted demo stops at once
        stack.kill()
        raise
    stack.stop()
    _next_steps(console)
    return ok


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )


def _payments(stack: LocalStack, plan: Any, sent_at: dict[int, float]) -> PaymentVerdict | None:
    """The payments checked against the provider's ledger (None: the stack has no payment service)."""
    from orderflow_local.ops.payments import scan_items, verify_payments

    if stack.payment_provider is None or "PaymentsTableName" not in stack.outputs:
        return None
    dynamodb = stack.emulator.dynamodb()
    first_sent = _first_sent(plan, sent_at)
    return verify_payments(
        stack.payment_provider.ledger(),
        scan_items(dynamodb, stack.outputs["TableName"]),
        payments=scan_items(dynamodb, stack.outputs["PaymentsTableName"]),
        first_sent=first_sent,
    )


def _first_sent(plan: Any, sent_at: dict[int, float]) -> dict[str, float]:
    """Each valid order's first send, epoch seconds, by order id."""
    first_sent: dict[str, float] = {}
    for index, message in enumerate(plan.messages):
        if message.kind == "valid" and index in sent_at and message.order_id:
            first_sent.setdefault(message.order_id, sent_at[index])
    return first_sent


def _mail(stack: LocalStack, plan: Any, sent_at: dict[int, float]) -> MailVerdict | None:
    """What SES sent, checked against the provider's ledger and the orders (None: no notification service)."""
    from orderflow_local.ops.mail import read_mail
    from orderflow_local.ops.notifications import scan_claims, uncertain_events, verify_mail
    from orderflow_local.ops.payments import scan_items

    if stack.payment_provider is None or "NotificationsTableName" not in stack.outputs:
        return None
    for function_logs in stack.function_logs:  # the Notifier's last lines, in CloudWatch Logs now
        function_logs.flush()
    dynamodb = stack.emulator.dynamodb()
    return verify_mail(
        read_mail(stack.endpoint),
        stack.payment_provider.ledger(),
        scan_items(dynamodb, stack.outputs["TableName"]),
        uncertain=uncertain_events(stack.emulator.logs()),
        claims=scan_claims(dynamodb, stack.outputs["NotificationsTableName"]),
        first_sent=_first_sent(plan, sent_at),
    )


def _wait_for_drain(stack: LocalStack, progress: Progress, *, total: int, timeout: float) -> bool:
    """Until every consumer's queue is empty with nothing in flight, and the pipes have read nothing new
    for a second (what the last orders stored has reached the payment service)."""
    sqs = stack.emulator.sqs()
    queue_urls = [mapping.config.queue_url for mapping in stack.mappings]  # every consumer's queue
    task = progress.add_task("processing", total=total)
    deadline = time.monotonic() + timeout
    quiet_polls = 0
    read: list[int] = []
    while time.monotonic() < deadline:
        stats = [mapping.stats for mapping in stack.mappings]
        settled = sum(s.deleted for s in stats)
        progress.update(task, completed=min(total, settled))
        pipes = [pipe.stats.snapshot() for pipe in stack.pipes]
        pipes_busy = any(entry["in_flight"] for entry in pipes) or [entry["records_read"] for entry in pipes] != read
        read = [entry["records_read"] for entry in pipes]
        waiting = 0
        for queue_url in queue_urls:
            attributes = sqs.get_queue_attributes(
                QueueUrl=queue_url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            waiting += int(attributes["ApproximateNumberOfMessages"]) + int(
                attributes["ApproximateNumberOfMessagesNotVisible"]
            )
        in_flight = sum(s.in_flight for s in stats)
        quiet_polls = quiet_polls + 1 if waiting == 0 and in_flight == 0 and not pipes_busy else 0
        if quiet_polls >= 2:
            progress.update(task, completed=total)
            return True
        time.sleep(0.5)
    return False


def _report(
    console: Console,
    *,
    plan_counts: dict[str, int],
    verdict: Verdict,
    stack: LocalStack,
    elapsed: float,
    drained: bool,
    began: float,
    payments: PaymentVerdict | None = None,
    mail: MailVerdict | None = None,
) -> None:
    from orderflow_local.ops.traffic import percentile

    metrics: dict[str, int] = {}
    for mapping in stack.mappings:
        for name, value in mapping.stats.handler_metrics.items():
            metrics[name] = metrics.get(name, 0) + value
    invocations = sum(m.stats.invocations for m in stack.mappings)
    cold_starts = sum(m.stats.cold_starts for m in stack.mappings)
    sent = sum(count for kind, count in plan_counts.items() if kind != "cancel_first")
    table = Table(title="orderflow demo", show_header=False, title_justify="left")
    counts = plan_counts
    table.add_row(
        "sent",
        f"{sent} messages: {counts['valid']} new orders, {counts['cancel']} cancellations "
        f"({counts['cancel_first']} sent before their order), {counts['duplicate']} duplicates, "
        f"{counts['malformed']} malformed, {counts['invalid']} invalid",
    )
    table.add_row(
        "stored", f"{verdict.stored} orders: {verdict.confirmed} ended CONFIRMED, {verdict.cancelled} CANCELLED"
    )
    duplicates, of_cancels = metrics.get("DuplicatesSkipped", 0), metrics.get("CancellationDuplicatesSkipped", 0)
    table.add_row("duplicates skipped", f"{duplicates} ({of_cancels} of them cancellations)")
    table.add_row(
        "cancellations waiting",
        f"{metrics.get('CancellationsAwaitingOrder', 0)} retries of a cancellation that arrived before its order",
    )
    reasons = ", ".join(f"{code} {count}" for code, count in sorted(verdict.rejected_by_reason.items())) or "none"
    table.add_row("rejected to the DLQ", f"{sum(verdict.rejected_by_reason.values())} ({reasons})")
    lat = verdict.latencies
    table.add_row(
        "latency sent -> stored",
        f"p50 {percentile(lat, 0.5):.2f} s, p95 {percentile(lat, 0.95):.2f} s, p99 {percentile(lat, 0.99):.2f} s",
    )
    # The pipeline's rate: orders stored from the first send to the last order stored. The
    # queue drains later: cancellations sent before their order back off (2 s, then 8 s).
    span = verdict.last_stored - began
    if verdict.stored and span > 0:
        table.add_row("pipeline", f"{verdict.stored / span:.1f} orders stored/s ({verdict.stored} in {span:.1f} s)")
    table.add_row("drained", f"all {sent} messages handled in {elapsed:.1f} s, retries' backoff included")
    if payments is not None:
        table.add_row("payments", _payments_row(payments))
        if payments.latencies:
            lat = payments.latencies
            table.add_row(
                "latency sent -> charged",
                f"p50 {percentile(lat, 0.5):.2f} s, p95 {percentile(lat, 0.95):.2f} s (through the outbox, the bus "
                "and the payment service)",
            )
    if mail is not None:
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(mail.by_kind.items())) or "none"
        uncertain = f"; {len(mail.uncertain)} uncertain, not sent again" if mail.uncertain else ""
        table.add_row("e-mails", f"{mail.sent} sent ({kinds}){uncertain} (`orderflow mail`)")
        if mail.latencies:
            lat = mail.latencies
            table.add_row(
                "latency sent -> e-mailed",
                f"p50 {percentile(lat, 0.5):.2f} s, p95 {percentile(lat, 0.95):.2f} s (order, outbox, payment, "
                "Notifier, each gathering its batches)",
            )
    table.add_row("invocations", f"{invocations} ({cold_starts} cold starts)")
    if stack.options.chaos_rate:
        faults = stack.faults()
        listed = ", ".join(f"{kind} {count}" for kind, count in sorted(faults.items())) or "none"
        table.add_row("faults injected", f"{sum(faults.values())} ({listed})")
        table.add_row("valid orders in the DLQ", f"{verdict.valid_in_dlq} (their retries ran out; body kept)")
        if verdict.awaiting or verdict.cancels_in_dlq:
            table.add_row(
                "cancellations",
                f"{verdict.cancels_in_dlq} in the DLQ; {verdict.awaiting} recorded for an order in the DLQ",
            )
    console.print(table)
    problems = []
    if not drained:
        problems.append("the queue did not drain in time")
    if verdict.missing:
        problems.append(f"{len(verdict.missing)} order(s) LOST: {', '.join(verdict.missing[:5])}")
    if verdict.unexpected_items:
        problems.append(f"{verdict.unexpected_items} unexpected item(s) in the table (stored twice or invalid)")
    if verdict.rejected_missing:
        problems.append(f"{verdict.rejected_missing} rejected message(s) missing from the DLQ")
    if verdict.not_confirmed:
        problems.append(f"{len(verdict.not_confirmed)} order(s) in a status their events do not lead to")
    if verdict.cancels_lost:
        problems.append(f"{len(verdict.cancels_lost)} cancellation(s) LOST: {', '.join(verdict.cancels_lost[:5])}")
    if verdict.data_changed:
        problems.append(f"{len(verdict.data_changed)} order(s) stored with other data than sent")
    if payments is not None:
        problems += payments.problems()
    if mail is not None:
        problems += mail.problems()
    if problems:
        for problem in problems:
            console.print(f"[red]FAILED:[/red] {problem}")
    else:
        parked = verdict.valid_in_dlq + verdict.cancels_in_dlq
        rest = (
            f"{parked} order(s) and cancellation(s) whose retries ran out wait in the DLQ with their body "
            "(`orderflow dlq redrive`)."
            if parked
            else "every cancellation applied."
        )
        charged = ", nothing charged twice" if payments is not None else ""
        charged += ", nothing e-mailed twice" if mail is not None else ""
        console.print(f"[green]OK:[/green] nothing lost, nothing stored twice{charged}; {rest}")


def _payments_row(payments: PaymentVerdict) -> str:
    """``12 charged (USD 1,234.50), 1 declined, 2 refunded (USD 99.00)``: amounts in major units."""
    from orderflow.domain.models import minor_units

    def amounts(by_currency: dict[str, int]) -> str:
        shown = [f"{code} {value / 10 ** (minor_units(code) or 0):,.{minor_units(code) or 0}f}"
                 for code, value in sorted(by_currency.items()) if value]  # fmt: skip
        return f" ({', '.join(shown)})" if shown else ""

    return (
        f"{payments.charges} charged{amounts(payments.charged)}, {payments.declines} declined, "
        f"{payments.refunds} refunded{amounts(payments.refunded)} (the provider's ledger: `orderflow payments list`)"
    )


def _dlq_alarms(stack: LocalStack) -> set[str]:
    """The template's alarms on the DLQ (its QueueName among their dimensions)."""
    monitor = stack.alarm_monitor
    if monitor is None or stack.deployed is None:
        return set()
    dlq = stack.outputs["DLQUrl"].rstrip("/").rsplit("/", 1)[-1]
    return {alarm.name for alarm in monitor.alarms if ("QueueName", dlq) in alarm.dimensions}


def _is_dlq_alarm(line: str, stack: LocalStack) -> bool:
    """Whether ``line`` is the stack's "alarm NAME: OLD -> ALARM: reason" for an alarm on the DLQ."""
    name, _, change = line.removeprefix("alarm ").partition(": ")
    return line.startswith("alarm ") and change.split(":", 1)[0].endswith("-> ALARM") and name in _dlq_alarms(stack)


def _next_steps(console: Console) -> None:
    """What to try next: the stack kept running, driven as the README's quick start drives it."""
    import contextlib
    import shutil
    import sys
    from pathlib import Path

    console.print("\n[bold]Next[/bold]: keep the stack running and drive it yourself.")
    lines = list(NEXT_STEPS)
    if shutil.which("orderflow") is None:  # `make demo` runs it from the virtualenv, which is not on PATH
        activate = Path(sys.executable).parent / "activate"
        with contextlib.suppress(ValueError):  # shorter, from where the demo ran
            activate = activate.relative_to(Path.cwd())
        lines.insert(0, (f"source {activate}", "puts orderflow (and aws) on PATH, in each shell"))
    width = max(len(command) for command, _ in lines) + 2
    for command, comment in lines:
        text = f"{command:<{width}}# {comment}" if comment else command
        console.print(f"  {text}", soft_wrap=True, markup=False)
