"""`orderflow up`'s banner, its option errors and its exit status, the `aws` its banner puts on PATH,
the order `orderflow --help` lists the commands in, and half a key pair: run in-process with a
stand-in for the local stack (what needs a real one: tests/integration/test_cli_endpoint.py)."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import PartialCredentialsError
from typer.testing import CliRunner

import orderflow_cli.up
from orderflow_cli.aws import CliError, Target, translate
from orderflow_cli.common import OutputConsole
from orderflow_cli.main import app

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

ENDPOINT = "http://127.0.0.1:4566"


def _ctrl_c() -> None:
    raise KeyboardInterrupt


def _sigterm() -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # `up`'s handler raises in this (the main) thread


class _Emulator:
    port = 4566

    def __init__(self, stack: _Stack) -> None:
        self.stack = stack

    def sqs(self) -> Any:
        return self

    def dynamodb(self) -> Any:
        return self

    def get_queue_attributes(self, **_: Any) -> Any:
        self.stack.events.append("status line")
        self.stack.interrupt_run()
        raise AssertionError("the status line was to be interrupted")


class _Stack:
    """What `up` uses of a LocalStack: its banner's outputs, its stop; it records what `up` did."""

    def __init__(self, options: Any, *, progress: Callable[[str], None]) -> None:
        self.options = options
        self.endpoint = ENDPOINT
        self.emulator = _Emulator(self)
        self.outputs = {
            "QueueUrl": f"{ENDPOINT}/123456789012/OrderCreatedQueue-with-a-name-long-enough-to-fold",
            "DLQUrl": f"{ENDPOINT}/123456789012/OrderCreatedDLQ",
            "TableName": "Orders",
        }
        self.alarm_monitor = None
        self.watched: list[Path] = []
        self.roles = {"OrderProcessor": "arn:aws:iam::123456789012:role/OrderProcessingStack-ProcessorRole"}
        self.warnings: list[str] = []
        self.spec = SimpleNamespace(
            functions={"OrderProcessor": SimpleNamespace(log_group="/aws/lambda/OrderProcessor")},
            not_emulated=["AWS::KMS::Key"],
        )
        # a stack with no bus, rule or pipe (tests/functional/test_cli_outbox.py shows those)
        self.deployed = SimpleNamespace(spec=self.spec, buses={}, archives={}, rules={}, pipes={}, skipped_targets=[])
        self.mappings: list[Any] = []
        self.pipes: list[Any] = []
        self.events: list[str] = []
        _started.append(self)

    def start(self) -> _Stack:
        return self

    def interrupt_run(self) -> None:
        """What its status line's first call does: Ctrl-C (a test may make it SIGTERM)."""
        _ctrl_c()

    def interrupt_drain(self) -> None:
        """What happens while it drains: nothing (a test may press Ctrl-C again)."""

    def held(self) -> dict[str, int]:
        return {}

    def stop(self, *, on_drained: Callable[[], None] | None = None) -> None:
        self.events.append("drain")
        self.interrupt_drain()
        if on_drained is not None:
            on_drained()
        self.events.append("stopped")

    def kill(self) -> None:
        self.events.append("killed")

    def faults(self) -> dict[str, int]:  # `up --chaos` says what it injected when it stops
        return {}


_started: list[_Stack] = []


@pytest.fixture
def fake_stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[_Stack]]:
    import orderflow_local.stack

    monkeypatch.setattr(orderflow_local.stack, "LocalStack", _Stack)
    monkeypatch.chdir(tmp_path)  # `up` writes its `aws` under .orderflow/bin here
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    _started.clear()
    yield _started
    for number, handler in handlers.items():  # `up` installs its own
        signal.signal(number, handler)


def _up(*args: str, console: bool = False) -> Any:
    """`orderflow up` on the fake stack; without the console (it reads a real stack) unless asked."""
    flags = [] if console else ["--no-console"]
    return CliRunner().invoke(app, ["up", "--no-reload", "--log-file", "fn.log", *flags, *args], prog_name="orderflow")


class _Console:
    """What `up` uses of the console: its URL, its stop."""

    url = "http://127.0.0.1:4567/?token=run-token"

    def __init__(self, stack: _Stack, port: int | None) -> None:
        self.stack, self.port = stack, port

    def stop(self, *, remove_tails: bool = True) -> None:
        # the embedded AWS's state goes with the stack: up leaves the console's rules to it
        self.stack.events.append("console stopped" + (" and removed its rules" if remove_tails else ""))


def test_the_banner_prints_the_consoles_url_and_the_stop_stops_it_first(
    fake_stack: list[_Stack], monkeypatch: pytest.MonkeyPatch
) -> None:
    import orderflow_cli.up

    started: list[_Console] = []
    monkeypatch.setattr(
        orderflow_cli.up, "_start_console", lambda stack, port: started.append(_Console(stack, port)) or started[-1]
    )
    result = _up("--console-port", "4567", console=True)
    assert result.exit_code == 130, result.output
    assert "http://127.0.0.1:4567/?token=run-token" in result.output
    assert started[0].port == 4567
    assert fake_stack[-1].events[-3:] == ["console stopped", "drain", "stopped"]
    assert "off (--no-console)" in _up().output


def test_a_console_that_cannot_start_leaves_the_stack_running_unless_its_port_was_asked_for(
    fake_stack: list[_Stack], monkeypatch: pytest.MonkeyPatch
) -> None:
    import orderflow_local.console
    from orderflow_local.console import ConsoleStartError

    def broken(stack: Any, *, port: int) -> Any:
        if port == 4567:
            raise ConsoleStartError("port 4567 on 127.0.0.1 is already in use (--console-port 0 picks a free one)")
        raise ValueError("a dashboard body it cannot read\nsecond line")

    monkeypatch.setattr(orderflow_local.console, "Console", broken)
    result = _up(console=True)  # the default port (4567) is taken, a free one fails otherwise: a warning, then on
    assert result.exit_code == 130, result.output
    assert "warning: no console (ValueError): a dashboard body it cannot read" in result.output
    assert "second line" not in result.output
    assert fake_stack[-1].events[-2:] == ["drain", "stopped"]
    asked = _up("--console-port", "4567", console=True)  # a port asked for and taken: an error, the stack stopped
    assert asked.exit_code == 1
    assert "error: console: port 4567 on 127.0.0.1 is already in use" in asked.output


# --- the banner's lines for another shell ---------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "piped"])
def test_the_banners_export_lines_are_whole_at_80_columns(
    fake_stack: list[_Stack], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, terminal: bool
) -> None:
    # Given a directory whose path makes the PATH line longer than the terminal is wide
    deep = tmp_path / ("a-directory-with-a-long-name-" * 3)
    deep.mkdir()
    monkeypatch.chdir(deep)
    out = io.StringIO()
    monkeypatch.setattr(orderflow_cli.up, "console", OutputConsole(file=out, width=80, force_terminal=terminal))
    # When `up` prints its banner on an 80-column terminal, or into a pipe (COLUMNS=80)
    result = _up()
    assert result.exit_code == 130, result.output
    lines = ANSI.sub("", out.getvalue()).replace("\r", "\n").splitlines()
    # Then each line to copy is one line, whole: the key pair on one line, as one export
    assert "  export AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_DEFAULT_REGION=us-east-1" in lines
    assert "  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local" in lines
    wrapper = deep / ".orderflow" / "bin"
    assert f'  export PATH={wrapper}:"$PATH"' in lines
    assert len(f'  export PATH={wrapper}:"$PATH"') > 80
    # and an output people copy is folded whole onto the next line, never cut with an ellipsis
    assert "…" not in out.getvalue()
    assert "OrderCreatedQueue-with-a-name-long-enough-to-fold" in "".join(line.strip() for line in lines)


def test_the_aws_on_the_banners_path_is_written_once_and_runnable(fake_stack: list[_Stack], tmp_path: Path) -> None:
    assert _up().exit_code == 130
    wrapper = tmp_path / ".orderflow" / "bin" / "aws"
    assert os.access(wrapper, os.X_OK)
    written = wrapper.stat().st_mtime_ns
    # a second `up` finds it as it would write it, and leaves it be (another shell may be running it)
    assert _up().exit_code == 130
    assert wrapper.stat().st_mtime_ns == written
    assert [path.name for path in wrapper.parent.iterdir()] == ["aws"]


def test_up_still_runs_when_it_cannot_write_the_aws_wrapper(fake_stack: list[_Stack], tmp_path: Path) -> None:
    (tmp_path / ".orderflow").write_text("a file where the directory would go")
    result = _up()
    assert result.exit_code == 130
    assert "give `aws sqs` --endpoint-url yourself" in result.stderr
    assert "export PATH=" not in result.stdout
    assert "  export AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_DEFAULT_REGION=us-east-1" in result.stdout


# --- the `aws` the banner puts first on PATH ------------------------------------------------------

FAKE_AWS = """#!/bin/sh
printf '%s\\n' "$@"
echo "PATH=$PATH"
"""


@pytest.fixture
def wrapper(tmp_path: Path) -> Path:
    """The banner's `aws`, as `up` writes it."""
    directory = orderflow_cli.up._write_aws_wrapper(tmp_path / "project" / ".orderflow" / "bin")
    assert directory is not None
    return directory


def _fake_aws(directory: Path) -> Path:
    """An `aws` that prints the arguments it was given, one a line, then its PATH."""
    directory.mkdir(parents=True)
    (directory / "aws").write_text(FAKE_AWS)
    (directory / "aws").chmod(0o755)
    return directory


def _aws(path: list[Path], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["aws", *args], env={"PATH": os.pathsep.join([*map(str, path), "/usr/bin", "/bin"]), **env},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_the_wrapper_passes_aws_endpoint_url_on_as_endpoint_url(wrapper: Path, tmp_path: Path) -> None:
    cli = _fake_aws(tmp_path / "cli")
    ran = _aws([wrapper, cli], "sqs", "send-message", "--message-body", "two words", AWS_ENDPOINT_URL=ENDPOINT)
    assert ran.returncode == 0, ran.stderr
    *args, path = ran.stdout.splitlines()
    assert args == ["--endpoint-url", ENDPOINT, "sqs", "send-message", "--message-body", "two words"]
    # the AWS CLI runs without the wrapper on its PATH (what it runs in turn finds the real one)
    assert path == f"PATH={cli}:/usr/bin:/bin"


def test_without_aws_endpoint_url_the_wrapper_changes_nothing(wrapper: Path, tmp_path: Path) -> None:
    cli = _fake_aws(tmp_path / "cli")
    ran = _aws([wrapper, cli], "s3", "ls")
    assert ran.stdout.splitlines()[:-1] == ["s3", "ls"]


def test_two_wrappers_on_path_still_reach_the_aws_cli(wrapper: Path, tmp_path: Path) -> None:
    # Given the wrapper of another checkout too, and this one twice
    other = orderflow_cli.up._write_aws_wrapper(tmp_path / "other" / ".orderflow" / "bin")
    assert other is not None
    cli = _fake_aws(tmp_path / "cli")
    ran = _aws([wrapper, other, wrapper, cli], "sqs", "list-queues", AWS_ENDPOINT_URL=ENDPOINT)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[-3:-1] == ["sqs", "list-queues"]
    assert ran.stdout.splitlines()[-1] == f"PATH={cli}:/usr/bin:/bin"


def test_the_wrapper_says_when_there_is_no_aws_cli_behind_it(wrapper: Path) -> None:
    ran = _aws([wrapper], "sqs", "list-queues", AWS_ENDPOINT_URL=ENDPOINT)
    assert ran.returncode == 127
    assert ran.stderr.startswith("error: no AWS CLI on PATH besides")


# --- options ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["99999", "65536", "-1"])
def test_a_port_out_of_range_is_refused_in_one_line(port: str) -> None:
    result = CliRunner().invoke(app, ["up", "--port", port], prog_name="orderflow")
    assert result.exit_code == 2
    assert "Invalid value for '--port'" in result.stderr
    assert isinstance(result.exception, SystemExit)  # not OverflowError: bind(): port must be 0-65535


@pytest.mark.parametrize("port", [0, 65535])
def test_the_ends_of_the_port_range_are_taken(fake_stack: list[_Stack], port: int) -> None:
    assert _up("--port", str(port)).exit_code == 130
    assert fake_stack[-1].options.port == port  # 0: the emulator picks a free port


def test_chaos_strikes_the_functions_and_the_embedded_payment_provider_alike(fake_stack: list[_Stack]) -> None:
    assert _up("--chaos", "0.2", "--chaos-seed", "9").exit_code == 130
    options = fake_stack[-1].options
    assert (options.chaos_rate, options.chaos_seed) == (0.2, 9)
    assert (options.provider_chaos_rate, options.provider_chaos_seed) == (0.2, 9)


# --- exit status ----------------------------------------------------------------------------------


def test_ctrl_c_drains_stops_and_exits_130(fake_stack: list[_Stack]) -> None:
    result = _up()
    [stack] = fake_stack
    assert stack.events == ["status line", "drain", "stopped"]
    assert result.exit_code == 130
    assert result.stdout.rstrip().endswith("Stopped.")
    assert "error:" not in result.output


def test_sigterm_drains_stops_and_exits_143(fake_stack: list[_Stack], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Stack, "interrupt_run", lambda _: _sigterm())
    result = _up()
    [stack] = fake_stack
    assert stack.events == ["status line", "drain", "stopped"]
    assert result.exit_code == 143
    assert result.stdout.rstrip().endswith("Stopped.")
    assert not isinstance(result.exception, KeyboardInterrupt)


def test_a_ctrl_c_during_the_drain_stops_at_once_keeping_the_first_signals_status(
    fake_stack: list[_Stack], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_Stack, "interrupt_run", lambda _: _sigterm())
    monkeypatch.setattr(_Stack, "interrupt_drain", lambda _: _ctrl_c())
    result = _up()
    [stack] = fake_stack
    assert stack.events == ["status line", "drain", "killed"]
    assert "Stopped at once" in result.stdout
    assert result.exit_code == 143


def test_sigterm_while_starting_exits_143(fake_stack: list[_Stack], monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted_start(self: _Stack) -> _Stack:
        _sigterm()
        raise AssertionError("the start was to be interrupted")

    monkeypatch.setattr(_Stack, "start", interrupted_start)
    result = _up()
    assert result.exit_code == 143
    assert result.stderr.strip() == "error: interrupted while starting"


# --- `orderflow --help` ---------------------------------------------------------------------------


@pytest.mark.parametrize("args", [[], ["--help"]], ids=["no arguments", "--help"])
def test_help_lists_running_the_stack_first_then_using_it_then_measuring_it(args: list[str]) -> None:
    result = CliRunner().invoke(app, args, prog_name="orderflow", env={"COLUMNS": "200"})
    listed = result.output.split("Commands:", 1)[1].splitlines()
    names = [line.split()[0] for line in listed if line.startswith("  ") and line.split()]
    assert names == [
        "up",
        "demo",
        "send",
        "cancel",
        "invoke",
        "orders",
        "payments",
        "mail",
        "dlq",
        "logs",
        "events",
        "status",
        "bench",
        "cost",
    ]


# --- half a key pair --------------------------------------------------------------------------------

#: A stack that is not on this machine: its commands use the environment's credentials.
REMOTE = "http://192.0.2.1:4566"
HALF_A_KEY_PAIR = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": None,
    "AWS_SESSION_TOKEN": None,
    "AWS_PROFILE": None,
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent/orderflow-test/config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/orderflow-test/credentials",
}


@pytest.mark.parametrize(
    "command",
    [["send"], ["cancel", "ORD-X", "--reason", "r"], ["orders", "get", "ORD-X"], ["orders", "by-customer", "C"],
     ["dlq", "list"], ["logs"], ["status"]],
    ids=lambda command: " ".join(command[:2]),
)  # fmt: skip
def test_half_a_key_pair_is_one_line_saying_what_to_export(command: list[str]) -> None:
    result = CliRunner().invoke(
        app, [*command, "--endpoint-url", REMOTE], env=HALF_A_KEY_PAIR, prog_name="orderflow"
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # not PartialCredentialsError
    assert result.stderr.splitlines() == [
        "error: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: export AWS_SECRET_ACCESS_KEY too, or "
        "unset AWS_ACCESS_KEY_ID (the local stack takes any: export AWS_ACCESS_KEY_ID=local "
        "AWS_SECRET_ACCESS_KEY=local)"
    ]


def test_half_a_key_pair_for_real_aws_does_not_suggest_the_local_stacks_keys() -> None:
    result = CliRunner().invoke(
        app, ["orders", "get", "ORD-X", "--endpoint-url", "aws"], env=HALF_A_KEY_PAIR, prog_name="orderflow"
    )
    assert result.exit_code == 1
    assert "export AWS_SECRET_ACCESS_KEY too" in result.stderr
    assert "local" not in result.stderr


def test_translate_says_what_to_export_when_credentials_are_resolved_during_a_call() -> None:
    def call() -> None:
        raise PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY")

    with pytest.raises(CliError, match=r"^AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: export"):
        translate(call, Target(REMOTE), "the order queue")
