"""Execution environments: each a separate process that imports the handler once (a cold
start) and then serves invocations (warm), as Lambda's execution environments do.

The parent enforces the function timeout by stopping the process; a process that dies
mid-invocation is a crash. Either way the environment is gone and the next invocation
starts a new one.

The parent's side is here (:class:`ExecutionEnvironment`, :class:`EnvironmentPool`); what runs in
the environment's process is :mod:`orderflow_local.lambda_runtime.runtime`.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import sys
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orderflow_local.lambda_runtime.runtime import environment_main
from orderflow_local.processes import AppendedLines, cpu_seconds, start_shielded

if TYPE_CHECKING:
    from collections.abc import Callable

    from orderflow_local.lambda_runtime.chaos import ChaosConfig

#: Lambda gives the init phase up to 10 s of its own, apart from the function timeout. Locally
#: a spawned process also re-imports the parent's main module (pytest, the CLI) on a machine
#: that may be busy, so the local limit is looser: an init that slow still fails, not hangs.
INIT_TIMEOUT = 30.0
#: Lambda's variable naming the folder the function's code is in (/var/task on AWS), which its
#: Python runtime puts first on sys.path. The local stack sets it for a function whose template
#: names its code's folder (a foreign template's ``aws:asset:path``); our own stack's code is
#: found as `orderflow up` finds it.
#: https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
TASK_ROOT = "LAMBDA_TASK_ROOT"


@dataclass(frozen=True)
class FunctionConfig:
    """What an execution environment needs to know about the function it runs."""

    name: str
    handler: str  # "package.module.function" (Lambda's form) or "package.module:function"
    timeout: float
    memory_size: int
    environment: dict[str, str]
    log_path: str | None = None
    chaos: ChaosConfig | None = None
    ddb_latency_ms: float = 0.0
    #: The CloudWatch Logs group the function writes to (the template's LoggingConfig).
    log_group: str = ""
    #: A directory where each environment leaves its output for the parent to collect (None: not kept).
    capture_dir: str | None = None

    @property
    def arn(self) -> str:
        region = self.environment.get("AWS_REGION", "us-east-1")
        return f"arn:aws:lambda:{region}:123456789012:function:{self.name}"


def _environment_main(  # pragma: no cover - runs in the environment's process
    connection: Any, config: FunctionConfig, index: int, log_stream: str, capture_path: str | None
) -> None:
    """The environment's process: the function's code folder (``LAMBDA_TASK_ROOT``) first on its path,
    then the working directory, as Lambda's runtime has them; then the runtime's loop."""
    root = config.environment.get(TASK_ROOT)
    if root:
        sys.path.insert(0, root)
        if os.getcwd() not in sys.path:
            sys.path.insert(1, os.getcwd())
    environment_main(connection, config, index, log_stream, capture_path)


@dataclass
class Invocation:
    """The outcome of one invocation, as the event source mapping sees it."""

    status: str  # "ok", "error", "timeout", "crash"
    payload: str | None = None  # the JSON the function returned, when ok
    error: str | None = None
    cold_start: bool = False
    duration: float = 0.0
    metrics: Counter[str] = field(default_factory=Counter)
    #: What Lambda's logs and metrics need: the request id, when it started and ended (epoch
    #: seconds), the environment's log stream, its init time (cold starts), the lines the
    #: function wrote (epoch ms, text) and how many invocations were running at its start.
    request_id: str = ""
    started_at: float = 0.0
    ended_at: float = 0.0
    log_stream: str = ""
    init_duration: float | None = None
    max_memory_mb: int | None = None
    lines: list[tuple[int, str]] = field(default_factory=list)
    concurrency: int = 1


def _file_safe(name: str) -> str:
    """``name`` with anything but letters, digits, ``-`` and ``_`` replaced by ``_`` (a file name's part)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def log_stream_name(started: float | None = None) -> str:
    """A new execution environment's log stream, named as Lambda names it: ``2026/11/27/[$LATEST]<32 hex>``."""
    day = time.strftime("%Y/%m/%d", time.gmtime(started if started is not None else time.time()))
    return f"{day}/[$LATEST]{uuid.uuid4().hex}"


class ExecutionEnvironment:
    """One worker process running the function."""

    def __init__(
        self, config: FunctionConfig, context: multiprocessing.context.SpawnContext, index: int = 0, generation: int = 0
    ) -> None:
        self.config = config
        #: The code version it imported (see EnvironmentPool.retire).
        self.generation = generation
        self.log_stream = log_stream_name()
        # Named by the function too: each pool counts its environments from 0, and the pools of a
        # stack share one capture directory (two functions' first environments once shared a file,
        # and each read the other's lines as its own).
        capture = (
            os.path.join(config.capture_dir, f"env-{os.getpid()}-{_file_safe(config.name)}-{index}-{generation}.log")
            if config.capture_dir
            else None
        )
        #: What the environment's function wrote, read as it grows (None: not captured).
        self._captured = AppendedLines(capture) if capture else None
        self.init_duration: float | None = None
        self.max_memory_mb: int | None = None
        self._connection, child = context.Pipe()
        self.process = context.Process(
            target=_environment_main, args=(child, config, index, self.log_stream, capture), daemon=True
        )
        #: When its process started: a failed init lasted from then (its INIT_REPORT's duration).
        self._started_at = time.time()
        start_shielded(self.process)  # a Ctrl-C is the parent's to handle (orderflow_local.processes)
        child.close()
        self._initialized = False
        self._stopped = False
        self._stop_lock = threading.Lock()

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def invoke(self, event: dict[str, Any]) -> Invocation:
        result = self._invoke(event)
        result.log_stream = self.log_stream
        result.ended_at = time.time()
        result.started_at = result.started_at or result.ended_at
        result.init_duration = self.init_duration if result.cold_start else None
        result.max_memory_mb = result.max_memory_mb or self.max_memory_mb
        result.lines = self._new_lines()
        return result

    def _invoke(self, event: dict[str, Any]) -> Invocation:
        started = time.monotonic()
        cold = not self._initialized
        if cold:
            init = self._wait_for_init()
            if init is not None:
                return init
        request_id, started_at = str(uuid.uuid4()), time.time()
        deadline = started_at + self.config.timeout

        def ended(status: str, error: str) -> Invocation:  # the environment is gone: stopped, or dead
            self.stop(kill=True)
            return Invocation(
                status,
                error=error,
                cold_start=cold,
                duration=time.monotonic() - started,
                request_id=request_id,
                started_at=started_at,
            )

        try:
            self._connection.send((event, request_id, deadline))
            if not self._connection.poll(self.config.timeout):
                return ended("timeout", f"Task timed out after {self.config.timeout:.2f} seconds")
            status, value, metrics, memory = self._connection.recv()
        except (EOFError, OSError):  # the process died, or was stopped by another thread (an immediate stop)
            self.stop(kill=True)  # before reading its exit code
            return ended("crash", f"Runtime exited with code {self.process.exitcode}")
        self.max_memory_mb = memory
        return Invocation(
            "ok" if status == "ok" else "error",
            payload=value if status == "ok" else None,
            error=None if status == "ok" else value,
            cold_start=cold,
            duration=time.monotonic() - started,
            metrics=metrics,
            request_id=request_id,
            started_at=started_at,
            max_memory_mb=memory,
        )

    def _new_lines(self) -> list[tuple[int, str]]:
        """The lines the function wrote since the last call (complete lines only), with their time."""
        if self._captured is None:
            return []
        lines = []
        for raw in self._captured():
            stamp, _, text = raw.partition("\t")
            lines.append((int(stamp) if stamp.isdigit() else int(time.time() * 1000), text))
        return lines

    def _wait_for_init(self) -> Invocation | None:
        try:
            if not self._connection.poll(INIT_TIMEOUT):
                self.init_duration = time.time() - self._started_at
                self.stop(kill=True)
                return Invocation("timeout", error=f"init did not finish in {INIT_TIMEOUT} s", cold_start=True)
            status, value = self._connection.recv()
        except (EOFError, OSError):  # the module exited (sys.exit) or killed the process while imported
            self.init_duration = time.time() - self._started_at
            self.process.join(timeout=2)  # its own exit status, not the kill's
            self.stop(kill=True)
            return Invocation(
                "crash",
                error=f"Runtime.ExitError: Runtime exited during init with exit status {self.process.exitcode}",
                cold_start=True,
            )
        if status != "ready":  # the handler could not be loaded: the error as Lambda's runtime words it
            self.init_duration = time.time() - self._started_at
            self.stop(kill=True)
            return Invocation("error", error=value, cold_start=True)
        self._initialized = True
        self.init_duration = float(value)
        return None

    def stop(self, *, kill: bool = False) -> None:
        """Stop the process (``kill``: without waiting); safe to call from several threads, once effective."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        if self.process.is_alive():
            if not kill:
                try:
                    self._connection.send(None)
                    self.process.join(timeout=2)
                except (BrokenPipeError, OSError):
                    pass
            if self.process.is_alive():
                self.process.kill()
        self.process.join(timeout=5)
        self._connection.close()

    def discard_capture(self) -> None:
        if self._captured is not None:
            self._captured.path.unlink(missing_ok=True)


class EnvironmentPool:
    """Warm environments are reused; a new one (a cold start) is made only when none is idle."""

    def __init__(self, config: FunctionConfig) -> None:
        self.config = config
        self._context = multiprocessing.get_context("spawn")
        self._idle: deque[ExecutionEnvironment] = deque()
        self._all: list[ExecutionEnvironment] = []
        self._lock = threading.Lock()
        self._created = 0
        self.cold_starts = 0
        #: Bumped when the function's code changes: environments of an older one are not reused.
        self.generation = 0
        self._running = 0
        #: Called with each invocation's outcome (its logs, its metrics), in the invoking thread.
        self.observers: list[Callable[[Invocation], None]] = []

    @property
    def running(self) -> int:
        """How many invocations are running now."""
        with self._lock:
            return self._running

    def invoke(self, event: dict[str, Any]) -> Invocation:
        environment = self._acquire()
        with self._lock:
            self._running += 1
            concurrency = self._running
        try:
            result = environment.invoke(event)
        finally:
            with self._lock:
                self._running -= 1
        result.concurrency = concurrency
        if result.cold_start:
            with self._lock:
                self.cold_starts += 1
        self._release(environment)
        for observer in self.observers:
            try:
                observer(result)
            except Exception:  # an observer's failure must not fail the batch
                logging.getLogger(__name__).exception("an invocation observer failed")
        return result

    def _acquire(self) -> ExecutionEnvironment:
        with self._lock:
            while self._idle:
                environment = self._idle.popleft()
                if environment.alive and environment.generation == self.generation:
                    return environment
            environment = ExecutionEnvironment(
                self.config, self._context, index=self._created, generation=self.generation
            )
            self._created += 1
            self._all.append(environment)
            return environment

    def _release(self, environment: ExecutionEnvironment) -> None:
        with self._lock:
            current = environment.generation == self.generation
            if environment.alive and current:
                self._idle.append(environment)
                return
            if environment in self._all:
                self._all.remove(environment)
        if environment.alive:  # old code: its batch is done, so it can go
            environment.stop()

    def retire(self) -> int:
        """The function's code changed: idle environments stop now, busy ones after their batch.

        The next invocation starts a new environment (a cold start) that imports the new
        code. Returns how many environments were idle and stopped.
        """
        with self._lock:
            self.generation += 1
            idle, self._idle = list(self._idle), deque()
            for environment in idle:
                if environment in self._all:
                    self._all.remove(environment)
        for environment in idle:
            environment.stop()
        return len(idle)

    def size(self) -> int:
        with self._lock:
            return sum(1 for environment in self._all if environment.alive)

    def pids(self) -> list[int]:
        """The live environments' processes."""
        with self._lock:
            return [e.process.pid for e in self._all if e.alive and e.process.pid is not None]

    def cpu_seconds(self) -> float | None:
        """CPU time the live environments' processes have used (None if one just ended)."""
        with self._lock:
            pids = [environment.process.pid for environment in self._all if environment.process.pid is not None]
        return cpu_seconds(pids)

    def shutdown(self, *, kill: bool = False) -> None:
        """Stop every environment (``kill``: at once, without waiting for a batch in flight)."""
        with self._lock:
            environments, self._all = self._all, []
            self._idle.clear()
        for environment in environments:
            environment.stop(kill=kill)
            environment.discard_capture()
