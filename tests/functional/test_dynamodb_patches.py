"""moto's DynamoDB with our patches: an UpdateItem never changes an item a reader already holds."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends

from orderflow_local.emulator import patches

KEY = {"orderId": {"S": "ORD-1"}, "createdAt": {"S": "2026-12-07T09:00:00Z"}}


@pytest.fixture
def table() -> Any:
    patches.apply()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="Orders",
            KeySchema=[
                {"AttributeName": "orderId", "KeyType": "HASH"},
                {"AttributeName": "createdAt", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("orderId", "createdAt")],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        client.put_item(TableName="Orders", Item={**KEY, "status": {"S": "CONFIRMED"}, "version": {"N": "1"}})
        yield client, dynamodb_backends["123456789012"]["us-east-1"].get_table("Orders")


def _stored(moto_table: Any) -> Any:
    """The one item, as moto stores it (what a reader's response refers to)."""
    return next(item for by_range in moto_table.items.values() for item in by_range.values())


def _update(client: Any, condition_status: str = "CONFIRMED") -> None:
    client.update_item(
        TableName="Orders", Key=KEY, UpdateExpression="SET #s = :s, version = :v",
        ConditionExpression="#s = :expected", ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "CANCELLED"}, ":v": {"N": "2"}, ":expected": {"S": condition_status}},
    )  # fmt: skip


def test_an_item_a_reader_holds_keeps_its_old_state_whole(table: Any) -> None:
    # A Scan or GetItem serializes the items it found after the backend call returns: it holds them.
    client, moto_table = table
    held = _stored(moto_table)

    _update(client)

    assert (held.attrs["status"].value, held.attrs["version"].value) == ("CONFIRMED", "1")  # whole and old
    new = client.get_item(TableName="Orders", Key=KEY, ConsistentRead=True)["Item"]
    assert (new["status"]["S"], new["version"]["N"]) == ("CANCELLED", "2")
    assert _stored(moto_table) is not held


def test_a_failed_condition_leaves_the_stored_item_as_it_was(table: Any) -> None:
    client, moto_table = table
    held = _stored(moto_table)
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        _update(client, condition_status="AWAITING_ORDER")
    assert _stored(moto_table) is held
    assert held.attrs["status"].value == "CONFIRMED"


def test_the_stream_still_records_the_old_and_the_new_image(table: Any) -> None:
    client, moto_table = table
    _update(client)
    record = moto_table.stream_shard.items[-1].to_json()["dynamodb"]
    assert (record["OldImage"]["status"], record["NewImage"]["status"]) == ({"S": "CONFIRMED"}, {"S": "CANCELLED"})
