"""The order store on DynamoDB: every change is one conditional write, never a read first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from orderflow.domain.errors import StoreUnavailableError
from orderflow.domain.lifecycle import PutIfAbsent, UpdateIfStatus, WriteResult

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_dynamodb import DynamoDBClient

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class DynamoDbOrderStore:
    """Applies the domain's conditional writes to the ``Orders`` table.

    - :class:`PutIfAbsent` is a ``PutItem`` guarded by ``attribute_not_exists(orderId)``;
    - :class:`UpdateIfStatus` is an ``UpdateItem`` that sets the given attributes, guarded
      by ``#status = :expected``.

    When the condition fails, DynamoDB returns the item that failed it
    (``ReturnValuesOnConditionCheckFailure=ALL_OLD``), so the domain decides its next step
    from the current state without a second request, and nothing is overwritten blindly.

    Example
    -------
    >>> store = DynamoDbOrderStore("Orders", client=dynamodb_client())  # doctest: +SKIP
    >>> store.apply(PutIfAbsent(item)).applied  # doctest: +SKIP
    True
    """

    def __init__(self, table_name: str, *, client: DynamoDBClient) -> None:
        self._table_name = table_name
        self._client = client

    def apply(self, write: PutIfAbsent | UpdateIfStatus) -> WriteResult:
        if isinstance(write, PutIfAbsent):
            return self._conditional("PutItem", self._put, write, absent_means_current=False)
        return self._conditional("UpdateItem", self._update, write, absent_means_current=True)

    def _put(self, write: PutIfAbsent) -> None:
        self._client.put_item(
            TableName=self._table_name,
            Item={name: _serializer.serialize(value) for name, value in write.item.items()},
            ConditionExpression="attribute_not_exists(orderId)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )

    def _update(self, write: UpdateIfStatus) -> None:
        names = {f"#a{index}": name for index, name in enumerate(write.changes)}
        values = {f":v{index}": _serializer.serialize(value) for index, value in enumerate(write.changes.values())}
        names["#status"] = "status"
        values[":expected"] = _serializer.serialize(write.expected.value)
        order_id, created_at = write.key
        self._client.update_item(
            TableName=self._table_name,
            Key={"orderId": {"S": order_id}, "createdAt": {"S": created_at}},
            UpdateExpression="SET " + ", ".join(f"#a{index} = :v{index}" for index in range(len(write.changes))),
            ConditionExpression="#status = :expected",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )

    def _conditional(
        self, operation: str, call: Callable[[Any], None], write: Any, *, absent_means_current: bool
    ) -> WriteResult:
        try:
            call(write)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            if code != "ConditionalCheckFailedException":
                # Throttling, 5xx, and also AccessDenied or a missing table: none of them
                # is the message's fault, so it is retried rather than rejected. AWS's message
                # says what was refused (for AccessDenied: the action, the resource and why).
                detail = exc.response.get("Error", {}).get("Message")
                raise StoreUnavailableError(
                    f"DynamoDB {operation} failed: {code}" + (f": {detail}" if detail else "")
                ) from exc
            stored = cast("dict[str, Any] | None", exc.response.get("Item"))
            if not stored:
                if absent_means_current:  # a status condition fails on a missing item too
                    return WriteResult(applied=False, current=None)
                raise StoreUnavailableError(
                    f"DynamoDB {operation} reported the key exists but returned no item"
                ) from exc
            return WriteResult(
                applied=False, current={name: _deserializer.deserialize(value) for name, value in stored.items()}
            )
        except BotoCoreError as exc:  # timeouts, connection errors
            raise StoreUnavailableError(f"DynamoDB {operation} failed: {type(exc).__name__}") from exc
        return WriteResult(applied=True)
