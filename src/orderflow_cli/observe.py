"""`orderflow logs` and `orderflow status`: the function's logs, the stack's alarms and its outbox, locally
or on AWS.

Both read what AWS itself offers (CloudWatch Logs ``FilterLogEvents``, CloudWatch
``DescribeAlarms``, EventBridge Pipes ``DescribePipe``, SQS), so the same code reads the local
stack and a deployed one (``--endpoint-url aws``).
"""

from __future__ import annotations

import json
import re
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.measure import Measurement
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from orderflow_cli.aws import LOCAL_ENDPOINT, LOG_GROUP, CliError, Target, translate
from orderflow_cli.common import UNWRAPPED_WIDTH, EndpointOption, console, errors, fail, identifier_column
from orderflow_local.cloudwatch.logs import filter_events

if TYPE_CHECKING:
    from orderflow_local.ops.dlq import DeadLetter

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
FOLLOW_INTERVAL = 1.0
#: How late a line can reach CloudWatch Logs after its own timestamp: each --follow poll reads
#: this much before the newest line it printed again, and prints what it had not printed yet.
#:
#: Lambda sends an invocation's lines after the fact, and locally that is at its end: the
#: runtime (orderflow_local.cloudwatch.logs.FunctionLogs) takes them when the invocation
#: returns and sends them with the next PutLogEvents, every 0.5 s. So a line arrives up to
#: the invocation's duration (at most the function timeout: 30 s in the template) plus, for
#: a cold start's INIT_START, the init's (at most 30 s locally), plus that flush, after its
#: timestamp: about 61 s. Twice that leaves room for a slow flush on a busy machine and for
#: AWS's own delivery. Later lines are still missed: with `up --function-timeout` above
#: about 80 s, or lines CloudWatch Logs refused for a while (the runtime sends them again).
FOLLOW_OVERLAP_MS = 120_000
#: How --follow waits between polls (a test replaces it).
_pause = time.sleep


def parse_since(text: str) -> float:
    """``10m``, ``2h``, ``30s``, ``1d`` as seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text)
    if not match:
        raise ValueError(f"--since {text!r}: give a number and a unit, like 30s, 10m, 2h or 1d")
    return float(match.group(1)) * _UNITS[match.group(2)]


class FollowWindow:
    """What each poll of ``logs --follow`` reads, and which of its events are new.

    A poll reads from ``FOLLOW_OVERLAP_MS`` before the newest event printed (never before
    ``--since``), so lines that reach CloudWatch Logs late are read too; the events already
    printed are known by their ``eventId`` and skipped. Ids older than the window are
    forgotten: no poll reads them again, so what is kept stays bounded by the window.
    """

    def __init__(self, start_ms: int, overlap_ms: int = FOLLOW_OVERLAP_MS) -> None:
        self._floor = start_ms
        self._overlap_ms = overlap_ms
        self._newest = start_ms
        self._printed: dict[str, int] = {}  # eventId -> timestamp

    @property
    def start_ms(self) -> int:
        """Where the next poll starts reading."""
        return max(self._floor, self._newest - self._overlap_ms)

    def new(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The events not printed yet (taken as printed now), then the ids the window has left behind forgotten."""
        fresh = []
        for event in events:
            event_id, stamp = str(event["eventId"]), int(event["timestamp"])
            if event_id in self._printed:
                continue
            self._printed[event_id] = stamp
            self._newest = max(self._newest, stamp)
            fresh.append(event)
        start = self.start_ms
        for event_id in [event_id for event_id, stamp in self._printed.items() if stamp < start]:
            del self._printed[event_id]
        return fresh

    def __len__(self) -> int:
        """How many printed events it remembers."""
        return len(self._printed)


def logs(
    function: Annotated[
        str | None,
        typer.Argument(
            help="The function whose logs to print (its log group /aws/lambda/FUNCTION): OrderProcessor by default, "
            "OrderCancellationProcessor on a stack with -c ingress=eventbridge."
        ),
    ] = None,
    endpoint_url: EndpointOption = LOCAL_ENDPOINT,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Keep printing new lines until Ctrl-C. Each poll reads the last 2 minutes again, so a line "
            "Lambda sends late is printed too, once.",
        ),
    ] = False,
    since: Annotated[str, typer.Option(help="How far back to start: 30s, 10m, 2h, 1d.")] = "10m",
    filter_text: Annotated[
        str | None,
        typer.Option(
            "--filter",
            help="A CloudWatch Logs filter pattern: a term or a quoted phrase (JSON patterns like "
            "'{ $.level = \"ERROR\" }' work on AWS only).",
        ),
    ] = None,
    message_id: Annotated[
        str | None,
        typer.Option(
            help="Only lines about this SQS message (its batch, its record, its failure). Either id: the "
            "message's own, or its dead letter's as `dlq list` shows it (when no line carries the id, it is "
            "looked up in the DLQ and its source message's lines are shown).",
        ),
    ] = None,
    log_group: Annotated[
        str | None, typer.Option(help=f"The log group, instead of FUNCTION's (default: {LOG_GROUP}).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print each event as a JSON line, message unchanged.")
    ] = False,
) -> None:
    """Print the function's log lines from CloudWatch Logs, as Lambda wrote them.

    One code path for both: FilterLogEvents on the function's log group, in the local
    stack by default or on AWS with --endpoint-url aws. Lambda's own JSON records are shown
    as the START, END and REPORT lines they stand for.
    """
    if function and log_group:
        raise fail("give FUNCTION or --log-group, not both", 2)
    log_group = log_group or (f"/aws/lambda/{function}" if function else LOG_GROUP)
    target = Target(endpoint_url)
    try:
        pattern = _pattern(target, filter_text, message_id)
        start_ms = int((time.time() - parse_since(since)) * 1000)
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    client = target.logs()
    window = FollowWindow(start_ms)
    looked_up: DeadLetter | None = None
    dlq_searched = False
    try:

        def read() -> list[dict[str, Any]]:
            return translate(
                lambda: filter_events(client, log_group, pattern, window.start_ms),
                target,
                f"log group {log_group}",
            )

        events = read()
        if message_id and not events:
            # No line carries it: it may be a dead letter's id, which the function never logged.
            dlq_searched, looked_up = _dead_letter(target, message_id)
            if looked_up is not None and looked_up.source_message_id != message_id:
                errors.print(
                    f"{message_id} is a dead letter's id in the DLQ: showing the lines of its source message "
                    f"{looked_up.source_message_id}",
                    markup=False,
                )
                pattern = _pattern(target, None, looked_up.source_message_id)
                events = read()
        while True:
            for event in window.new(events):
                sys.stdout.write(_render(event, as_json=as_json) + "\n")
            sys.stdout.flush()
            if not follow:
                if not events:
                    console.print(_nothing(log_group, since, pattern, looked_up, start_ms, dlq_searched=dlq_searched))
                return
            _pause(FOLLOW_INTERVAL)
            events = read()
    except CliError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        return


def _dead_letter(target: Target, message_id: str) -> tuple[bool, DeadLetter | None]:
    """Whether the stack's DLQ could be searched, and its dead letter whose id, or whose source message's id,
    is ``message_id`` (or None).

    It is found as `dlq list` finds it (OrderCreatedDLQ, or its .fifo on a FIFO stack), and
    read as `dlq list` reads it: each message is received and made visible again at once.
    """
    from orderflow_local.ops.dlq import list_dead_letters
    from orderflow_local.ops.producer import DLQ_NAME

    try:
        url = target.queue_url(DLQ_NAME)
        letters = translate(lambda: list_dead_letters(target.sqs(), url), target, "DLQ")
    except CliError as exc:
        errors.print(f"warning: could not look {message_id} up among the dead letters: {exc}", markup=False)
        return False, None
    return True, next(
        (letter for letter in letters if message_id in {letter.message_id, letter.source_message_id}), None
    )


def _nothing(
    log_group: str, since: str, pattern: str, letter: DeadLetter | None, start_ms: int, *, dlq_searched: bool
) -> str:
    text = f"No log lines in {log_group} since {since} ago" + (f" matching {pattern}" if pattern else "") + "."
    if dlq_searched and letter is None:
        text += " No dead letter in the DLQ has that id either."
    elif letter is not None and letter.sent_at_ms and letter.sent_at_ms < start_ms:
        sent = datetime.fromtimestamp(letter.sent_at_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        text += f" Its dead letter was sent at {sent} UTC, before that: give a longer --since."
    return text


def _pattern(target: Target, filter_text: str | None, message_id: str | None) -> str:
    if filter_text and message_id:
        raise ValueError("give --filter or --message-id, not both")
    if message_id:
        return f'"{message_id}"'
    pattern = (filter_text or "").strip()
    if pattern.startswith("{") and not target.is_real_aws:
        raise ValueError(
            "JSON filter patterns work on AWS only: the local emulator matches terms and quoted phrases "
            "(try --filter ERROR, or --filter '\"Order stored\"')"
        )
    return pattern


def _render(event: dict[str, Any], *, as_json: bool) -> str:
    if as_json:
        return json.dumps(
            {
                "timestamp": event["timestamp"],
                "logStreamName": event.get("logStreamName"),
                "eventId": event.get("eventId"),
                "message": event["message"],
            }
        )
    at = datetime.fromtimestamp(event["timestamp"] / 1000, UTC).strftime("%H:%M:%S.%f")[:-3]
    stream = str(event.get("logStreamName", ""))[-8:]
    return f"{at} {stream} {render_message(event['message'])}"


def render_message(message: str) -> str:
    """One log line as a person reads it: Lambda's records as START/END/REPORT, Powertools' as LEVEL text."""
    try:
        line = json.loads(message)
    except ValueError:
        return message.rstrip()
    if not isinstance(line, dict):
        return message.rstrip()
    kind, record = line.get("type"), line.get("record") or {}
    if kind == "platform.initStart":
        return f"INIT_START Runtime Version: {record.get('runtimeVersion', '?')}"
    if kind == "platform.initReport":  # as Lambda's text format has it: after an init that failed too
        text = (
            f"INIT_REPORT Init Duration: {record.get('metrics', {}).get('durationMs', 0):.2f} ms\t"
            f"Phase: {record.get('phase', 'init')}\tStatus: {record.get('status', 'success')}"
        )
        return text + (f"\tError Type: {record['errorType']}" if record.get("errorType") else "")
    if kind == "platform.start":
        return f"START RequestId: {record.get('requestId')} Version: {record.get('version', '$LATEST')}"
    if kind == "platform.runtimeDone":
        return f"END RequestId: {record.get('requestId')}"
    if kind == "platform.report":
        metrics = record.get("metrics", {})
        text = (
            f"REPORT RequestId: {record.get('requestId')}\tDuration: {metrics.get('durationMs', 0):.2f} ms\t"
            f"Billed Duration: {metrics.get('billedDurationMs', 0)} ms\tMemory Size: {metrics.get('memorySizeMB')} MB\t"
            f"Max Memory Used: {metrics.get('maxMemoryUsedMB')} MB"
        )
        if "initDurationMs" in metrics:
            text += f"\tInit Duration: {metrics['initDurationMs']:.2f} ms"
        if record.get("status", "success") != "success":
            text += f"\tStatus: {record['status']}"
        return text
    if "_aws" in line:
        names = [metric["Name"] for d in line["_aws"].get("CloudWatchMetrics", []) for metric in d.get("Metrics", [])]
        return "METRICS " + " ".join(f"{name}={line.get(name)}" for name in names)
    level = line.get("level", "")
    if "errorType" in line and "message" not in line:  # the runtime's error (JSON log format): as its text format
        trace = [text for frame in line.get("stackTrace") or [] for text in str(frame).splitlines()]
        return "\n".join(
            [f"{level} {line['errorType']}: {line.get('errorMessage', '')}"]
            + (["Traceback (most recent call last):", *trace] if trace else [])
        )
    details = [
        f"{key}={line[key]}"
        for key in ("message_id", "order_id", "error_code", "reason", "error")
        if line.get(key) not in (None, "", [])
    ]
    if line.get("message_ids"):
        details.append(f"messages={len(line['message_ids'])}")
    request = line.get("function_request_id") or line.get("requestId")
    if request:
        details.append(f"request={request}")
    return f"{level} {line.get('message', '')}" + (f"  ({', '.join(details)})" if details else "")


_COLOURS = {"OK": "green", "ALARM": "red"}


def status(
    endpoint_url: EndpointOption = LOCAL_ENDPOINT,
    prefix: Annotated[str, typer.Option(help="Only alarms whose name starts with this.")] = "orderflow-",
    as_json: Annotated[bool, typer.Option("--json", help="Print the alarms as a JSON array.")] = False,
) -> None:
    """Each of the stack's alarms: its state (OK / ALARM / INSUFFICIENT_DATA) and the metric behind it;
    then the outbox: its pipe's state, its DLQ's depth and the alarm on it.

    Locally, `orderflow up` evaluates the template's alarms against the local run (with
    periods scaled down, which this says); with --endpoint-url aws, CloudWatch's own states.
    A table, one line per alarm; on a terminal too narrow for it, two lines per alarm: its
    name, state and since when, then its metric, threshold and recent datapoints.

    The outbox's pipe (OrderOutbox) is read with DescribePipe, on AWS as locally (where
    `orderflow up` registers it and runs it in its own poller). A stack deployed before the
    outbox has none: it is said, not an error. --json prints the alarms only.
    """
    target = Target(endpoint_url)
    try:
        alarms = translate(lambda: _alarms(target, prefix), target, "alarms")
    except CliError as exc:
        raise fail(str(exc)) from None
    if as_json:
        sys.stdout.write(json.dumps(alarms, indent=2, default=str) + "\n")
        return
    if alarms:
        _print_alarm_states(alarms)
    else:
        console.print(f"No alarm named {prefix}* at {target.describe()}: is the stack deployed there?")
    console.print(_outbox(target, alarms), markup=False)


def _print_alarm_states(alarms: list[dict[str, Any]]) -> None:
    _print_alarms(alarms)
    for alarm in alarms:
        if alarm["state"] != "OK":
            console.print(f"{alarm['name']}: {alarm['reason']}", markup=False)
    scaled = {
        (alarm["period"], alarm["reasonData"]["localPeriod"])
        for alarm in alarms
        if "localPeriod" in alarm["reasonData"]
    }
    for period, local in sorted(scaled):
        console.print(f"Evaluated locally with periods scaled down: {period} s over {local:g} s.")
    firing = [alarm["name"] for alarm in alarms if alarm["state"] == "ALARM"]
    console.print(f"{len(firing)} of {len(alarms)} in ALARM" + (f": {', '.join(firing)}" if firing else "") + ".")


#: The outbox's EventBridge pipe, as infra/outbox.py names it.
OUTBOX_PIPE = "OrderOutbox"


class _NoPipeError(Exception):
    """DescribePipe found no such pipe (NotFoundException)."""


def _describe_pipe(target: Target, name: str) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    try:
        return target.pipes().describe_pipe(Name=name)  # type: ignore[no-any-return]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NotFoundException":
            raise _NoPipeError from None
        raise


def _outbox(target: Target, alarms: list[dict[str, Any]]) -> str:
    """One line on the outbox: its pipe's state and route (DescribePipe), its DLQ's depth, the alarm on it
    (its row is in the alarms' table above: named here, not repeated).

    Never an error: the alarms above are what `status` is first for. A stack deployed before
    the outbox has no pipe, and credentials without pipes:DescribePipe cannot read it: both
    are said in the line.
    """
    try:
        pipe = translate(lambda: _describe_pipe(target, OUTBOX_PIPE), target, f"pipe {OUTBOX_PIPE}")
    except _NoPipeError:
        return f"Outbox: no pipe {OUTBOX_PIPE} at {target.describe()} (a stack deployed before the outbox has none)."
    except CliError as exc:
        return f"Outbox: cannot describe the pipe: {exc}"
    state, desired = pipe.get("CurrentState", "UNKNOWN"), pipe.get("DesiredState")
    shown = state if desired in (None, state) else f"{state} (desired {desired})"
    if pipe.get("StateReason"):
        shown += f" ({pipe['StateReason']})"
    line = (
        f"Outbox: pipe {pipe.get('Name', OUTBOX_PIPE)} {shown}: {describe_arn(str(pipe.get('Source')))} -> "
        f"{describe_arn(str(pipe.get('Target')))}"
    )
    stream = pipe.get("SourceParameters", {}).get("DynamoDBStreamParameters", {})
    dlq_arn = stream.get("DeadLetterConfig", {}).get("Arn")
    if not dlq_arn:
        return f"{line}; no DLQ."
    dlq = resource_name(dlq_arn)
    return f"{line}; DLQ {dlq}: {_depth(target, dlq_arn)}, {_alarm_on(alarms, dlq)}."


def _depth(target: Target, queue_arn: str) -> str:
    """How many messages the queue holds (visible ones, as its alarm counts), or why that is unknown."""
    account, name = queue_arn.split(":")[4], resource_name(queue_arn)

    def read() -> str:
        sqs = target.sqs()
        url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        count = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        return count["Attributes"]["ApproximateNumberOfMessages"]

    try:
        depth = translate(read, target, f"queue {name}")
    except CliError as exc:
        return f"depth unknown ({exc})"
    return f"{depth} message{'' if depth == '1' else 's'}"


def _alarm_on(alarms: list[dict[str, Any]], queue: str) -> str:
    """The alarms on the queue's metrics (by their QueueName dimension) and their states."""
    on_queue = re.compile(rf"[\[,]QueueName={re.escape(queue)}[\],]")
    found = [f"{alarm['name']} {alarm['state']}" for alarm in alarms if on_queue.search(alarm["metric"])]
    return f"alarm {', '.join(found)}" if found else "no alarm on it"


def _print_alarms(alarms: list[dict[str, Any]]) -> None:
    """The alarms as a table, each on one line; where that is wider than the terminal, two lines per alarm,
    so no name is folded or cut (folding six columns into 80 left a few letters of each per line)."""
    table = Table()
    identifier_column(table, "alarm")
    table.add_column("state")
    identifier_column(table, "metric")
    for header in ("threshold", "recent datapoints", "since"):
        table.add_column(header, overflow="fold")
    for alarm in alarms:
        table.add_row(
            alarm["name"],
            _state(alarm),
            f"{alarm['metric']} {alarm['statistic']} / {alarm['period']} s",
            _threshold(alarm),
            _recent(alarm),
            _since(alarm),
        )
    if Measurement.get(console, console.options.update_width(UNWRAPPED_WIDTH), table).maximum <= console.width:
        console.print(table)
        return
    name_width = max(len(alarm["name"]) for alarm in alarms)
    state_width = max(len(alarm["state"]) for alarm in alarms)
    for alarm in alarms:
        state = _state(alarm)
        state.pad_right(state_width - len(state))
        console.print(
            Text.assemble(alarm["name"].ljust(name_width), "  ", state, f"  since {_since(alarm)}", overflow="fold")
        )
        condition = Text(
            f"{alarm['metric']} {alarm['statistic']} / {alarm['period']} s {_threshold(alarm)}; "
            f"recent datapoints: {_recent(alarm)}",
            overflow="fold",
        )
        console.print(Padding(condition, (0, 0, 0, 4), expand=False))


def _state(alarm: dict[str, Any]) -> Text:
    return Text(alarm["state"], style=_COLOURS.get(alarm["state"], "yellow"))


def _threshold(alarm: dict[str, Any]) -> str:
    from orderflow_local.cloudwatch.alarms import COMPARISON_SYMBOLS

    return f"{COMPARISON_SYMBOLS.get(alarm['comparison'], alarm['comparison'])} {alarm['threshold']:g}"


def _recent(alarm: dict[str, Any]) -> str:
    return ", ".join(f"{value:g}" for value in alarm["reasonData"].get("recentDatapoints", [])) or "-"


def _since(alarm: dict[str, Any]) -> str:
    return str(alarm["since"])[:19]


def _alarms(target: Target, prefix: str) -> list[dict[str, Any]]:
    client = target.cloudwatch()
    found: list[dict[str, Any]] = []
    arguments: dict[str, Any] = {"AlarmNamePrefix": prefix, "AlarmTypes": ["MetricAlarm"]}
    while True:
        page = client.describe_alarms(**arguments)
        found.extend(page.get("MetricAlarms", []))  # type: ignore[arg-type]
        if not page.get("NextToken"):
            break
        arguments["NextToken"] = page["NextToken"]
    alarms = []
    for alarm in found:
        try:
            reason_data = json.loads(alarm.get("StateReasonData") or "{}")
        except ValueError:
            reason_data = {}
        dimensions = ",".join(f"{d['Name']}={d['Value']}" for d in alarm.get("Dimensions", []))
        alarms.append(
            {
                "name": alarm["AlarmName"],
                "state": alarm.get("StateValue", "INSUFFICIENT_DATA"),
                "reason": alarm.get("StateReason", ""),
                "reasonData": reason_data,
                "since": alarm.get("StateUpdatedTimestamp"),
                "metric": f"{alarm.get('Namespace')}/{alarm.get('MetricName')}"
                + (f"[{dimensions}]" if dimensions else ""),
                "statistic": alarm.get("ExtendedStatistic") or alarm.get("Statistic"),
                "period": alarm.get("Period"),
                "threshold": alarm.get("Threshold"),
                "comparison": alarm.get("ComparisonOperator"),
                "evaluationPeriods": alarm.get("EvaluationPeriods"),
                "treatMissingData": alarm.get("TreatMissingData"),
            }
        )
    return alarms


# Short names for the ARNs the outbox's line shows: ``bus OrderDomainEvents`` where the ARN would take a row.


def resource_name(arn: str) -> str:
    """The resource's own name, or ``arn`` as it is when it is not an ARN of a kind known here.

    ARN formats: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html
    """
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return arn
    service, resource = parts[2], parts[5]
    if service in {"sqs", "sns"}:  # arn:aws:sqs:REGION:ACCOUNT:NAME
        return resource
    if service == "dynamodb" and resource.startswith("table/"):  # table/NAME[/stream/LABEL]
        return resource.split("/")[1]
    if service == "lambda" and resource.startswith("function:"):  # function:NAME[:QUALIFIER]
        return resource.split(":")[1]
    if "/" in resource:  # event-bus/NAME, pipe/NAME, role/NAME, rule/BUS/NAME
        return resource.rsplit("/", 1)[1]
    if ":" in resource:  # stateMachine:NAME
        return resource.split(":")[1]
    return arn


def describe_arn(arn: str) -> str:
    """What ``arn`` names, in a few words: ``queue OrderOutboxDLQ``, ``the Orders table's stream``."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return arn
    service, resource, name = parts[2], parts[5], resource_name(arn)
    if name == arn:
        return arn
    if service == "dynamodb":
        return f"the {name} table's stream" if "/stream/" in resource else f"table {name}"
    kinds = {"sqs": "queue", "sns": "topic", "lambda": "function", "states": "state machine", "pipes": "pipe"}
    if service == "events":
        kind = "bus" if resource.startswith("event-bus/") else resource.split("/", 1)[0]
        return f"{kind} {name}"
    return f"{kinds.get(service, service)} {name}"
