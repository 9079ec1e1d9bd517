"""Every validation rule, each with the reason a producer would read in the DLQ."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from orderflow.domain.errors import MalformedMessageError, OrderValidationError
from orderflow.domain.models import OrderCreated, unknown_fields
from tests.order_parsing import parse_order
from tests.support import EVENTS, body, seed_order


def _item(**changes: Any) -> dict[str, Any]:
    item = {
        "productId": "PROD-100",
        "productName": "Mechanical Keyboard",
        "quantity": 1,
        "unitPrice": Decimal("149.99"),
    }
    item.update(changes)
    return item


def _address(**changes: Any) -> dict[str, Any]:
    address = seed_order()["shippingAddress"]
    address.update(changes)
    return address


def _reason_of(raw: str) -> str:
    with pytest.raises((OrderValidationError, MalformedMessageError)) as caught:
        parse_order(raw)
    return str(caught.value.reason)


def test_the_seed_order_is_valid() -> None:
    # Given the seed's sample order
    # When it is parsed
    order = parse_order(body(seed_order()))
    # Then every field is kept, money exact
    assert order.order_id == "ORD-20260420-001"
    assert order.total_amount == Decimal("149.99")
    assert isinstance(order.items[0].unit_price, Decimal)
    assert order.shipping_address.country == "US"
    assert order.created_at == "2026-04-20T14:30:00Z"


def test_money_is_read_exactly_not_through_float() -> None:
    raw = body(seed_order()).replace("149.99", "0.30")
    raw = raw.replace('"quantity": 1', '"quantity": 1')
    order = parse_order(raw)
    assert order.total_amount == Decimal("0.30")
    # 0.1 + 0.2 is not 0.3 in float; three items of 0.10 must add up to exactly 0.30.
    three = seed_order(items=[_item(unitPrice=Decimal("0.10"), quantity=3)], totalAmount=Decimal("0.30"))
    assert parse_order(body(three)).total_amount == Decimal("0.30")


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (seed_order(orderId=""), "orderId: String should have at least 1 character"),
        (seed_order(orderId="   "), "orderId: must not be blank"),
        (seed_order(orderId="x" * 129), "orderId: String should have at most 128 characters"),
        (seed_order(orderId=42), "orderId: Input should be a valid string"),
        (seed_order(customerId=None), "customerId: Input should be a valid string"),
        (seed_order(customerId="CUST\x0042"), "customerId: must not contain control or invisible characters (U+0000)"),
        (seed_order(items=[]), "items: List should have at least 1 item after validation, not 0"),
        (seed_order(items="keyboard"), "items: Input should be a valid list"),
        (
            seed_order(items=[_item(quantity=0)], totalAmount=Decimal("0.01")),
            "items[0].quantity: Input should be greater than or equal to 1",
        ),
        (seed_order(items=[_item(quantity=1.5)]), "items[0].quantity: Input should be a valid integer"),
        (seed_order(items=[_item(quantity="1")]), "items[0].quantity: Input should be a valid integer"),
        (seed_order(items=[_item(quantity=True)]), "items[0].quantity: Input should be a valid integer"),
        (
            seed_order(items=[_item(unitPrice=Decimal("-1"))], totalAmount=Decimal("1")),
            "items[0].unitPrice: Input should be greater than or equal to 0",
        ),
        (seed_order(items=[_item(unitPrice="149.99")]), "items[0].unitPrice: must be a JSON number"),
        (seed_order(items=[_item(productName="")]), "items[0].productName: String should have at least 1 character"),
        (seed_order(totalAmount=Decimal("0")), "totalAmount: Input should be greater than 0"),
        (seed_order(totalAmount=Decimal("-149.99")), "totalAmount: Input should be greater than 0"),
        (seed_order(totalAmount=Decimal("100000000")), "totalAmount: must not exceed 10000000"),
        (
            seed_order(totalAmount=Decimal("150.01")),
            "totalAmount 150.01 does not equal the sum of quantity x unitPrice (149.99)",
        ),
        (
            seed_order(totalAmount=Decimal("149.999"), items=[_item(unitPrice=Decimal("149.999"))]),
            "items[0].unitPrice, totalAmount: USD amounts have at most 2 decimal place(s)",
        ),
        (
            seed_order(currency="JPY"),
            "items[0].unitPrice, totalAmount: JPY amounts have at most 0 decimal place(s)",
        ),
        (seed_order(currency="usd"), "currency: must be a 3-letter upper-case ISO 4217 code such as USD"),
        (seed_order(currency="DOLLARS"), "currency: must be a 3-letter upper-case ISO 4217 code such as USD"),
        (seed_order(currency="ABC"), "currency: 'ABC' is not an ISO 4217 currency that has minor units"),
        (seed_order(currency="XAU"), "currency: 'XAU' is not an ISO 4217 currency that has minor units"),
        (
            seed_order(createdAt="2026-04-20T14:30:00"),
            "createdAt: must include a timezone (Z or an offset such as +02:00)",
        ),
        (
            seed_order(createdAt="yesterday"),
            "createdAt: must be an ISO 8601 timestamp such as 2026-04-20T14:30:00Z",
        ),
        (seed_order(createdAt="2026-04-20"), "createdAt: must include a timezone (Z or an offset such as +02:00)"),
        (seed_order(shippingAddress=_address(country="USA")), "shippingAddress.country: String should match pattern"),
        (seed_order(shippingAddress=_address(zip="")), "shippingAddress.zip: String should have at least 1 character"),
        (seed_order(shippingAddress="123 Dev Lane"), "shippingAddress: must be a JSON object"),
    ],
)
def test_each_rule_rejects_with_a_specific_reason(order: dict[str, Any], expected: str) -> None:
    assert _reason_of(body(order)).startswith(expected)


@pytest.mark.parametrize(
    "missing", ["orderId", "customerId", "items", "totalAmount", "currency", "shippingAddress", "createdAt"]
)
def test_every_field_is_required(missing: str) -> None:
    order = seed_order()
    del order[missing]
    assert _reason_of(body(order)) == f"{missing}: is required"


def test_all_problems_are_reported_together() -> None:
    order = seed_order(orderId="", currency="usd")
    del order["customerId"]
    reason = _reason_of(body(order))
    assert "orderId:" in reason
    assert "customerId: is required" in reason
    assert "currency:" in reason


def test_reasons_never_quote_the_input() -> None:
    # Shipping addresses are personal data; reasons go to logs and DLQ attributes.
    order = seed_order(shippingAddress=_address(street="\x07 221B Baker Street"))
    reason = _reason_of(body(order))
    assert "Baker" not in reason
    assert reason.startswith("shippingAddress.street: must not contain control")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("not json", "body is not valid JSON: Expecting value at line 1 column 1"),
        ('{"orderId": "ORD-1"', "body is not valid JSON: Expecting ',' delimiter"),
        ("[1, 2]", "body must be a JSON object, got a JSON array"),
        ('"an order"', "body must be a JSON object, got a JSON string"),
        ("42", "body must be a JSON object, got a JSON number"),
        ("null", "body must be a JSON object, got a JSON null"),
        ('{"totalAmount": NaN}', "body is not valid JSON: NaN is not a valid JSON number"),
        ('{"totalAmount": Infinity}', "body is not valid JSON: Infinity is not a valid JSON number"),
        ('{"totalAmount": -Infinity}', "body is not valid JSON: -Infinity is not a valid JSON number"),
        ("[" * 100_000 + "]" * 100_000, "body is not valid JSON: nested too deeply"),
        ("", "body is not valid JSON: Expecting value"),
    ],
)
def test_malformed_bodies_are_rejected_with_a_reason(raw: str, expected: str) -> None:
    with pytest.raises(MalformedMessageError) as caught:
        parse_order(raw)
    assert caught.value.reason.startswith(expected)
    assert caught.value.code == "MALFORMED_JSON"


def test_unknown_fields_are_ignored_and_named() -> None:
    order = seed_order(giftWrap=True)
    order["shippingAddress"]["floor"] = "3"
    order["items"][0]["colour"] = "black"
    parsed = parse_order(body(order))
    assert "giftWrap" not in parsed.model_dump()
    assert unknown_fields(json.loads(body(order))) == ["giftWrap", "items[0].colour", "shippingAddress.floor"]
    assert unknown_fields(seed_order()) == []


def test_mixed_scripts_in_names_are_accepted() -> None:
    order = seed_order(items=[_item(productName="Clavier mécanique — 機械式キーボード")])
    assert parse_order(body(order)).items[0].product_name == "Clavier mécanique — 機械式キーボード"


def test_snake_case_keys_are_not_the_wire_format() -> None:
    order = seed_order()
    order["order_id"] = order.pop("orderId")
    assert _reason_of(body(order)) == "orderId: is required"


def test_model_refuses_float_money_from_python_callers() -> None:
    data = seed_order(totalAmount=149.99)
    with pytest.raises(ValueError, match="never a float"):
        OrderCreated.model_validate(data)


def test_the_multi_item_sample_is_valid_with_an_offset_timestamp() -> None:
    order = parse_order((EVENTS / "multi_item_order.json").read_text())
    assert order.total_amount == Decimal("75.47")
    assert [item.quantity for item in order.items] == [3, 1]
