"""Fuzzing the parser and validator: whatever arrives, the answer is an order or a reason.

Never another exception (which would fail the whole record as transient and retry a
message that can never succeed), and never a reason that is empty.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orderflow.domain.errors import PermanentError
from tests.order_parsing import parse_order
from tests.strategies import valid_orders
from tests.support import body, examples

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def _outcome(raw: str) -> str:
    code, reason = "ACCEPTED", "accepted"
    try:
        parse_order(raw)
    except PermanentError as error:
        code, reason = error.code, error.reason
    assert reason.strip()
    assert code in {"ACCEPTED", "MALFORMED_JSON", "VALIDATION_FAILED"}
    return code


@settings(max_examples=examples(300))
@given(value=json_values)
def test_any_json_value_is_rejected_with_a_reason(value: Any) -> None:
    assert _outcome(json.dumps(value)) in {"MALFORMED_JSON", "VALIDATION_FAILED"}


@settings(max_examples=examples(300))
@given(raw=st.binary(max_size=300).map(lambda data: data.decode("utf-8", errors="replace")))
def test_arbitrary_bytes_never_crash_the_parser(raw: str) -> None:
    _outcome(raw)


@settings(max_examples=examples(400))
@given(order=valid_orders(), data=st.data())
def test_a_valid_order_with_any_field_replaced_is_accepted_or_rejected_never_crashes(
    order: dict[str, Any], data: st.DataObject
) -> None:
    mutated = copy.deepcopy(order)
    target = mutated
    path = data.draw(st.sampled_from([("orderId",), ("items", 0, "quantity"), ("items", 0, "unitPrice"),
                                      ("totalAmount",), ("shippingAddress", "zip"), ("shippingAddress",),
                                      ("currency",), ("createdAt",), ("items",), ("items", 0)]))  # fmt: skip
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = data.draw(json_values)
    _outcome(body(mutated))


@settings(max_examples=examples(200))
@given(order=valid_orders(), cut=st.integers(min_value=1, max_value=400))
def test_a_truncated_order_is_malformed(order: dict[str, Any], cut: int) -> None:
    raw = body(order)
    truncated = raw[: min(cut, len(raw) - 1)]
    assert _outcome(truncated) == "MALFORMED_JSON"
