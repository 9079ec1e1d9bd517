"""The two families of failure a message can meet.

*Permanent* errors mean the message can never succeed, however often it is retried:
the handler routes it to the dead letter queue with its reason instead of wasting the
queue's retries. *Transient* errors mean it may succeed later: the record is reported
as a batch item failure and SQS delivers it again.
"""

from __future__ import annotations


class OrderflowError(Exception):
    """Base of every error the order processor raises on purpose."""

    #: The order the failing message carried, when it could be read (for logs).
    order_id: str | None = None


class PermanentError(OrderflowError):
    """The message can never succeed: route it to the DLQ with ``code`` and ``reason``."""

    code: str = "PERMANENT_ERROR"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedMessageError(PermanentError):
    """The body is not a JSON object (not JSON at all, truncated, or another JSON type)."""

    code = "MALFORMED_JSON"


class UnknownEventTypeError(PermanentError):
    """The body names an ``eventType`` this processor does not know."""

    code = "UNKNOWN_EVENT_TYPE"


class OrderValidationError(PermanentError):
    """The body is a JSON object but not a valid event of its type."""

    code = "VALIDATION_FAILED"

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


class ConflictingDuplicateError(PermanentError):
    """An order with the same key but different content is already stored."""

    code = "CONFLICTING_DUPLICATE"


class OrderNotFoundError(PermanentError):
    """An event about an order whose ``OrderCreated`` did not arrive within the bounded wait."""

    code = "ORDER_NOT_FOUND"


class TransientError(OrderflowError):
    """The message may succeed on retry: report it as a batch item failure."""

    #: A metric the handler counts for this failure, besides ``TransientFailures``.
    metric: str | None = None
    #: The log message for it (the details go beside it).
    summary: str = "Transient failure, SQS will retry"
    #: More fields for its log line.
    log_fields: dict[str, str] = {}  # noqa: RUF012 - replaced per instance, never mutated


class StoreUnavailableError(TransientError):
    """The order store could not be written (throttling, 5xx, timeout, connection)."""


class DeadLetterPublishError(TransientError):
    """A permanently failed message could not be sent to the DLQ; SQS must keep it.

    ``rejected`` holds why the message was being rejected (code, reason), so the log line of
    this failure keeps it: if SQS moves the message after its receives run out, that line is
    where its reason is found (``orderflow dlq list``).
    """

    def __init__(self, message: str, *, rejected: tuple[str, str] | None = None) -> None:
        super().__init__(message)
        self.rejected = rejected
        if rejected is not None:
            self.log_fields = {"error_code": rejected[0], "reason": rejected[1]}


class WaitingError(TransientError):
    """The event waits for other work to finish first (its order to arrive, a charge to be answered, the
    same event elsewhere): retried, and not a failure of any dependency, so a batch of nothing else is
    no Lambda error (orderflow.batch)."""


class AwaitingOrderError(WaitingError):
    """The event waits for a state that has not arrived (a cancel before its create)."""

    summary = "Waiting for the order to arrive, SQS will retry"

    def __init__(self, reason: str, *, metric: str) -> None:
        super().__init__(reason)
        self.metric = metric
