"""The outbox (infra/outbox.py): the table's stream, the pipe, its role and DLQ, the bus and its archive."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from infra.outbox import OUTBOX_FILTER_PATTERN, OUTBOX_INPUT_TEMPLATE

from orderflow_local.lambda_runtime.pipe_transform import TemplateContext, render_template

if TYPE_CHECKING:
    from tests.infra.conftest import Synthesized

DAY = 24 * 3600


def _props(resource: dict[str, Any]) -> dict[str, Any]:
    return resource["Properties"]  # type: ignore[no-any-return]


def _id(stack: Synthesized, resource_type: str, **properties: Any) -> str:
    target = stack.one(resource_type, **properties)
    return next(key for key, value in stack.json["Resources"].items() if value is target)


def _arn(stack: Synthesized, resource_type: str, attribute: str = "Arn", **properties: Any) -> dict[str, Any]:
    return {"Fn::GetAtt": [_id(stack, resource_type, **properties), attribute]}


def _key_arn(stack: Synthesized) -> dict[str, Any]:
    [key_id] = stack.resources("AWS::KMS::Key")
    return {"Fn::GetAtt": [key_id, "Arn"]}


def _pipe(stack: Synthesized) -> dict[str, Any]:
    return _props(stack.one("AWS::Pipes::Pipe", Name="OrderOutbox"))


def _join_suffix(value: dict[str, Any]) -> str:
    """The literal end of an ``Fn::Join`` ARN (``:event-bus/NAME``)."""
    return str(value["Fn::Join"][1][-1])


# --- the source ---------------------------------------------------------------------------


def test_the_table_streams_new_and_old_images(any_stack: Synthesized) -> None:
    table = _props(any_stack.one("AWS::DynamoDB::Table", TableName="Orders"))
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_the_pipe_reads_the_orders_stream_from_the_latest_record(any_stack: Synthesized) -> None:
    pipe = _pipe(any_stack)
    assert pipe["Source"] == _arn(any_stack, "AWS::DynamoDB::Table", "StreamArn", TableName="Orders")
    assert pipe["DesiredState"] == "RUNNING"
    assert pipe["SourceParameters"]["DynamoDBStreamParameters"] == {
        "StartingPosition": "LATEST",
        "BatchSize": 10,
        "MaximumBatchingWindowInSeconds": 0,
        "MaximumRetryAttempts": 10,
        "MaximumRecordAgeInSeconds": -1,
        "OnPartialBatchItemFailure": "AUTOMATIC_BISECT",
        "DeadLetterConfig": {"Arn": _arn(any_stack, "AWS::SQS::Queue", QueueName="OrderOutboxDLQ")},
    }


def test_the_filter_passes_only_inserts_and_modifications_that_carry_a_domain_event(any_stack: Synthesized) -> None:
    [only] = _pipe(any_stack)["SourceParameters"]["FilterCriteria"]["Filters"]
    pattern = json.loads(only["Pattern"])
    assert pattern == OUTBOX_FILTER_PATTERN
    # the contract's pattern, written out: a REMOVE (TTL) and a tombstone (no domainEvent) do not pass
    assert pattern == {
        "eventName": ["INSERT", "MODIFY"],
        "dynamodb": {"NewImage": {"domainEvent": {"S": [{"exists": True}]}}},
    }


# --- the target ---------------------------------------------------------------------------


def test_the_pipe_publishes_to_the_bus_with_the_domain_event_as_detail_type(any_stack: Synthesized) -> None:
    pipe = _pipe(any_stack)
    assert pipe["Target"] == _arn(any_stack, "AWS::Events::EventBus", Name="OrderDomainEvents")
    parameters = pipe["TargetParameters"]
    assert parameters["EventBridgeEventBusParameters"] == {
        "Source": "orderflow.orders",
        "DetailType": "$.dynamodb.NewImage.domainEvent.S",
    }
    assert parameters["InputTemplate"] == OUTBOX_INPUT_TEMPLATE


#: A stream record as DynamoDB Streams delivers it for a confirmed order (NEW_AND_OLD_IMAGES).
#: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_StreamRecord.html
CONFIRMED_RECORD: dict[str, Any] = {
    "eventID": "7de3041dd709b024af6f29e4fa13d34c",
    "eventName": "INSERT",
    "eventSource": "aws:dynamodb",
    "dynamodb": {
        "Keys": {"orderId": {"S": "ORD-1"}, "createdAt": {"S": "2026-04-20T14:30:00Z"}},
        "NewImage": {
            "orderId": {"S": "ORD-1"},
            "createdAt": {"S": "2026-04-20T14:30:00Z"},
            "customerId": {"S": 'CUST-"quoted"-1'},
            "status": {"S": "CONFIRMED"},
            "totalAmount": {"N": "129.90"},
            "currency": {"S": "EUR"},
            "version": {"N": "1"},
            "domainEvent": {"S": "OrderConfirmed"},
            "eventId": {"S": "ORD-1#2026-04-20T14:30:00Z#1"},
            "statusChangedAt": {"S": "2026-04-20T14:30:01.250Z"},
        },
        "SequenceNumber": "111",
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    },
}


def _render(template: str, record: dict[str, Any]) -> str:
    """The template filled as the local pipe fills it (inside quotes a string's content, outside the JSON value).

    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-input-transformation.html
    """
    context = TemplateContext(
        pipe_arn="arn:aws:pipes:us-east-1:123456789012:pipe/OrderOutbox",
        pipe_name="OrderOutbox",
        source_arn="arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/1",
        target_arn="arn:aws:events:us-east-1:123456789012:event-bus/OrderDomainEvents",
        ingestion_time="2026-04-20T14:30:01Z",
    )
    return render_template(template, record, context)


def test_the_input_template_renders_the_contracts_detail_as_json() -> None:
    detail = json.loads(_render(OUTBOX_INPUT_TEMPLATE, CONFIRMED_RECORD), parse_float=Decimal)
    assert detail == {
        "schemaVersion": 1,
        "eventId": "ORD-1#2026-04-20T14:30:00Z#1",
        "orderId": "ORD-1",
        "createdAt": "2026-04-20T14:30:00Z",
        "customerId": 'CUST-"quoted"-1',
        "status": "CONFIRMED",
        "totalAmount": "129.90",  # the table's exact decimal, as a string (trailing zero kept)
        "currency": "EUR",
        "version": "1",  # a stream record's number is a string, and stays one
        "occurredAt": "2026-04-20T14:30:01.250Z",
    }
    assert type(detail["schemaVersion"]) is int


def test_every_placeholder_reads_the_new_image() -> None:
    paths = re.findall(r"<(\$\.[^>]+)>", OUTBOX_INPUT_TEMPLATE)
    assert len(paths) == 9
    assert all(path.startswith("$.dynamodb.NewImage.") for path in paths)


# --- the bus and its archive --------------------------------------------------------------


def test_the_bus_is_encrypted_with_the_stacks_key(any_stack: Synthesized) -> None:
    bus = _props(any_stack.one("AWS::Events::EventBus", Name="OrderDomainEvents"))
    assert bus["KmsKeyIdentifier"] == _key_arn(any_stack)


@pytest.mark.parametrize(("stage", "days"), [("dev", 7), ("prod", 365)])
def test_the_archive_keeps_the_order_events_for_the_stages_retention(
    stage: str, days: int, request: pytest.FixtureRequest
) -> None:
    stack: Synthesized = request.getfixturevalue(stage)
    [archive] = stack.resources("AWS::Events::Archive").values()
    assert _props(archive)["RetentionDays"] == days
    assert _props(archive)["SourceArn"] == _arn(stack, "AWS::Events::EventBus", Name="OrderDomainEvents")
    assert _props(archive)["EventPattern"] == {"source": ["orderflow.orders"]}
    assert _props(archive)["KmsKeyIdentifier"] == _key_arn(stack)


def test_eventbridge_may_use_the_key_for_this_bus_only(any_stack: Synthesized) -> None:
    [key] = any_stack.resources("AWS::KMS::Key").values()
    statements = [
        s for s in _props(key)["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": "events.amazonaws.com"}
    ]
    archive = next(s for s in statements if s.get("Sid") == "AllowEventBridgeToEncryptTheOrderEventsArchive")
    context = archive["Condition"]["StringEquals"]["kms:EncryptionContext:aws:events:event-bus:arn"]
    assert _join_suffix(context) == ":event-bus/OrderDomainEvents"
    for statement in statements:
        assert "Condition" in statement, statement
        assert not any(action.endswith("*") for action in statement["Action"])
    # the key names the bus by its name, not Fn::GetAtt: the bus is encrypted with the key
    # (a reference back would be a circular dependency)
    bus_id = _id(any_stack, "AWS::Events::EventBus", Name="OrderDomainEvents")
    assert bus_id not in json.dumps(key)


# --- the pipe's role ----------------------------------------------------------------------


def _pipe_role(stack: Synthesized) -> tuple[str, dict[str, Any]]:
    role_arn = _pipe(stack)["RoleArn"]
    role_id = role_arn["Fn::GetAtt"][0]
    return role_id, _props(stack.json["Resources"][role_id])


def test_only_pipes_in_this_account_may_assume_the_pipes_role(any_stack: Synthesized) -> None:
    _, role = _pipe_role(any_stack)
    assert "ManagedPolicyArns" not in role
    assert "Policies" not in role
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "pipes.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    conditions = trust["Condition"]["StringEquals"]
    assert conditions["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert _join_suffix(conditions["aws:SourceArn"]) == ":pipe/OrderOutbox"


def test_the_pipes_role_has_exactly_what_the_pipe_uses(any_stack: Synthesized) -> None:
    stack = any_stack
    role_id, _ = _pipe_role(stack)
    [(policy_id, policy)] = [
        (key, value)
        for key, value in stack.resources("AWS::IAM::Policy").items()
        if {"Ref": role_id} in _props(value)["Roles"]
    ]
    assert _props(policy)["Roles"] == [{"Ref": role_id}]
    statements = {
        statement["Sid"]: (statement["Effect"], statement["Action"], statement["Resource"])
        for statement in _props(policy)["PolicyDocument"]["Statement"]
    }
    assert statements == {
        "ReadTheOrdersStream": (
            "Allow",
            ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"],
            _arn(stack, "AWS::DynamoDB::Table", "StreamArn", TableName="Orders"),
        ),
        "PublishToTheOrderEventsBus": (
            "Allow",
            "events:PutEvents",
            _arn(stack, "AWS::Events::EventBus", Name="OrderDomainEvents"),
        ),
        "SendWhatCannotBePublishedToTheDLQ": (
            "Allow",
            "sqs:SendMessage",
            _arn(stack, "AWS::SQS::Queue", QueueName="OrderOutboxDLQ"),
        ),
        "UseThePipelineKeyForTheStreamAndTheDLQ": ("Allow", ["kms:Decrypt", "kms:GenerateDataKey"], _key_arn(stack)),
    }
    # Pipes checks the role's permissions when it creates the pipe
    assert policy_id in stack.one("AWS::Pipes::Pipe", Name="OrderOutbox")["DependsOn"]


# --- the pipe's DLQ and its alarm ---------------------------------------------------------


def test_the_pipes_dlq_is_encrypted_refuses_plain_http_and_keeps_14_days(any_stack: Synthesized) -> None:
    stack = any_stack
    dlq = _props(stack.one("AWS::SQS::Queue", QueueName="OrderOutboxDLQ"))
    assert dlq["KmsMasterKeyId"] == _key_arn(stack)
    assert dlq["MessageRetentionPeriod"] == 14 * DAY
    assert "FifoQueue" not in dlq  # the pipe sends no message group id, in every topology
    assert "RedrivePolicy" not in dlq
    dlq_id = _id(stack, "AWS::SQS::Queue", QueueName="OrderOutboxDLQ")
    [policy] = [
        p for p in stack.resources("AWS::SQS::QueuePolicy").values() if _props(p)["Queues"] == [{"Ref": dlq_id}]
    ]
    [statement] = _props(policy)["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == {"Fn::GetAtt": [dlq_id, "Arn"]}


def test_a_record_in_the_pipes_dlq_sets_off_an_alarm(any_stack: Synthesized) -> None:
    stack = any_stack
    alarm = _props(stack.one("AWS::CloudWatch::Alarm", AlarmName="orderflow-OrderOutboxDLQ"))
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
    )
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": _arn(stack, "AWS::SQS::Queue", "QueueName", QueueName="OrderOutboxDLQ")}
    ]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    [topic_id] = [key for key, value in stack.resources("AWS::SNS::Topic").items() if "TopicName" not in _props(value)]
    assert alarm["AlarmActions"] == [{"Ref": topic_id}]
    [dashboard] = stack.resources("AWS::CloudWatch::Dashboard").values()
    alarm_id = _id(stack, "AWS::CloudWatch::Alarm", AlarmName="orderflow-OrderOutboxDLQ")
    assert alarm_id in json.dumps(_props(dashboard)["DashboardBody"])


def test_the_outputs_name_the_bus_and_the_pipes_dlq(any_stack: Synthesized) -> None:
    stack = any_stack
    outputs = stack.json["Outputs"]
    bus_id = _id(stack, "AWS::Events::EventBus", Name="OrderDomainEvents")
    assert outputs["OrderEventsBusName"]["Value"] == {"Ref": bus_id}
    assert outputs["OrderEventsBusArn"]["Value"] == {"Fn::GetAtt": [bus_id, "Arn"]}
    assert outputs["OutboxDLQUrl"]["Value"] == {"Ref": _id(stack, "AWS::SQS::Queue", QueueName="OrderOutboxDLQ")}
