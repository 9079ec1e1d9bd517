"""Properties: every valid order is accepted; any single mutation of one is rejected."""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.domain.errors import MalformedMessageError, OrderValidationError
from tests.order_parsing import parse_order
from tests.strategies import valid_orders
from tests.support import body, examples

Mutation = Callable[[dict[str, Any]], None]


def _drop(field: str) -> Mutation:
    def mutate(order: dict[str, Any]) -> None:
        del order[field]

    return mutate


def _set(path: str, value: Any) -> Mutation:
    def mutate(order: dict[str, Any]) -> None:
        target = order
        *parents, leaf = path.split(".")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[leaf] = value

    return mutate


def _off_by_a_cent(order: dict[str, Any]) -> None:
    order["totalAmount"] += Decimal("0.01")


MUTATIONS: dict[str, Mutation] = {
    **{f"drop {name}": _drop(name) for name in ("orderId", "customerId", "items", "totalAmount", "createdAt")},
    "blank orderId": _set("orderId", " "),
    "empty customerId": _set("customerId", ""),
    "no items": _set("items", []),
    "zero quantity": _set("items.0.quantity", 0),
    "fractional quantity": _set("items.0.quantity", Decimal("1.5")),
    "negative unitPrice": _set("items.0.unitPrice", Decimal("-0.01")),
    "amount as text": _set("totalAmount", "12.00"),
    "total off by a cent": _off_by_a_cent,
    "lower-case currency": _set("currency", "usd"),
    "unknown currency": _set("currency", "QQQ"),
    "no timezone": _set("createdAt", "2026-04-20T14:30:00"),
    "control character": _set("shippingAddress.city", "Port\x1bland"),
    "country name": _set("shippingAddress.country", "United States"),
}


@settings(max_examples=examples(200))
@given(order=valid_orders())
def test_every_valid_order_is_accepted(order: dict[str, Any]) -> None:
    parsed = parse_order(body(order))
    assert parsed.order_id == order["orderId"]
    assert parsed.total_amount == order["totalAmount"]


@settings(max_examples=examples(300))
@given(order=valid_orders(), mutation=st.sampled_from(sorted(MUTATIONS)))
def test_a_single_mutation_is_rejected_with_a_reason(order: dict[str, Any], mutation: str) -> None:
    mutated = copy.deepcopy(order)
    MUTATIONS[mutation](mutated)
    with pytest.raises(OrderValidationError) as caught:
        parse_order(body(mutated))
    assert caught.value.reason
    assert all(":" in reason or "does not equal" in reason for reason in caught.value.reasons)


@given(raw=st.text(max_size=200))
def test_the_parser_never_raises_anything_but_a_permanent_error(raw: str) -> None:
    reason = "accepted"
    try:
        parse_order(raw)
    except (MalformedMessageError, OrderValidationError) as error:
        reason = error.reason
    assert reason
