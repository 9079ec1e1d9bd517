"""An emulated AWS (moto, in process) with the stack's table and queues."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from orderflow import handler
from orderflow.composition import Settings, build_runtime
from orderflow_local.emulator import patches as moto_patches
from tests.support import create_orders_table

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


@dataclass
class EmulatedAws:
    dynamodb: Any
    sqs: Any
    table_name: str
    queue_url: str
    dlq_url: str

    def dlq_messages(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=60
            ).get("Messages", [])
            if not batch:
                return messages
            messages.extend(batch)

    def stored(self, order_id: str, created_at: str) -> dict[str, Any] | None:
        item = self.dynamodb.get_item(
            TableName=self.table_name, Key={"orderId": {"S": order_id}, "createdAt": {"S": created_at}}
        ).get("Item")
        return dict(item) if item else None

    def drain_dlq(self) -> list[dict[str, Any]]:
        """Every DLQ message, deleted from it."""
        messages = self.dlq_messages()
        for message in messages:
            self.sqs.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=message["ReceiptHandle"])
        return messages

    def items(self, *prefixes: str) -> dict[tuple[str, str], dict[str, Any]]:
        """The whole table, plain values (Decimal numbers), by key; or only the orders whose
        ids start with one of ``prefixes`` (filtered in the scan: moto's serializer, not the
        scan, is what costs, so a property test's growing table stays cheap to read)."""
        from boto3.dynamodb.types import TypeDeserializer

        deserializer = TypeDeserializer()
        found: dict[tuple[str, str], dict[str, Any]] = {}
        request: dict[str, Any] = {"TableName": self.table_name}
        if prefixes:
            request["FilterExpression"] = " OR ".join(f"begins_with(orderId, :p{n})" for n in range(len(prefixes)))
            request["ExpressionAttributeValues"] = {f":p{n}": {"S": prefix} for n, prefix in enumerate(prefixes)}
        while True:
            page = self.dynamodb.scan(**request)
            for item in page["Items"]:
                plain = {name: deserializer.deserialize(value) for name, value in item.items()}
                found[(plain["orderId"], plain["createdAt"])] = plain
            if "LastEvaluatedKey" not in page:
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def count(self) -> int:
        return int(self.dynamodb.scan(TableName=self.table_name, Select="COUNT")["Count"])

    def fail_calls(self, client: Any, operation: str, code: str, status: int, when: Callable[[str], bool]) -> None:
        """Make ``operation`` answer an AWS error whenever ``when(request_body)`` is true."""
        service = client.meta.service_model.service_name

        def hook(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
            request_body = params["body"]
            if not when(request_body.decode() if isinstance(request_body, bytes) else str(request_body)):
                return None
            response = AWSResponse(url="https://fault.invalid", status_code=status, headers={}, raw=None)
            return response, {"Error": {"Code": code, "Message": "injected by the test"}, "ResponseMetadata": {}}

        client.meta.events.register(f"before-call.{service}.{operation}", hook)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatedAws]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    # A batch's records run on threads: conditional writes must be atomic, as on AWS.
    moto_patches.apply()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        create_orders_table(dynamodb)
        dlq_url = sqs.create_queue(QueueName="OrderCreatedDLQ")["QueueUrl"]
        queue_url = sqs.create_queue(QueueName="OrderCreatedQueue")["QueueUrl"]
        env = EmulatedAws(dynamodb=dynamodb, sqs=sqs, table_name="Orders", queue_url=queue_url, dlq_url=dlq_url)
        runtime = build_runtime(Settings(table_name="Orders", dlq_url=dlq_url), dynamodb=dynamodb, sqs=sqs)
        monkeypatch.setattr(handler, "_runtime", lambda: runtime)
        yield env
