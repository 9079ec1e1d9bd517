"""CloudWatch metrics: datapoints kept by metric, CloudWatch's statistics, what an invocation and an
EMF line record, and the put into the embedded CloudWatch (``PutMetricData``)."""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from orderflow_local.cloudwatch.emf import parse_emf

if TYPE_CHECKING:
    from collections.abc import Iterable

    from mypy_boto3_cloudwatch import CloudWatchClient

    from orderflow_local.lambda_runtime.environment import Invocation


Dimensions = tuple[tuple[str, str], ...]


def dimensions_of(values: dict[str, str] | Iterable[tuple[str, str]]) -> Dimensions:
    items = values.items() if isinstance(values, dict) else values
    return tuple(sorted((str(name), str(value)) for name, value in items))


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
        #: Every value's sum and the last unit, since the start (never pruned): the console's counters.
        self._totals: dict[MetricKey, float] = defaultdict(float)
        self._units: dict[MetricKey, str] = {}
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
            self._totals[key] += value
            if unit:
                self._units[key] = unit
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

    def latest(self, namespace: str, name: str, dimensions: Dimensions) -> tuple[float, float] | None:
        """The newest datapoint (time, value), or None when the metric has none."""
        with self._lock:
            points = self._points.get((namespace, name, dimensions))
            return max(points) if points else None

    def total(self, namespace: str, name: str, dimensions: Dimensions) -> float:
        """The sum of every value since the start, retention or not (0 for a metric never seen)."""
        with self._lock:
            return self._totals.get((namespace, name, dimensions), 0.0)

    def unit(self, namespace: str, name: str, dimensions: Dimensions) -> str | None:
        """The unit the metric's datapoints came with (None: none said)."""
        with self._lock:
            return self._units.get((namespace, name, dimensions))

    def series(
        self, namespace: str, name: str, dimensions: Dimensions, stat: str, period: float, start: float, end: float
    ) -> list[tuple[float, float]]:
        """The statistic ``stat`` of each ``period`` from ``start`` to ``end`` (each point stamped with its
        period's start); a period without datapoints has no point, as in CloudWatch's answers."""
        values: dict[int, list[float]] = defaultdict(list)
        with self._lock:
            for at, value in self._points.get((namespace, name, dimensions), []):
                if start <= at < end:
                    values[int((at - start) // period)].append(value)
        return [(start + index * period, statistic(values[index], stat)) for index in sorted(values)]


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


def record_emf(store: MetricStore, line: str, at: float) -> None:
    """The metrics of one embedded-metric-format line, under each of its dimension sets."""
    for metric in parse_emf(line, at):
        for pairs in metric.dimension_sets:
            dimensions = dimensions_of(pairs)
            for value in metric.values:
                store.add(metric.namespace, metric.name, dimensions, value, metric.at, metric.unit)


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
