"""Accepts each order from the orders queue onto the shop's bus (an order without an id is refused)."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

events = boto3.client("events")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    for record in event["Records"]:
        order = json.loads(record["body"])
        if not order.get("orderId"):
            print(f"refused {record['messageId']}: no orderId")
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        events.put_events(
            Entries=[
                {
                    "EventBusName": os.environ["BUS_NAME"],
                    "Source": "shop.intake",
                    "DetailType": "OrderAccepted",
                    "Detail": json.dumps(order),
                }
            ]
        )
        print(f"accepted {order['orderId']}")
    return {"batchItemFailures": failures}
