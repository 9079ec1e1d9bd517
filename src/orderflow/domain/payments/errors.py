"""How the payment service fails: transient failures are retried by SQS (batch item failures),
permanent ones go to the payment DLQ with their code and reason (docs/services.md)."""

from __future__ import annotations

from orderflow.domain.errors import PermanentError, TransientError


class PaymentProviderUnavailableError(TransientError):
    """The provider did not answer, or answered 429 or 5xx, after the client's own retries."""

    summary = "Payment provider unavailable, SQS will retry"
    metric = "PaymentProviderErrors"


class PaymentProviderAuthError(TransientError):
    """The provider refused the API key (401/403). Retried, not dead-lettered: every payment would fail
    the same way until the secret is fixed, and each must still be made then."""

    summary = "Payment provider refused the API key: fix the secret; SQS will retry"
    metric = "PaymentProviderErrors"


class ProviderKeyInUseError(TransientError):
    """The provider is still executing a request with the same idempotency key (409)."""

    summary = "The provider is still executing this payment's request, SQS will retry"


class EventPublishError(TransientError):
    """The event bus did not accept a payment event: the payment is recorded; the retry publishes it."""

    summary = "Payment event not published, SQS will retry"


class PaymentRejectedError(PermanentError):
    """The provider refused the request for good (invalid parameters, unknown charge)."""

    code = "PAYMENT_REJECTED"


class ProviderKeyConflictError(PermanentError):
    """The provider holds this payment's idempotency key with other parameters: the order's amount or
    customer changed between attempts. Never retried with another key: that could charge twice."""

    code = "PROVIDER_KEY_CONFLICT"


class InvalidOrderEventError(PermanentError):
    """The message is not an order event the payment service handles."""

    code = "INVALID_ORDER_EVENT"
