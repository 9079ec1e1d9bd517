"""DynamoDB TTL, which moto configures but never applies: expired items are swept.

AWS deletes expired items best-effort (typically within days); the sweeper deletes them
every ``interval`` seconds so local behaviour tells the truth about expiry.
"""

from __future__ import annotations

import logging
import time
from functools import cached_property
from typing import TYPE_CHECKING, Any

from orderflow_local.periodic import Periodic

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)


def sweep_expired(dynamodb: DynamoDBClient, table_name: str, *, now: float | None = None) -> int:
    """Delete every item whose TTL attribute is in the past; return how many."""
    description = dynamodb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    if description.get("TimeToLiveStatus") != "ENABLED":
        return 0
    attribute = description["AttributeName"]
    keys = [key["AttributeName"] for key in dynamodb.describe_table(TableName=table_name)["Table"]["KeySchema"]]
    cutoff = int(time.time() if now is None else now)
    deleted = 0
    scan: dict[str, Any] = {
        "TableName": table_name,
        "FilterExpression": "#ttl < :now",
        "ExpressionAttributeNames": {"#ttl": attribute, **{f"#k{n}": key for n, key in enumerate(keys)}},
        "ExpressionAttributeValues": {":now": {"N": str(cutoff)}},
        "ProjectionExpression": ", ".join(f"#k{n}" for n in range(len(keys))),
    }
    while True:
        page = dynamodb.scan(**scan)
        for item in page.get("Items", []):
            dynamodb.delete_item(TableName=table_name, Key={key: item[key] for key in keys})
            deleted += 1
        if "LastEvaluatedKey" not in page:
            return deleted
        scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class TtlSweeper(Periodic):
    """Sweeps expired items from ``tables`` every ``interval`` seconds in a background thread."""

    name = "ttl-sweeper"

    def __init__(self, dynamodb_factory: Callable[[], DynamoDBClient], tables: list[str], *, interval: float) -> None:
        super().__init__(interval)
        self._factory = dynamodb_factory
        self._tables = tables
        self.swept = 0

    @cached_property
    def _dynamodb(self) -> DynamoDBClient:
        return self._factory()  # made in the sweeping thread, on its first tick

    def tick(self) -> None:
        for table in self._tables:
            try:
                self.swept += sweep_expired(self._dynamodb, table)
            except Exception:
                log.exception("sweeping expired items from %s failed", table)
