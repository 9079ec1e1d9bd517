"""A failed init in the function's CloudWatch Logs stream, as Lambda writes it: INIT_START, the lines the
runtime wrote (its own ERROR line, worded as Lambda's Python runtime words it), then INIT_REPORT with
``Status: error`` and the error's type; the error once. Real execution environments (processes), their
logs sent to emulated CloudWatch Logs (moto, in process)."""

from __future__ import annotations

import json
import sys
import textwrap
import uuid
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from orderflow_cli.observe import render_message
from orderflow_local.cloudwatch.logs import FunctionLogs
from orderflow_local.lambda_runtime.environment import EnvironmentPool, FunctionConfig

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

GROUP = "/aws/lambda/Fn"
SYNTAX_ERROR = "def handle(event, context):\n    return {\n"
RAISES = "import json\n\nCONFIG = json.loads('not json')\n\ndef handle(event, context):\n    return None\n"
EXITS = "import sys\n\nsys.exit(3)\n"


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("logs", region_name="us-east-1")
        client.create_log_group(logGroupName=GROUP)
        yield client


def _failed_init_stream(
    logs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, **environment: str
) -> tuple[str, list[dict[str, Any]]]:
    """Invoke a function whose module is ``source`` once, in a new execution environment whose lines
    are sent to CloudWatch Logs as `orderflow up` sends them; the module's name, and its stream's events."""
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"fn_{uuid.uuid4().hex[:10]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    capture = tmp_path / "capture"
    capture.mkdir(exist_ok=True)
    config = FunctionConfig(
        name="Fn",
        handler=f"{name}.handle",
        timeout=5,
        memory_size=128,
        environment=environment,
        log_group=GROUP,
        capture_dir=str(capture),
    )
    function_logs = FunctionLogs(lambda: logs, group=GROUP, function_name="Fn", memory_size=128)
    pool = EnvironmentPool(config)
    pool.observers.append(function_logs.record)
    try:
        invocation = pool.invoke({"Records": []})
    finally:
        pool.shutdown()
        sys.modules.pop(name, None)
    assert invocation.status in {"error", "crash"}
    assert not invocation.request_id  # it failed before it could take the invocation
    function_logs.flush()
    [stream] = logs.describe_log_streams(logGroupName=GROUP)["logStreams"]
    assert stream["logStreamName"] == invocation.log_stream
    events: list[dict[str, Any]] = logs.get_log_events(
        logGroupName=GROUP, logStreamName=invocation.log_stream, startFromHead=True
    )["events"]
    stamps = [event["timestamp"] for event in events]
    assert stamps == sorted(stamps)
    return name, events


def _platform(message: str) -> tuple[str, dict[str, Any]]:
    line = json.loads(message)
    return line["type"], line["record"]


def test_a_syntax_error_is_init_start_the_runtimes_error_once_and_init_report(
    logs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a handler whose module has a syntax error, and the runtime's text log format (its default)
    name, events = _failed_init_stream(logs, tmp_path, monkeypatch, SYNTAX_ERROR)

    # Then its stream has INIT_START, the runtime's ERROR line and its trace, then INIT_REPORT
    messages = [event["message"] for event in events]
    assert _platform(messages[0])[0] == "platform.initStart"
    assert messages[1:-1] == [
        f"[ERROR] Runtime.UserCodeSyntaxError: Syntax error in module '{name}': '{{' was never closed "
        f"({name}.py, line 2)",
        "Traceback (most recent call last):",
        f'  File "{tmp_path / name}.py" Line 2',
        "        return {",
    ]
    kind, report = _platform(messages[-1])
    assert kind == "platform.initReport"
    assert {key: report[key] for key in ("initializationType", "phase", "status", "errorType")} == {
        "initializationType": "on-demand",
        "phase": "init",
        "status": "error",
        "errorType": "Runtime.UserCodeSyntaxError",
    }
    assert report["metrics"]["durationMs"] > 0
    # The error is written once: the runtime's line, no second line of Lambda's own
    assert sum("Syntax error in module" in message for message in messages) == 1
    # And `orderflow logs` shows them as Lambda's text format does
    assert render_message(messages[0]) == "INIT_START Runtime Version: python:local"
    assert render_message(messages[-1]) == (
        f"INIT_REPORT Init Duration: {report['metrics']['durationMs']:.2f} ms\tPhase: init\tStatus: error\t"
        "Error Type: Runtime.UserCodeSyntaxError"
    )


def test_an_exception_at_import_in_the_json_log_format_is_one_error_record_with_its_frames(
    logs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a module that raises when imported, and the JSON log format
    _, events = _failed_init_stream(logs, tmp_path, monkeypatch, RAISES, AWS_LAMBDA_LOG_FORMAT="JSON")

    # Then the runtime's error is one JSON record between INIT_START and INIT_REPORT
    messages = [event["message"] for event in events]
    assert [json.loads(message).get("type") for message in messages] == [
        "platform.initStart",
        None,
        "platform.initReport",
    ]
    error = json.loads(messages[1])
    assert (error["level"], error["errorType"], error["errorMessage"]) == (
        "ERROR",
        "JSONDecodeError",
        "Expecting value: line 1 column 1 (char 0)",
    )
    assert _platform(messages[2])[1]["errorType"] == "JSONDecodeError"
    rendered = render_message(messages[1]).splitlines()
    assert rendered[:2] == [
        "ERROR JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
        "Traceback (most recent call last):",
    ]
    assert "    CONFIG = json.loads('not json')" in rendered


def test_a_module_that_exits_gets_lambdas_error_line_as_the_runtime_wrote_none(
    logs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, events = _failed_init_stream(logs, tmp_path, monkeypatch, EXITS)

    messages = [event["message"] for event in events]
    assert [json.loads(message).get("type") for message in messages] == [
        "platform.initStart",
        None,
        "platform.initReport",
    ]
    error = json.loads(messages[1])
    assert (error["level"], error["message"]) == (
        "ERROR",
        "Runtime.ExitError: Runtime exited during init with exit status 3",
    )
    assert _platform(messages[2])[1] | {"metrics": None} == {
        "initializationType": "on-demand",
        "phase": "init",
        "status": "error",
        "errorType": "Runtime.ExitError",
        "metrics": None,
    }
