"""The execution environment's own process, as Lambda's runtime runs a function: import the handler
once (the init), then serve invocations with a context object, its output counted and kept."""

from __future__ import annotations

import importlib
import io
import json
import multiprocessing
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


class HandlerInitError(Exception):
    """The handler could not be loaded: Lambda's init error, typed and worded as Lambda's Python
    runtime (awslambdaric's bootstrap) reports it, with only the function's own frames."""

    def __init__(self, error_type: str, message: str, stack_trace: list[str] | None = None) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
        #: The function's frames, each formatted as ``traceback.format_list`` does (none: not the code's fault).
        self.stack_trace = stack_trace or []

    def text(self) -> str:
        """``TYPE: MESSAGE``, then the function's frames under a ``Traceback`` line when there are any."""
        lines = [f"{self.error_type}: {self.message}"]
        if self.stack_trace:
            lines.append("Traceback (most recent call last):")
            lines.extend(line for frame in self.stack_trace for line in frame.splitlines())
        return "\n".join(lines)

    def log_line(self, *, json_format: bool) -> str:
        """The ERROR line Lambda's runtime writes to the function's log (its JSON or its text log format)."""
        if json_format:
            return json.dumps(
                {
                    "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "level": "ERROR",
                    "errorMessage": self.message,
                    "errorType": self.error_type,
                    "requestId": "",
                    "stackTrace": self.stack_trace,
                }
            )
        return f"[ERROR] {self.text()}"


def _split_handler(spec: str) -> tuple[str, str]:
    """MODULE and FUNCTION of ``MODULE.FUNCTION`` (Lambda's form) or ``MODULE:FUNCTION``."""
    module_name, _, function_name = spec.partition(":") if ":" in spec else spec.rpartition(".")
    if not module_name or not function_name:
        raise HandlerInitError(
            "Runtime.MalformedHandlerName", f"Bad handler '{spec}': give MODULE.FUNCTION (or MODULE:FUNCTION)"
        )
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise HandlerInitError(
            "Runtime.BuiltInModuleConflict", f"Cannot use built-in module {module_name} as a handler module"
        )
    return module_name, function_name


def _import_failure(module_name: str, exc: BaseException) -> HandlerInitError:
    """What importing the handler's module raised, as Lambda reports it."""
    if isinstance(exc, ImportError):  # the module, or one it imports, is not there: no trace, as on Lambda
        return HandlerInitError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}")
    if isinstance(exc, SyntaxError):  # the file and line the parser stopped at, not the frames that imported it
        text = (exc.text or "").rstrip("\n")
        return HandlerInitError(
            "Runtime.UserCodeSyntaxError",
            f"Syntax error in module '{module_name}': {exc}",
            [f'  File "{exc.filename}" Line {exc.lineno}\n    {text}'] if exc.filename else [],
        )
    # Anything else the module raised at import: its own type and message, and the function's frames.
    return HandlerInitError(type(exc).__name__, str(exc), _user_frames(exc))


#: Where frames that are not the function's come from: the local AWS (the runtime, the fault
#: injection), the import machinery and multiprocessing (the environment's process).
_NOT_USER_CODE = tuple(
    os.path.dirname(path) + os.sep
    for path in (os.path.dirname(__file__), importlib.__file__, multiprocessing.__file__)
    if path is not None
)


def _user_frames(exc: BaseException) -> list[str]:
    frames = [
        (frame.filename, frame.lineno or 0, frame.name, frame.line)
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith(("<frozen importlib", *_NOT_USER_CODE))
    ]
    return traceback.format_list(frames)  # from 4-tuples, as Lambda's runtime does: no column markers


def load_handler(spec: str) -> Any:
    """Import the handler's module and return its function; a failure is a :class:`HandlerInitError`."""
    module_name, function_name = _split_handler(spec)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - whatever the module raised at import is the function's init error
        raise _import_failure(module_name, exc) from None
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise HandlerInitError(
            "Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'"
        ) from None


def check_handler(spec: str) -> HandlerInitError | None:
    """What can be known about a handler without running its module: a malformed name, a module
    that is not there, a syntax error in its file. The module's parent packages are imported."""
    import importlib.util

    try:
        module_name, _ = _split_handler(spec)
    except HandlerInitError as error:
        return error
    try:
        found = importlib.util.find_spec(module_name)
    except Exception as exc:  # noqa: BLE001 - a parent package that fails to import fails the handler
        return _import_failure(module_name, exc)
    if found is None:
        return HandlerInitError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': No module named '{module_name}'"
        )
    if found.origin and found.origin.endswith(".py") and os.path.isfile(found.origin):
        try:
            with open(found.origin, "rb") as source:
                compile(source.read(), found.origin, "exec", dont_inherit=True)  # parsed, not run
        except SyntaxError as exc:
            return _import_failure(module_name, exc)
        except OSError:  # unreadable here: the environment's import will say why
            return None
    return None


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
        handler = load_handler(config.handler)
    except HandlerInitError as error:  # reported to the parent, and in the function's log, as Lambda does
        print(error.log_line(json_format=os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"))
        connection.send(("init_error", error.text()))
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
