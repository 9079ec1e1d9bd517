"""One invocation in a fresh execution environment, as `orderflow invoke` runs it beside a running stack,
and the record of a running stack's functions that lets another process do so.

`orderflow up` writes a :class:`StackRecord` (one file per port, under :data:`STACK_RECORDS`): each
function's :class:`~orderflow_local.lambda_runtime.environment.FunctionConfig` as the stack runs it
(its resolved environment, handler, timeout, memory, log group), the ARN of the role it runs as,
and the emulator's instance token, which tells whether the stack that answers on the port now is
the one the record describes. The record holds no credentials: the invoker takes the role's from
the emulator's STS, as Lambda does for each execution environment, and overlays them with
:meth:`FunctionRecord.config_with`.

:func:`invoke_once` starts a new environment (INIT, then one invocation, then it stops): a cold
start, as the first invocation of a new version is on AWS. Its log events are Lambda's
(:func:`orderflow_local.cloudwatch.logs.platform_events`), sent to the function's log group as
every invocation's are. :func:`error_payload` is what Lambda's Invoke answers for a failed one:
https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orderflow_local.cloudwatch.logs import FunctionLogs, platform_events
from orderflow_local.lambda_runtime.environment import EnvironmentPool, FunctionConfig

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from mypy_boto3_logs import CloudWatchLogsClient

    from orderflow_local.lambda_runtime.environment import Invocation

#: Where `orderflow up` records its running stack, one ``<port>.json`` per stack (beside its other
#: state under .orderflow/, in the directory it runs in).
STACK_RECORDS = Path(".orderflow/stacks")
#: The record's format; another one is not read (the `up` that wrote it is older or newer).
RECORD_VERSION = 1
#: The FunctionConfig fields a record keeps: not fault injection (an invocation on its own runs
#: without), not the capture folder (each invoker has its own).
_RECORDED_FIELDS = (
    "name",
    "handler",
    "timeout",
    "memory_size",
    "environment",
    "log_path",
    "ddb_latency_ms",
    "log_group",
)


class RecordError(ValueError):
    """A stack record that cannot be read: not JSON, another version, a field missing."""


@dataclass(frozen=True)
class FunctionRecord:
    """One function of the running stack: how it runs, and the role it runs as (None: IAM not enforced)."""

    logical_id: str
    config: FunctionConfig
    role_arn: str | None = None

    def config_with(self, credentials: Mapping[str, str]) -> FunctionConfig:
        """Its configuration with ``credentials`` (AWS_ACCESS_KEY_ID, ...) in the environment: its role's."""
        return replace(self.config, environment={**self.config.environment, **credentials})

    def to_json(self) -> dict[str, Any]:
        config = asdict(self.config)
        return {
            "logicalId": self.logical_id,
            "roleArn": self.role_arn,
            "config": {name: config[name] for name in _RECORDED_FIELDS},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FunctionRecord:
        config = data["config"]
        return cls(
            logical_id=str(data["logicalId"]),
            role_arn=str(data["roleArn"]) if data.get("roleArn") else None,
            config=FunctionConfig(
                name=str(config["name"]),
                handler=str(config["handler"]),
                timeout=float(config["timeout"]),
                memory_size=int(config["memory_size"]),
                environment={str(key): str(value) for key, value in config["environment"].items()},
                log_path=str(config["log_path"]) if config.get("log_path") else None,
                ddb_latency_ms=float(config.get("ddb_latency_ms") or 0.0),
                log_group=str(config.get("log_group") or ""),
            ),
        )


@dataclass(frozen=True)
class StackRecord:
    """What a running `orderflow up` tells other processes about its stack."""

    endpoint: str
    #: What the emulator answers at its identity path (new for every start): this stack's, and no other's.
    instance: str
    functions: tuple[FunctionRecord, ...]
    #: The process that runs the stack.
    pid: int = 0

    def find(self, name: str) -> FunctionRecord | None:
        """The function named ``name`` (its function name, or its logical id in the template)."""
        return next((f for f in self.functions if name in {f.config.name, f.logical_id}), None)

    def describe_functions(self) -> str:
        """``OrderProcessor (logical id ProcessorOrderProcessorFn...)``, one per function, for an error message."""
        return ", ".join(f"{f.config.name} (logical id {f.logical_id})" for f in self.functions) or "none"

    def to_json(self) -> dict[str, Any]:
        return {
            "version": RECORD_VERSION,
            "endpoint": self.endpoint,
            "instance": self.instance,
            "pid": self.pid,
            "functions": [function.to_json() for function in self.functions],
        }

    @classmethod
    def from_json(cls, data: Any) -> StackRecord:
        if not isinstance(data, dict) or data.get("version") != RECORD_VERSION:
            raise RecordError(f"not a version {RECORD_VERSION} stack record")
        try:
            return cls(
                endpoint=str(data["endpoint"]),
                instance=str(data["instance"]),
                pid=int(data.get("pid") or 0),
                functions=tuple(FunctionRecord.from_json(function) for function in data["functions"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RecordError(f"a field is missing or malformed: {exc!r}") from None

    def write(self, path: Path) -> Path:
        """Write the record to ``path`` whole (renamed into place: a reader never sees half of it)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        written = path.with_name(f".{path.name}.{os.getpid()}")
        try:
            written.write_text(json.dumps(self.to_json(), indent=2) + "\n")
            written.replace(path)
        except BaseException:
            written.unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def read(cls, path: Path) -> StackRecord | None:
        """The record at ``path``; None when there is none. Raises :class:`RecordError` when it cannot be read."""
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RecordError(exc.strerror or str(exc)) from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise RecordError(f"not JSON: {exc}") from None
        return cls.from_json(data)

    def remove(self, path: Path) -> None:
        """Remove ``path`` if it is still this record (a later stack on the port may have replaced it)."""
        with contextlib.suppress(RecordError, OSError):
            current = StackRecord.read(path)
            if current is not None and current.instance == self.instance:
                path.unlink()


def record_path(port: int, directory: Path = STACK_RECORDS) -> Path:
    """Where the stack on ``port`` is recorded."""
    return directory / f"{port}.json"


def instance_token(endpoint: str, identity_path: str, *, timeout: float = 3.0) -> str | None:
    """What the emulator at ``endpoint`` answers at ``identity_path`` (its instance token); None when
    something answers there that is not the emulator (an error status).

    Raises ``OSError`` (``urllib.error.URLError``) when nothing answers at all.
    """
    url = endpoint.rstrip("/") + identity_path
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) endpoint: {endpoint}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - http(s), checked above
            return str(answer.read().decode("utf-8", errors="replace"))
    except urllib.error.HTTPError:
        return None


@dataclass
class InvokeResult:
    """One invocation: its outcome, the log events Lambda's log has for it, and whether CloudWatch Logs took them."""

    invocation: Invocation
    events: list[tuple[int, str]]
    #: True when every event reached the function's log group; None when they were not sent.
    logged: bool | None = None


def invoke_once(
    config: FunctionConfig,
    event: Any,
    *,
    logs: Callable[[], CloudWatchLogsClient] | None = None,
) -> InvokeResult:
    """Run ``event`` through a new execution environment of ``config``: INIT, one invocation, stopped.

    Given ``logs`` (a CloudWatch Logs client factory), the invocation's log events go to
    ``config.log_group`` in a stream of the environment's own, as the stack sends every invocation's.
    """
    with tempfile.TemporaryDirectory(prefix="orderflow-invoke-") as scratch:
        pool = EnvironmentPool(replace(config, chaos=None, capture_dir=scratch))
        sender = None
        if logs is not None and config.log_group:
            sender = FunctionLogs(
                logs, group=config.log_group, function_name=config.name, memory_size=config.memory_size
            )
            pool.observers.append(sender.record)
        try:
            invocation = pool.invoke(event)
        finally:
            # At once, as Lambda ends an environment it will not use again: after its answer it runs
            # nothing more (it is frozen), and on Ctrl-C it is stopped mid-invocation.
            pool.shutdown(kill=True)
    events = platform_events(invocation, function_name=config.name, memory_size=config.memory_size)
    logged = None
    if sender is not None:
        sender.stop()  # sends what the invocation wrote (it never ran as a thread)
        logged = sender.sent == len(events) and not sender.dropped
    return InvokeResult(invocation, events, logged)


#: Lambda's error types for what ends an invocation from outside the handler.
_TIMEOUT_TYPE = "Sandbox.Timedout"
_EXIT_TYPE = "Runtime.ExitError"
#: How an init error's text (runtime.HandlerInitError.text) sets its frames apart from its message.
_TRACEBACK = "\nTraceback (most recent call last):\n"


def error_payload(invocation: Invocation) -> dict[str, Any]:
    """What Lambda's Invoke answers when the invocation failed: ``errorType`` and ``errorMessage``, and
    ``requestId`` once the runtime took the invocation.

    A handler's exception keeps its type and its whole message (``ValueError: ...``); an init error
    (``Runtime.ImportModuleError: ...``, before any request) its type and message, and the function's
    frames as ``stackTrace``. A timeout is ``Sandbox.Timedout``, and an environment that died
    ``Runtime.ExitError``, their message as Lambda words it (``RequestId: ... Error: ...``).
    """
    text = (invocation.error or "").strip()
    trace = ""
    if not invocation.request_id:  # an init error: HandlerInitError.text(), its frames after the message
        text, _, trace = text.partition(_TRACEBACK)
    kind, separator, rest = text.partition(":")
    if invocation.status == "timeout":
        error_type, message = _TIMEOUT_TYPE, _with_request_id(invocation.request_id, text)
    elif separator and kind and not any(char.isspace() for char in kind):
        error_type, message = kind, rest.strip()
    elif invocation.status == "crash":
        error_type, message = _EXIT_TYPE, _with_request_id(invocation.request_id, text)
    else:
        error_type, message = "Runtime.Unknown", text
    payload: dict[str, Any] = {"errorMessage": message, "errorType": error_type}
    if invocation.request_id:
        payload["requestId"] = invocation.request_id
    if trace.strip():
        payload["stackTrace"] = trace.splitlines()
    return payload


def _with_request_id(request_id: str, message: str) -> str:
    return f"RequestId: {request_id} Error: {message}" if request_id else message
