"""The seed's five CDK assertion tests, ported to Python.

Adjusted only where docs/decisions.md records a deliberate difference: visibility timeout
185 s (AWS's 6x rule, not 60), Python runtime, and `dynamodb:PutItem` + `UpdateItem` (the
conditional writes of the order lifecycle) instead of `grantReadWriteData`'s action list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk.assertions import Match

if TYPE_CHECKING:
    from tests.infra.conftest import Synthesized


def test_creates_the_sqs_queue_with_a_dlq(dev: Synthesized) -> None:
    dev.template.has_resource_properties(
        "AWS::SQS::Queue", {"QueueName": "OrderCreatedQueue", "VisibilityTimeout": 185}
    )
    dev.template.has_resource_properties("AWS::SQS::Queue", {"QueueName": "OrderCreatedDLQ"})


def test_creates_the_dynamodb_table_with_correct_keys(dev: Synthesized) -> None:
    dev.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "TableName": "Orders",
            "KeySchema": [
                {"AttributeName": "orderId", "KeyType": "HASH"},
                {"AttributeName": "createdAt", "KeyType": "RANGE"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )


def test_creates_the_lambda_function_with_correct_config(dev: Synthesized) -> None:
    dev.template.has_resource_properties(
        "AWS::Lambda::Function",
        {"FunctionName": "OrderProcessor", "Runtime": "python3.14", "MemorySize": 256, "Timeout": 30},
    )


def test_lambda_has_event_source_mapping_to_sqs(dev: Synthesized) -> None:
    dev.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        Match.object_like({"BatchSize": 10, "FunctionResponseTypes": ["ReportBatchItemFailures"]}),
    )


def test_lambda_has_iam_permissions_for_dynamodb(dev: Synthesized) -> None:
    dev.template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Action": ["dynamodb:PutItem", "dynamodb:UpdateItem"], "Effect": "Allow"})]
                ),
            },
        },
    )
