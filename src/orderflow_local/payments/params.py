"""The parameters of a charge and of a refund, checked as Stripe checks them, and the errors it answers.

Stripe takes form-encoded parameters; this provider takes the same ones as a JSON object
(docs/payment-provider.md). A request that fails here never reached its endpoint: Stripe saves
nothing for its idempotency key (https://docs.stripe.com/api/idempotent_requests), and neither
do we. Error bodies have Stripe's shape: https://docs.stripe.com/api/errors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MAX_CUSTOMER_LENGTH = 128
#: Stripe's metadata limits: 50 keys, keys up to 40 characters, values up to 500 (https://docs.stripe.com/api/metadata).
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500


class ApiError(Exception):
    """An error the API answers: its HTTP status and Stripe's ``{"error": {...}}`` body."""

    def __init__(self, status: int, error_type: str, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error: dict[str, Any] = {"type": error_type, **fields, "message": message}

    def body(self) -> dict[str, Any]:
        return {"error": dict(self.error)}


def invalid(param: str | None, message: str, code: str = "parameter_invalid") -> ApiError:
    """400 invalid_request_error for one parameter (``param`` None: the body as a whole)."""
    fields = {"code": code} if param is None else {"code": code, "param": param}
    return ApiError(400, "invalid_request_error", message, **fields)


@dataclass(frozen=True)
class ChargeParams:
    amount: int
    currency: str  # lower case, as Stripe returns it
    customer: str
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RefundParams:
    charge: str
    amount: int | None = None  # None: whatever of the charge is not refunded yet
    metadata: dict[str, str] = field(default_factory=dict)


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object; 400 otherwise."""
    try:
        parsed = json.loads(body.decode("utf-8")) if body.strip() else {}
    except (UnicodeDecodeError, ValueError):
        raise invalid(None, "The request body is not valid JSON: send a JSON object.") from None
    if not isinstance(parsed, dict):
        raise invalid(None, "The request body must be a JSON object.")
    return parsed


def parse_charge(body: dict[str, Any]) -> ChargeParams:
    """POST /v1/charges's parameters (https://docs.stripe.com/api/charges/create), or the 400 saying what is wrong."""
    _no_unknown(body, {"amount", "currency", "customer", "description", "metadata"})
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise invalid("description", "Invalid string: description must be a string.")
    return ChargeParams(
        amount=_amount(body, required=True) or 0,
        currency=_currency(body),
        customer=_customer(body),
        description=description,
        metadata=_metadata(body),
    )


def parse_refund(body: dict[str, Any]) -> RefundParams:
    """POST /v1/refunds's parameters (https://docs.stripe.com/api/refunds/create), or the 400 saying what is wrong."""
    _no_unknown(body, {"charge", "amount", "metadata"})
    charge = body.get("charge")
    if charge is None:
        raise invalid("charge", "Missing required param: charge.", "parameter_missing")
    if not isinstance(charge, str) or not charge:
        raise invalid("charge", "Invalid string: charge must be a charge id (ch_...).")
    return RefundParams(charge=charge, amount=_amount(body, required=False), metadata=_metadata(body))


def _no_unknown(body: dict[str, Any], known: set[str]) -> None:
    """Stripe refuses a parameter it does not know (a typo would otherwise be silently ignored)."""
    for name in sorted(body):
        if name not in known:
            raise invalid(name, f"Received unknown parameter: {name}", "parameter_unknown")


def _amount(body: dict[str, Any], *, required: bool) -> int | None:
    amount = body.get("amount")
    if amount is None:
        if required:
            raise invalid("amount", "Missing required param: amount.", "parameter_missing")
        return None
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise invalid("amount", "Invalid integer: amount is a whole number of minor units (cents for usd).")
    if amount <= 0:
        raise invalid("amount", "Invalid amount: it must be greater than 0.")
    # No upper bound, unlike Stripe's eight digits (https://docs.stripe.com/api/charges/create): an
    # order here may total more, and the payment service must be able to charge any order it accepts.
    return amount


def _currency(body: dict[str, Any]) -> str:
    currency = body.get("currency")
    if currency is None:
        raise invalid("currency", "Missing required param: currency.", "parameter_missing")
    if not isinstance(currency, str) or len(currency) != 3 or not (currency.isascii() and currency.isalpha()):
        raise invalid("currency", "Invalid currency: give a three-letter ISO code, such as usd.")
    return currency.lower()


def _customer(body: dict[str, Any]) -> str:
    customer = body.get("customer")
    if customer is None:
        raise invalid("customer", "Missing required param: customer.", "parameter_missing")
    if not isinstance(customer, str) or not 1 <= len(customer) <= MAX_CUSTOMER_LENGTH:
        raise invalid("customer", f"Invalid string: customer is 1 to {MAX_CUSTOMER_LENGTH} characters.")
    return customer


def _metadata(body: dict[str, Any]) -> dict[str, str]:
    metadata = body.get("metadata")
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in metadata.items()
    ):
        raise invalid("metadata", "Invalid metadata: an object of string keys and string values.")
    if len(metadata) > MAX_METADATA_KEYS:
        raise invalid("metadata", f"Invalid metadata: at most {MAX_METADATA_KEYS} keys.")
    for key, value in metadata.items():
        if not 1 <= len(key) <= MAX_METADATA_KEY_LENGTH or len(value) > MAX_METADATA_VALUE_LENGTH:
            raise invalid(
                "metadata",
                f"Invalid metadata: keys are 1 to {MAX_METADATA_KEY_LENGTH} characters, "
                f"values at most {MAX_METADATA_VALUE_LENGTH}.",
            )
    return dict(metadata)
