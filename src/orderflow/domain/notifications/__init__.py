"""The notification service's domain: the domain events it e-mails about, the order it reads, the
e-mails it renders from templates, and the use case that sends each at most once (docs/services.md).
No boto3."""

from orderflow.domain.notifications.models import (
    Claim,
    ClaimStatus,
    DomainEvent,
    Email,
    Line,
    NotificationKind,
    Order,
)
from orderflow.domain.notifications.service import (
    Mailer,
    NotificationAction,
    NotificationOutcome,
    NotificationService,
    NotificationStore,
    OrderReader,
)

__all__ = [
    "Claim",
    "ClaimStatus",
    "DomainEvent",
    "Email",
    "Line",
    "Mailer",
    "NotificationAction",
    "NotificationKind",
    "NotificationOutcome",
    "NotificationService",
    "NotificationStore",
    "Order",
    "OrderReader",
]
