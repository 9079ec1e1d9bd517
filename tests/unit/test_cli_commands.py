"""The `orderflow` command's help, version and argument errors, run in-process (typer's CliRunner):
what needs no stack. What needs one runs against `orderflow up` in tests/integration/test_cli.py."""

from __future__ import annotations

from importlib.metadata import version

import pytest
from typer.testing import CliRunner

from orderflow_cli.main import app
from tests.support import free_port

ENV = {
    "COLUMNS": "200",
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _run(*args: str, **env: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), env={**ENV, **env}, prog_name="orderflow")


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["up"],
        ["demo"],
        ["send"],
        ["cancel"],
        ["orders"],
        ["orders", "get"],
        ["orders", "by-customer"],
        ["dlq"],
        ["dlq", "list"],
        ["dlq", "redrive"],
        ["logs"],
        ["status"],
        ["bench", "emulator"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = _run(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage: orderflow" in result.stdout


def test_version() -> None:
    result = _run("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"orderflow {version('orderflow')}"


@pytest.mark.parametrize("command", [["send"], ["logs"], ["status"], ["dlq", "list"]])
def test_commands_say_what_to_do_when_no_stack_runs(command: list[str]) -> None:
    result = _run(*command, AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 1
    assert "cannot reach" in result.stderr
    assert "Is `orderflow up` running?" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback


def test_up_refuses_a_handler_it_cannot_find() -> None:
    result = _run("up", "--port", "0", "--handler", "no_such_module:handler")
    assert result.exit_code == 2
    assert "cannot find module 'no_such_module'" in result.stderr


def test_cancel_refuses_arguments_it_cannot_send() -> None:
    no_reason = _run("cancel", "ORD-X", "2026-04-20T14:30:00Z")
    assert no_reason.exit_code == 2
    assert "--reason" in no_reason.stderr
    bad_time = _run("cancel", "ORD-X", "yesterday", "--reason", "r")
    assert bad_time.exit_code == 2
    assert "createdAt: must be an ISO 8601 timestamp" in bad_time.stderr
