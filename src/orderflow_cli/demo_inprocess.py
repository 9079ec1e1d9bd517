"""Run the handler over the seed's sample order against an in-process AWS emulator.

What ``make demo`` runs until the whole local pipeline (``orderflow demo``) exists: it
shows the processor's three outcomes on the seed's order: stored, duplicate skipped,
and a malformed message rejected to the DLQ with its reason.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

SEED_ORDER = Path(__file__).resolve().parents[2] / "tests" / "events" / "seed_order.json"


class _Context:
    function_name = "OrderProcessor"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:OrderProcessor"
    aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def _record(body: str) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "demo",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:OrderCreatedQueue",
        "awsRegion": "us-east-1",
    }


def main() -> int:
    os.environ.update(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="demo",
        AWS_SECRET_ACCESS_KEY="demo",  # noqa: S106 - the emulator accepts any credentials
        POWERTOOLS_LOG_LEVEL="ERROR",
        POWERTOOLS_METRICS_DISABLED="true",
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        sqs = boto3.client("sqs")
        dynamodb.create_table(
            TableName="Orders",
            KeySchema=[
                {"AttributeName": "orderId", "KeyType": "HASH"},
                {"AttributeName": "createdAt", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "orderId", "AttributeType": "S"},
                {"AttributeName": "createdAt", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        dlq_url = sqs.create_queue(QueueName="OrderCreatedDLQ")["QueueUrl"]
        os.environ.update(TABLE_NAME="Orders", DLQ_URL=dlq_url)

        from orderflow.handler import lambda_handler

        seed = SEED_ORDER.read_text()
        batches = {
            "the seed's sample order": [seed],
            "the same order again (redelivery)": [seed],
            "a malformed message": ['{"orderId": "ORD-BROKEN", "items": ['],
        }
        for label, bodies in batches.items():
            response = lambda_handler({"Records": [_record(b) for b in bodies]}, _Context())
            print(f"- sent {label}: batchItemFailures={response['batchItemFailures']}")

        order = json.loads(seed)
        item = dynamodb.get_item(
            TableName="Orders", Key={"orderId": {"S": order["orderId"]}, "createdAt": {"S": order["createdAt"]}}
        )["Item"]
        print(
            f"\nStored {order['orderId']}: status={item['status']['S']}, itemCount={item['itemCount']['N']}, "
            f"totalAmount={item['totalAmount']['N']} {item['currency']['S']}, processedAt={item['processedAt']['S']}"
        )
        print(f"Items in the table: {dynamodb.scan(TableName='Orders', Select='COUNT')['Count']}")
        dead = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        for message in dead.get("Messages", []):
            attributes = message["MessageAttributes"]
            print(
                f"In the DLQ: {message['Body']!r}\n  errorCode={attributes['errorCode']['StringValue']}, "
                f"reason={attributes['errorReason']['StringValue']}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
