"""The payment service's store on DynamoDB: one item per order in the ``Payments`` table, every
write a conditional ``PutItem`` that returns the item that failed its condition (no read first)."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from orderflow.adapters.clients import describe_error
from orderflow.domain.errors import StoreUnavailableError
from orderflow.domain.payments.models import Payment, PaymentStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: The item's attribute for each field of Payment (camelCase, as the Orders table's).
_ATTRIBUTES = {field.name: "".join(
    part if index == 0 else part.capitalize() for index, part in enumerate(field.name.split("_"))
) for field in fields(Payment)}  # fmt: skip


def to_item(payment: Payment) -> dict[str, Any]:
    """The DynamoDB item (typed attribute values) of ``payment``; absent fields are left out."""
    item: dict[str, Any] = {}
    for name, value in asdict(payment).items():
        if value is None:
            continue
        attribute = _ATTRIBUTES[name]
        item[attribute] = {"N": value} if name == "amount" else {"S": str(value)}
    return item


def from_item(item: dict[str, Any]) -> Payment:
    values: dict[str, Any] = {}
    for name, attribute in _ATTRIBUTES.items():
        if attribute in item:
            raw = item[attribute]
            values[name] = raw.get("S", raw.get("N"))
    values["status"] = PaymentStatus(values["status"])
    return Payment(**values)


class DynamoDbPaymentStore:
    """``create`` is guarded by ``attribute_not_exists(orderId)``, ``advance`` by ``#status = :expected``."""

    def __init__(self, table_name: str, *, client: DynamoDBClient) -> None:
        self._table_name = table_name
        self._client = client

    def create(self, payment: Payment) -> Payment | None:
        return self._put(payment, "attribute_not_exists(orderId)", {}, {})

    def advance(self, payment: Payment, *, expected: PaymentStatus) -> Payment | None:
        return self._put(payment, "#status = :expected", {"#status": "status"}, {":expected": {"S": expected}})

    def get(self, key: tuple[str, str]) -> Payment | None:
        """The order's payment (for `orderflow orders get` and tests; the service never reads first)."""
        try:
            found = self._client.get_item(
                TableName=self._table_name,
                Key={"orderId": {"S": key[0]}, "createdAt": {"S": key[1]}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as exc:
            raise StoreUnavailableError(f"DynamoDB GetItem failed: {describe_error(exc)}") from exc
        item = found.get("Item")
        return from_item(dict(item)) if item else None

    def _put(self, payment: Payment, condition: str, names: dict[str, str], values: dict[str, Any]) -> Payment | None:
        request: dict[str, Any] = {
            "TableName": self._table_name,
            "Item": to_item(payment),
            "ConditionExpression": condition,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if names:
            request["ExpressionAttributeNames"] = names
            request["ExpressionAttributeValues"] = values
        try:
            self._client.put_item(**request)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                # Throttling, 5xx, AccessDenied, a missing table: not the event's fault, so retried.
                raise StoreUnavailableError(f"DynamoDB PutItem failed: {describe_error(exc)}") from exc
            stored = cast("dict[str, Any] | None", exc.response.get("Item"))
            if not stored:  # a status condition on a payment that vanished: the retry starts over
                raise StoreUnavailableError("DynamoDB PutItem: the payment to advance does not exist") from exc
            return from_item(stored)
        except BotoCoreError as exc:  # timeouts, connection errors
            raise StoreUnavailableError(f"DynamoDB PutItem failed: {describe_error(exc)}") from exc
        return None
