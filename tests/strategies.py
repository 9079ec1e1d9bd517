"""Hypothesis strategies for valid OrderCreated events (as decoded JSON)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

_text_alphabet = st.characters(categories=("L", "N", "P", "S", "Zs"), exclude_characters="\u2028\u2029")


def _text(max_size: int) -> st.SearchStrategy[str]:
    return st.text(_text_alphabet, min_size=1, max_size=max_size).filter(lambda s: s.strip() != "")


_cents = st.integers(min_value=0, max_value=999_999).map(lambda cents: Decimal(cents) / 100)

_items = st.fixed_dictionaries(
    {
        "productId": _text(128),
        "productName": _text(256),
        "quantity": st.integers(min_value=1, max_value=50),
        "unitPrice": _cents,
    }
)

_zones = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-7, minutes=-30))])
_timestamps = st.builds(
    lambda moment, zone: moment.replace(tzinfo=UTC).astimezone(zone).isoformat().replace("+00:00", "Z"),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
    _zones,
)


@st.composite
def valid_orders(draw: st.DrawFn) -> dict[str, Any]:
    items = draw(st.lists(_items, min_size=1, max_size=5))
    total = sum((item["unitPrice"] * item["quantity"] for item in items), Decimal(0))
    if total == 0:
        items[0]["unitPrice"] = Decimal("0.01")
        total = sum((item["unitPrice"] * item["quantity"] for item in items), Decimal(0))
    return {
        "orderId": draw(_text(128)),
        "customerId": draw(_text(128)),
        "items": items,
        "totalAmount": total,
        "currency": draw(st.sampled_from(["USD", "EUR", "GBP", "CHF", "CAD"])),
        "shippingAddress": {
            "street": draw(_text(256)),
            "city": draw(_text(256)),
            "state": draw(_text(256)),
            "zip": draw(_text(32)),
            "country": draw(st.sampled_from(["US", "DE", "FR", "JP", "BR"])),
        },
        "createdAt": draw(_timestamps),
    }
