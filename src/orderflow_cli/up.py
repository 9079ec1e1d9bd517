"""`orderflow up`: the embedded AWS with the stack deployed into it, its banner, its live line, its stop."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from orderflow_cli.common import (
    ChaosOption,
    ChaosSeedOption,
    ContextOption,
    console,
    errors,
    fail,
    handle_sigterm,
    identifier_column,
    interrupted_status,
    parse_context,
    start_stack,
)

if TYPE_CHECKING:
    from orderflow_local.console import Console
    from orderflow_local.lambda_runtime.invoke import StackRecord

LatencyOption = Annotated[
    float,
    typer.Option(min=0.0, help="Add this many ms to every DynamoDB call the function makes (real DynamoDB's wait)."),
]
PortOption = Annotated[
    int,
    typer.Option(
        "--port", min=0, max=65535, help="Port on 127.0.0.1 for the embedded AWS endpoint; 0 picks a free one."
    ),
]
#: Where `up` writes the `aws` that the banner puts first on PATH (AWS_WRAPPER).
AWS_WRAPPER_DIR = Path(".orderflow/bin")
#: The `aws` the banner puts first on PATH: no exported variable alone can send AWS CLI v1's
#: `aws sqs` to the local stack. Its customization awscli/customizations/overridesslcommonname.py
#: sets the endpoint of `aws sqs` in us-east-1 to https://queue.amazonaws.com/ (in 25 other
#: regions, to theirs) whenever --endpoint-url is not given, as if it had been given, so it wins
#: over AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS and the config file's endpoint_url alike
#: (awscli 1.46.3, the newest; aws/aws-cli#8737). --endpoint-url works with every version.
AWS_WRAPPER = """#!/bin/sh
# Written by `orderflow up`: the AWS CLI found further along PATH, given AWS_ENDPOINT_URL as
# --endpoint-url. AWS CLI v1 sends `aws sqs` in us-east-1 to https://queue.amazonaws.com/ unless
# --endpoint-url is given, whatever AWS_ENDPOINT_URL says; AWS CLI v2 before 2.13 ignores
# AWS_ENDPOINT_URL. An --endpoint-url of your own comes later on the line, and wins. With no
# AWS_ENDPOINT_URL, this is the AWS CLI unchanged.
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd -P)
rest=
set -f
IFS=:
for dir in $PATH; do
    [ "$(CDPATH= cd -- "${dir:-.}" 2>/dev/null && pwd -P)" = "$here" ] || rest=${rest:+$rest:}$dir
done
unset IFS
set +f
PATH=$rest
export PATH
if ! command -v aws >/dev/null 2>&1; then
    echo "error: no AWS CLI on PATH besides $0: install one (make setup puts one in .venv/bin)" >&2
    exit 127
fi
if [ -n "${AWS_ENDPOINT_URL:-}" ]; then
    exec aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"
fi
exec aws "$@"
"""


def up(
    port: PortOption = 4566,
    handler: Annotated[
        str | None,
        typer.Option(
            help="Run this SQS handler (MODULE.FUNCTION as Lambda takes it, or MODULE:FUNCTION; found on "
            "PYTHONPATH or here) instead of the stack's. A name, module or syntax error is refused before start."
        ),
    ] = None,
    visibility_timeout: Annotated[
        int | None, typer.Option(help="Override the queue's visibility timeout (seconds) for local iteration.")
    ] = None,
    function_timeout: Annotated[float | None, typer.Option(help="Override the function's timeout (seconds).")] = None,
    batching_window: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=300,
            help="Override the template's batching window (whole seconds, 0-300 as AWS takes it): 1 delivers "
            "sooner while iterating. A FIFO queue's mapping keeps none.",
        ),
    ] = None,
    log_file: Annotated[Path, typer.Option(help="Where the function's log lines go.")] = Path(
        ".orderflow/OrderProcessor.log"
    ),
    chaos: ChaosOption = 0.0,
    chaos_seed: ChaosSeedOption = 0,
    ddb_latency_ms: LatencyOption = 0.0,
    reload: Annotated[
        bool,
        typer.Option(
            "--reload/--no-reload",
            help="Pick up edits to the function's code without a restart (the stack's src/orderflow/, or the "
            "--handler module): new environments run it, batches in flight finish on the old code.",
        ),
    ] = True,
    context: ContextOption = None,
    alarm_period_scale: Annotated[
        float,
        typer.Option(
            min=1.0,
            help="Evaluate the template's alarms with every period divided by this (30: 5 minutes over 10 s); "
            "1 waits as CloudWatch does.",
        ),
    ] = 30.0,
    iam: Annotated[
        bool,
        typer.Option(
            "--iam/--no-iam",
            help="Run the function and its event source mapping as the execution role from the template: a call "
            "the role does not allow fails with AccessDenied, as on AWS. Other credentials stay administrator.",
        ),
    ] = True,
    console_on: Annotated[
        bool,
        typer.Option(
            "--console/--no-console",
            help="Serve the console (the stack's map, dashboard, alarms, dead letters, orders and live logs) "
            "on 127.0.0.1; its URL, with this run's token, is printed at start.",
        ),
    ] = True,
    console_port: Annotated[
        int | None,
        typer.Option(
            "--console-port",
            min=0,
            max=65535,
            help="The console's port (0: any free one). Default: the endpoint's port + 1, or a free one if taken.",
        ),
    ] = None,
    template: Annotated[
        Path | None,
        typer.Option(
            "--template",
            exists=True,
            dir_okay=False,
            help="Run this synthesized template (cdk.out/STACK.template.json of any CDK app) instead of ours: "
            "what runs locally is created, the rest is listed as skipped. Its Python functions run from their "
            "asset folders under cdk.out.",
        ),
    ] = None,
) -> None:
    """Start the embedded AWS, deploy the stack's template into it and run the pipeline until Ctrl-C."""
    from orderflow_local.stack import LocalStack, StackOptions

    if handler:
        _check_handler(handler)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    if template is not None and context:
        raise fail("--template runs a template as it is: -c/--context applies to our app's synthesis only", 2)
    options = StackOptions(
        port=port,
        template=template.resolve() if template is not None else None,
        handler=handler,
        visibility_timeout=visibility_timeout,
        function_timeout=function_timeout,
        batching_window=batching_window,
        log_path=log_file,
        chaos_rate=chaos,
        chaos_seed=chaos_seed,
        provider_chaos_rate=chaos,
        provider_chaos_seed=chaos_seed,
        ddb_latency_ms=ddb_latency_ms,
        reload=reload,
        iam=iam,
        context=parse_context(context),
        alarm_period_scale=alarm_period_scale,
    )
    handle_sigterm()
    try:
        stack = start_stack(LocalStack(options, progress=console.print))
    except KeyboardInterrupt as interrupt:  # LocalStack.start has stopped what it started
        raise fail("interrupted while starting", interrupted_status(interrupt)) from None
    # The exit status: 0 only if the run ends on its own (it does not); 130 after Ctrl-C and 143
    # after SIGTERM, as shells report a process those signals end; 1 after an error.
    status = 0
    record: tuple[StackRecord, Path] | None = None
    web: Console | None = None
    try:
        record = _record_stack(stack)
        web = _start_console(stack, console_port) if console_on else None
        _print_banner(stack, log_file, _write_aws_wrapper(AWS_WRAPPER_DIR.resolve()), web)
        _live_status(stack)
    except KeyboardInterrupt as interrupt:
        status = interrupted_status(interrupt)
    except Exception as exc:  # noqa: BLE001 - the emulator died, a call failed: said in one line, then stopped
        errors.print(f"error: {_one_line(exc)}")
        status = 1
    finally:
        if record is not None:  # first: no `orderflow invoke` starts against a stack that is stopping
            written, path = record
            written.remove(path)
        # Whatever ended the run (Ctrl-C, an error, an exit), what the stack started is drained and stopped.
        _stop(stack, chaos=bool(chaos), status=status, web=web)
    if status:
        raise typer.Exit(status)


def _start_console(stack: Any, port: int | None) -> Console | None:
    """The console on ``port``; with none given, on the endpoint's port + 1, or any free port if that
    one is taken (said). A port asked for and taken is an error, before anything else is shown; any
    other failure leaves the stack running without its console (said)."""
    from orderflow_local.console import Console, ConsoleStartError

    try:
        preferred = port if port is not None else (stack.emulator.port + 1 if stack.emulator.port < 65535 else 0)
        try:
            return Console(stack, port=preferred).start()
        except ConsoleStartError as exc:
            if port is not None or "already in use" not in str(exc):
                raise
            console.print(f"[yellow]note:[/yellow] port {preferred} is taken: the console takes a free one")
            return Console(stack, port=0).start()
    except ConsoleStartError as exc:
        if port is not None:
            raise RuntimeError(f"console: {exc}") from None
        errors.print(f"warning: no console: {_one_line(exc)}")
    except Exception as exc:  # noqa: BLE001 - the stack runs on without its console: said in one line
        errors.print(f"warning: no console ({type(exc).__name__}): {_one_line(exc)}")
    return None


def _one_line(exc: Exception) -> str:
    """The error's first line (botocore's and granian's messages can span several), or its type."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _stop(stack: Any, *, chaos: bool, status: int, web: Console | None = None) -> None:
    """The first Ctrl-C (or SIGTERM) drains and stops; a second one stops at once, and the exit
    status stays the one the run ended with (``status``; the second signal's if that is 0).
    The console (``web``) stops first: its pages' streams end, and it reads the stack no more."""
    console.print("\nStopping: no new batches; the batches in flight finish first (Ctrl-C again to stop at once)...")
    held: dict[str, int] = {}

    def record_what_is_held() -> None:
        try:
            held.update(stack.held())
        except Exception as exc:  # noqa: BLE001 - a summary is not worth failing the stop for
            errors.print(f"warning: could not count what the emulator holds: {exc}")

    faults = stack.faults() if chaos else None
    try:
        if web is not None:
            try:  # the embedded AWS's state goes with the stack: the console's rules on its buses too
                web.stop(remove_tails=False)
            except Exception as exc:  # noqa: BLE001 - the stack's stop matters more: said, then on
                errors.print(f"warning: the console did not stop cleanly: {_one_line(exc)}")
        stack.stop(on_drained=record_what_is_held)
    except KeyboardInterrupt as interrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a third Ctrl-C must not interrupt the cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.kill()
        console.print("Stopped at once: batches in flight were abandoned (SQS would deliver them again).")
        raise typer.Exit(status or interrupted_status(interrupt)) from None
    if faults is not None:
        console.print(f"Faults injected: {_faults(faults)}")
    if held:
        listed = ", ".join(f"{count} {what}" for what, count in held.items())
        console.print(f"Discarded with the emulator's in-memory state: {listed}.")
    console.print("Stopped.")


def _check_handler(spec: str) -> None:
    """Refuse, before anything starts, a handler the environments could not load, as Lambda's init
    would report it: a malformed name, a module that is not there, a syntax error in its file.

    Found as the environments find it (PYTHONPATH, then the working directory). The module is
    parsed, not run; its parent packages (``pkg`` of ``pkg.mod.f``) are imported to find it.
    """
    from orderflow_local.lambda_runtime.runtime import check_handler

    here = str(Path.cwd())
    added = here not in sys.path
    if added:
        sys.path.insert(0, here)
    try:
        error = check_handler(spec)
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(here)
    if error is None:
        return
    from rich.markup import escape

    message = " ".join(error.message.split("\n"))  # one line, whatever the module raised
    hint = f" (is it on PYTHONPATH or in {here}?)" if error.error_type == "Runtime.ImportModuleError" else ""
    raise fail(escape(f"--handler {spec!r}: {error.error_type}: {message}{hint}"), 2)


def _record_stack(stack: Any) -> tuple[StackRecord, Path] | None:
    """Record the running stack's functions for `orderflow invoke`, in .orderflow/stacks/PORT.json:
    each as the stack runs it (orderflow_local.lambda_runtime.invoke.StackRecord). The record and
    its path; None, said, when it cannot be written (invoke will not find this stack)."""
    from orderflow_local.emulator.app import IDENTITY_PATH
    from orderflow_local.lambda_runtime.invoke import (
        STACK_RECORDS,
        FunctionRecord,
        StackRecord,
        instance_token,
        record_path,
    )
    from orderflow_local.stack.local_stack import function_config

    path: Path | None = None
    try:
        path = record_path(stack.emulator.port)
        deployed, options = stack.deployed, stack.options
        instance = instance_token(stack.endpoint, IDENTITY_PATH)
        if instance is None:
            raise OSError(f"the emulator at {stack.endpoint} did not say which instance it is")
        functions = tuple(
            FunctionRecord(
                logical_id=function.logical_id,
                # What its environments get, but the role's credentials: the invoker takes its own from STS.
                config=function_config(function, deployed, options, emulator_environment=stack.emulator.environment()),
                role_arn=deployed.role_of(function) if options.iam else None,
            )
            for function in deployed.spec.functions.values()
        )
        record = StackRecord(endpoint=stack.endpoint, instance=instance, functions=functions, pid=os.getpid())
        record.write(path)
    except Exception as exc:  # noqa: BLE001 - the stack runs on without it: said in one line
        from rich.markup import escape

        where = path or STACK_RECORDS
        errors.print(
            escape(f"warning: cannot record the stack in {where} ({exc}): `orderflow invoke` will not find it")
        )
        return None
    return record, path


def _write_aws_wrapper(directory: Path) -> Path | None:
    """Write AWS_WRAPPER as ``directory``/aws; the directory, or None (said) if it cannot be written."""
    path, written = directory / "aws", directory / f".aws.{os.getpid()}"
    try:
        if path.is_file() and os.access(path, os.X_OK) and path.read_text() == AWS_WRAPPER:
            return directory
        directory.mkdir(parents=True, exist_ok=True)
        written.write_text(AWS_WRAPPER)  # then renamed over it: another shell may be running it
        written.chmod(0o755)
        written.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            written.unlink(missing_ok=True)
        errors.print(f"warning: cannot write {path} ({exc.strerror}): give `aws sqs` --endpoint-url yourself")
        return None
    return directory


def _print_banner(stack: Any, log_file: Path, aws_wrapper: Path | None, web: Console | None = None) -> None:
    outputs = stack.outputs
    console.print(f"\n[bold]orderflow is running[/bold] — AWS endpoint {stack.endpoint} (us-east-1, any credentials)")
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column()
    identifier_column(table, "")  # a URL or a name is folded whole on a narrow terminal, never cut
    for name, value in outputs.items():
        table.add_row(name, value)
    table.add_row("Function logs", f"{log_file!s}; CloudWatch Logs {_log_groups(stack)} (`orderflow logs`)")
    for name, lines in _eventbridge_rows(stack):
        table.add_row(name, Text("\n".join(lines)))  # as Text: a name is shown as it is, never read as markup
    monitor = stack.alarm_monitor
    if monitor is not None:
        table.add_row(
            "Alarms",
            f"{len(monitor.alarms)} from the template, evaluated locally with periods divided by "
            f"{monitor.period_scale:g} (300 s over {300 / monitor.period_scale:g} s) (`orderflow status`)",
        )
    watched = ", ".join(_relative(path) for path in stack.watched)
    table.add_row("Hot reload", f"watching {watched}" if watched else "off")
    roles = ", ".join(f"{function} runs as {role.rsplit('/', 1)[-1]}" for function, role in stack.roles.items())
    table.add_row("IAM", f"enforced from the template: {roles}" if roles else "not enforced (--no-iam)")
    table.add_row("Console", Text(web.url) if web is not None else "off (--no-console)")
    console.print(table)
    for warning in stack.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    console.print("\nIn another shell:")
    for line in _exports(stack.endpoint, aws_wrapper):
        # What people copy: never wrapped by rich, whatever the terminal's width (a terminal that is
        # too narrow shows the line on two rows, and copies it as one).
        console.print(f"  {line}", soft_wrap=True, markup=False, highlight=False)
    if _is_ours(outputs):  # `send` and `orders` speak our stack's orders; another stack has its own
        console.print("  orderflow send            # the seed's sample order")
        console.print("  orderflow orders get ORD-20260420-001")
    from orderflow_local.stack.template import skipped_summary

    skipped = skipped_summary(list(stack.spec.not_emulated))
    console.print(f"\nSkipped (not run locally): {skipped or 'nothing'}", markup=False, highlight=False)
    console.print("Press Ctrl-C to stop.\n")


def _is_ours(outputs: dict[str, str]) -> bool:
    """Whether the stack has our stack's outputs (the queue, its DLQ, the table), which `send`, `orders`
    and the live line's first counts read; a foreign template's stack is shown by what it has."""
    return all(name in outputs for name in ("QueueUrl", "DLQUrl", "TableName"))


def _exports(endpoint: str, aws_wrapper: Path | None) -> list[str]:
    """The banner's lines for another shell: its environment for the SDKs, `orderflow` and the AWS CLI.

    The key pair shares a line: one of the two alone fails every command (PartialCredentialsError).
    """
    lines = [
        f"export AWS_ENDPOINT_URL={endpoint} AWS_DEFAULT_REGION=us-east-1",
        "export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local",
    ]
    if aws_wrapper is not None:
        lines += [
            "# its aws adds --endpoint-url, which AWS CLI v1 needs for `aws sqs`",
            f'export PATH={shlex.quote(str(aws_wrapper))}:"$PATH"',
        ]
    return lines


def _eventbridge_rows(stack: Any) -> list[tuple[str, list[str]]]:
    """The banner's rows for what moves events: each bus with its archive, each rule with its targets
    (and those not run locally, saying why), each pipe from its source to its target, with its DLQ.
    One line per resource; a row only for a kind the template has."""
    from orderflow_local.stack.template import resolve

    deployed = stack.deployed
    buses = []
    for logical_id, bus_arn in deployed.buses.items():
        archives = []
        for archive_id in deployed.archives:
            archive = deployed.spec.archives[archive_id]
            properties = resolve(archive.properties, deployed.lookup, pseudo=deployed.pseudo)
            if properties.get("SourceArn") == bus_arn:
                days = int(properties.get("RetentionDays") or 0)  # 0 or none: kept indefinitely
                archives.append(f"archive {archive.name} ({f'{days} days' if days else 'kept indefinitely'})")
        buses.append(f"{deployed.spec.buses[logical_id].name}: {', '.join(archives) or 'no archive'}")
    skipped = {entry.split(":", 1)[0] for entry in deployed.skipped_targets}  # "Rule/TargetId: ARN"
    rules = []
    for logical_id in deployed.rules:
        rule = deployed.spec.rules[logical_id]
        properties = resolve(rule.properties, deployed.lookup, pseudo=deployed.pseudo)
        disabled = " (DISABLED)" if properties.get("State") == "DISABLED" else ""
        targets = [
            _named(deployed, str(target.get("Arn")))
            + (" not run locally (only SQS targets are)" if f"{logical_id}/{target.get('Id')}" in skipped else "")
            for target in properties.get("Targets", [])
        ]
        rules.append(f"{rule.name} on {deployed.rule_bus_name(rule)}{disabled} -> {', '.join(targets) or 'no target'}")
    runners = {pipe.config.name: pipe for pipe in stack.pipes}
    pipes = []
    for logical_id, properties in deployed.pipes.items():
        name = deployed.spec.pipes[logical_id].name
        stream = properties.get("SourceParameters", {}).get("DynamoDBStreamParameters", {})
        dlq = stream.get("DeadLetterConfig", {}).get("Arn")
        runner = runners.get(name)
        source, target = (_named(deployed, str(properties.get(end))) for end in ("Source", "Target"))
        dlq_name = _named(deployed, str(dlq)).removeprefix("queue ") if dlq else "none"
        pipes.append(f"{name} ({runner.state if runner else 'not run'}): {source} -> {target}; DLQ {dlq_name}")
    named = {"Event buses": buses, "Rules": rules, "Pipes": pipes}
    return [(name, lines) for name, lines in named.items() if lines]


def _named(deployed: Any, arn: str) -> str:
    """What the local resource ``arn`` is, in a few words (``queue OrderOutboxDLQ``); for one that is
    not local (a Lambda target), its service and the ARN's last part."""
    for queue in deployed.queues.values():
        if queue.arn == arn:
            return f"queue {queue.name}"
    for logical_id, bus_arn in deployed.buses.items():
        if bus_arn == arn:
            return f"bus {deployed.spec.buses[logical_id].name}"
    for logical_id, stream_arn in deployed.streams.items():
        if stream_arn == arn:
            return f"the {deployed.tables[logical_id]} table's stream"
    parts = arn.split(":")
    return f"{parts[2]} {parts[-1].rsplit('/', 1)[-1]}" if len(parts) >= 6 else arn


def _log_groups(stack: Any) -> str:
    return ", ".join(sorted({function.log_group for function in stack.spec.functions.values()}))


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _live_status(stack: Any) -> None:
    import time

    from rich.live import Live

    sqs, dynamodb = stack.emulator.sqs(), stack.emulator.dynamodb()
    with Live(console=console, refresh_per_second=2, transient=False) as live:
        while True:
            live.update(_status_line(stack, sqs, dynamodb))
            time.sleep(1)


def _status_line(stack: Any, sqs: Any, dynamodb: Any) -> str:
    outputs = stack.outputs
    stats = [mapping.stats for mapping in stack.mappings]
    chaos = f" | faults {_faults(stack.faults())}" if stack.options.chaos_rate else ""
    counts = _our_counts(outputs, sqs, dynamodb) if _is_ours(outputs) else _stack_counts(stack, sqs, dynamodb)
    return (
        f"{counts} | "
        f"invocations {sum(s.invocations for s in stats)} | cold starts {sum(s.cold_starts for s in stats)} | "
        f"errors {sum(s.failed for s in stats)}{_pipe_counts(stack)}{chaos}{_alarm_flag(stack)}"
    )


def _our_counts(outputs: dict[str, str], sqs: Any, dynamodb: Any) -> str:
    """Our stack's queue, its DLQ and the table, from its outputs."""
    queue = sqs.get_queue_attributes(QueueUrl=outputs["QueueUrl"], AttributeNames=["All"])["Attributes"]
    dlq = sqs.get_queue_attributes(QueueUrl=outputs["DLQUrl"], AttributeNames=["ApproximateNumberOfMessages"])
    stored = dynamodb.describe_table(TableName=outputs["TableName"])["Table"]["ItemCount"]
    return (
        f"queue {queue['ApproximateNumberOfMessages']} | in flight {queue['ApproximateNumberOfMessagesNotVisible']} | "
        f"stored {stored} | DLQ {dlq['Attributes']['ApproximateNumberOfMessages']}"
    )


def _stack_counts(stack: Any, sqs: Any, dynamodb: Any) -> str:
    """Another stack's: messages waiting and in flight across its queues, items across its tables."""
    waiting = in_flight = stored = 0
    for queue in stack.deployed.queues.values():
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        waiting += int(attributes["ApproximateNumberOfMessages"])
        in_flight += int(attributes["ApproximateNumberOfMessagesNotVisible"])
    for name in stack.deployed.tables.values():
        stored += int(dynamodb.describe_table(TableName=name)["Table"]["ItemCount"])
    tables = f" | stored {stored}" if stack.deployed.tables else ""
    return f"queued {waiting} in {len(stack.deployed.queues)} queues | in flight {in_flight}{tables}"


def _pipe_counts(stack: Any) -> str:
    """The pipes' events published to their bus and records sent to their DLQ (summed), if the stack has any."""
    if not stack.pipes:
        return ""
    counts = [pipe.stats.snapshot() for pipe in stack.pipes]
    published, dead_lettered = (sum(count[name] for count in counts) for name in ("published", "dead_lettered"))
    return f" | pipe: published {published}, dead-lettered {dead_lettered}"


def _alarm_flag(stack: Any) -> str:
    monitor = stack.alarm_monitor
    if monitor is None:
        return ""
    firing = monitor.in_alarm()
    if not firing:
        return " | alarms OK"
    return " | [bold red]ALARM " + ", ".join(name.removeprefix("orderflow-") for name in firing) + "[/bold red]"


def _faults(faults: Any) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in sorted(faults.items())) or "none yet"
