"""`orderflow orders`: read stored orders, one by its id or a customer's through the CustomerIndex GSI."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from orderflow_cli.aws import LOCAL_ENDPOINT, TABLE_NAME, CliError, Target, translate
from orderflow_cli.common import EndpointOption, console, fail

orders_app = typer.Typer(help="Read stored orders.", no_args_is_help=True)


@orders_app.command("get")
def orders_get(
    order_id: Annotated[str, typer.Argument(help="The order's id.")],
    created_at: Annotated[str | None, typer.Argument(help="Its createdAt (the sort key); omit to list all.")] = None,
    endpoint_url: EndpointOption = LOCAL_ENDPOINT,
    table_name: Annotated[str, typer.Option(help="The orders table.")] = TABLE_NAME,
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
    cancelledAt and cancellationReason. Pipe it to jq: `orderflow orders get ID | jq '.[0].status'`.
    """
    import time

    from boto3.dynamodb.types import TypeDeserializer

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
    deserializer = TypeDeserializer()
    plain = [{key: deserializer.deserialize(value) for key, value in item.items()} for item in items]
    # Written as is, not through rich: rich wraps long lines to the terminal, which breaks JSON.
    sys.stdout.write(json.dumps(plain, default=_number, sort_keys=True, indent=2, ensure_ascii=False) + "\n")


@orders_app.command("by-customer")
def orders_by_customer(
    customer_id: Annotated[str, typer.Argument(help="The customer's id.")],
    endpoint_url: EndpointOption = LOCAL_ENDPOINT,
    table_name: Annotated[str, typer.Option(help="The orders table.")] = TABLE_NAME,
    limit: Annotated[int, typer.Option(min=1, help="At most this many orders, newest first.")] = 50,
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
    if not items:
        console.print(f"no orders for customer {customer_id}")
        return
    table = Table("orderId", "createdAt", "items", "total", "status")
    for item in items:
        table.add_row(
            item["orderId"]["S"],
            item["createdAt"]["S"],
            item.get("itemCount", {}).get("N", "?"),
            f"{item['totalAmount']['N']} {item['currency']['S']}",
            item.get("status", {}).get("S", "?")
            + (f" ({item['cancellationReason']['S']})" if "cancellationReason" in item else ""),
        )
    console.print(table)


def _number(value: object) -> object:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(type(value).__name__)
