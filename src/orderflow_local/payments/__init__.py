"""The embedded payment provider: a small HTTP payment API with a real provider's idempotency contract.

`orderflow up` runs it on 127.0.0.1 for the payment service to charge and refund through, and
its ledger is the ground truth the payment invariants are checked against (`orderflow payments
list`). The contract is Stripe's, from its public documentation:

- idempotent requests: https://docs.stripe.com/api/idempotent_requests
- idempotency errors (400 for other parameters, 409 while in flight):
  https://docs.stripe.com/error-low-level#idempotency
- error bodies and types: https://docs.stripe.com/api/errors
- declines for test cards (test customers here): https://docs.stripe.com/testing
- charges and refunds: https://docs.stripe.com/api/charges/create, https://docs.stripe.com/api/refunds/create
- rate limiting (429): https://docs.stripe.com/rate-limits

It differs from Stripe in that bodies are JSON, not form-encoded, and declines come from test
customers, not test card numbers: docs/payment-provider.md.

Modules: params (checking a request's parameters), idempotency (the keys), ledger (the books
and their snapshot), api (the three together, no HTTP), faults (what to inject), server (HTTP
and :class:`PaymentProvider`).
"""

from __future__ import annotations

from orderflow_local.payments.api import PaymentApi
from orderflow_local.payments.faults import ALL as ALL_FAULTS
from orderflow_local.payments.faults import ProviderFaults
from orderflow_local.payments.idempotency import DEFAULT_TTL_SECONDS
from orderflow_local.payments.ledger import ChargeEntry, DeclineEntry, Ledger, OrderPayments, RefundEntry
from orderflow_local.payments.server import HEALTH_PATH, LEDGER_PATH, PaymentProvider

__all__ = [
    "ALL_FAULTS",
    "DEFAULT_TTL_SECONDS",
    "HEALTH_PATH",
    "LEDGER_PATH",
    "ChargeEntry",
    "DeclineEntry",
    "Ledger",
    "OrderPayments",
    "PaymentApi",
    "PaymentProvider",
    "ProviderFaults",
    "RefundEntry",
]
