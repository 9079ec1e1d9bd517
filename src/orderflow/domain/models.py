"""The ``OrderCreated`` event and the confirmed order it becomes.

The wire format is the seed's camelCase JSON; the Python attributes are snake_case
(``alias_generator=to_camel``). Validation is strict on purpose: a producer's mistake
becomes a specific, human-readable reason in the dead letter queue, never a guess.

Unknown fields are *ignored* (tolerant reader): producers may add fields before this
consumer knows them, and an order must not be rejected for carrying more than we need.
They are not stored, so the stored item is always exactly this schema; the handler logs
their names (see :func:`unknown_fields`). See ``docs/decisions.md``.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    InstanceOf,
    Strict,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel

from orderflow.domain.lifecycle import OrderStatus, transition

MAX_ITEMS = 100
MAX_QUANTITY = 10_000
#: A sanity bound, not a business rule: larger amounts are far likelier a producer bug
#: (cents sent as units, a unit price in a quantity field) than a real order.
MAX_AMOUNT = Decimal("10000000")


def reject_control_characters(value: str) -> str:
    """Refuse blank strings and control or invisible characters (a reason names the code point)."""
    if not value.strip():
        raise ValueError("must not be blank")
    if value.isascii() and value.isprintable():  # the common case: printable ASCII has none of them
        return value
    for char in value:
        if unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Cn"}:
            raise ValueError(f"must not contain control or invisible characters (U+{ord(char):04X})")
    return value


_NoControlCharacters = AfterValidator(reject_control_characters)
Identifier = Annotated[str, Strict(), StringConstraints(min_length=1, max_length=128), _NoControlCharacters]
Name = Annotated[str, Strict(), StringConstraints(min_length=1, max_length=256), _NoControlCharacters]
PostalCode = Annotated[str, Strict(), StringConstraints(min_length=1, max_length=32), _NoControlCharacters]


def _exact_number(value: object) -> object:
    """Money must arrive as a JSON number and stay exact (Decimal), never float or text."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        if isinstance(value, float):
            raise ValueError("must be exact: pass a Decimal or int, never a float")
        raise ValueError("must be a JSON number")
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError("must be a finite number (NaN and Infinity are not amounts)")
    return value


def _within_bound(value: Decimal) -> Decimal:
    if value > MAX_AMOUNT:
        raise ValueError(f"must not exceed {MAX_AMOUNT}")
    return value


Money = Annotated[
    Decimal,
    BeforeValidator(_exact_number),
    AfterValidator(_within_bound),
]


@cache
def minor_units(code: str) -> int | None:
    """ISO 4217 minor units of a currency (2 for USD, 0 for JPY), or None if not a currency."""
    import iso4217  # imported on first use: it parses its data file at import time

    try:
        return iso4217.Currency(code).exponent
    except ValueError:
        return None


def _iso_currency(value: str) -> str:
    if len(value) != 3 or not value.isascii() or not value.isalpha() or not value.isupper():
        raise ValueError("must be a 3-letter upper-case ISO 4217 code such as USD")
    if minor_units(value) is None:
        raise ValueError(f"{value!r} is not an ISO 4217 currency that has minor units")
    return value


def _iso_timestamp_with_zone(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO 8601 timestamp such as 2026-04-20T14:30:00Z") from None
    if parsed.tzinfo is None:
        raise ValueError("must include a timezone (Z or an offset such as +02:00)")
    return value


#: A valid e-mail address as the HTML standard defines one for ``<input type=email>``
#: (https://html.spec.whatwg.org/multipage/input.html#valid-e-mail-address): what a shop's form
#: accepts, with no display name, comment or quoted local part that a mail header would need escaped.
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def _email_address(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError("must be an e-mail address such as jane@example.com")
    return value


#: An e-mail address, at most 254 characters (RFC 5321's path limit less its angle brackets).
EmailAddress = Annotated[str, Strict(), StringConstraints(max_length=254), AfterValidator(_email_address)]

#: An ISO 8601 timestamp with a zone, kept as sent (``createdAt`` is the table's sort key).
Timestamp = Annotated[str, Strict(), StringConstraints(max_length=64), AfterValidator(_iso_timestamp_with_zone)]


class Wire(BaseModel):
    """The wire format: camelCase JSON, snake_case attributes, unknown fields ignored, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
        extra="ignore",
        frozen=True,
    )


class OrderItem(Wire):
    product_id: Identifier
    product_name: Name
    quantity: Annotated[int, Strict(), Field(ge=1, le=MAX_QUANTITY)]
    unit_price: Annotated[Money, Field(ge=0)]


class ShippingAddress(Wire):
    street: Name
    city: Name
    state: Name
    zip: PostalCode
    country: Annotated[str, Strict(), StringConstraints(pattern=r"^[A-Z]{2}$")] = Field(
        description="ISO 3166-1 alpha-2 code, such as US"
    )


class OrderCreated(Wire):
    """The event producers put on the queue: the seed's shape, and an optional ``customerEmail``."""

    order_id: Identifier
    customer_id: Identifier
    items: Annotated[list[OrderItem], Field(min_length=1, max_length=MAX_ITEMS)]
    total_amount: Annotated[Money, Field(gt=0)]
    currency: Annotated[str, Strict(), AfterValidator(_iso_currency)]
    shipping_address: ShippingAddress
    created_at: Timestamp
    #: Where the notification service e-mails the customer (optional: an order without one is not e-mailed).
    customer_email: EmailAddress | None = None

    @model_validator(mode="after")
    def _amounts_add_up(self) -> OrderCreated:
        places = minor_units(self.currency) or 0
        too_precise = [
            f"items[{index}].unitPrice"
            for index, item in enumerate(self.items)
            if _decimal_places(item.unit_price) > places
        ]
        if _decimal_places(self.total_amount) > places:
            too_precise.append("totalAmount")
        if too_precise:
            raise ValueError(
                f"{', '.join(too_precise)}: {self.currency} amounts have at most {places} decimal place(s)"
            )
        expected = sum((item.unit_price * item.quantity for item in self.items), Decimal(0))
        if expected != self.total_amount:
            raise ValueError(
                f"totalAmount {self.total_amount} does not equal the sum of quantity x unitPrice ({expected})"
            )
        return self


def _decimal_places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


class ConfirmedOrder(Wire):
    """An order as stored: the event's fields plus the seed's enrichment."""

    model_config = ConfigDict(validate_by_name=True)

    #: Validated when it arrived: checked to be one, not validated again.
    order: InstanceOf[OrderCreated]
    status: Literal["CONFIRMED"] = "CONFIRMED"
    processed_at: str
    item_count: int
    sqs_message_id: str
    ttl: int = Field(description="Expiry, epoch seconds; DynamoDB TTL deletes the item after it")

    def to_item(self) -> dict[str, Any]:
        """The flat item the store writes: event fields, enrichment and the transition's attributes.

        The transition (``version``, ``domainEvent``, ``eventId``, ``statusChangedAt``, see
        :func:`~orderflow.domain.lifecycle.transition`) is stored beside the enrichment, not
        in the model: it is derived, so it costs no validation, and it is not the order's
        content (a redelivered create compares only the event's fields). ``totalAmount``,
        published in the order's events, is stored in plain notation (:func:`plain_decimal`).
        """
        item = self.order.model_dump(exclude_none=True)
        item.update(self.model_dump(exclude={"order"}))
        item.update(transition(OrderStatus.CONFIRMED, (self.order.order_id, self.order.created_at), self.processed_at))
        item["totalAmount"] = plain_decimal(self.order.total_amount)
        return item


def plain_decimal(value: Decimal) -> Decimal:
    """``value`` written without an exponent (``1E+1`` -> ``10``): the same number.

    A JSON body may write an amount as ``1E+1``. Stored so, the table's stream could carry
    that text (moto keeps the text it is given); stored plain, the published event's
    ``totalAmount`` is ``10``, a plain decimal as its schema (schemas/events) requires.
    """
    exponent = value.as_tuple().exponent
    return value.quantize(_UNIT) if isinstance(exponent, int) and exponent > 0 else value


_UNIT = Decimal(1)


#: The envelope field naming the event type: known to every event model, stored by none.
ENVELOPE_FIELDS = frozenset({"eventType"})


def unknown_fields(data: dict[str, Any], model: type[BaseModel] = OrderCreated) -> list[str]:
    """Names (dotted paths) of fields in ``data`` that ``model`` ignores (nested models included)."""
    return sorted(_unknown_keys(model, data, "") - ENVELOPE_FIELDS)


def _unknown_keys(model: type[BaseModel], data: object, prefix: str) -> set[str]:
    if not isinstance(data, dict):
        return set()
    known, nested = _wire_fields(model)
    found = {f"{prefix}{key}" for key in data.keys() - known}
    for alias, held, is_list in nested:
        if alias not in data:
            continue
        value = data[alias]
        if is_list:
            for index, element in enumerate(value if isinstance(value, list) else []):
                found |= _unknown_keys(held, element, f"{prefix}{alias}[{index}].")
        else:
            found |= _unknown_keys(held, value, f"{prefix}{alias}.")
    return found


@cache
def _wire_fields(model: type[BaseModel]) -> tuple[frozenset[str], tuple[tuple[str, type[BaseModel], bool], ...]]:
    """A model's field names on the wire, and those that hold a model (or a list of them, ``True``).

    Read from the model's annotations once per model, not once per message.
    """
    known = frozenset(field.alias or name for name, field in model.model_fields.items())
    nested = tuple(
        (field.alias or name, held, is_list)
        for name, field in model.model_fields.items()
        for held, is_list in [_nested_model(field.annotation)]
        if held is not None
    )
    return known, nested


def _nested_model(annotation: object) -> tuple[type[BaseModel] | None, bool]:
    """The model a field holds (or holds a list of), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if get_origin(annotation) is list:
        [element] = get_args(annotation)
        if isinstance(element, type) and issubclass(element, BaseModel):
            return element, True
    return None, False
