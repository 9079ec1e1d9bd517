"""The template's CloudWatch alarms, evaluated against what the local run produces.

Each ``AWS::CloudWatch::Alarm`` of the template is created in the embedded CloudWatch
(``PutMetricAlarm``, so ``aws cloudwatch describe-alarms`` lists it) and evaluated here,
with its own metric, statistic, period, threshold, comparison, evaluation periods,
datapoints to alarm and missing-data treatment. Its state goes to the embedded CloudWatch
with ``SetAlarmState``, with a reason and reason data shaped like CloudWatch's, so
``orderflow status`` reads it the same way locally and on AWS.

The metrics come from where AWS gets them:

- ``AWS/Lambda``: each invocation the runner makes (Invocations, Errors, Duration,
  ConcurrentExecutions, Throttles; the runner never exceeds the mapping's concurrency, so it
  records no throttle, as an event source mapping with MaximumConcurrency does not);
- the function's own namespace: the EMF lines in its log output (CloudWatch extracts them
  from the log group on AWS);
- ``AWS/SQS``: the queues' depth, sampled every ``sample_interval``; the age of the oldest
  message is the oldest the event source mapping received in the sample (moto gives no
  ``ApproximateAgeOfOldestMessage``);
- ``AWS/DynamoDB`` ``WriteThrottleEvents``: the throttles the chaos option injects into writes.

Every few seconds the monitor also puts those metrics into the embedded CloudWatch
(:func:`publish_metrics`), so ``aws cloudwatch get-metric-statistics`` answers locally; and
each state change is published to the alarm's SNS actions as CloudWatch's notification
(:func:`notify`).

Periods of 5 minutes are too long to wait for while iterating: the monitor divides every
period by ``period_scale`` (30 by default: 300 s is evaluated over 10 s), and says so. CloudWatch
evaluates aligned periods; locally the periods are windows ending now, so a breach shows at once.

Source: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from orderflow_local.periodic import Periodic

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

    from orderflow_local.worker import Invocation


log = logging.getLogger(__name__)

OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"
DEFAULT_PERIOD_SCALE = 30.0
#: Seconds between two puts of the metrics into the embedded CloudWatch (AWS's own metrics
#: have a 1-minute resolution; a few seconds keeps a local run's graphs current).
PUBLISH_INTERVAL = 5.0

_COMPARISONS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "GreaterThanOrEqualToThreshold": ("greater than or equal to", lambda value, limit: value >= limit),
    "GreaterThanThreshold": ("greater than", lambda value, limit: value > limit),
    "LessThanThreshold": ("less than", lambda value, limit: value < limit),
    "LessThanOrEqualToThreshold": ("less than or equal to", lambda value, limit: value <= limit),
}

Dimensions = tuple[tuple[str, str], ...]


def dimensions_of(values: dict[str, str] | Iterable[tuple[str, str]]) -> Dimensions:
    items = values.items() if isinstance(values, dict) else values
    return tuple(sorted((str(name), str(value)) for name, value in items))


@dataclass(frozen=True)
class AlarmSpec:
    """One ``AWS::CloudWatch::Alarm`` on a single metric (its properties resolved)."""

    logical_id: str
    name: str
    namespace: str
    metric_name: str
    dimensions: Dimensions
    statistic: str  # Sum, Average, Maximum, Minimum, SampleCount, or pNN (ExtendedStatistic)
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing_data: str
    description: str = ""
    properties: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_properties(cls, logical_id: str, properties: dict[str, Any]) -> AlarmSpec:
        if "Metrics" in properties:
            raise ValueError(f"{logical_id}: alarms on metric math are not evaluated locally")
        comparison = str(properties["ComparisonOperator"])
        if comparison not in _COMPARISONS:
            raise ValueError(f"{logical_id}: comparison {comparison} is not evaluated locally")
        evaluation_periods = int(properties.get("EvaluationPeriods", 1))
        return cls(
            logical_id=logical_id,
            name=str(properties.get("AlarmName", logical_id)),
            namespace=str(properties["Namespace"]),
            metric_name=str(properties["MetricName"]),
            dimensions=dimensions_of((d["Name"], d["Value"]) for d in properties.get("Dimensions", [])),
            statistic=str(properties.get("ExtendedStatistic") or properties.get("Statistic", "Average")),
            period=int(properties.get("Period", 60)),
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=int(properties.get("DatapointsToAlarm", evaluation_periods)),
            threshold=float(properties["Threshold"]),
            comparison=comparison,
            treat_missing_data=str(properties.get("TreatMissingData", "missing")),
            description=str(properties.get("AlarmDescription", "")),
            properties=properties,
        )

    def breaches(self, value: float) -> bool:
        return _COMPARISONS[self.comparison][1](value, self.threshold)


def statistic(values: list[float], name: str) -> float:
    """CloudWatch's statistic ``name`` of a period's values (at least one)."""
    if name == "Sum":
        return sum(values)
    if name == "Average":
        return sum(values) / len(values)
    if name == "Maximum":
        return max(values)
    if name == "Minimum":
        return min(values)
    if name == "SampleCount":
        return float(len(values))
    if name.startswith("p"):
        percentile = float(name[1:])
        ordered = sorted(values)
        rank = max(1, math.ceil(percentile / 100 * len(ordered)))  # nearest rank
        return ordered[rank - 1]
    raise ValueError(f"statistic {name} is not evaluated locally")


MetricKey = tuple[str, str, Dimensions]  # namespace, metric name, dimensions


@dataclass
class StatisticSet:
    """What a metric gathered since it was last published: CloudWatch's ``StatisticValues``."""

    count: int
    total: float
    low: float
    high: float
    last_at: float  # the newest datapoint's time
    unit: str | None = None

    def add(self, value: float, at: float, unit: str | None) -> None:
        self.count += 1
        self.total += value
        self.low = min(self.low, value)
        self.high = max(self.high, value)
        self.last_at = max(self.last_at, at)
        self.unit = unit or self.unit


class MetricStore:
    """Datapoints by (namespace, metric, dimensions), kept for ``retention`` seconds.

    Each metric also sums what it gathered since :meth:`take_unpublished` was last called
    (one :class:`StatisticSet` per metric), for the embedded CloudWatch.
    """

    def __init__(self, retention: float = 3600.0) -> None:
        self._points: dict[MetricKey, list[tuple[float, float]]] = defaultdict(list)
        self._unpublished: dict[MetricKey, StatisticSet] = {}
        self._lock = threading.Lock()
        self._retention = retention

    def add(
        self,
        namespace: str,
        name: str,
        dimensions: Dimensions,
        value: float,
        at: float | None = None,
        unit: str | None = None,
    ) -> None:
        at = time.time() if at is None else at
        value = float(value)
        key = (namespace, name, dimensions)
        with self._lock:
            points = self._points[key]
            points.append((at, value))
            if len(points) > 1000 and points[0][0] < at - self._retention:
                points[:] = [point for point in points if point[0] >= at - self._retention]
            gathered = self._unpublished.get(key)
            if gathered is None:
                self._unpublished[key] = StatisticSet(1, value, value, value, at, unit)
            else:
                gathered.add(value, at, unit)

    def take_unpublished(self) -> dict[MetricKey, StatisticSet]:
        """What each metric gathered since the last call (and forget it)."""
        with self._lock:
            taken, self._unpublished = self._unpublished, {}
        return taken

    def values(self, namespace: str, name: str, dimensions: Dimensions, start: float, end: float) -> list[float]:
        with self._lock:
            return [value for at, value in self._points.get((namespace, name, dimensions), []) if start <= at < end]

    def names(self) -> list[tuple[str, str, Dimensions]]:
        with self._lock:
            return list(self._points)


@dataclass(frozen=True)
class Evaluation:
    state: str
    reason: str
    #: The period's statistic for each evaluated period, oldest first (None: no data).
    datapoints: list[tuple[float, float | None]]
    local_period: float

    def reason_data(self, alarm: AlarmSpec) -> str:
        return json.dumps(
            {
                "version": "1.0",
                "queryDate": _stamp(time.time()),
                "statistic": alarm.statistic,
                "period": alarm.period,
                "localPeriod": self.local_period,
                "recentDatapoints": [value for _, value in self.datapoints if value is not None],
                "threshold": alarm.threshold,
                "evaluatedDatapoints": [
                    {"timestamp": _stamp(at), **({"value": value} if value is not None else {})}
                    for at, value in self.datapoints
                ],
            }
        )


def _number(value: float) -> str:
    """As CloudWatch writes numbers in reasons: 2.0, 0.5, 24000.0."""
    return repr(round(float(value), 6))


def _stamp(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + ".000+0000"


def evaluate(
    alarm: AlarmSpec, store: MetricStore, *, now: float, period_scale: float = 1.0, current: str = INSUFFICIENT_DATA
) -> Evaluation:
    """The alarm's state now: its last ``EvaluationPeriods`` periods (each ``Period / period_scale`` s)."""
    period = alarm.period / period_scale
    datapoints: list[tuple[float, float | None]] = []
    for index in range(alarm.evaluation_periods, 0, -1):
        start, end = now - index * period, now - (index - 1) * period
        values = store.values(alarm.namespace, alarm.metric_name, alarm.dimensions, start, end)
        datapoints.append((start, statistic(values, alarm.statistic) if values else None))
    present = [value for _, value in datapoints if value is not None]
    missing = len(datapoints) - len(present)
    treat = alarm.treat_missing_data
    if not present and treat in {"missing", "ignore"}:
        state = current if treat == "ignore" else INSUFFICIENT_DATA
        return Evaluation(state, f"no datapoints in the last {alarm.evaluation_periods} period(s)", datapoints, period)
    breaching = sum(1 for value in present if alarm.breaches(value)) + (missing if treat == "breaching" else 0)
    words = _COMPARISONS[alarm.comparison][0]
    shown = ", ".join(
        f"{_number(value)} ({time.strftime('%d/%m/%y %H:%M:%S', time.gmtime(at))})"
        for at, value in datapoints
        if value is not None
    )
    threshold = _number(alarm.threshold)
    if breaching >= alarm.datapoints_to_alarm:
        reason = (
            f"Threshold Crossed: {breaching} out of the last {len(datapoints)} datapoints [{shown or 'none'}] "
            f"{'was' if breaching == 1 else 'were'} {words} the threshold ({threshold}) "
            f"(minimum {alarm.datapoints_to_alarm} datapoint(s) for OK -> ALARM transition)."
        )
        return Evaluation(ALARM, reason, datapoints, period)
    if present:
        reason = (
            f"Threshold Crossed: {breaching} out of the last {len(datapoints)} datapoints [{shown}] "
            f"{'was' if breaching == 1 else 'were'} {words} the threshold ({threshold}): "
            f"fewer than the {alarm.datapoints_to_alarm} needed for ALARM."
        )
    else:
        reason = f"no datapoints in the last {len(datapoints)} period(s), treated as not breaching"
    return Evaluation(OK, reason, datapoints, period)


# --- where the metrics come from ----------------------------------------------------------


def record_invocation(store: MetricStore, function_name: str, invocation: Invocation) -> None:
    """Lambda's metrics for one invocation, and the EMF metrics in its log lines."""
    at = invocation.ended_at or time.time()
    dimensions = dimensions_of({"FunctionName": function_name})
    store.add("AWS/Lambda", "Invocations", dimensions, 1, at, "Count")
    store.add("AWS/Lambda", "Errors", dimensions, 0 if invocation.status == "ok" else 1, at, "Count")
    if invocation.request_id:
        duration_ms = max(0.0, at - invocation.started_at) * 1000
        store.add("AWS/Lambda", "Duration", dimensions, duration_ms, at, "Milliseconds")
    store.add("AWS/Lambda", "ConcurrentExecutions", dimensions, invocation.concurrency, at, "Count")
    for stamp, line in invocation.lines:
        if line.startswith('{"_aws"'):
            record_emf(store, line, stamp / 1000)


@dataclass(frozen=True)
class EmfMetric:
    """One metric of one directive of an embedded-metric-format line."""

    namespace: str
    name: str
    unit: str | None
    #: Its numeric values (a metric's member may hold one value or a list of them).
    values: tuple[float, ...]
    #: Each dimension set of its directive: (dimension, value) pairs in the directive's order
    #: (the value "" when the line lacks the member).
    dimension_sets: tuple[tuple[tuple[str, str], ...], ...]
    #: When (epoch seconds): the line's ``_aws.Timestamp``, else the time the line was written.
    at: float


def parse_emf(line: str, at: float = 0.0) -> list[EmfMetric]:
    """Every metric of an EMF line, from *each* of its ``CloudWatchMetrics`` directives, as CloudWatch reads them.

    The one parser of EMF lines here: the alarms' metric store and the environments' metric
    counts both read lines through it. A line that is not EMF, or is malformed, has none.
    Spec: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
    """
    try:
        blob = json.loads(line)
        directives = blob["_aws"]["CloudWatchMetrics"]
        at = float(blob["_aws"].get("Timestamp", at * 1000)) / 1000
    except (ValueError, KeyError, TypeError, AttributeError):
        return []
    if not isinstance(directives, list):
        return []
    found = []
    for directive in directives:
        if not isinstance(directive, dict):
            continue
        dimension_sets = tuple(
            tuple((str(name), str(blob.get(name, ""))) for name in names)
            for names in directive.get("Dimensions") or [[]]
            if isinstance(names, list)
        )
        for metric in directive.get("Metrics") or []:
            if not isinstance(metric, dict) or "Name" not in metric:
                continue
            value = blob.get(metric["Name"])
            values = tuple(
                one for one in (value if isinstance(value, list) else [value]) if isinstance(one, int | float)
            )
            unit = metric.get("Unit")
            found.append(
                EmfMetric(
                    namespace=str(directive.get("Namespace", "")),
                    name=str(metric["Name"]),
                    unit=str(unit) if unit is not None else None,
                    values=values,
                    dimension_sets=dimension_sets,
                    at=at,
                )
            )
    return found


def record_emf(store: MetricStore, line: str, at: float) -> None:
    """The metrics of one embedded-metric-format line, under each of its dimension sets."""
    for metric in parse_emf(line, at):
        for pairs in metric.dimension_sets:
            dimensions = dimensions_of(pairs)
            for value in metric.values:
                store.add(metric.namespace, metric.name, dimensions, value, metric.at, metric.unit)


@dataclass
class QueueSource:
    name: str
    url: str
    #: Returns the age (s) of the oldest message received since the last call, or None.
    oldest_received: Callable[[], float | None] | None = None


class AlarmMonitor(Periodic):
    """Samples the queues, evaluates every alarm and publishes state changes (a thread of its own)."""

    name = "alarm-monitor"

    def __init__(
        self,
        alarms: list[AlarmSpec],
        store: MetricStore,
        *,
        cloudwatch: Callable[[], CloudWatchClient] | None = None,
        sqs: Callable[[], SQSClient] | None = None,
        sns: Callable[[], SNSClient] | None = None,
        queues: list[QueueSource] | None = None,
        throttles: Callable[[], list[tuple[float, str]]] | None = None,
        table_name: str = "",
        period_scale: float = DEFAULT_PERIOD_SCALE,
        interval: float | None = None,
        on_change: Callable[[AlarmSpec, str, Evaluation], None] | None = None,
        publish_interval: float = PUBLISH_INTERVAL,
    ) -> None:
        shortest = min((alarm.period for alarm in alarms), default=60) / period_scale
        super().__init__(interval if interval is not None else max(0.2, min(1.0, shortest / 5)))
        self.alarms = alarms
        self.store = store
        self.period_scale = period_scale
        self.states: dict[str, str] = {alarm.name: INSUFFICIENT_DATA for alarm in alarms}
        self.evaluations: dict[str, Evaluation] = {}
        self._cloudwatch_factory = cloudwatch
        self._sqs_factory = sqs
        self._sns_factory = sns
        self._queues = queues or []
        self._throttles = throttles
        self._table_name = table_name
        self._on_change = on_change
        #: How often the metrics go to the embedded CloudWatch (publish_metrics).
        self.publish_interval = publish_interval
        self._next_publish = 0.0
        #: Alarms whose last SetAlarmState failed (each failure is logged once, until one succeeds).
        self._failing: set[str] = set()

    def in_alarm(self) -> list[str]:
        return [name for name, state in self.states.items() if state == ALARM]

    @cached_property
    def _clients(self) -> tuple[CloudWatchClient | None, SQSClient | None]:
        # Made in the monitor's thread, on its first tick.
        return (
            self._cloudwatch_factory() if self._cloudwatch_factory else None,
            self._sqs_factory() if self._sqs_factory else None,
        )

    @cached_property
    def _sns(self) -> SNSClient | None:
        return self._sns_factory() if self._sns_factory else None

    def tick(self) -> None:
        cloudwatch, sqs = self._clients
        if sqs is not None:
            self.sample(sqs)
        self.evaluate_all(cloudwatch)
        if cloudwatch is not None and time.monotonic() >= self._next_publish:
            self._next_publish = time.monotonic() + self.publish_interval
            publish_metrics(self.store, cloudwatch)

    def sample(self, sqs: SQSClient) -> None:
        now = time.time()
        for queue in self._queues:
            attributes = sqs.get_queue_attributes(
                QueueUrl=queue.url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            dimensions = dimensions_of({"QueueName": queue.name})
            visible = float(attributes.get("ApproximateNumberOfMessages", 0))
            self.store.add("AWS/SQS", "ApproximateNumberOfMessagesVisible", dimensions, visible, now, "Count")
            self.store.add(
                "AWS/SQS",
                "ApproximateNumberOfMessagesNotVisible",
                dimensions,
                float(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
                now,
                "Count",
            )
            age = queue.oldest_received() if queue.oldest_received else None
            if age is not None:
                self.store.add("AWS/SQS", "ApproximateAgeOfOldestMessage", dimensions, age, now, "Seconds")
        if self._throttles is not None:
            dimensions = dimensions_of({"TableName": self._table_name})
            for at, _operation in self._throttles():
                self.store.add("AWS/DynamoDB", "WriteThrottleEvents", dimensions, 1, at, "Count")

    def evaluate_all(self, cloudwatch: CloudWatchClient | None = None, now: float | None = None) -> None:
        now = time.time() if now is None else now
        for alarm in self.alarms:
            previous = self.states[alarm.name]
            result = evaluate(alarm, self.store, now=now, period_scale=self.period_scale, current=previous)
            self.evaluations[alarm.name] = result
            if result.state == previous:
                continue
            if cloudwatch is not None and not self._set_state(cloudwatch, alarm, result):
                continue  # the state stays as it was: the next tick sees the change again and retries
            self.states[alarm.name] = result.state
            sns = self._sns
            if sns is not None:
                try:
                    notify(alarm, previous, result, sns)
                except Exception:  # as on AWS, a failed action leaves the state changed
                    log.warning("alarm %s: its action failed", alarm.name, exc_info=True)
            if self._on_change is not None:
                self._on_change(alarm, previous, result)

    def _set_state(self, cloudwatch: CloudWatchClient, alarm: AlarmSpec, result: Evaluation) -> bool:
        """Put the alarm's new state into the embedded CloudWatch; False (logged once until it works) if it failed."""
        try:
            cloudwatch.set_alarm_state(
                AlarmName=alarm.name,
                StateValue=result.state,  # type: ignore[arg-type]
                StateReason=result.reason[:1023],
                StateReasonData=result.reason_data(alarm),
            )
        except Exception:  # the emulator answered an error, or is stopping: retried on the next tick
            if alarm.name not in self._failing:
                log.warning(
                    "alarm %s: could not set its state to %s; retrying", alarm.name, result.state, exc_info=True
                )
            self._failing.add(alarm.name)
            return False
        self._failing.discard(alarm.name)
        return True


#: CloudWatch takes at most 1,000 metrics in one PutMetricData request:
#: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html
PUT_METRIC_DATA_LIMIT = 1000


@cache
def cloudwatch_units() -> frozenset[str]:
    """CloudWatch's units (``StandardUnit``), from botocore's model of the service."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("cloudwatch")
    return frozenset(model.shape_for("StandardUnit").enum)  # type: ignore[attr-defined]


def publish_metrics(store: MetricStore, cloudwatch: CloudWatchClient) -> int:
    """Put what each metric gathered since the last call into the embedded CloudWatch.

    One statistic set (count, sum, minimum, maximum) per metric and call, so
    ``aws cloudwatch get-metric-statistics`` answers locally as on AWS. On AWS the services
    publish their own ``AWS/`` metrics, a namespace reserved to them; here the runner stands
    in for those services. Returns how many were put.
    """
    by_namespace: dict[str, list[Any]] = defaultdict(list)
    for (namespace, name, dimensions), gathered in store.take_unpublished().items():
        datum: dict[str, Any] = {
            "MetricName": name,
            "Dimensions": [{"Name": key, "Value": value} for key, value in dimensions],
            "Timestamp": datetime.fromtimestamp(gathered.last_at, tz=UTC),
            "StatisticValues": {
                "SampleCount": gathered.count,
                "Sum": gathered.total,
                "Minimum": gathered.low,
                "Maximum": gathered.high,
            },
        }
        if gathered.unit in cloudwatch_units():  # a function's EMF line may name another: left out
            datum["Unit"] = gathered.unit
        by_namespace[namespace].append(datum)
    for namespace, data in by_namespace.items():
        for start in range(0, len(data), PUT_METRIC_DATA_LIMIT):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start : start + PUT_METRIC_DATA_LIMIT])
    return sum(len(data) for data in by_namespace.values())


#: The actions an alarm takes on entering each state, by the property that lists them.
ACTIONS = {ALARM: "AlarmActions", OK: "OKActions", INSUFFICIENT_DATA: "InsufficientDataActions"}


def _actions_enabled(alarm: AlarmSpec) -> bool:
    return str(alarm.properties.get("ActionsEnabled", True)).lower() != "false"


def _listed(alarm: AlarmSpec, name: str) -> list[str]:
    return [str(arn) for arn in alarm.properties.get(name) or []]


def actions(alarm: AlarmSpec, state: str) -> list[str]:
    """The ARNs the alarm notifies on entering ``state`` (none when its actions are disabled)."""
    return _listed(alarm, ACTIONS[state]) if _actions_enabled(alarm) else []


def notify(alarm: AlarmSpec, previous: str, evaluation: Evaluation, sns: SNSClient) -> list[str]:
    """Publish the state change to each SNS topic among the alarm's actions for its new state, as CloudWatch does.

    The message is CloudWatch's alarm notification (its JSON fields and subject line, as
    in AWS's sample https://github.com/aws/aws-lambda-go/blob/main/events/testdata/cloudwatch-alarm-sns-payload-single-metric.json).
    Other kinds of action (Auto Scaling, EC2, Systems Manager) have nothing to act on
    locally. Returns the topics notified.
    """
    topics = [arn for arn in actions(alarm, evaluation.state) if arn.startswith("arn:aws:sns:")]
    if not topics:
        return []
    region, account = topics[0].split(":")[3:5]
    changed = datetime.now(UTC)
    extended = alarm.statistic.startswith("p")
    message = {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description or None,
        "AWSAccountId": account,
        "NewStateValue": evaluation.state,
        "NewStateReason": evaluation.reason,
        "StateChangeTime": changed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{changed.microsecond // 1000:03d}+0000",
        "Region": region_name(region),
        "AlarmArn": f"arn:aws:cloudwatch:{region}:{account}:alarm:{alarm.name}",
        "OldStateValue": previous,
        "OKActions": actions(alarm, OK),
        "AlarmActions": actions(alarm, ALARM),
        "InsufficientDataActions": actions(alarm, INSUFFICIENT_DATA),
        "Trigger": {
            "MetricName": alarm.metric_name,
            "Namespace": alarm.namespace,
            "StatisticType": "ExtendedStatistic" if extended else "Statistic",
            **({"ExtendedStatistic": alarm.statistic} if extended else {"Statistic": alarm.statistic.upper()}),
            "Unit": None,
            "Dimensions": [{"value": value, "name": name} for name, value in alarm.dimensions],
            "Period": alarm.period,
            "EvaluationPeriods": alarm.evaluation_periods,
            "DatapointsToAlarm": alarm.datapoints_to_alarm,
            "ComparisonOperator": alarm.comparison,
            "Threshold": alarm.threshold,
            "TreatMissingData": alarm.treat_missing_data,
            "EvaluateLowSampleCountPercentile": "",
        },
    }
    subject = f'{evaluation.state}: "{alarm.name}" in {region_name(region)}'
    for topic in topics:
        sns.publish(TopicArn=topic, Subject=subject[:100], Message=json.dumps(message))
    return topics


@cache
def region_name(region: str) -> str:
    """A region's name as CloudWatch's notifications write it ("US East (N. Virginia)"), from botocore's data."""
    import botocore.loaders

    for partition in botocore.loaders.Loader().load_data("endpoints")["partitions"]:
        described = partition.get("regions", {}).get(region, {}).get("description")
        if described:
            return str(described)
    return region


def create_alarms(alarms: list[AlarmSpec], cloudwatch: CloudWatchClient) -> None:
    """Create the template's alarms in the embedded CloudWatch, with their actions (AlarmMonitor carries them out)."""
    for alarm in alarms:
        statistic_field: dict[str, Any] = (
            {"ExtendedStatistic": alarm.statistic}
            if alarm.statistic.startswith("p")
            else {"Statistic": alarm.statistic}
        )
        cloudwatch.put_metric_alarm(
            AlarmName=alarm.name,
            AlarmDescription=alarm.description,
            Namespace=alarm.namespace,
            MetricName=alarm.metric_name,
            Dimensions=[{"Name": name, "Value": value} for name, value in alarm.dimensions],
            Period=alarm.period,
            EvaluationPeriods=alarm.evaluation_periods,
            DatapointsToAlarm=alarm.datapoints_to_alarm,
            Threshold=alarm.threshold,
            ComparisonOperator=alarm.comparison,  # type: ignore[arg-type]
            TreatMissingData=alarm.treat_missing_data,
            ActionsEnabled=_actions_enabled(alarm),
            AlarmActions=_listed(alarm, "AlarmActions"),
            OKActions=_listed(alarm, "OKActions"),
            InsufficientDataActions=_listed(alarm, "InsufficientDataActions"),
            **statistic_field,
        )
