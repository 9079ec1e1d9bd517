"""`orderflow invoke`: one invocation of one of the stack's functions, as `sam local invoke` runs one — its
result on stdout, its log lines on stderr.

Locally it runs beside the stack `orderflow up` runs: up records its functions in
.orderflow/stacks/PORT.json (orderflow_local.lambda_runtime.invoke), and the invocation runs in
a new execution environment from that record, as the function's role. On AWS it calls Lambda's
Invoke with LogType Tail: https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer

from orderflow_cli.aws import LOCAL_ENDPOINT, CliError, Target, translate
from orderflow_cli.common import EndpointOption, errors, fail

if TYPE_CHECKING:
    from orderflow_local.lambda_runtime.invoke import StackRecord

#: A function's timeout can be up to 15 minutes: the Invoke call waits that long for its answer.
AWS_READ_TIMEOUT = 15 * 60 + 10


@dataclass
class Outcome:
    """What an invocation printed and returned, locally or on AWS alike."""

    function: str
    #: The function's log lines (locally all of them; on AWS the last 4 KB, as Invoke returns them).
    log_lines: list[str]
    #: The JSON the function returned, or Lambda's error document when it failed.
    payload: str
    #: Lambda's errorType and errorMessage when the function failed (None: it succeeded).
    error: dict[str, Any] | None = None


def invoke(
    ctx: typer.Context,
    function: Annotated[
        str, typer.Argument(help="The function's name (OrderProcessor) or its logical id in the stack's template.")
    ],
    event: Annotated[
        str | None,
        typer.Option(
            "--event",
            "-e",
            metavar="FILE",
            help="A JSON file of the event ('-': stdin); events/ has samples for each function. Default: {}, "
            "as sam local invoke sends.",
        ),
    ] = None,
    endpoint_url: EndpointOption = LOCAL_ENDPOINT,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=1,
            max=65535,
            help="The port `orderflow up --port` runs on: short for --endpoint-url http://127.0.0.1:PORT.",
        ),
    ] = None,
) -> None:
    """Invoke FUNCTION once with an event: its result (JSON) on stdout, its log lines on stderr.

    Locally, against the stack `orderflow up` runs (run invoke in the directory up runs in: up
    records its functions in .orderflow/stacks/), it runs in a new execution environment (a cold
    start) with the function's environment, timeout and memory, as its role: what it writes is in
    the stack afterwards (`orderflow orders get`), and its log lines are in its log group
    (`orderflow logs`). It is not counted in up's live line or alarms, and runs without --chaos.
    With --endpoint-url aws it calls Lambda's Invoke, which returns the last 4 KB of the log.

    Exits 1 when the function failed: its error, as Lambda returns it ({"errorType", "errorMessage"}),
    is printed on stdout.

    Example: orderflow invoke OrderProcessor -e events/OrderProcessor/order-created.json | jq
    """
    sent = _read_event(event)
    target = Target(_endpoint(ctx, endpoint_url, port))
    try:
        outcome = _on_aws(target, function, sent) if target.is_real_aws else _locally(target, function, sent)
    except CliError as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted: the invocation was stopped", 130) from None
    for line in outcome.log_lines:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()
    sys.stdout.write(_pretty(outcome.payload) + "\n")
    sys.stdout.flush()
    if outcome.error is not None:
        kind, message = outcome.error.get("errorType", "Error"), outcome.error.get("errorMessage", "")
        first_line = str(message).strip().partition("\n")[0]
        errors.print(f"error: {outcome.function} failed: {kind}: {first_line}", markup=False, highlight=False)
        raise typer.Exit(1)


def _read_event(source: str | None) -> Any:
    """The event: the JSON in ``source`` (a file, or '-' for stdin), or {} when none is given."""
    if source is None:
        return {}
    name = "stdin" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except OSError as exc:
        raise _fail(f"--event {name}: cannot read it: {exc.strerror or exc}", 2) from None
    except UnicodeDecodeError as exc:
        raise _fail(f"--event {name}: not valid JSON: not UTF-8 text ({exc.reason} at byte {exc.start})", 2) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(f"--event {name}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", 2) from None
    except RecursionError:
        raise _fail(f"--event {name}: not valid JSON: nested too deeply", 2) from None


def _fail(message: str, code: int = 1) -> typer.Exit:
    """:func:`fail` with ``message`` shown as written (a file or function name is never read as console markup)."""
    from rich.markup import escape

    return fail(escape(message), code)


def _endpoint(ctx: typer.Context, endpoint_url: str, port: int | None) -> str:
    if port is None:
        return endpoint_url
    source = ctx.get_parameter_source("endpoint_url")  # typer's own copy of click's ParameterSource
    if source is not None and source.name == "COMMANDLINE":
        raise fail("give --endpoint-url or --port, not both", 2)
    return f"http://127.0.0.1:{port}"  # over AWS_ENDPOINT_URL: the option on the line wins


def _pretty(payload: str) -> str:
    """The payload indented, when it is JSON (as Lambda's always is); as returned otherwise."""
    try:
        return json.dumps(json.loads(payload), indent=2, ensure_ascii=False)
    except ValueError:
        return payload


# --- locally, beside `orderflow up` ---------------------------------------------------------------


def _locally(target: Target, function: str, event: Any) -> Outcome:
    from orderflow_local.lambda_runtime.invoke import error_payload, invoke_once

    record = _running_stack(target)
    found = record.find(function)
    if found is None:
        raise CliError(
            f"no function {function!r} in the stack at {target.describe()}: "
            f"its functions are {record.describe_functions()}"
        )
    config = found.config
    if found.role_arn:  # its role's credentials, from the emulator's STS, as Lambda gets them
        role = found.role_arn
        sts = _aws_client(target, "sts")
        answer = translate(
            lambda: sts.assume_role(RoleArn=role, RoleSessionName=config.name), target, f"assuming role {role}"
        )
        credentials = answer["Credentials"]
        config = found.config_with(
            {
                "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
                "AWS_SESSION_TOKEN": credentials["SessionToken"],
            }
        )
    role_name = found.role_arn.rsplit("/", 1)[-1] if found.role_arn else "the emulator's administrator (--no-iam)"
    errors.print(
        f"Invoking {config.name} ({config.handler}) in a new execution environment as {role_name}, "
        f"at {target.describe()}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    result = invoke_once(config, event, logs=target.logs)
    lines = [message for _, message in result.events]
    if result.logged is False:
        errors.print(f"warning: CloudWatch Logs did not take all of the log lines of {config.log_group}", markup=False)
    invocation = result.invocation
    if invocation.status == "ok":
        return Outcome(config.name, lines, invocation.payload or "null")
    error = error_payload(invocation)
    return Outcome(config.name, lines, json.dumps(error), error)


def _running_stack(target: Target) -> StackRecord:
    """The record of the stack `orderflow up` runs at ``target``, once its emulator says it is that one."""
    from orderflow_local.emulator.app import IDENTITY_PATH
    from orderflow_local.lambda_runtime.invoke import RecordError, StackRecord, instance_token, record_path

    where = target.describe()
    if not target.is_loopback:
        raise CliError(
            f"{where} is not on this machine: invoke runs a function beside `orderflow up` here, or on AWS "
            "with --endpoint-url aws"
        )
    try:
        parts = urlsplit(target.endpoint_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        instance = instance_token(target.endpoint_url, IDENTITY_PATH)
    except ValueError as exc:
        raise CliError(f"--endpoint-url {where}: {exc}") from None
    except OSError:
        raise CliError(f"cannot reach {where}: start `orderflow up` first (or pass --endpoint-url)") from None
    if instance is None:
        raise CliError(f"{where} answers, but it is not the AWS that `orderflow up` embeds: start `orderflow up`")
    path = record_path(port)
    try:
        record = StackRecord.read(path)
    except RecordError as exc:
        raise CliError(f"cannot read {path} ({exc}): restart `orderflow up`") from None
    if record is None or record.instance != instance:
        found = "has no record of it" if record is None else "records a stack that has stopped"
        raise CliError(
            f"the stack at {where} is not the one recorded here: {path} {found}. Run invoke in the directory "
            "`orderflow up` runs in (it records its functions there), or restart it here"
        )
    return record


# --- on AWS -----------------------------------------------------------------------------------------


def _on_aws(target: Target, function: str, event: Any) -> Outcome:
    import base64

    from botocore.config import Config

    name = _aws_function_name(target, function)
    # No retry: an Invoke whose answer is lost may have run, and a second one would run it again.
    config = Config(read_timeout=AWS_READ_TIMEOUT, connect_timeout=5, retries={"total_max_attempts": 1})
    client = _aws_client(target, "lambda", config)
    response = translate(
        lambda: client.invoke(
            FunctionName=name, InvocationType="RequestResponse", LogType="Tail", Payload=json.dumps(event).encode()
        ),
        target,
        f"function {name}",
    )
    tail = base64.b64decode(response.get("LogResult") or "").decode("utf-8", errors="replace")
    payload = response["Payload"].read().decode("utf-8", errors="replace")
    error = None
    if response.get("FunctionError"):
        try:
            parsed = json.loads(payload)
        except ValueError:
            parsed = None
        error = (
            parsed if isinstance(parsed, dict) else {"errorType": response["FunctionError"], "errorMessage": payload}
        )
    return Outcome(name, tail.splitlines(), payload, error)


def _aws_function_name(target: Target, function: str) -> str:
    """The deployed name of ``function`` (a name or the template's logical id), from the stack's resources.

    When CloudFormation will not say (no such stack, no permission), the name is used as given:
    Invoke then says whether there is such a function.
    """
    from botocore.exceptions import ClientError

    from orderflow_local.stack.template import STACK_ID

    if function.startswith("arn:"):
        return function
    cloudformation = _aws_client(target, "cloudformation")

    def functions() -> dict[str, str] | None:
        found = {}
        try:
            for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=STACK_ID):
                for resource in page.get("StackResourceSummaries", []):
                    if resource.get("ResourceType") == "AWS::Lambda::Function":
                        found[resource["LogicalResourceId"]] = resource.get("PhysicalResourceId", "")
        except ClientError:  # no such stack, or no permission to read it
            return None
        return found

    deployed = translate(functions, target, f"stack {STACK_ID}")  # no credentials, no network: said
    if deployed is None or function in deployed.values():
        return function
    if function in deployed:
        return deployed[function]
    listed = ", ".join(f"{name} (logical id {logical})" for logical, name in deployed.items()) or "none"
    raise CliError(f"no function {function!r} in stack {STACK_ID} on AWS: its functions are {listed}")


def _aws_client(target: Target, service: str, config: Any = None) -> Any:
    """A client of ``service`` where ``target`` talks, with its session and credentials."""
    clients = {"sts": target.sts, "cloudformation": target.cloudformation}
    if service == "lambda":
        return translate(lambda: target.lambda_(config), target, service)
    return clients[service]()
