"""What `orderflow up` and `orderflow status` show of the outbox and EventBridge, in process on moto: a small
template with the outbox's shape (a table's stream -> a pipe -> a bus with an archive, the pipe's DLQ and
its alarm) and a rule with an SQS target and a target that does not run locally, deployed by the local
stack's own deploy()."""

from __future__ import annotations

import io
import json
import re
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

import orderflow_cli.up
from orderflow_cli.aws import Target
from orderflow_cli.common import OutputConsole
from orderflow_cli.main import app
from orderflow_local.lambda_runtime.pipes import PipeConfig, StreamPipe
from orderflow_local.stack.deploy import DeployedStack, deploy
from orderflow_local.stack.template import load_template

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

REGION = "us-east-1"
LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:Elsewhere"
TEMPLATE = {
    "Resources": {
        "Orders": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": "Orders",
                "KeySchema": [{"AttributeName": "orderId", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "orderId", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST",
                "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
            },
        },
        "OutboxDLQ": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "OrderOutboxDLQ"}},
        "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "OrderDomainEvents"}},
        "Archive": {
            "Type": "AWS::Events::Archive",
            "Properties": {
                "ArchiveName": "OrderDomainEvents",
                "SourceArn": {"Fn::GetAtt": ["Bus", "Arn"]},
                "RetentionDays": 7,
            },
        },
        "Inbox": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "CancelledInbox"}},
        "Routed": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Name": "RouteCancelled",
                "EventBusName": {"Ref": "Bus"},
                "EventPattern": {"detail-type": ["OrderCancelled"]},
                "Targets": [
                    {"Id": "Inbox", "Arn": {"Fn::GetAtt": ["Inbox", "Arn"]}},
                    {"Id": "Fn", "Arn": LAMBDA_ARN},
                ],
            },
        },
        "PipeRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {"RoleName": "OutboxPipeRole", "AssumeRolePolicyDocument": {"Statement": []}},
        },
        "Pipe": {
            "Type": "AWS::Pipes::Pipe",
            "Properties": {
                "Name": "OrderOutbox",
                "DesiredState": "RUNNING",
                "RoleArn": {"Fn::GetAtt": ["PipeRole", "Arn"]},
                "Source": {"Fn::GetAtt": ["Orders", "StreamArn"]},
                "SourceParameters": {
                    "DynamoDBStreamParameters": {
                        "StartingPosition": "LATEST",
                        "BatchSize": 10,
                        "DeadLetterConfig": {"Arn": {"Fn::GetAtt": ["OutboxDLQ", "Arn"]}},
                    }
                },
                "Target": {"Fn::GetAtt": ["Bus", "Arn"]},
                "TargetParameters": {"EventBridgeEventBusParameters": {"Source": "orderflow.orders"}},
                "Tags": {"project": "orderflow"},
            },
        },
        "OutboxAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": "orderflow-OrderOutboxDLQ",
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["OutboxDLQ", "QueueName"]}}],
                "Statistic": "Maximum",
                "Period": 60,
                "EvaluationPeriods": 1,
                "Threshold": 0,
                "ComparisonOperator": "GreaterThanThreshold",
            },
        },
    }
}


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """moto's clients (in process); the CLI's Target makes these."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        made = {
            service: boto3.client(service, region_name=REGION)  # type: ignore[call-overload]
            for service in ("sqs", "dynamodb", "events", "pipes", "cloudwatch", "iam")
        }
        monkeypatch.setattr(Target, "sqs", lambda self: made["sqs"])
        monkeypatch.setattr(Target, "cloudwatch", lambda self: made["cloudwatch"])
        monkeypatch.setattr(Target, "pipes", lambda self: made["pipes"])
        yield made


@pytest.fixture
def deployed(clients: dict[str, Any], tmp_path: Path) -> DeployedStack:
    path = tmp_path / "outbox.template.json"
    path.write_text(json.dumps(TEMPLATE))
    return deploy(
        load_template(path),
        sqs=clients["sqs"],
        dynamodb=clients["dynamodb"],
        iam=clients["iam"],
        cloudwatch=clients["cloudwatch"],
        events=clients["events"],
        pipes=clients["pipes"],
    )


def _status() -> Any:
    return CliRunner().invoke(app, ["status"], env={"COLUMNS": "200"}, prog_name="orderflow")


def _outbox_line(output: str) -> str:
    [line] = [line for line in output.splitlines() if line.startswith("Outbox:")]
    return line


# --- the pipe in moto's pipes backend ---------------------------------------------------------------


def test_deploy_registers_the_pipe_so_the_pipes_api_describes_it(
    deployed: DeployedStack, clients: dict[str, Any]
) -> None:
    described = clients["pipes"].describe_pipe(Name="OrderOutbox")
    resolved = deployed.pipes["Pipe"]
    assert described["Source"] == deployed.streams["Orders"]
    assert described["Target"] == deployed.buses["Bus"]
    assert described["RoleArn"] == deployed.roles["PipeRole"]
    assert described["SourceParameters"] == resolved["SourceParameters"]
    assert described["TargetParameters"] == resolved["TargetParameters"]
    assert (described["DesiredState"], described["CurrentState"]) == ("RUNNING", "RUNNING")
    assert described["Tags"] == {"project": "orderflow"}
    [listed] = clients["pipes"].list_pipes()["Pipes"]
    assert listed["Arn"] == described["Arn"] == deployed.lookup("Pipe", "Arn")


def test_a_pipe_the_template_stops_is_described_stopped(clients: dict[str, Any], tmp_path: Path) -> None:
    template = json.loads(json.dumps(TEMPLATE))
    template["Resources"]["Pipe"]["Properties"]["DesiredState"] = "STOPPED"
    path = tmp_path / "stopped.template.json"
    path.write_text(json.dumps(template))
    deploy(load_template(path), sqs=clients["sqs"], dynamodb=clients["dynamodb"], pipes=clients["pipes"])
    described = clients["pipes"].describe_pipe(Name="OrderOutbox")
    assert (described["DesiredState"], described["CurrentState"]) == ("STOPPED", "STOPPED")


# --- `orderflow status` -------------------------------------------------------------------------------


def test_status_shows_the_pipe_its_dlqs_depth_and_names_the_alarm_without_repeating_it(
    deployed: DeployedStack, clients: dict[str, Any]
) -> None:
    dlq_url = deployed.queues["OutboxDLQ"].url
    for number in range(2):
        clients["sqs"].send_message(QueueUrl=dlq_url, MessageBody=json.dumps({"failure": number}))
    clients["cloudwatch"].set_alarm_state(
        AlarmName="orderflow-OrderOutboxDLQ", StateValue="ALARM", StateReason="Threshold Crossed: 2 > 0"
    )
    result = _status()
    assert result.exit_code == 0, result.output
    assert _outbox_line(result.stdout) == (
        "Outbox: pipe OrderOutbox RUNNING: the Orders table's stream -> bus OrderDomainEvents; "
        "DLQ OrderOutboxDLQ: 2 messages, alarm orderflow-OrderOutboxDLQ ALARM."
    )
    # the alarm has its one row in the alarms' table (and its reason below it); the outbox's line names it
    assert len(re.findall(r"│ orderflow-OrderOutboxDLQ ", result.stdout)) == 1
    assert "1 of 1 in ALARM: orderflow-OrderOutboxDLQ." in result.stdout


def test_status_says_a_stopped_pipes_desired_state_and_a_dlq_without_an_alarm(
    deployed: DeployedStack, clients: dict[str, Any]
) -> None:
    clients["pipes"].stop_pipe(Name="OrderOutbox")
    clients["cloudwatch"].delete_alarms(AlarmNames=["orderflow-OrderOutboxDLQ"])
    result = _status()
    assert result.exit_code == 0, result.output
    assert "No alarm named orderflow-* at" in result.stdout
    line = _outbox_line(result.stdout)
    assert line.startswith("Outbox: pipe OrderOutbox STOPPED: ")
    assert line.endswith("DLQ OrderOutboxDLQ: 0 messages, no alarm on it.")


def test_status_survives_a_stack_deployed_before_the_outbox(deployed: DeployedStack, clients: dict[str, Any]) -> None:
    clients["pipes"].delete_pipe(Name="OrderOutbox")
    result = _status()
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert "0 of 1 in ALARM." in result.stdout  # the alarms are listed as before
    assert _outbox_line(result.stdout) == (
        "Outbox: no pipe OrderOutbox at http://localhost:4566 (a stack deployed before the outbox has none)."
    )


def test_status_without_permission_to_describe_pipes_says_so_and_still_lists_the_alarms(
    deployed: DeployedStack, clients: dict[str, Any]
) -> None:
    def denied(**_: Any) -> None:
        from botocore.exceptions import ClientError

        error = {"Error": {"Code": "AccessDeniedException", "Message": "not authorized to pipes:DescribePipe"}}
        raise ClientError(error, "DescribePipe")  # type: ignore[arg-type]

    clients["pipes"].describe_pipe = denied
    result = _status()
    assert result.exit_code == 0, result.output
    assert "0 of 1 in ALARM." in result.stdout
    assert _outbox_line(result.stdout) == (
        "Outbox: cannot describe the pipe: pipe OrderOutbox: AccessDeniedException: "
        "not authorized to pipes:DescribePipe"
    )


# --- `orderflow up`'s banner and live line ---------------------------------------------------------


def _local_stack(deployed: DeployedStack, pipes: list[StreamPipe]) -> SimpleNamespace:
    """What the banner reads of a started LocalStack, around a real deploy."""
    return SimpleNamespace(
        endpoint="http://127.0.0.1:4566",
        outputs={},
        deployed=deployed,
        pipes=pipes,
        spec=deployed.spec,
        alarm_monitor=None,
        watched=[],
        roles={},
        warnings=[],
    )


def _runner(deployed: DeployedStack) -> StreamPipe:
    """The pipe as the local stack makes it (not started: nothing here polls moto)."""
    config = PipeConfig.from_properties("OrderOutbox", deployed.pipes["Pipe"])
    return StreamPipe(config, client_factory=lambda service: None)


def test_the_banner_lists_the_bus_and_its_archive_the_rule_and_its_targets_and_the_pipe(
    deployed: DeployedStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(orderflow_cli.up, "console", OutputConsole(file=out, width=80, force_terminal=False))
    orderflow_cli.up._print_banner(_local_stack(deployed, [_runner(deployed)]), tmp_path / "fn.log", None)
    # one line per resource, whole though wider than 80 columns: the console is not a terminal
    lines = [" ".join(line.split()) for line in out.getvalue().splitlines()]
    assert "Event buses OrderDomainEvents: archive OrderDomainEvents (7 days)" in lines
    assert (
        "Rules RouteCancelled on OrderDomainEvents -> queue CancelledInbox, "
        "lambda Elsewhere not run locally (only SQS targets are)"
    ) in lines
    # a pipe not started yet is STOPPED (the local stack starts it before the banner)
    assert (
        "Pipes OrderOutbox (STOPPED): the Orders table's stream -> bus OrderDomainEvents; DLQ OrderOutboxDLQ"
    ) in lines


def test_the_banner_says_a_pipe_the_stack_does_not_run(
    deployed: DeployedStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(orderflow_cli.up, "console", OutputConsole(file=out, width=80, force_terminal=False))
    orderflow_cli.up._print_banner(_local_stack(deployed, []), tmp_path / "fn.log", None)
    assert "OrderOutbox (not run): the Orders table's stream" in out.getvalue()


def test_the_live_line_adds_the_pipes_published_and_dead_lettered_counts(
    deployed: DeployedStack, clients: dict[str, Any]
) -> None:
    pipe = _runner(deployed)
    pipe.stats.add(published=3, dead_lettered=1, records_read=5)
    stack = _local_stack(deployed, [pipe])
    stack.outputs = {
        "QueueUrl": deployed.queues["Inbox"].url,
        "DLQUrl": deployed.queues["OutboxDLQ"].url,
        "TableName": "Orders",
    }
    stack.mappings, stack.options = [], SimpleNamespace(chaos_rate=0)
    line = orderflow_cli.up._status_line(stack, clients["sqs"], clients["dynamodb"])
    assert line.endswith("| errors 0 | pipe: published 3, dead-lettered 1")
