"""The order domain: event models and their transitions, validation, enrichment, and the
per-message use case.

No boto3, no Lambda types: adapters and the handler depend on this package, never the
other way round.
"""

from orderflow.domain.errors import (
    ConflictingDuplicateError,
    DeadLetterPublishError,
    MalformedMessageError,
    OrderflowError,
    OrderNotFoundError,
    OrderValidationError,
    PermanentError,
    StoreUnavailableError,
    TransientError,
    UnknownEventTypeError,
)
from orderflow.domain.events import EVENT_TYPES, EventType, OrderCancelled
from orderflow.domain.lifecycle import OrderStatus, Outcome
from orderflow.domain.models import ConfirmedOrder, OrderCreated, OrderItem, ShippingAddress
from orderflow.domain.processing import (
    DeadLetterPublisher,
    InboundMessage,
    OrderProcessor,
    OrderStore,
    ProcessingResult,
)

__all__ = [
    "EVENT_TYPES",
    "ConfirmedOrder",
    "ConflictingDuplicateError",
    "DeadLetterPublishError",
    "DeadLetterPublisher",
    "EventType",
    "InboundMessage",
    "MalformedMessageError",
    "OrderCancelled",
    "OrderCreated",
    "OrderItem",
    "OrderNotFoundError",
    "OrderProcessor",
    "OrderStatus",
    "OrderStore",
    "OrderValidationError",
    "OrderflowError",
    "Outcome",
    "PermanentError",
    "ProcessingResult",
    "ShippingAddress",
    "StoreUnavailableError",
    "TransientError",
    "UnknownEventTypeError",
]
