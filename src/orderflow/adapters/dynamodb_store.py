"""The order store on DynamoDB: one conditional ``PutItem`` per order, no extra read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from orderflow.domain.errors import StoreUnavailableError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_dynamodb import DynamoDBClient

    from orderflow.domain.models import ConfirmedOrder

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class DynamoDbOrderStore:
    """Writes each order once: ``attribute_not_exists(orderId)`` guards the key.

    When the key exists, DynamoDB returns the stored item with the failed condition
    (``ReturnValuesOnConditionCheckFailure=ALL_OLD``), so duplicate and conflicting
    duplicate are told apart without a second request, and nothing is overwritten.

    Example
    -------
    >>> store = DynamoDbOrderStore("Orders", client=dynamodb_client())  # doctest: +SKIP
    >>> store.put_if_absent(confirmed) is None  # doctest: +SKIP
    True
    """

    def __init__(self, table_name: str, *, client: DynamoDBClient) -> None:
        self._table_name = table_name
        self._client = client

    def put_if_absent(self, order: ConfirmedOrder) -> Mapping[str, Any] | None:
        item = {key: _serializer.serialize(value) for key, value in order.to_item().items()}
        try:
            self._client.put_item(
                TableName=self._table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(orderId)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            if code != "ConditionalCheckFailedException":
                # Throttling, 5xx, and also AccessDenied or a missing table: none of them
                # is the message's fault, so it is retried rather than rejected.
                raise StoreUnavailableError(f"DynamoDB PutItem failed: {code}") from exc
            stored = cast("dict[str, Any] | None", exc.response.get("Item"))
            if not stored:
                raise StoreUnavailableError("DynamoDB reported the key exists but returned no item") from exc
            return {key: _deserializer.deserialize(value) for key, value in stored.items()}
        except BotoCoreError as exc:  # timeouts, connection errors
            raise StoreUnavailableError(f"DynamoDB PutItem failed: {type(exc).__name__}") from exc
        return None
