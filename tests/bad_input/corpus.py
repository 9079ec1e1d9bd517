"""What producers really send wrong, each with the reason the DLQ must carry.

Each case: a name, the exact body, the expected ``errorCode`` and a fragment of the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SEED: dict[str, Any] = {
    "orderId": "ORD-BAD-000",
    "customerId": "CUST-42",
    "items": [{"productId": "PROD-100", "productName": "Mechanical Keyboard", "quantity": 1, "unitPrice": 149.99}],
    "totalAmount": 149.99,
    "currency": "USD",
    "shippingAddress": {"street": "123 Dev Lane", "city": "Portland", "state": "OR", "zip": "97201", "country": "US"},
    "createdAt": "2026-04-20T14:30:00Z",
}
SQS_BODY_LIMIT = 256 * 1024


@dataclass(frozen=True)
class BadInput:
    name: str
    body: str
    code: str
    reason: str


def _order(number: int, **changes: Any) -> dict[str, Any]:
    order = json.loads(json.dumps(SEED))
    order["orderId"] = f"ORD-BAD-{number:03d}"
    for path, value in changes.items():
        target = order
        *parents, leaf = path.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DELETE:
            del target[leaf]
        else:
            target[leaf] = value
    return order


_DELETE = object()


def _invalid(number: int, name: str, reason: str, **changes: Any) -> BadInput:
    return BadInput(name, json.dumps(_order(number, **changes), ensure_ascii=False), "VALIDATION_FAILED", reason)


def _malformed(name: str, body: str, reason: str) -> BadInput:
    return BadInput(name, body, "MALFORMED_JSON", reason)


def _at_sqs_limit() -> str:
    order = _order(90)
    base = len(json.dumps(order).encode())
    order["items"][0]["productName"] = "x" * (SQS_BODY_LIMIT - base + len("Mechanical Keyboard"))
    body = json.dumps(order)
    assert len(body.encode()) == SQS_BODY_LIMIT
    return body


CORPUS: list[BadInput] = [
    _malformed("not JSON", "ORDER ORD-1 FOR CUST-42", "body is not valid JSON: Expecting value"),
    _malformed("XML", "<order><id>ORD-1</id></order>", "body is not valid JSON"),
    _malformed("truncated JSON", json.dumps(SEED)[:120], "body is not valid JSON"),
    _malformed("JSON array", json.dumps([SEED]), "body must be a JSON object, got a JSON array"),
    _malformed("JSON string", json.dumps(json.dumps(SEED)), "body must be a JSON object, got a JSON string"),
    _malformed("JSON null", "null", "got a JSON null"),
    _malformed("empty body", "", "body is not valid JSON"),
    _malformed("NaN total", json.dumps(SEED).replace("149.99}],", "NaN}],"), "NaN is not a valid JSON number"),
    _malformed(
        "Infinity total",
        json.dumps(SEED).replace('"totalAmount": 149.99', '"totalAmount": Infinity'),
        "Infinity is not a valid JSON number",
    ),
    _malformed("deep nesting", '{"orderId": ' + "[" * 50_000 + "]" * 50_000 + "}", "nested too deeply"),
    _invalid(1, "missing orderId", "orderId: is required", orderId=_DELETE),
    _invalid(2, "missing items", "items: is required", items=_DELETE),
    _invalid(3, "missing address line", "shippingAddress.city: is required", shippingAddress__city=_DELETE),
    _invalid(
        4, "misspelled field (extra orderID, no orderId)", "orderId: is required", orderID="ORD-1", orderId=_DELETE
    ),
    _invalid(5, "quantity as text", "items[0].quantity: Input should be a valid integer", items__0__quantity="1"),
    _invalid(6, "fractional quantity", "items[0].quantity: Input should be a valid integer", items__0__quantity=1.5),
    _invalid(7, "amount as text", "totalAmount: must be a JSON number", totalAmount="149.99"),
    _invalid(8, "items as object", "items: Input should be a valid list", items={"productId": "PROD-100"}),
    _invalid(9, "boolean customer", "customerId: Input should be a valid string", customerId=True),
    _invalid(10, "negative amount", "totalAmount: Input should be greater than 0", totalAmount=-149.99),
    _invalid(11, "zero amount", "totalAmount: Input should be greater than 0", totalAmount=0),
    _invalid(12, "negative unit price", "greater than or equal to 0", items__0__unitPrice=-1, totalAmount=1),
    _invalid(13, "huge amount", "totalAmount: must not exceed 10000000", totalAmount=1e12, items__0__unitPrice=1e12),
    _invalid(14, "total does not add up", "does not equal the sum of quantity x unitPrice", totalAmount=150.0),
    _invalid(
        15,
        "more than two decimals",
        "USD amounts have at most 2 decimal place(s)",
        totalAmount=149.999,
        items__0__unitPrice=149.999,
    ),
    _invalid(16, "unknown currency", "'XYZ' is not an ISO 4217 currency", currency="XYZ"),
    _invalid(17, "currency symbol", "must be a 3-letter upper-case ISO 4217 code", currency="$"),
    _invalid(18, "date without timezone", "createdAt: must include a timezone", createdAt="2026-04-20T14:30:00"),
    _invalid(19, "date not ISO 8601", "createdAt: must be an ISO 8601 timestamp", createdAt="20/04/2026 14:30"),
    _invalid(20, "empty orderId", "orderId: String should have at least 1 character", orderId=""),
    _invalid(
        21,
        "10,000-character name",
        "productName: String should have at most 256 characters",
        items__0__productName="n" * 10_000,
    ),
    _invalid(
        22,
        "control characters in a name",
        "must not contain control or invisible characters",
        items__0__productName="Key\u0000board\u0007",
    ),
    _invalid(
        23,
        "zero-width character in an id",
        "must not contain control or invisible characters",
        customerId="CUST\u200b42",
    ),
    _invalid(24, "no items", "items: List should have at least 1 item", items=[]),
    BadInput("body at the 256 KB SQS limit", _at_sqs_limit(), "VALIDATION_FAILED", "at most 256 characters"),
]

#: Accepted on purpose (see docs/decisions.md): these are not producer errors.
ACCEPTED: list[tuple[str, str]] = [
    ("extra fields are ignored", json.dumps({**_order(80), "giftWrap": True, "channel": "web"})),
    (
        "mixed scripts in names",
        json.dumps(_order(81, items__0__productName="Clavier — 機械式キーボード — Клавиатура"), ensure_ascii=False),
    ),
]
