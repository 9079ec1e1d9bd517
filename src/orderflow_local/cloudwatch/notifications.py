"""An alarm's actions: CloudWatch's notification of a state change, published to the alarm's SNS topics."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING

from orderflow_local.cloudwatch.states import ALARM, INSUFFICIENT_DATA, OK

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

    from orderflow_local.cloudwatch.alarms import AlarmSpec, Evaluation


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
