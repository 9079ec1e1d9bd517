"""`orderflow up` drains and stops the stack however its run ends, not only on Ctrl-C."""

from __future__ import annotations

import signal
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import EndpointConnectionError
from typer.testing import CliRunner

from orderflow_cli.main import app

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path


class _DeadEmulator:
    """Clients of an emulator that has died: every call fails as botocore reports it."""

    endpoint = "http://127.0.0.1:4566"

    def sqs(self) -> Any:
        return self

    def dynamodb(self) -> Any:
        return self

    def get_queue_attributes(self, **_: Any) -> Any:
        raise EndpointConnectionError(endpoint_url=self.endpoint)


class _Stack:
    """What `up` uses of a LocalStack; it records how it was stopped."""

    def __init__(self, options: Any, *, progress: Callable[[str], None]) -> None:
        self.options = options
        self.emulator = _DeadEmulator()
        self.endpoint = self.emulator.endpoint
        self.outputs = {"QueueUrl": "q", "DLQUrl": "d", "TableName": "Orders"}
        self.alarm_monitor = None
        self.watched: list[Path] = []
        self.roles: dict[str, str] = {}
        self.warnings: list[str] = []
        self.spec = SimpleNamespace(functions={}, not_emulated=[])
        self.deployed = SimpleNamespace(spec=self.spec, buses={}, archives={}, rules={}, pipes={}, skipped_targets=[])
        self.mappings: list[Any] = []
        self.pipes: list[Any] = []
        self.events: list[str] = []
        _started.append(self)

    def start(self) -> _Stack:
        return self

    def held(self) -> dict[str, int]:
        self.events.append("counted what is held")
        return {"messages in OrderCreatedQueue": 3}

    def stop(self, *, on_drained: Callable[[], None] | None = None) -> None:
        self.events.append("drained")
        if on_drained is not None:
            on_drained()
        self.events.append("stopped")

    def kill(self) -> None:
        self.events.append("killed")


_started: list[_Stack] = []


@pytest.fixture
def fake_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[_Stack]]:
    import orderflow_local.stack

    monkeypatch.setattr(orderflow_local.stack, "LocalStack", _Stack)
    sigterm = signal.getsignal(signal.SIGTERM)  # `up` installs its own handler
    _started.clear()
    yield _started
    signal.signal(signal.SIGTERM, sigterm)


def test_an_error_in_the_run_still_drains_and_stops_the_stack_and_says_why_in_one_line(
    fake_stack: list[_Stack], tmp_path: Path
) -> None:
    result = CliRunner().invoke(app, ["up", "--no-reload", "--log-file", str(tmp_path / "fn.log")])
    [stack] = fake_stack
    assert stack.events == ["drained", "counted what is held", "stopped"]
    assert result.exit_code == 1
    assert not isinstance(result.exception, EndpointConnectionError)  # not escaped as a traceback
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == ['error: Could not connect to the endpoint URL: "http://127.0.0.1:4566"']
    assert "Discarded with the emulator's in-memory state: 3 messages in OrderCreatedQueue." in result.output
    assert result.output.rstrip().endswith("Stopped.")


def test_ctrl_c_still_drains_and_stops_then_exits_130(
    fake_stack: list[_Stack], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(self: _DeadEmulator, **_: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(_DeadEmulator, "get_queue_attributes", interrupted)
    result = CliRunner().invoke(app, ["up", "--no-reload", "--log-file", str(tmp_path / "fn.log")])
    [stack] = fake_stack
    assert stack.events == ["drained", "counted what is held", "stopped"]
    assert result.exit_code == 130  # as a shell reports a process Ctrl-C ended
    assert "error:" not in result.output
