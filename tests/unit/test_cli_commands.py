"""The `orderflow` command's help, version and argument errors, run in-process (typer's CliRunner):
what needs no stack. What needs one runs against `orderflow up` in tests/integration/test_cli.py."""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from orderflow_cli.main import app
from tests.support import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

ENV = {
    "COLUMNS": "200",
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _run(*args: str, **env: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), env={**ENV, **env}, prog_name="orderflow")


COMMANDS = [
    [],
    ["up"],
    ["demo"],
    ["send"],
    ["cancel"],
    ["invoke"],
    ["orders"],
    ["orders", "get"],
    ["orders", "by-customer"],
    ["payments"],
    ["payments", "list"],
    ["mail"],
    ["mail", "show"],
    ["dlq"],
    ["dlq", "list"],
    ["dlq", "redrive"],
    ["dlq", "purge"],
    ["logs"],
    ["events"],
    ["events", "tail"],
    ["status"],
    ["bench"],
    ["bench", "batch"],
    ["bench", "console"],
    ["bench", "emulator"],
    ["bench", "handler"],
    ["bench", "sqs-depth"],
    ["bench", "cold-start"],
    ["bench", "load"],
    ["bench", "workflow"],
    ["cost"],
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: list[str]) -> None:
    result = _run(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage: orderflow" in result.stdout


def test_the_help_check_covers_every_command() -> None:
    """A command added to `orderflow` is added to COMMANDS, so its --help is checked too."""
    import typer.main

    def paths(command: Any, path: list[str]) -> list[list[str]]:  # a group's commands, its groups' too
        found = [path]
        for name, sub in getattr(command, "commands", {}).items():
            found += paths(sub, [*path, name])
        return found

    assert sorted(paths(typer.main.get_command(app), [])) == sorted(COMMANDS)


def test_version() -> None:
    result = _run("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"orderflow {version('orderflow')}"


@pytest.mark.parametrize(
    "command", [["send"], ["logs"], ["status"], ["dlq", "list"], ["events", "tail"], ["mail"], ["mail", "show", "ID"]]
)
def test_commands_say_what_to_do_when_no_stack_runs(command: list[str]) -> None:
    result = _run(*command, AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 1
    assert "cannot reach" in result.stderr
    assert "Is `orderflow up` running?" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback


def test_events_tail_help_says_why_there_is_no_since() -> None:
    result = _run("events", "tail", "--help")
    assert "there is no --since" in " ".join(result.stdout.split())
    since = _run("events", "tail", "--since", "10m")
    assert since.exit_code == 2
    assert "No such option: --since" in since.stderr


def test_events_tail_refuses_an_empty_detail_type() -> None:
    result = _run("events", "tail", "--detail-type", " ", AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 2
    assert result.stderr == "error: --detail-type needs a name, like OrderConfirmed\n"


def test_up_refuses_a_handler_it_cannot_find() -> None:
    result = _run("up", "--port", "0", "--handler", "no_such_module:handler")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: --handler 'no_such_module:handler': Runtime.ImportModuleError: Unable to import module "
        "'no_such_module': No module named 'no_such_module' (is it on PYTHONPATH or in "
    )
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_up_refuses_a_malformed_handler_name() -> None:
    result = _run("up", "--port", "0", "--handler", "handler")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --handler 'handler': Runtime.MalformedHandlerName: Bad handler 'handler': give MODULE.FUNCTION "
        "(or MODULE:FUNCTION)\n"
    )


def test_up_refuses_a_handler_whose_module_has_a_syntax_error_without_running_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A module in the working directory that would leave a mark if it ran, with a syntax error on line 3
    ran = tmp_path / "ran"
    (tmp_path / "broken_handler_module.py").write_text(
        f"open({str(ran)!r}, 'w').close()\n\ndef handler(event, context)\n    return event\n"
    )
    monkeypatch.chdir(tmp_path)

    result = _run("up", "--port", "0", "--handler", "broken_handler_module.handler")

    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: --handler 'broken_handler_module.handler': Runtime.UserCodeSyntaxError: Syntax error in module "
        "'broken_handler_module': "
    )
    assert "line 3)" in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert not ran.exists()  # parsed, never run
    assert "broken_handler_module" not in sys.modules
    assert str(tmp_path) not in sys.path  # the working directory was searched, and left off the path after


def test_cancel_refuses_arguments_it_cannot_send() -> None:
    no_reason = _run("cancel", "ORD-X", "2026-04-20T14:30:00Z")
    assert no_reason.exit_code == 2
    assert "--reason" in no_reason.stderr
    bad_time = _run("cancel", "ORD-X", "yesterday", "--reason", "r")
    assert bad_time.exit_code == 2
    assert "createdAt: must be an ISO 8601 timestamp" in bad_time.stderr


# --- `orderflow invoke`: what needs no stack (tests/integration/test_invoke.py runs it beside one) ------------


def test_invoke_with_no_stack_answering_says_to_start_up_first() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    result = _run("invoke", "OrderProcessor", AWS_ENDPOINT_URL=endpoint)
    assert result.exit_code == 1
    assert result.stderr == f"error: cannot reach {endpoint}: start `orderflow up` first (or pass --endpoint-url)\n"
    assert result.stdout == ""


def test_invoke_refuses_a_malformed_event_file_in_one_line_naming_it(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    text = '{"Records": [\n  {"messageId": "m-1",}\n]}\n'
    event.write_text(text)
    result = _run("invoke", "OrderProcessor", "--event", str(event), AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 2
    with pytest.raises(json.JSONDecodeError) as parsed:  # its words and column differ between Python versions
        json.loads(text)
    error = parsed.value
    assert result.stderr == (
        f"error: --event {event}: not valid JSON: {error.msg} at line {error.lineno} column {error.colno}\n"
    )
    assert "line 2" in result.stderr


def test_invoke_says_which_event_it_cannot_read(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    result = _run("invoke", "OrderProcessor", "-e", str(missing))
    assert result.exit_code == 2
    assert result.stderr == f"error: --event {missing}: cannot read it: No such file or directory\n"
    from_stdin = CliRunner().invoke(app, ["invoke", "OrderProcessor", "-e", "-"], input="{", env=ENV)
    assert from_stdin.exit_code == 2
    assert from_stdin.stderr == (
        "error: --event stdin: not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2\n"
    )


def test_invoke_takes_a_port_or_an_endpoint_not_both() -> None:
    result = _run("invoke", "OrderProcessor", "--port", "4566", "--endpoint-url", "http://127.0.0.1:4567")
    assert result.exit_code == 2
    assert result.stderr == "error: give --endpoint-url or --port, not both\n"
    port = free_port()  # over AWS_ENDPOINT_URL, the port on the line is where invoke goes
    from_environment = _run("invoke", "OrderProcessor", "--port", str(port), AWS_ENDPOINT_URL="http://127.0.0.1:1")
    assert from_environment.exit_code == 1
    assert from_environment.stderr.startswith(f"error: cannot reach http://127.0.0.1:{port}: ")


@pytest.fixture
def aws_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Lambda and CloudFormation clients whose answers a test gives (botocore's Stubber checks each
    call's parameters against what the test expects, and against the service's model)."""
    import boto3
    from botocore.stub import Stubber

    import orderflow_cli.invoke

    clients = {
        service: boto3.client(service, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
        for service in ("lambda", "cloudformation")
    }
    stubbers = {service: Stubber(client) for service, client in clients.items()}
    for stubber in stubbers.values():
        stubber.activate()
    monkeypatch.setattr(orderflow_cli.invoke, "_aws_client", lambda _target, service, _config=None: clients[service])
    yield stubbers
    for stubber in stubbers.values():
        stubber.assert_no_pending_responses()
        stubber.deactivate()


def _stack_resources(stubbers: dict[str, Any]) -> None:
    stubbers["cloudformation"].add_response(
        "list_stack_resources",
        {
            "StackResourceSummaries": [
                {
                    "LogicalResourceId": logical,
                    "PhysicalResourceId": physical,
                    "ResourceType": kind,
                    "LastUpdatedTimestamp": "2026-04-20T14:30:00Z",
                    "ResourceStatus": "CREATE_COMPLETE",
                }
                for logical, physical, kind in [
                    ("ProcessorOrderProcessorFnAF186E91", "OrderProcessor", "AWS::Lambda::Function"),
                    ("OrdersOrdersTable07F5E64F", "Orders", "AWS::DynamoDB::Table"),
                ]
            ]
        },
        {"StackName": "OrderProcessingStack"},
    )


def _answer(stubbers: dict[str, Any], event: object, payload: bytes, log_tail: str, **more: Any) -> None:
    import base64
    import io

    from botocore.response import StreamingBody

    stubbers["lambda"].add_response(
        "invoke",
        {
            "StatusCode": 200,
            "LogResult": base64.b64encode(log_tail.encode()).decode(),
            "Payload": StreamingBody(io.BytesIO(payload), len(payload)),
            **more,
        },
        {
            "FunctionName": "OrderProcessor",
            "InvocationType": "RequestResponse",
            "LogType": "Tail",
            "Payload": json.dumps(event).encode(),
        },
    )


def test_invoke_on_aws_finds_the_function_by_its_logical_id_and_prints_the_log_tail_and_result(
    aws_clients: dict[str, Any], tmp_path: Path
) -> None:
    event = {"Records": [{"messageId": "m-1", "body": "{}"}]}
    (tmp_path / "event.json").write_text(json.dumps(event))
    _stack_resources(aws_clients)
    tail = 'START RequestId: r-1 Version: $LATEST\n{"level":"INFO","message":"Order stored"}\nEND RequestId: r-1\n'
    _answer(aws_clients, event, b'{"batchItemFailures":[]}', tail, ExecutedVersion="$LATEST")

    result = _run(
        "invoke", "ProcessorOrderProcessorFnAF186E91", "--event", str(tmp_path / "event.json"), "--endpoint-url", "aws"
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"batchItemFailures": []}
    assert result.stderr == tail


def test_invoke_on_aws_exits_1_with_the_functions_error(aws_clients: dict[str, Any]) -> None:
    _stack_resources(aws_clients)
    error = {"errorMessage": "Unexpected batch event type", "errorType": "UnexpectedBatchTypeError", "requestId": "r-2"}
    _answer(aws_clients, {}, json.dumps(error).encode(), "END RequestId: r-2\n", FunctionError="Unhandled")

    result = _run("invoke", "OrderProcessor", "--endpoint-url", "aws")

    assert result.exit_code == 1
    assert json.loads(result.stdout) == error
    assert result.stderr.splitlines() == [
        "END RequestId: r-2",
        "error: OrderProcessor failed: UnexpectedBatchTypeError: Unexpected batch event type",
    ]


def test_invoke_on_aws_names_the_stacks_functions_when_there_is_no_such_one(aws_clients: dict[str, Any]) -> None:
    _stack_resources(aws_clients)

    result = _run("invoke", "OrderShipper", "--endpoint-url", "aws")

    assert result.exit_code == 1
    assert result.stderr == (
        "error: no function 'OrderShipper' in stack OrderProcessingStack on AWS: its functions are OrderProcessor "
        "(logical id ProcessorOrderProcessorFnAF186E91)\n"
    )


def test_invoke_on_aws_uses_the_name_as_given_when_cloudformation_will_not_say(aws_clients: dict[str, Any]) -> None:
    aws_clients["cloudformation"].add_client_error(
        "list_stack_resources", "ValidationError", "Stack with id OrderProcessingStack does not exist"
    )
    _answer(aws_clients, {}, b"null", "")

    result = _run("invoke", "OrderProcessor", "--endpoint-url", "aws")

    assert result.exit_code == 0, result.output
    assert result.stdout == "null\n"


# --- what invoke prints for a failed invocation: Lambda's error document ---------------------------------


def _failed(status: str, error: str, request_id: str = "r-1") -> Any:
    from orderflow_local.lambda_runtime.environment import Invocation

    return Invocation(status, error=error, request_id=request_id)


@pytest.mark.parametrize(
    ("invocation", "document"),
    [
        (  # the handler raised: its type, its whole message (a batch's error names each record's)
            _failed("error", "BatchProcessingError: All records failed processing.\n\nTraceback (most recent ..."),
            {
                "errorType": "BatchProcessingError",
                "errorMessage": "All records failed processing.\n\nTraceback (most recent ...",
                "requestId": "r-1",
            },
        ),
        (
            _failed("error", "ValueError: "),
            {"errorType": "ValueError", "errorMessage": "", "requestId": "r-1"},
        ),
        (
            _failed("timeout", "Task timed out after 3.00 seconds"),
            {
                "errorType": "Sandbox.Timedout",
                "errorMessage": "RequestId: r-1 Error: Task timed out after 3.00 seconds",
                "requestId": "r-1",
            },
        ),
        (
            _failed("crash", "Runtime exited with code -9"),
            {
                "errorType": "Runtime.ExitError",
                "errorMessage": "RequestId: r-1 Error: Runtime exited with code -9",
                "requestId": "r-1",
            },
        ),
        (  # the init failed: no request yet; the module's frames are its stack trace
            _failed(
                "error",
                'RuntimeError: no table\nTraceback (most recent call last):\n  File "app.py", line 3, in <module>\n'
                "    raise RuntimeError('no table')",
                request_id="",
            ),
            {
                "errorType": "RuntimeError",
                "errorMessage": "no table",
                "stackTrace": ['  File "app.py", line 3, in <module>', "    raise RuntimeError('no table')"],
            },
        ),
    ],
    ids=["handler", "empty message", "timeout", "crash", "init"],
)
def test_a_failed_invocation_is_lambdas_error_document(invocation: Any, document: dict[str, Any]) -> None:
    from orderflow_local.lambda_runtime.invoke import error_payload

    assert error_payload(invocation) == document
