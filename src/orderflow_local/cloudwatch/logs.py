"""The function's logs in the embedded CloudWatch Logs, as Lambda writes them.

One log stream per execution environment, named as Lambda names it
(``2026/11/27/[$LATEST]<32 hex>``), in the log group the template gives the function. The
stack's function uses the JSON log format (``LoggingConfig.LogFormat: JSON``), so Lambda's
own lines are JSON records too: ``platform.initStart`` on a cold start, then for each
invocation ``platform.start``, the function's lines, ``platform.runtimeDone`` and
``platform.report`` (the JSON form of START, END and REPORT, with the duration, billed
duration, memory size, max memory used and, on a cold start, the init duration). A timeout
or a crash also gets the ERROR line Lambda writes for it. The function's own lines
(Powertools' JSON, EMF metrics included) are kept as written. An init that fails has
``platform.initStart``, the runtime's lines (its ERROR line for a handler it could not load,
worded as Lambda's Python runtime words it), and ``platform.initReport`` with status
``error`` and the error's type (``timeout`` for an init that did not finish): the JSON form
of ``INIT_REPORT Init Duration: … ms  Phase: init  Status: error  Error Type: …``.

Sources: https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-logformat.html,
https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html,
https://docs.aws.amazon.com/lambda/latest/operatorguide/log-structure.html.

Lambda sends logs after the fact, not synchronously: here a thread sends what the
invocations wrote every ``flush_interval`` seconds with ``PutLogEvents``. Events stay
pending until CloudWatch Logs has taken them: a failed send is retried on the next flush, in
the same order. While it keeps failing, at most ``max_pending`` events wait; past that, each
new invocation's events are dropped whole (counted in ``dropped``, logged once).

So a line reaches CloudWatch Logs after its own timestamp by up to the invocation's length
(the function timeout at most), plus the init's for a cold start's ``platform.initStart``
(``INIT_TIMEOUT`` at most), plus a flush; a line the function writes between invocations (a
thread of its own) is sent with the next invocation's. Readers that follow the group must
read again behind what they printed: ``orderflow logs --follow`` does
(``orderflow_cli.observe.FOLLOW_OVERLAP_MS``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from orderflow_local.periodic import Periodic

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_logs import CloudWatchLogsClient

    from orderflow_local.lambda_runtime.environment import Invocation

log = logging.getLogger(__name__)

#: PutLogEvents takes at most 10,000 events and 1,048,576 bytes (each event counts 26 bytes more).
MAX_EVENTS_PER_PUT = 10_000
MAX_BYTES_PER_PUT = 1_048_576
EVENT_OVERHEAD = 26
RUNTIME_VERSION = "python:local"
#: Events kept waiting while CloudWatch Logs does not take them (ten full PutLogEvents, tens of MB at most).
MAX_PENDING_EVENTS = 100_000


def _iso(epoch_seconds: float) -> str:
    millis = round(epoch_seconds * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis // 1000)) + f".{millis % 1000:03d}Z"


def platform_events(invocation: Invocation, *, function_name: str, memory_size: int) -> list[tuple[int, str]]:
    """The log events (epoch ms, message) Lambda writes for one invocation, the function's lines included."""
    started, ended = invocation.started_at, max(invocation.ended_at, invocation.started_at)
    request_id = invocation.request_id
    init_started = started - (invocation.init_duration or 0)
    init_start = _record(
        init_started,
        "platform.initStart",
        {
            "initializationType": "on-demand",
            "phase": "init",
            "runtimeVersion": RUNTIME_VERSION,
            "functionName": function_name,
            "functionVersion": "$LATEST",
        },
    )
    if not request_id:  # the environment failed before it could take the invocation (init error)
        return [init_start, *_failed_init(invocation, init_started, ended)]
    events: list[tuple[int, str]] = []
    if invocation.cold_start and invocation.init_duration is not None:
        events.append(init_start)
    events.append(_record(started, "platform.start", {"requestId": request_id, "version": "$LATEST"}))
    events.extend(invocation.lines)
    status = {"ok": "success", "error": "error", "timeout": "timeout", "crash": "error"}[invocation.status]
    if invocation.status in {"timeout", "crash"} and invocation.error:
        events.append((int(ended * 1000), _error_line(ended, request_id, invocation.error)))
    duration_ms = round((ended - started) * 1000, 2)
    metrics: dict[str, Any] = {
        "durationMs": duration_ms,
        "billedDurationMs": math.ceil(duration_ms + (invocation.init_duration or 0) * 1000),
        "memorySizeMB": memory_size,
        "maxMemoryUsedMB": invocation.max_memory_mb or 0,
    }
    if invocation.cold_start and invocation.init_duration is not None:
        metrics["initDurationMs"] = round(invocation.init_duration * 1000, 2)
    events.append(_record(ended, "platform.runtimeDone", {"requestId": request_id, "status": status}))
    events.append(_record(ended, "platform.report", {"requestId": request_id, "metrics": metrics, "status": status}))
    return events


def _record(at: float, kind: str, body: dict[str, Any]) -> tuple[int, str]:
    """One of Lambda's platform records (JSON log format), as a log event."""
    return int(at * 1000), json.dumps({"time": _iso(at), "type": kind, "record": body}, separators=(",", ":"))


def _failed_init(invocation: Invocation, init_started: float, ended: float) -> list[tuple[int, str]]:
    """After INIT_START, what Lambda's log has for an init that failed: the lines the runtime wrote
    (its own ERROR line for a handler it could not load, and whatever the module printed), Lambda's
    ERROR line when the runtime could write none (it exited, or the init timed out), then the
    INIT_REPORT: ``platform.initReport``, status ``error`` with the error's type, or ``timeout``."""
    events = list(invocation.lines)
    if invocation.status in {"timeout", "crash"} and invocation.error:
        events.append((int(ended * 1000), _error_line(ended, "", invocation.error)))
    report: dict[str, Any] = {"initializationType": "on-demand", "phase": "init"}
    if invocation.status == "timeout":
        report["status"] = "timeout"
    else:
        report["status"] = "error"
        report["errorType"] = _error_type(invocation.error or "")
    report["metrics"] = {"durationMs": round((ended - init_started) * 1000, 2)}
    events.append(_record(ended, "platform.initReport", report))
    return events


def _error_type(error: str) -> str:
    """The type an init error is reported with: ``TYPE`` of its ``TYPE: MESSAGE`` first line."""
    kind, separator, _ = error.partition("\n")[0].partition(": ")
    return kind if separator and kind and " " not in kind else "Runtime.Unknown"


def _error_line(at: float, request_id: str, message: str) -> str:
    return json.dumps(
        {"timestamp": _iso(at), "level": "ERROR", "requestId": request_id, "message": message}, separators=(",", ":")
    )


class FunctionLogs(Periodic):
    """Sends each invocation's log events to the function's log group, one stream per environment.

    Give it to an ``EnvironmentPool`` as an observer: ``pool.observers.append(logs.record)``.
    """

    name = "function-logs"

    def __init__(
        self,
        logs_factory: Callable[[], CloudWatchLogsClient],
        *,
        group: str,
        function_name: str,
        memory_size: int,
        flush_interval: float = 0.5,
        max_pending: int = MAX_PENDING_EVENTS,
    ) -> None:
        super().__init__(flush_interval)
        self.group = group
        self._function_name = function_name
        self._memory_size = memory_size
        self._logs_factory = logs_factory
        self._client: CloudWatchLogsClient | None = None  # made once: a boto3 client costs tens of ms of CPU
        self._pending: dict[str, list[tuple[int, str]]] = defaultdict(list)
        #: Events recorded and not yet taken by CloudWatch Logs (pending, or being sent).
        self._held = 0
        self._max_pending = max_pending
        self._streams: set[str] = set()
        self._lock = threading.Lock()
        self._flushing = threading.Lock()  # one flush at a time: a stream's events go in order
        self._failing = False
        self.sent = 0
        #: Events dropped because ``max_pending`` were already waiting.
        self.dropped = 0

    def record(self, invocation: Invocation) -> None:
        if not invocation.log_stream:
            return
        events = platform_events(invocation, function_name=self._function_name, memory_size=self._memory_size)
        with self._lock:
            if self._held + len(events) > self._max_pending:
                self.dropped += len(events)
                first_drop = self.dropped == len(events)
            else:
                self._pending[invocation.log_stream].extend(events)
                self._held += len(events)
                return
        if first_drop:
            log.warning(
                "%d log events of %s are waiting for CloudWatch Logs: new invocations' events are dropped until "
                "it takes them (logged once; the total at the stop)",
                self._held,
                self.group,
            )

    def stop(self) -> None:
        """Stop, then send what is pending (and say what could not be)."""
        super().stop()
        self.flush()
        with self._lock:
            unsent = self._held
        if unsent or self.dropped:
            log.warning(
                "%s: %d log events were not sent (CloudWatch Logs did not take them), %d dropped past %d waiting",
                self.group,
                unsent,
                self.dropped,
                self._max_pending,
            )

    def tick(self) -> None:
        self.flush()

    def flush(self) -> None:
        """Send each stream's pending events; a stream whose send fails keeps the rest, in order, for the next flush."""
        with self._flushing:
            with self._lock:
                streams = [stream for stream, events in self._pending.items() if events]
            if not streams:
                return
            if self._client is None:
                self._client = self._logs_factory()
            failed = False
            for stream in streams:
                try:
                    self._send(self._client, stream)
                except Exception:
                    if not self._failing:
                        log.warning(
                            "CloudWatch Logs did not take the events of %s; they wait for the next flush",
                            self.group,
                            exc_info=True,
                        )
                    failed = self._failing = True
            if self._failing and not failed:
                log.info("CloudWatch Logs takes the events of %s again", self.group)
                self._failing = False

    def _send(self, client: CloudWatchLogsClient, stream: str) -> None:
        with self._lock:
            events = self._pending.pop(stream, [])
        events.sort(key=lambda event: event[0])  # stable: events of one millisecond keep their order
        sent = 0
        try:
            if stream not in self._streams:
                with contextlib.suppress(client.exceptions.ResourceAlreadyExistsException):
                    client.create_log_stream(logGroupName=self.group, logStreamName=stream)
                self._streams.add(stream)
            for chunk in _chunks(events):
                client.put_log_events(
                    logGroupName=self.group,
                    logStreamName=stream,
                    logEvents=[{"timestamp": stamp, "message": message} for stamp, message in chunk],
                )
                sent += len(chunk)
                with self._lock:
                    self._held -= len(chunk)
                self.sent += len(chunk)
        finally:
            if sent < len(events):  # ahead of what was recorded meanwhile
                with self._lock:
                    self._pending[stream][:0] = events[sent:]


def _chunks(events: list[tuple[int, str]]) -> list[list[tuple[int, str]]]:
    chunks: list[list[tuple[int, str]]] = [[]]
    size = 0
    for event in events:
        event_size = len(event[1].encode()) + EVENT_OVERHEAD
        if chunks[-1] and (len(chunks[-1]) >= MAX_EVENTS_PER_PUT or size + event_size > MAX_BYTES_PER_PUT):
            chunks.append([])
            size = 0
        chunks[-1].append(event)
        size += event_size
    return [chunk for chunk in chunks if chunk]


def filter_events(logs: CloudWatchLogsClient, group: str, pattern: str = "", start_ms: int = 0) -> list[dict[str, Any]]:
    """Every event of ``group`` matching ``pattern`` since ``start_ms``, oldest first: ``FilterLogEvents``
    followed page by page, locally and on AWS alike (AWS may return an empty page with a
    token: the search goes on until no token comes back)."""
    arguments: dict[str, Any] = {"logGroupName": group}
    if pattern:
        arguments["filterPattern"] = pattern
    if start_ms:
        arguments["startTime"] = start_ms
    events: list[dict[str, Any]] = []
    while True:
        page = logs.filter_log_events(**arguments)
        events.extend(page.get("events", []))  # type: ignore[arg-type]
        if not page.get("nextToken"):
            return sorted(events, key=lambda event: (event.get("timestamp", 0), event.get("eventId", "")))
        arguments["nextToken"] = page["nextToken"]
