"""`orderflow orders`: read stored orders, one by its id or a customer's through the CustomerIndex GSI.
(The e-mail the notification service sent about them: `orderflow mail`.)"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from orderflow_cli.aws import LOCAL_ENDPOINT, TABLE_NAME, CliError, Target, translate
from orderflow_cli.common import EndpointOption, console, fail, print_fitted_table

#: The payment service's table (infra/payments.py).
PAYMENTS_TABLE = "Payments"

orders_app = typer.Typer(help="Read stored orders.", no_args_is_help=True)


@orders_app.command("get")
def orders_get(
    order_id: Annotated[str, typer.Argument(help="The order's id.")],
    created_at: Annotated[str | None, typer.Argument(help="Its createdAt (the sort key); omit to list all.")] = None,
    endpoint_url: EndpointOption = LOCAL_ENDPOINT,
    table_name: Annotated[str, typer.Option(help="The orders table.")] = TABLE_NAME,
    payments_table: Annotated[
        str, typer.Option(help="The payment service's table: each order shows its payment from it.")
    ] = PAYMENTS_TABLE,
    wait: Annotated[
        float,
        typer.Option(
            min=0,
            help="Wait up to this many seconds for the order to appear: the function reads the queue with a "
            "5 s batching window, so an order sent just now is not stored yet.",
        ),
    ] = 0.0,
) -> None:
    """Print an order as JSON: always a JSON array, of every version of it when CREATED_AT is omitted.

    Each element is the stored item: the order's fields, its status (CONFIRMED, CANCELLED,
    or AWAITING_ORDER for a cancellation whose order has not arrived) and, when cancelled,
    cancelledAt and cancellationReason; and `payment`, what the payment service holds for it
    (status CHARGING, CANCELLING, CAPTURED, DECLINED, REFUNDING, REFUNDED or VOIDED, amount, chargeId,
    refundId), null when it holds nothing yet. Pipe it to jq: `orderflow orders get ID | jq '.[0].payment.status'`.
    """
    import time

    target = Target(endpoint_url)
    dynamodb = target.dynamodb()

    def read() -> list[dict[str, Any]]:
        if created_at:
            key = {"orderId": {"S": order_id}, "createdAt": {"S": created_at}}
            item = translate(lambda: dynamodb.get_item(TableName=table_name, Key=key).get("Item"), target, table_name)
            return [dict(item)] if item else []
        return translate(
            lambda: [
                dict(item)
                for item in dynamodb.query(
                    TableName=table_name,
                    KeyConditionExpression="orderId = :id",
                    ExpressionAttributeValues={":id": {"S": order_id}},
                )["Items"]
            ],
            target,
            table_name,
        )

    deadline = time.monotonic() + wait
    try:
        items = read()
        while not items and time.monotonic() < deadline:
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
            items = read()
    except CliError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None
    if not items:
        waited = f" after waiting {wait:g} s" if wait else " (sent just now? add --wait 15)"
        raise fail(f"no order {order_id}{' created at ' + created_at if created_at else ''} in {table_name}{waited}")
    try:
        payments = _payments(dynamodb, payments_table, items)
    except CliError as exc:
        raise fail(str(exc)) from None
    _print_items(items, payments)


def _payments(dynamodb: Any, table: str, items: list[dict[str, Any]]) -> dict[tuple[str, str], Any] | None:
    """Each order's payment item by its key (None when the stack has no payment service's table).

    Read here, beside the order, rather than copied into it by the order service: the payment
    service owns its state, and the order service stays unaware of it (docs/decisions.md).
    """
    from botocore.exceptions import ClientError

    keys = [{"orderId": item["orderId"], "createdAt": item["createdAt"]} for item in items]
    found: dict[tuple[str, str], Any] = {}
    try:
        for start in range(0, len(keys), 100):  # BatchGetItem takes 100 keys at most
            request: dict[str, Any] = {table: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
            while request:
                answer = dynamodb.batch_get_item(RequestItems=request)
                for payment in answer["Responses"].get(table, []):
                    found[(payment["orderId"]["S"], payment["createdAt"]["S"])] = payment
                request = answer.get("UnprocessedKeys") or {}
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None  # a stack without the payment service
        raise CliError(f"cannot read {table}: {exc.response.get('Error', {}).get('Message', exc)}") from None
    return found


@orders_app.command("by-customer")
def orders_by_customer(
    customer_id: Annotated[str, typer.Argument(help="The customer's id.")],
    endpoint_url: EndpointOption = LOCAL_ENDPOINT,
    table_name: Annotated[str, typer.Option(help="The orders table.")] = TABLE_NAME,
    limit: Annotated[int, typer.Option(min=1, help="At most this many orders, newest first.")] = 50,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print a JSON array of the stored items, as `orders get` prints them ([] when there are none).",
        ),
    ] = False,
) -> None:
    """List a customer's orders, newest first (through the CustomerIndex GSI)."""
    target = Target(endpoint_url)
    dynamodb = target.dynamodb()
    try:
        items = translate(
            lambda: dynamodb.query(
                TableName=table_name,
                IndexName="CustomerIndex",
                KeyConditionExpression="customerId = :c",
                ExpressionAttributeValues={":c": {"S": customer_id}},
                ScanIndexForward=False,
                Limit=limit,
            )["Items"],
            target,
            table_name,
        )
    except CliError as exc:
        raise fail(str(exc)) from None
    if as_json:
        _print_items([dict(item) for item in items])
        return
    if not items:
        console.print(f"no orders for customer {customer_id}", markup=False)
        return
    rows = [
        [
            item["orderId"]["S"],
            item["createdAt"]["S"],
            item.get("itemCount", {}).get("N", "?"),
            f"{item['totalAmount']['N']} {item['currency']['S']}",
            item.get("status", {}).get("S", "?")
            + (f" ({item['cancellationReason']['S']})" if "cancellationReason" in item else ""),
        ]
        for item in items
    ]
    print_fitted_table(
        console,
        ["orderId", "createdAt", "items", "total", "status"],
        rows,
        folding={"status"},
        drop=["items", "total"],
        fold_min=14,
    )


def _print_items(items: list[dict[str, Any]], payments: dict[tuple[str, str], Any] | None = None) -> None:
    """Stored items (DynamoDB's typed values) as a JSON array of plain values; with ``payments``, each
    with its ``payment`` (null when none)."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()

    def plain(item: dict[str, Any]) -> dict[str, Any]:
        return {key: deserializer.deserialize(value) for key, value in item.items()}

    shown = []
    for item in items:
        order = plain(item)
        if payments is not None:
            payment = payments.get((item["orderId"]["S"], item["createdAt"]["S"]))
            order["payment"] = (
                {k: v for k, v in plain(payment).items() if k not in {"orderId", "createdAt"}} if payment else None
            )
        shown.append(order)
    _print_json(shown)


def _print_json(value: object) -> None:
    # Written as is, not through rich: rich wraps long lines to the terminal, which breaks JSON.
    sys.stdout.write(json.dumps(value, default=_number, sort_keys=True, indent=2, ensure_ascii=False) + "\n")


def _number(value: object) -> object:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(type(value).__name__)
