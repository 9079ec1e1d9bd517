"""The embedded metric format (EMF): the metrics a function writes in its log lines, as CloudWatch reads them."""

from __future__ import annotations

import json
from dataclasses import dataclass


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
