"""PipeConfig.from_properties: an AWS::Pipes::Pipe read and checked as AWS would (ranges of the Pipes API
reference), and what the local runner does not run refused in one line naming the pipe."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orderflow_local.lambda_runtime.pipe_config import PipeConfig, PipeConfigurationError

STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/2025-01-01T00:00:00.000"
BUS = "arn:aws:events:us-east-1:123456789012:event-bus/OrderDomainEvents"
DLQ = "arn:aws:sqs:us-east-1:123456789012:OrderOutboxDLQ"
FILTER = json.dumps(
    {"eventName": ["INSERT", "MODIFY"], "dynamodb": {"NewImage": {"domainEvent": {"S": [{"exists": True}]}}}}
)


def properties(stream: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    parameters = {
        "StartingPosition": "LATEST",
        "BatchSize": 10,
        "MaximumBatchingWindowInSeconds": 0,
        "MaximumRetryAttempts": 10,
        "MaximumRecordAgeInSeconds": -1,
        "OnPartialBatchItemFailure": "AUTOMATIC_BISECT",
        "DeadLetterConfig": {"Arn": DLQ},
        **(stream or {}),
    }
    return {
        "Source": STREAM,
        "SourceParameters": {
            "DynamoDBStreamParameters": {key: value for key, value in parameters.items() if value is not None},
            "FilterCriteria": {"Filters": [{"Pattern": FILTER}]},
        },
        "Target": BUS,
        "TargetParameters": {
            "InputTemplate": '{"orderId": "<$.dynamodb.NewImage.orderId.S>"}',
            "EventBridgeEventBusParameters": {
                "Source": "orderflow.orders",
                "DetailType": "$.dynamodb.NewImage.domainEvent.S",
            },
        },
        "RoleArn": "arn:aws:iam::123456789012:role/PipeRole",
        **changes,
    }


def test_the_contracts_pipe_is_read_whole() -> None:
    config = PipeConfig.from_properties("OrderOutbox", properties())

    assert (config.source_arn, config.target_arn, config.starting_position) == (STREAM, BUS, "LATEST")
    assert (config.batch_size, config.batching_window, config.maximum_retry_attempts) == (10, 0, 10)
    assert (config.maximum_record_age, config.bisect_on_failure, config.dead_letter_arn) == (-1, True, DLQ)
    assert config.filters == (FILTER,)
    assert (config.event_source, config.detail_type) == ("orderflow.orders", "$.dynamodb.NewImage.domainEvent.S")
    assert config.arn == "arn:aws:pipes:us-east-1:123456789012:pipe/OrderOutbox"
    assert config.dead_letter_queue_name == "OrderOutboxDLQ"
    assert config.desired_state == "RUNNING"


def test_defaults_are_awss() -> None:
    config = PipeConfig.from_properties(
        "P",
        {
            "Source": STREAM,
            "Target": BUS,
            "SourceParameters": {"DynamoDBStreamParameters": {"StartingPosition": "TRIM_HORIZON"}},
        },
    )

    assert (config.batch_size, config.batching_window, config.parallelization_factor) == (1, 0, 1)
    assert (config.maximum_retry_attempts, config.maximum_record_age) == (-1, -1)
    assert (config.bisect_on_failure, config.dead_letter_arn, config.filters, config.input_template) == (
        False,
        None,
        (),
        None,
    )


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        ({"StartingPosition": None}, "StartingPosition is required"),
        ({"StartingPosition": "AT_TIMESTAMP"}, "must be TRIM_HORIZON or LATEST"),
        ({"BatchSize": 0}, "BatchSize 0 is out of range (1 to 10000)"),
        ({"BatchSize": 11}, "BatchSize 11 is above 10, the most an event bus target takes"),
        ({"BatchSize": "ten"}, "BatchSize 'ten' is not an integer"),
        ({"MaximumBatchingWindowInSeconds": 301}, "out of range (0 to 300)"),
        ({"MaximumRetryAttempts": -2}, "out of range (-1 to 10000)"),
        ({"MaximumRetryAttempts": 10_001}, "out of range (-1 to 10000)"),
        ({"MaximumRecordAgeInSeconds": 604_801}, "out of range (-1 to 604800)"),
        ({"ParallelizationFactor": 11}, "out of range (1 to 10)"),
        ({"OnPartialBatchItemFailure": "SPLIT"}, "must be AUTOMATIC_BISECT"),
        ({"DeadLetterConfig": {"Arn": "arn:aws:sns:us-east-1:123456789012:topic"}}, "is not an SQS queue"),
        ({"TumblingWindowInSeconds": 5}, "unknown DynamoDBStreamParameters TumblingWindowInSeconds"),
    ],
)
def test_stream_parameters_aws_would_refuse_are_refused(stream: dict[str, Any], message: str) -> None:
    with pytest.raises(PipeConfigurationError, match=r"^pipe OrderOutbox: ") as refused:
        PipeConfig.from_properties("OrderOutbox", properties(stream))
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"Source": "arn:aws:sqs:us-east-1:123456789012:queue"}, "is not a DynamoDB stream"),
        ({"Source": "arn:aws:kinesis:us-east-1:123456789012:stream/s"}, "is not a DynamoDB stream"),
        ({"Target": "arn:aws:lambda:us-east-1:123456789012:function:f"}, "is not an event bus"),
        ({"Target": {"Fn::GetAtt": ["Bus", "Arn"]}}, "Target is required and must be an ARN"),
        ({"Enrichment": "arn:aws:lambda:us-east-1:123456789012:function:f"}, "an enrichment is not run locally"),
        ({"DesiredState": "PAUSED"}, "must be RUNNING or STOPPED"),
        ({"Colour": "blue"}, "unknown properties Colour"),
        ({"TargetParameters": {"SqsQueueParameters": {}}}, "do not apply to an event bus"),
        ({"TargetParameters": {"EventBridgeEventBusParameters": {"EndpointId": "abc.xyz"}}}, "a global endpoint"),
        ({"TargetParameters": {"EventBridgeEventBusParameters": {"DetailType": "x" * 129}}}, "1 to 128 characters"),
        (
            {"TargetParameters": {"EventBridgeEventBusParameters": {"Source": "$.a b"}}},
            "a segment EventBridge Pipes does not support",
        ),
        ({"TargetParameters": {"EventBridgeEventBusParameters": {"Resources": ["r"] * 11}}}, "at most 10"),
        ({"TargetParameters": {"InputTemplate": '{"a": <aws.pipes.nope>}'}}, "not a reserved variable"),
        ({"TargetParameters": {"InputTemplate": "x" * 8193}}, "at most 8192 characters"),
    ],
)
def test_pipes_aws_would_refuse_or_we_do_not_run_are_refused_in_one_line(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(PipeConfigurationError, match=r"^pipe OrderOutbox: ") as refused:
        PipeConfig.from_properties("OrderOutbox", properties(**changes))
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ([{"Pattern": "{not json"}], "filter pattern is not JSON"),
        ([{"Pattern": "[1]"}], "must be a JSON object"),
        ([{"Pattern": json.dumps({"eventName": []})}], "Empty arrays are not allowed"),
        ([{"Pattern": json.dumps({"eventName": "INSERT"})}], "must be an object or an array"),
        ([{"Pattern": FILTER}] * 6, "a pipe takes at most 5"),
        ([{}], "each filter needs a Pattern"),
    ],
)
def test_invalid_filter_criteria_are_refused(filters: list[dict[str, Any]], message: str) -> None:
    props = properties()
    props["SourceParameters"]["FilterCriteria"] = {"Filters": filters}
    with pytest.raises(PipeConfigurationError, match=r"^pipe OrderOutbox: ") as refused:
        PipeConfig.from_properties("OrderOutbox", props)
    assert message in str(refused.value)


def test_other_source_parameters_are_refused() -> None:
    props = properties()
    props["SourceParameters"]["SqsQueueParameters"] = {"BatchSize": 1}
    with pytest.raises(PipeConfigurationError, match="SqsQueueParameters do not apply to a DynamoDB stream"):
        PipeConfig.from_properties("OrderOutbox", props)
