"""The execution environment's own process, as Lambda's runtime runs a function: import the handler
once (the init), then serve invocations with a context object, its output counted and kept."""

from __future__ import annotations

import importlib
import io
import json
import os
import sys
import threading
import time
import traceback
from collections import Counter
from typing import TYPE_CHECKING, Any

from orderflow_local.cloudwatch.emf import parse_emf
from orderflow_local.processes import ignore_interrupts

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from orderflow_local.lambda_runtime.environment import FunctionConfig


class LocalContext:
    """Lambda's context object, with the attributes handlers and Powertools read."""

    def __init__(self, config: FunctionConfig, request_id: str, deadline: float) -> None:
        self.aws_request_id = request_id
        self.function_name = config.name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = config.memory_size
        self.invoked_function_arn = config.arn
        self.log_group_name = config.log_group
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", f"local/{os.getpid()}")
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


class _OutputSink(io.TextIOBase):
    """The environment's stdout: EMF metric lines are counted, everything else is logged.

    With a capture file, every line (EMF included, as on Lambda) is also kept there with
    its time, for the parent to send to CloudWatch Logs: a file survives the process being
    killed mid-invocation, as Lambda's log lines do.
    """

    def __init__(self, log_path: str | None, capture_path: str | None = None) -> None:
        self._log = open(log_path, "a", buffering=1, encoding="utf-8") if log_path else None  # noqa: SIM115
        self._capture = open(capture_path, "a", buffering=1, encoding="utf-8") if capture_path else None  # noqa: SIM115
        self._partial = ""
        self._lock = threading.Lock()  # the handler's record threads write concurrently
        self.metrics: Counter[str] = Counter()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            lines = (self._partial + text).split("\n")
            self._partial = lines.pop()
            for line in lines:
                self._line(line)
        return len(text)

    def _line(self, line: str) -> None:
        if self._capture is not None:
            self._capture.write(f"{int(time.time() * 1000)}\t{line}\n")
        if line.startswith('{"_aws"'):
            self._count_emf(line)
        elif self._log is not None:
            self._log.write(line + "\n")

    def _count_emf(self, line: str) -> None:
        """Each metric of each directive, summed under its name and its dimensions' values (``service`` left out)."""
        for metric in parse_emf(line):
            suffix = "".join(
                f"[{value}]"
                for pairs in metric.dimension_sets
                for name, value in pairs
                if name != "service" and value != ""
            )
            self.metrics[metric.name + suffix] += int(sum(metric.values))

    def take_metrics(self) -> Counter[str]:
        taken, self.metrics = self.metrics, Counter()
        return taken


def _load_handler(spec: str) -> Any:
    module_name, _, function_name = spec.partition(":") if ":" in spec else spec.rpartition(".")
    if not module_name or not function_name:
        raise ValueError(f"handler {spec!r} must be MODULE:FUNCTION or MODULE.FUNCTION")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise ValueError(f"module {module_name!r} has no function {function_name!r}") from None


def environment_main(  # pragma: no cover
    connection: Connection,
    config: FunctionConfig,
    index: int = 0,
    log_stream: str = "",
    capture_path: str | None = None,
) -> None:
    """The execution environment's process: init once, then serve invocations until told to stop."""
    # An environment is stopped by its parent, after its batch in flight, never by Ctrl-C.
    ignore_interrupts()
    os.environ.update(config.environment)
    os.environ.update({"AWS_LAMBDA_LOG_GROUP_NAME": config.log_group, "AWS_LAMBDA_LOG_STREAM_NAME": log_stream})
    if config.chaos is not None or config.ddb_latency_ms:
        from orderflow_local.lambda_runtime import chaos

        if config.ddb_latency_ms:
            chaos.install_latency(config.ddb_latency_ms)
        if config.chaos is not None:
            chaos.install(config.chaos, index)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    sink = _OutputSink(config.log_path, capture_path)
    sys.stdout = sink
    started = time.perf_counter()
    try:
        handler = _load_handler(config.handler)
    except Exception:  # noqa: BLE001 - an init failure is reported to the parent, like Lambda's Runtime.ImportModuleError
        connection.send(("init_error", traceback.format_exc(limit=5)))
        return
    connection.send(("ready", time.perf_counter() - started))
    while True:
        try:
            message = connection.recv()
        except EOFError:
            return
        if message is None:
            return
        event, request_id, deadline = message
        context = LocalContext(config, request_id, deadline)
        try:
            result = handler(event, context)
        except Exception as exc:  # noqa: BLE001 - any handler error fails the invocation, as in Lambda
            connection.send(("error", f"{type(exc).__name__}: {exc}", sink.take_metrics(), _max_memory_mb()))
            continue
        try:
            payload = json.dumps(result)
        except (TypeError, ValueError) as exc:
            connection.send(("error", f"Runtime.MarshalError: {exc}", sink.take_metrics(), _max_memory_mb()))
        else:
            connection.send(("ok", payload, sink.take_metrics(), _max_memory_mb()))


def _max_memory_mb() -> int:  # pragma: no cover - runs in the environment's process
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # kilobytes on Linux
