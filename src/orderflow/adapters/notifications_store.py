"""The notification service's DynamoDB access: the order it reads (``Orders``, GetItem only) and its
claims (``Notifications``: one item per event, under the order's id and the event's id)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from orderflow.adapters.clients import describe_error
from orderflow.domain.errors import StoreUnavailableError
from orderflow.domain.notifications.models import Claim, ClaimStatus, NotificationKind, Order

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: How long a claim is kept (TTL): far beyond any redelivery, a redrive included (the DLQs keep 14 days).
CLAIM_RETENTION = timedelta(days=90)

_DESERIALIZER = TypeDeserializer()


class DynamoDbOrderReader:
    """The order, read with ``ConsistentRead`` under its ``(orderId, createdAt)`` key."""

    def __init__(self, table_name: str, *, client: DynamoDBClient) -> None:
        self._table_name = table_name
        self._client = client

    def get(self, key: tuple[str, str]) -> Order | None:
        try:
            found = self._client.get_item(
                TableName=self._table_name,
                Key={"orderId": {"S": key[0]}, "createdAt": {"S": key[1]}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as exc:
            raise _failed("GetItem", "orders", exc) from exc
        item = found.get("Item")
        if not item:
            return None
        return Order.from_item({name: _DESERIALIZER.deserialize(value) for name, value in item.items()})


def to_item(claim: Claim) -> dict[str, Any]:
    claimed = datetime.fromisoformat(claim.claimed_at)
    item: dict[str, Any] = {
        "orderId": {"S": claim.order_id},
        "eventId": {"S": claim.event_id},
        "kind": {"S": claim.kind.value},
        "to": {"S": claim.to},
        "status": {"S": claim.status.value},
        "claimedAt": {"S": claim.claimed_at},
        "ttl": {"N": str(int((claimed + CLAIM_RETENTION).timestamp()))},
    }
    if claim.message_id:
        item["messageId"] = {"S": claim.message_id}
    return item


def from_item(item: dict[str, Any]) -> Claim:
    def text(name: str) -> str | None:
        value = item.get(name)
        return str(value["S"]) if value else None

    return Claim(
        order_id=str(text("orderId")),
        event_id=str(text("eventId")),
        kind=NotificationKind(str(text("kind"))),
        to=str(text("to")),
        status=ClaimStatus(str(text("status"))),
        claimed_at=str(text("claimedAt")),
        message_id=text("messageId"),
    )


class DynamoDbNotificationStore:
    """``claim`` is guarded by ``attribute_not_exists(eventId)``; ``mark_sent`` and ``release`` by
    ``#status = SENDING``."""

    def __init__(self, table_name: str, *, client: DynamoDBClient) -> None:
        self._table_name = table_name
        self._client = client

    def claim(self, claim: Claim) -> Claim | None:
        try:
            self._client.put_item(
                TableName=self._table_name,
                Item=to_item(claim),
                ConditionExpression="attribute_not_exists(eventId)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise _failed("PutItem", "notifications", exc) from exc
            held = cast("dict[str, Any] | None", exc.response.get("Item"))
            if not held:  # moto before ReturnValuesOnConditionCheckFailure, or a claim deleted since
                raise StoreUnavailableError("DynamoDB PutItem: the event's claim vanished, SQS will retry") from exc
            return from_item(held)
        except BotoCoreError as exc:
            raise _failed("PutItem", "notifications", exc) from exc
        return None

    def mark_sent(self, claim: Claim, message_id: str) -> None:
        self._conditional(
            "UpdateItem",
            lambda: self._client.update_item(
                TableName=self._table_name,
                Key=self._key(claim),
                UpdateExpression="SET #status = :sent, messageId = :message",
                ConditionExpression="#status = :sending",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":sent": {"S": ClaimStatus.SENT.value},
                    ":sending": {"S": ClaimStatus.SENDING.value},
                    ":message": {"S": message_id},
                },
            ),
        )

    def release(self, claim: Claim) -> None:
        self._conditional(
            "DeleteItem",
            lambda: self._client.delete_item(
                TableName=self._table_name,
                Key=self._key(claim),
                ConditionExpression="#status = :sending",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":sending": {"S": ClaimStatus.SENDING.value}},
            ),
        )

    def list_for_order(self, order_id: str) -> list[Claim]:
        """The order's notifications, oldest event first (for `orderflow orders get` and tests)."""
        try:
            found = self._client.query(
                TableName=self._table_name,
                KeyConditionExpression="orderId = :order",
                ExpressionAttributeValues={":order": {"S": order_id}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as exc:
            raise _failed("Query", "notifications", exc) from exc
        return [from_item(dict(item)) for item in found.get("Items", [])]

    @staticmethod
    def _key(claim: Claim) -> dict[str, Any]:
        return {"orderId": {"S": claim.order_id}, "eventId": {"S": claim.event_id}}

    @staticmethod
    def _conditional(operation: str, call: Any) -> None:
        try:
            call()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return  # no longer SENDING: another attempt got there first, nothing to change
            raise _failed(operation, "notifications", exc) from exc
        except BotoCoreError as exc:
            raise _failed(operation, "notifications", exc) from exc


def _failed(operation: str, table: str, exc: Exception) -> StoreUnavailableError:
    return StoreUnavailableError(f"DynamoDB {operation} on the {table} failed: {describe_error(exc)}")
