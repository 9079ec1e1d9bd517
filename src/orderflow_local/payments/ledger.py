"""The provider's books: what it charged, refunded and declined, and the snapshot everyone else reads.

:class:`Books` is the mutable ledger behind the API (pure: no HTTP, no lock; the API holds the
lock), :class:`Ledger` an immutable snapshot of it, the ground truth the payment invariants are
checked against: :meth:`Ledger.by_order` sums it per order (the ``order_id`` of a charge's metadata).

Declines follow Stripe's test cards (https://docs.stripe.com/testing) with test
customers instead: a customer id starting ``decline-`` is declined with ``generic_decline``, one
starting ``insufficient-funds-`` with ``insufficient_funds``. A declined charge is a decline in
the ledger (status ``failed``), never money taken.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from orderflow_local.payments.params import ApiError, ChargeParams, RefundParams, invalid

#: Test customers that are declined, and Stripe's decline code for each (like its test card numbers).
DECLINING_CUSTOMERS: dict[str, str] = {
    "decline-": "generic_decline",
    "insufficient-funds-": "insufficient_funds",
}
#: The metadata key that names the order a charge is for (the payment service sets it).
ORDER_ID = "order_id"


def new_id(prefix: str) -> str:
    """A Stripe-like object id: ``prefix`` and 24 hex digits (``ch_...``, ``re_...``)."""
    return f"{prefix}_{secrets.token_hex(12)}"


def decline_code(customer: str) -> str | None:
    """The decline code for a test customer that is declined; None for one that pays."""
    return next((code for prefix, code in DECLINING_CUSTOMERS.items() if customer.startswith(prefix)), None)


@dataclass(frozen=True)
class ChargeEntry:
    """Money taken."""

    id: str
    amount: int
    currency: str
    customer: str
    metadata: dict[str, str]
    idempotency_key: str | None
    created: int
    description: str | None = None
    amount_refunded: int = 0

    @property
    def order_id(self) -> str:
        return self.metadata.get(ORDER_ID, "")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "amount": self.amount,
            "amount_refunded": self.amount_refunded,
            "currency": self.currency,
            "customer": self.customer,
            "description": self.description,
            "metadata": dict(self.metadata),
            "idempotency_key": self.idempotency_key,
            "created": self.created,
        }

    def api_object(self) -> dict[str, Any]:
        """The charge as the API returns it (https://docs.stripe.com/api/charges/object)."""
        return {
            "id": self.id,
            "object": "charge",
            "amount": self.amount,
            "amount_refunded": self.amount_refunded,
            "currency": self.currency,
            "customer": self.customer,
            "description": self.description,
            "metadata": dict(self.metadata),
            "status": "succeeded",
            "paid": True,
            "refunded": self.amount_refunded == self.amount,
            "failure_code": None,
            "created": self.created,
        }


@dataclass(frozen=True)
class DeclineEntry:
    """A charge the (test) card's bank declined: nothing taken."""

    id: str
    amount: int
    currency: str
    customer: str
    metadata: dict[str, str]
    idempotency_key: str | None
    created: int
    decline_code: str
    description: str | None = None

    @property
    def order_id(self) -> str:
        return self.metadata.get(ORDER_ID, "")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "amount": self.amount,
            "currency": self.currency,
            "customer": self.customer,
            "description": self.description,
            "metadata": dict(self.metadata),
            "idempotency_key": self.idempotency_key,
            "created": self.created,
            "decline_code": self.decline_code,
        }

    def api_object(self) -> dict[str, Any]:
        """The failed charge as the API returns it."""
        return {
            "id": self.id,
            "object": "charge",
            "amount": self.amount,
            "amount_refunded": 0,
            "currency": self.currency,
            "customer": self.customer,
            "description": self.description,
            "metadata": dict(self.metadata),
            "status": "failed",
            "paid": False,
            "refunded": False,
            "failure_code": "card_declined",
            "created": self.created,
        }


@dataclass(frozen=True)
class RefundEntry:
    """Money given back, from one charge."""

    id: str
    charge: str
    amount: int
    currency: str
    customer: str
    metadata: dict[str, str]
    idempotency_key: str | None
    created: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "charge": self.charge,
            "amount": self.amount,
            "currency": self.currency,
            "customer": self.customer,
            "metadata": dict(self.metadata),
            "idempotency_key": self.idempotency_key,
            "created": self.created,
        }

    def api_object(self) -> dict[str, Any]:
        """The refund as the API returns it (https://docs.stripe.com/api/refunds/object)."""
        return {
            "id": self.id,
            "object": "refund",
            "amount": self.amount,
            "charge": self.charge,
            "currency": self.currency,
            "metadata": dict(self.metadata),
            "status": "succeeded",
            "created": self.created,
        }


@dataclass(frozen=True)
class OrderPayments:
    """One order's money in the ledger: what was charged, refunded and declined, and with which keys."""

    order_id: str
    charged: int = 0
    refunded: int = 0
    currency: str = ""  # the order's currencies, comma-separated if (wrongly) more than one
    charges: int = 0
    refunds: int = 0
    declined: int = 0
    keys: tuple[str, ...] = ()  # every idempotency key its charges, refunds and declines came with, sorted

    @property
    def net(self) -> int:
        return self.charged - self.refunded


@dataclass(frozen=True)
class Ledger:
    """A snapshot of the books: what the provider did, in the order it did it."""

    charges: tuple[ChargeEntry, ...] = ()
    refunds: tuple[RefundEntry, ...] = ()
    declines: tuple[DeclineEntry, ...] = ()

    def by_order(self) -> dict[str, OrderPayments]:
        """Per order id (a charge's metadata ``order_id``; a refund counts for its charge's order; "" for
        entries without one), in the order each was first seen."""
        totals: dict[str, dict[str, Any]] = {}

        def add(order_id: str, currency: str, key: str | None) -> dict[str, Any]:
            found = totals.setdefault(
                order_id,
                {"charged": 0, "refunded": 0, "charges": 0, "refunds": 0, "declined": 0, "currencies": [], "keys": []},
            )
            if currency not in found["currencies"]:
                found["currencies"].append(currency)
            if key is not None and key not in found["keys"]:
                found["keys"].append(key)
            return found

        for charge in self.charges:
            found = add(charge.order_id, charge.currency, charge.idempotency_key)
            found["charged"] += charge.amount
            found["charges"] += 1
        for decline in self.declines:
            add(decline.order_id, decline.currency, decline.idempotency_key)["declined"] += 1
        for refund in self.refunds:
            found = add(self._order_of(refund), refund.currency, refund.idempotency_key)
            found["refunded"] += refund.amount
            found["refunds"] += 1
        return {
            order_id: OrderPayments(
                order_id=order_id,
                charged=found["charged"],
                refunded=found["refunded"],
                currency=",".join(found["currencies"]),
                charges=found["charges"],
                refunds=found["refunds"],
                declined=found["declined"],
                keys=tuple(sorted(found["keys"])),
            )
            for order_id, found in totals.items()
        }

    def for_order(self, order_id: str) -> Ledger:
        """Only ``order_id``'s entries (its refunds by their charge's order, as in :meth:`by_order`)."""
        return Ledger(
            charges=tuple(charge for charge in self.charges if charge.order_id == order_id),
            refunds=tuple(refund for refund in self.refunds if self._order_of(refund) == order_id),
            declines=tuple(decline for decline in self.declines if decline.order_id == order_id),
        )

    def _order_of(self, refund: RefundEntry) -> str:
        """A refund's order: its charge's (else its own metadata's, for a charge not in this snapshot)."""
        found = self._charge_orders.get(refund.charge)
        return found if found is not None else refund.metadata.get(ORDER_ID, "")

    @cached_property
    def _charge_orders(self) -> dict[str, str]:
        return {charge.id: charge.order_id for charge in self.charges}

    def to_json(self) -> dict[str, Any]:
        """What ``GET /_orderflow/ledger`` answers."""
        return {
            "charges": [charge.to_json() for charge in self.charges],
            "refunds": [refund.to_json() for refund in self.refunds],
            "declines": [decline.to_json() for decline in self.declines],
        }

    @classmethod
    def from_json(cls, data: Any) -> Ledger:
        """A ledger as :meth:`to_json` wrote it; ``ValueError`` when it is not one."""
        if not isinstance(data, dict) or not all(isinstance(data.get(part), list) for part in _PARTS):
            raise ValueError("not a payment ledger: expected charges, refunds and declines")
        try:
            return cls(
                charges=tuple(ChargeEntry(**_entry(item)) for item in data["charges"]),
                refunds=tuple(RefundEntry(**_entry(item)) for item in data["refunds"]),
                declines=tuple(DeclineEntry(**_entry(item)) for item in data["declines"]),
            )
        except TypeError as exc:
            raise ValueError(f"not a payment ledger: {exc}") from None


_PARTS = ("charges", "refunds", "declines")


def _entry(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise TypeError(f"an entry is not an object: {item!r}")
    return item


@dataclass
class Books:
    """The ledger being written: charges by id (their refunded amounts grow), refunds, declines."""

    charges: dict[str, ChargeEntry] = field(default_factory=dict)
    refunds: list[RefundEntry] = field(default_factory=list)
    declines: dict[str, DeclineEntry] = field(default_factory=dict)

    def charge(self, params: ChargeParams, key: str | None, now: int) -> dict[str, Any]:
        """Charge the customer: the charge object; a test customer that declines is recorded as a decline
        and raises the 402 card_error Stripe answers (https://docs.stripe.com/api/errors)."""
        code = decline_code(params.customer)
        if code is not None:
            decline = DeclineEntry(
                id=new_id("ch"),
                amount=params.amount,
                currency=params.currency,
                customer=params.customer,
                description=params.description,
                metadata=dict(params.metadata),
                idempotency_key=key,
                created=now,
                decline_code=code,
            )
            self.declines[decline.id] = decline
            message = "Your card has insufficient funds." if code == "insufficient_funds" else "Your card was declined."
            raise ApiError(402, "card_error", message, code="card_declined", decline_code=code, charge=decline.id)
        charge = ChargeEntry(
            id=new_id("ch"),
            amount=params.amount,
            currency=params.currency,
            customer=params.customer,
            description=params.description,
            metadata=dict(params.metadata),
            idempotency_key=key,
            created=now,
        )
        self.charges[charge.id] = charge
        return charge.api_object()

    def refund(self, params: RefundParams, key: str | None, now: int) -> dict[str, Any]:
        """Refund (part of) a charge: the refund object. Never more than is left of the charge: the
        caller makes each refund atomic (the API's lock), so concurrent ones cannot overdraw it."""
        charge = self.charges.get(params.charge)
        if charge is None:
            if params.charge in self.declines:
                raise invalid("charge", f"Charge {params.charge} was declined: nothing was taken, nothing to refund.")
            raise ApiError(
                404,
                "invalid_request_error",
                f"No such charge: '{params.charge}'",
                code="resource_missing",
                param="charge",
            )
        left = charge.amount - charge.amount_refunded
        if left == 0:
            raise invalid("charge", f"Charge {charge.id} has already been refunded.", "charge_already_refunded")
        amount = left if params.amount is None else params.amount
        if amount > left:
            raise invalid(
                "amount",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left}).",
                "amount_too_large",
            )
        refund = RefundEntry(
            id=new_id("re"),
            charge=charge.id,
            amount=amount,
            currency=charge.currency,
            customer=charge.customer,
            metadata=dict(params.metadata),
            idempotency_key=key,
            created=now,
        )
        self.charges[charge.id] = replace(charge, amount_refunded=charge.amount_refunded + amount)
        self.refunds.append(refund)
        return refund.api_object()

    def charge_object(self, charge_id: str) -> dict[str, Any]:
        """``GET /v1/charges/{id}``: a charge, or a declined one (status failed); 404 otherwise."""
        found = self.charges.get(charge_id) or self.declines.get(charge_id)
        if found is None:
            raise ApiError(
                404, "invalid_request_error", f"No such charge: '{charge_id}'", code="resource_missing", param="id"
            )
        return found.api_object()

    def snapshot(self) -> Ledger:
        return Ledger(
            charges=tuple(self.charges.values()), refunds=tuple(self.refunds), declines=tuple(self.declines.values())
        )
