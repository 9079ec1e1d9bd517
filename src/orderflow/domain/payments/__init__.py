"""The payment service's domain: the order events it consumes, a payment's states, and the use
case that charges and refunds through a provider (docs/services.md). No boto3, no HTTP."""

from orderflow.domain.payments.models import (
    ChargeRequest,
    ChargeResult,
    OrderEvent,
    Payment,
    PaymentEvent,
    PaymentStatus,
    RefundRequest,
    RefundResult,
)
from orderflow.domain.payments.service import (
    PaymentAction,
    PaymentEventPublisher,
    PaymentGateway,
    PaymentOutcome,
    PaymentService,
    PaymentStore,
)

__all__ = [
    "ChargeRequest",
    "ChargeResult",
    "OrderEvent",
    "Payment",
    "PaymentAction",
    "PaymentEvent",
    "PaymentEventPublisher",
    "PaymentGateway",
    "PaymentOutcome",
    "PaymentService",
    "PaymentStatus",
    "PaymentStore",
    "RefundRequest",
    "RefundResult",
]
