"""The template's own CloudWatch dashboard, with the local run's metrics: each widget as its
``DashboardBody`` defines it (title, place on the 24-column grid, metrics, statistic, period, axis),
its periods divided by the alarm period scale as the alarms' are.

The body's format: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html
What is read here: ``metric`` widgets (``metrics`` arrays with their rendering options, the ``.``
shorthand; ``annotations.alarms``, which draw the alarm's metric and threshold), ``text`` widgets
(their markdown, shown as text) and ``alarm`` widgets (the alarms' states). A widget of another
type (a Logs Insights query, a custom widget) is kept, as text saying it is not drawn locally.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orderflow_local.cloudwatch.metrics import dimensions_of
from orderflow_local.stack.template import resolve

if TYPE_CHECKING:
    from orderflow_local.cloudwatch.alarms import AlarmSpec
    from orderflow_local.cloudwatch.metrics import Dimensions, MetricStore
    from orderflow_local.stack.deploy import DeployedStack

#: CloudWatch's defaults: a widget's period and statistic when it names none.
DEFAULT_PERIOD = 300
DEFAULT_STAT = "Average"
#: A dashboard shows 3 hours by default; scaled down as the periods are (6 minutes at 30).
DEFAULT_RANGE_SECONDS = 3 * 3600


@dataclass(frozen=True)
class Series:
    namespace: str
    name: str
    dimensions: Dimensions
    stat: str
    period: int
    label: str
    axis: str


@dataclass(frozen=True)
class Dashboard:
    name: str
    widgets: list[dict[str, Any]]


def dashboards(deployed: DeployedStack) -> list[Dashboard]:
    """The template's dashboards, their bodies resolved against the local resources."""
    from orderflow_local.stack.template import TemplateError

    alarms = {alarm.logical_id: alarm.name for alarm in deployed.alarms}
    pseudo = deployed.pseudo

    def lookup(logical_id: str, attribute: str | None) -> str:
        if logical_id in alarms:  # an alarm's Ref is its name, its Arn names it
            region, account = pseudo["AWS::Region"], pseudo["AWS::AccountId"]
            name = alarms[logical_id]
            return name if attribute is None else f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"
        try:
            return deployed.lookup(logical_id, attribute)
        except TemplateError:  # a resource with no local counterpart: its widget shows no data
            return f"{logical_id}.{attribute or 'Ref'}"

    found = []
    for logical_id, resource in deployed.spec.resources.items():
        if resource.get("Type") != "AWS::CloudWatch::Dashboard":
            continue
        properties = resolve(resource.get("Properties", {}), lookup, pseudo=pseudo)
        body = properties.get("DashboardBody", "{}")
        try:
            parsed = json.loads(body) if isinstance(body, str) else body
        except ValueError:
            continue
        widgets = parsed.get("widgets", []) if isinstance(parsed, dict) else []
        found.append(
            Dashboard(str(properties.get("DashboardName") or logical_id), [w for w in widgets if isinstance(w, dict)])
        )
    return found


def render(
    dashboard: Dashboard,
    store: MetricStore,
    alarms: list[AlarmSpec],
    *,
    period_scale: float,
    now: float | None = None,
) -> dict[str, Any]:
    """The dashboard as the console draws it: every widget with its series' points."""
    now = time.time() if now is None else now
    by_name = {alarm.name: alarm for alarm in alarms}
    widgets = [_widget(widget, store, by_name, period_scale, now) for widget in dashboard.widgets]
    return {"name": dashboard.name, "periodScale": period_scale, "widgets": widgets}


def _widget(
    widget: dict[str, Any], store: MetricStore, alarms: dict[str, AlarmSpec], period_scale: float, now: float
) -> dict[str, Any]:
    properties = widget.get("properties") or {}
    place = {key: int(widget.get(key, 0) or 0) for key in ("x", "y", "width", "height")}
    shown: dict[str, Any] = {"title": str(properties.get("title", "")), **place}
    kind = widget.get("type")
    if kind == "text":
        return {"type": "text", **shown, "markdown": str(properties.get("markdown", ""))}
    if kind == "alarm":
        return {"type": "alarm", **shown, "alarms": [_alarm_name(arn) for arn in properties.get("alarms", [])]}
    if kind != "metric":
        return {"type": "text", **shown, "markdown": f"A {kind} widget: not drawn locally."}
    period = int(properties.get("period", DEFAULT_PERIOD))
    series = _series(properties, period)
    thresholds = []
    for arn in (properties.get("annotations") or {}).get("alarms", []):
        alarm = alarms.get(_alarm_name(arn))
        if alarm is None:
            continue
        if not properties.get("metrics"):  # an alarm widget draws the alarm's own metric
            series.append(
                Series(
                    alarm.namespace,
                    alarm.metric_name,
                    alarm.dimensions,
                    alarm.statistic,
                    alarm.period,
                    alarm.metric_name,
                    "left",
                )
            )
        thresholds.append({"label": alarm.name, "value": alarm.threshold})
        if not properties.get("metrics"):
            period = alarm.period
    local_period = period / period_scale
    start = now - DEFAULT_RANGE_SECONDS / period_scale
    return {
        "type": "metric",
        **shown,
        "view": str(properties.get("view", "timeSeries")),
        "period": local_period,
        "templatePeriod": period,
        "thresholds": thresholds,
        "series": [_points(one, store, period_scale, start, now) for one in series],
    }


def _series(properties: dict[str, Any], period: int) -> list[Series]:
    """The widget's ``metrics`` rows: [namespace, name, dimension name, value, ..., {options}]; a "."
    repeats the row above's value in that place."""
    found: list[Series] = []
    previous: list[Any] = []
    for row in properties.get("metrics", []):
        if not isinstance(row, list):
            continue
        options = row[-1] if row and isinstance(row[-1], dict) else {}
        values = [str(value) for value in (row[:-1] if options else row)]
        values = [
            previous[index] if value == "." and index < len(previous) else value for index, value in enumerate(values)
        ]
        previous = values
        if len(values) < 2 or options.get("visible") is False or "expression" in options:
            continue
        namespace, name, *pairs = values
        dimensions = dimensions_of(zip(pairs[0::2], pairs[1::2], strict=False))
        found.append(
            Series(
                namespace,
                name,
                dimensions,
                str(options.get("stat", properties.get("stat", DEFAULT_STAT))),
                int(options.get("period", period)),
                str(options.get("label") or name),
                "right" if options.get("yAxis") == "right" else "left",
            )
        )
    return found


def _points(series: Series, store: MetricStore, period_scale: float, start: float, end: float) -> dict[str, Any]:
    period = series.period / period_scale
    start = math.floor(start / period) * period  # CloudWatch's periods start on multiples of the period
    try:
        points = store.series(series.namespace, series.name, series.dimensions, series.stat, period, start, end)
    except ValueError:  # a statistic not evaluated locally (a trimmed mean): drawn empty, said in its label
        points = []
        series = Series(series.namespace, series.name, series.dimensions, series.stat, series.period,
                        f"{series.label} ({series.stat}: not computed locally)", series.axis)  # fmt: skip
    return {
        "label": series.label,
        "stat": series.stat,
        "unit": store.unit(series.namespace, series.name, series.dimensions),
        "axis": series.axis,
        "metric": f"{series.namespace}/{series.name}",
        "dimensions": dict(series.dimensions),
        "points": [[round(at * 1000), value] for at, value in points],
    }


def _alarm_name(arn: Any) -> str:
    """``arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME`` -> NAME (a name stays as it is)."""
    text = str(arn)
    return text.split(":alarm:", 1)[1] if ":alarm:" in text else text
