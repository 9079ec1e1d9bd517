"""The `orderflow` command's help, version and argument errors, run in-process (typer's CliRunner):
what needs no stack. What needs one runs against `orderflow up` in tests/integration/test_cli.py."""

from __future__ import annotations

import sys
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from orderflow_cli.main import app
from tests.support import free_port

if TYPE_CHECKING:
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
    ["orders"],
    ["orders", "get"],
    ["orders", "by-customer"],
    ["orders", "notifications"],
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
    ["bench", "emulator"],
    ["bench", "handler"],
    ["bench", "sqs-depth"],
    ["bench", "cold-start"],
    ["bench", "load"],
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


@pytest.mark.parametrize("command", [["send"], ["logs"], ["status"], ["dlq", "list"], ["events", "tail"]])
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
