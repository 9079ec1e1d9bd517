"""The order domain: models, validation, enrichment and the per-message use case.

No boto3, no Lambda types: adapters and the handler depend on this package, never the
other way round.
"""

from orderflow.domain.errors import (
    ConflictingDuplicateError,
    DeadLetterPublishError,
    MalformedMessageError,
    OrderflowError,
    OrderValidationError,
    PermanentError,
    StoreUnavailableError,
    TransientError,
)
from orderflow.domain.models import ConfirmedOrder, OrderCreated, OrderItem, ShippingAddress
from orderflow.domain.parsing import parse_order
from orderflow.domain.processing import (
    DeadLetterPublisher,
    InboundMessage,
    OrderProcessor,
    OrderStore,
    Outcome,
    ProcessingResult,
)

__all__ = [
    "ConfirmedOrder",
    "ConflictingDuplicateError",
    "DeadLetterPublishError",
    "DeadLetterPublisher",
    "InboundMessage",
    "MalformedMessageError",
    "OrderCreated",
    "OrderItem",
    "OrderProcessor",
    "OrderStore",
    "OrderValidationError",
    "OrderflowError",
    "Outcome",
    "PermanentError",
    "ProcessingResult",
    "ShippingAddress",
    "StoreUnavailableError",
    "TransientError",
    "parse_order",
]
