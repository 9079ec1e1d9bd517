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
(:func:`orderflow_local.cloudwatch.metrics.publish_metrics`), so ``aws cloudwatch get-metric-statistics``
answers locally; and each state change is published to the alarm's SNS actions as CloudWatch's
notification (:func:`orderflow_local.cloudwatch.notifications.notify`).

Periods of 5 minutes are too long to wait for while iterating: the monitor divides every
period by ``period_scale`` (30 by default: 300 s is evaluated over 10 s), and says so. CloudWatch
evaluates aligned periods; locally the periods are windows ending now, so a breach shows at once.

Source: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from orderflow_local.cloudwatch.metrics import dimensions_of, publish_metrics, statistic
from orderflow_local.cloudwatch.notifications import _actions_enabled, _listed, notify
from orderflow_local.cloudwatch.states import ALARM, INSUFFICIENT_DATA, OK
from orderflow_local.periodic import Periodic

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

    from orderflow_local.cloudwatch.metrics import Dimensions, MetricStore


log = logging.getLogger(__name__)

DEFAULT_PERIOD_SCALE = 30.0
#: Seconds between two puts of the metrics into the embedded CloudWatch (AWS's own metrics
#: have a 1-minute resolution; a few seconds keeps a local run's graphs current).
PUBLISH_INTERVAL = 5.0

#: Each comparison as a symbol, as the console and `orderflow status` show a threshold (">= 1").
COMPARISON_SYMBOLS = {
    "GreaterThanOrEqualToThreshold": ">=",
    "GreaterThanThreshold": ">",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}
_COMPARISONS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "GreaterThanOrEqualToThreshold": ("greater than or equal to", lambda value, limit: value >= limit),
    "GreaterThanThreshold": ("greater than", lambda value, limit: value > limit),
    "LessThanThreshold": ("less than", lambda value, limit: value < limit),
    "LessThanOrEqualToThreshold": ("less than or equal to", lambda value, limit: value <= limit),
}


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
        read = [
            (
                queue,
                sqs.get_queue_attributes(
                    QueueUrl=queue.url,
                    AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                )["Attributes"],
            )
            for queue in self._queues
        ]
        # Stamped once every queue is read, just before the tick evaluates: on a busy machine reading
        # them all can outlast a scaled period (1 s in tests), and points stamped when the round began
        # would fall out of the window, so a queue with letters in it would look like missing data (OK).
        now = time.time()
        for queue, attributes in read:
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
