"""The published events' details (schemas/events) against what the domain stores and the outbox renders.

A detail is the pipe's input template (``infra.outbox.OUTBOX_INPUT_TEMPLATE``) filled from a
DynamoDB stream record whose new image is an item the domain wrote, serialized as DynamoDB
serializes it. The renderer here is the least that follows AWS's rule; the local pipe runtime
has the real one.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer
from hypothesis import given, settings
from infra.outbox import OUTBOX_INPUT_TEMPLATE
from jsonschema import Draft202012Validator, FormatChecker

from orderflow.domain.errors import AwaitingOrderError
from orderflow.domain.processing import InboundMessage, OrderProcessor
from tests.lifecycle_support import MemoryDeadLetters, MemoryStore
from tests.strategies import valid_orders
from tests.support import body, cancellation, examples, seed_order

SCHEMAS = Path(__file__).parents[2] / "schemas" / "events"
EVENTS = ("OrderConfirmed", "OrderCancelled")
NOW = datetime(2026, 4, 20, 16, 0, tzinfo=UTC)

_serialize = TypeSerializer().serialize
#: ``"<$.path>"`` (inside quotes) or ``<$.path>`` (outside).
_PLACEHOLDER = re.compile(r'"<\$\.([^>]+)>"|<\$\.([^>]+)>')


def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / f"{name}.json").read_text())
    return schema


def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(_schema(name), format_checker=FormatChecker())


def render(template: str, record: dict[str, Any]) -> str:
    """Fill ``template``'s placeholders from ``record``, as Pipes does.

    Inside quotes the value is inserted as a string; outside, as the JSON value at the path,
    so a DynamoDB number (``{"N": "2"}``) stays the string ``"2"``: "put quotes around
    variables that refer to JSON path parameters, but do not put quotes around variables that
    refer to JSON objects or arrays" (AWS, eb-pipes-input-transformation).
    """

    def fill(match: re.Match[str]) -> str:
        quoted, raw = match.groups()
        value: Any = record
        for step in (quoted or raw).split("."):
            value = value[step]
        if quoted is not None:
            return json.dumps(value if isinstance(value, str) else json.dumps(value))
        return json.dumps(value)

    return _PLACEHOLDER.sub(fill, template)


def _stream_records(store: MemoryStore) -> list[dict[str, Any]]:
    """The stream records (NEW_AND_OLD_IMAGES) of the store's applied writes, in order."""
    records: list[dict[str, Any]] = []
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for item in store.stream:
        key = (item["orderId"], item["createdAt"])
        old = last.get(key)
        dynamodb = {
            "Keys": {"orderId": {"S": key[0]}, "createdAt": {"S": key[1]}},
            "NewImage": {name: _serialize(value) for name, value in item.items()},
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        if old is not None:
            dynamodb["OldImage"] = {name: _serialize(value) for name, value in old.items()}
        event_name = "INSERT" if old is None else "MODIFY"
        records.append({"eventName": event_name, "eventSource": "aws:dynamodb", "dynamodb": dynamodb})
        last[key] = item
    return records


def published(store: MemoryStore) -> list[tuple[str, dict[str, Any]]]:
    """(detail-type, detail) of each record the outbox's filter passes: those whose new image has a domain event."""
    return [
        (record["dynamodb"]["NewImage"]["domainEvent"]["S"], json.loads(render(OUTBOX_INPUT_TEMPLATE, record)))
        for record in _stream_records(store)
        if "domainEvent" in record["dynamodb"]["NewImage"]
    ]


def _run(*messages: tuple[str, str]) -> MemoryStore:
    """Process (message id, body) pairs in order; a waiting cancel is left to its retry (not sent again)."""
    store = MemoryStore()
    processor = OrderProcessor(store=store, dead_letters=MemoryDeadLetters(), clock=lambda: NOW)
    for message_id, raw in messages:
        with contextlib.suppress(AwaitingOrderError):
            processor.process(InboundMessage(message_id=message_id, body=raw))
    return store


CREATE = ("c-1", body(seed_order()))
CANCEL = ("x-1", body(cancellation(seed_order())))
EVENT_ID = "ORD-20260420-001#2026-04-20T14:30:00Z#"


# --- the schema files ----------------------------------------------------------------------


@pytest.mark.parametrize("name", EVENTS)
def test_each_schema_is_draft_2020_12_and_describes_every_field(name: str) -> None:
    schema = _schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == name
    assert name in schema["$id"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == set(schema["properties"])
    assert all(field.get("description") for field in schema["properties"].values())


def test_the_two_schemas_differ_only_in_their_name_and_status() -> None:
    def shared(name: str) -> dict[str, Any]:
        schema = copy.deepcopy(_schema(name))
        for field in ("$id", "title", "description"):
            schema.pop(field)
        for field in ("status", "occurredAt"):
            schema["properties"][field].pop("description")
        schema["properties"]["status"].pop("const")
        return schema

    assert shared("OrderConfirmed") == shared("OrderCancelled")
    assert _schema("OrderConfirmed")["properties"]["status"]["const"] == "CONFIRMED"
    assert _schema("OrderCancelled")["properties"]["status"]["const"] == "CANCELLED"


# --- what the domain publishes, through the template, against the schemas ------------------


def test_a_confirmed_order_publishes_a_valid_order_confirmed() -> None:
    [(detail_type, detail)] = published(_run(CREATE))
    assert detail_type == "OrderConfirmed"
    _validator(detail_type).validate(detail)
    assert detail == {
        "schemaVersion": 1,
        "eventId": EVENT_ID + "1",
        "orderId": "ORD-20260420-001",
        "createdAt": "2026-04-20T14:30:00Z",
        "customerId": "CUST-42",
        "status": "CONFIRMED",
        "totalAmount": "149.99",
        "currency": "USD",
        "version": "1",
        "occurredAt": "2026-04-20T16:00:00.000Z",
    }


def test_a_cancelled_order_publishes_a_valid_order_cancelled_after_its_confirmation() -> None:
    events = published(_run(CREATE, CANCEL))
    assert [(detail_type, detail["version"], detail["eventId"]) for detail_type, detail in events] == [
        ("OrderConfirmed", "1", EVENT_ID + "1"),
        ("OrderCancelled", "2", EVENT_ID + "2"),
    ]
    for detail_type, detail in events:
        _validator(detail_type).validate(detail)
    assert not _validator("OrderConfirmed").is_valid(events[1][1])  # its status is not CONFIRMED


def test_a_cancel_before_its_order_publishes_only_a_valid_order_cancelled() -> None:
    store = _run(CANCEL)
    assert published(store) == []  # the tombstone: filtered out, no domain event
    events = published(_run(CANCEL, CREATE))
    assert [detail_type for detail_type, _ in events] == ["OrderCancelled"]
    _validator("OrderCancelled").validate(events[0][1])
    assert events[0][1]["customerId"] == "CUST-42"  # the completed order's data


def test_duplicates_publish_nothing_more() -> None:
    once = published(_run(CREATE, CANCEL))
    again = published(_run(CREATE, CANCEL, ("c-2", CREATE[1]), ("x-2", CANCEL[1]), CREATE, CANCEL))
    assert again == once


@settings(max_examples=examples(100), deadline=None)
@given(order=valid_orders())
def test_every_valid_order_publishes_details_its_schemas_accept(order: dict[str, Any]) -> None:
    events = published(
        _run(("c-1", body(order)), ("x-1", body(cancellation(order, cancelledAt="2101-01-01T00:00:00Z"))))
    )
    assert [detail_type for detail_type, _ in events] == list(EVENTS)
    for detail_type, detail in events:
        _validator(detail_type).validate(detail)
        assert detail["orderId"] == order["orderId"]
        assert detail["eventId"] == f"{order['orderId']}#{order['createdAt']}#{detail['version']}"
        assert Decimal(detail["totalAmount"]) == order["totalAmount"]  # exact: the same number


# --- what the schemas refuse ----------------------------------------------------------------


def _confirmed_detail() -> dict[str, Any]:
    [(_, detail)] = published(_run(CREATE))
    return detail


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"status": "CANCELLED"}, "the other event's status"),
        ({"status": "SHIPPED"}, "no such status"),
        ({"totalAmount": 149.99}, "a float total"),
        ({"totalAmount": "1.4999E+2"}, "an exponent"),
        ({"totalAmount": "-149.99"}, "a negative total"),
        ({"eventId": None}, "a missing eventId"),
        ({"version": 1}, "a number: DynamoDB streams carry numbers as strings"),
        ({"version": "0"}, "version 0"),
        ({"currency": "usd"}, "a lower-case currency"),
        ({"occurredAt": "2026-04-20T16:00:00Z"}, "no milliseconds"),
        ({"schemaVersion": 2}, "another schema version"),
        ({"shippingAddress": {"city": "Portland"}}, "an extra field"),
    ],
)
def test_the_schema_rejects(change: dict[str, Any], why: str) -> None:
    validator = _validator("OrderConfirmed")
    detail = _confirmed_detail()
    assert validator.is_valid(detail)
    for field, value in change.items():
        if value is None:
            del detail[field]
        else:
            detail[field] = value
    assert not validator.is_valid(detail), why
