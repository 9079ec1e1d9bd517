"""Records a shipment for each accepted order that EventBridge routed to the shipping queue."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


def handler(event: dict[str, Any], context: Any) -> None:
    for record in event["Records"]:
        accepted = json.loads(record["body"])  # the EventBridge event, as the rule's SQS target receives it
        order = accepted["detail"]
        table.put_item(
            Item={"orderId": order["orderId"], "items": len(order.get("items", [])), "source": accepted["source"]}
        )
        print(f"shipping {order['orderId']}")
