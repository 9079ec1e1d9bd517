"""Processing one message: the use case the Lambda handler calls once per SQS record.

The domain decides; the ports (:class:`OrderStore`, :class:`DeadLetterPublisher`) do the
I/O. Nothing here knows about boto3 or Lambda events.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from orderflow.domain.enrichment import confirm
from orderflow.domain.errors import ConflictingDuplicateError, OrderflowError, PermanentError
from orderflow.domain.models import ConfirmedOrder, OrderCreated, unknown_fields
from orderflow.domain.parsing import load_json_object, validate_order

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


class OrderStore(Protocol):
    """Where confirmed orders live."""

    def put_if_absent(self, order: ConfirmedOrder) -> Mapping[str, Any] | None:
        """Store ``order`` unless its key exists.

        Returns ``None`` when stored, else the item already stored under that key.
        Raises :class:`~orderflow.domain.errors.TransientError` when it cannot tell.
        """
        ...


class DeadLetterPublisher(Protocol):
    """Where messages that can never succeed go, with their reason."""

    def publish(
        self, body: str, *, code: str, reason: str, source_message_id: str, receive_count: int, redrive_count: int
    ) -> None:
        """Send ``body`` unchanged; raise :class:`~orderflow.domain.errors.TransientError` on failure.

        ``redrive_count`` (how often an operator already redrove it from the DLQ) travels
        with the message, so a redrive can refuse to loop a hopeless message forever.
        """
        ...


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One queue message, as much of it as the domain needs."""

    message_id: str
    body: str
    receive_count: int = 1
    redrive_count: int = 0


class Outcome(enum.Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class ProcessingResult:
    """What happened to one message. ``error_code``/``reason`` are set when rejected."""

    outcome: Outcome
    order_id: str | None = None
    error_code: str | None = None
    reason: str | None = None
    ignored_fields: list[str] = field(default_factory=list)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class OrderProcessor:
    """Validate, enrich and store one order; send what can never succeed to the DLQ.

    Example
    -------
    >>> processor = OrderProcessor(store=store, dead_letters=dlq)  # doctest: +SKIP
    >>> processor.process(InboundMessage(message_id="m-1", body=body)).outcome  # doctest: +SKIP
    <Outcome.STORED: 'stored'>
    """

    def __init__(
        self,
        *,
        store: OrderStore,
        dead_letters: DeadLetterPublisher,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._store = store
        self._dead_letters = dead_letters
        self._clock = clock

    def process(self, message: InboundMessage) -> ProcessingResult:
        """Process ``message`` to a final outcome, or raise a ``TransientError`` to retry it.

        A permanent failure is not raised: the message goes to the DLQ and the result is
        ``REJECTED``. If that send fails, the transient error propagates so SQS keeps it.
        """
        order_id: str | None = None
        ignored: list[str] = []
        try:
            data = load_json_object(message.body)
            order_id = data.get("orderId") if isinstance(data.get("orderId"), str) else None
            ignored = unknown_fields(data)
            order = validate_order(data)
            outcome = self._store_once(order, message)
            return ProcessingResult(outcome=outcome, order_id=order.order_id, ignored_fields=ignored)
        except PermanentError as error:
            error.order_id = order_id
            self._dead_letters.publish(
                message.body,
                code=error.code,
                reason=error.reason,
                source_message_id=message.message_id,
                receive_count=message.receive_count,
                redrive_count=message.redrive_count,
            )
            return ProcessingResult(
                outcome=Outcome.REJECTED,
                order_id=order_id,
                error_code=error.code,
                reason=error.reason,
                ignored_fields=ignored,
            )
        except OrderflowError as error:
            error.order_id = order_id
            raise

    def _store_once(self, order: OrderCreated, message: InboundMessage) -> Outcome:
        confirmed = confirm(order, sqs_message_id=message.message_id, now=self._clock())
        existing = self._store.put_if_absent(confirmed)
        if existing is None:
            return Outcome.STORED
        if _same_content(order, existing):
            return Outcome.DUPLICATE
        raise ConflictingDuplicateError(
            f"order {order.order_id} created at {order.created_at} is already stored with different content"
        )


def _same_content(order: OrderCreated, stored: Mapping[str, Any]) -> bool:
    # Numbers come back from DynamoDB as Decimal; int == Decimal compares by value.
    wire = order.model_dump()
    return all(stored.get(key) == value for key, value in wire.items())
