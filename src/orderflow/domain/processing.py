"""Processing one message: the use case the Lambda handler calls once per SQS record.

The domain decides; the ports (:class:`OrderStore`, :class:`DeadLetterPublisher`) do the
I/O. Nothing here knows about boto3 or Lambda events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from orderflow.domain.errors import (
    AwaitingOrderError,
    DeadLetterPublishError,
    OrderflowError,
    PermanentError,
    StoreUnavailableError,
)
from orderflow.domain.events import event_type_of
from orderflow.domain.lifecycle import Context, Effect, Outcome, Wait, Write
from orderflow.domain.models import unknown_fields
from orderflow.domain.parsing import load_json_object, validate

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from orderflow.domain.events import EventType
    from orderflow.domain.lifecycle import PutIfAbsent, UpdateIfStatus, WriteResult

#: Conditional writes one message may try. States only move forward (absent ->
#: AWAITING_ORDER or CONFIRMED -> CANCELLED), so three refusals in a row cannot happen
#: unless the store misbehaves; then the message is retried rather than guessed.
MAX_WRITES = 4
#: Receives of a message before SQS moves it to the DLQ (the queue's maxReceiveCount).
DEFAULT_MAX_RECEIVES = 5


class OrderStore(Protocol):
    """Where orders live: one item per order, changed only by conditional writes."""

    def apply(self, write: PutIfAbsent | UpdateIfStatus) -> WriteResult:
        """Apply ``write`` atomically if its condition holds.

        Returns whether it was applied and, when not, the item that failed the condition
        (``None`` when there is none). Raises :class:`~orderflow.domain.errors.TransientError`
        when it cannot tell.
        """
        ...


class DeadLetterPublisher(Protocol):
    """Where messages that can never succeed go, with their reason."""

    def publish(
        self,
        body: str,
        *,
        code: str,
        reason: str,
        source_message_id: str,
        receive_count: int,
        redrive_count: int,
        group_id: str | None = None,
    ) -> None:
        """Send ``body`` unchanged; raise :class:`~orderflow.domain.errors.TransientError` on failure.

        ``redrive_count`` (how often an operator already redrove it from the DLQ) travels
        with the message, so a redrive can refuse to loop a hopeless message forever.
        ``group_id`` is the message's FIFO group, which a FIFO DLQ needs.
        """
        ...


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One queue message, as much of it as the domain needs."""

    message_id: str
    body: str
    receive_count: int = 1
    redrive_count: int = 0
    #: Its FIFO message group (None on a standard queue): a dead letter keeps it.
    group_id: str | None = None


@dataclass(frozen=True, slots=True)
class ProcessingResult:
    """What happened to one message: the outcome, a log message and the metrics to count.

    ``error_code``/``reason`` are set when rejected.
    """

    outcome: Outcome
    order_id: str | None = None
    event_type: str | None = None
    message: str = ""
    metrics: tuple[str, ...] = ()
    error_code: str | None = None
    reason: str | None = None
    ignored_fields: list[str] = field(default_factory=list)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class OrderProcessor:
    """Parse and validate one event, apply it to its order; send what can never succeed to the DLQ.

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
        max_receives: int = DEFAULT_MAX_RECEIVES,
    ) -> None:
        self._store = store
        self._dead_letters = dead_letters
        self._clock = clock
        self._max_receives = max_receives

    def process(self, message: InboundMessage) -> ProcessingResult:
        """Process ``message`` to a final outcome, or raise a ``TransientError`` to retry it.

        A permanent failure is not raised: the message goes to the DLQ and the result is
        ``REJECTED``. If that send fails, the transient error propagates so SQS keeps it.
        """
        order_id: str | None = None
        event_name: str | None = None
        ignored: list[str] = []
        try:
            data = load_json_object(message.body)
            order_id = data.get("orderId") if isinstance(data.get("orderId"), str) else None
            event_type = event_type_of(data)
            event_name = event_type.name
            ignored = unknown_fields(data, event_type.model)
            event = validate(event_type.model, data)
            effect = self._apply(event_type, event, message)
            return ProcessingResult(
                outcome=effect.outcome,
                order_id=order_id,
                event_type=event_name,
                message=effect.message,
                metrics=effect.metrics,
                ignored_fields=ignored,
            )
        except PermanentError as error:
            error.order_id = order_id
            try:
                self._dead_letters.publish(
                    message.body,
                    code=error.code,
                    reason=error.reason,
                    source_message_id=message.message_id,
                    receive_count=message.receive_count,
                    redrive_count=message.redrive_count,
                    group_id=message.group_id,
                )
            except DeadLetterPublishError as failed:
                raised = DeadLetterPublishError(str(failed), rejected=(error.code, error.reason))
                raised.order_id = order_id
                raise raised from failed
            return ProcessingResult(
                outcome=Outcome.REJECTED,
                order_id=order_id,
                event_type=event_name,
                message="Event rejected to the DLQ",
                metrics=("OrdersRejected",),
                error_code=error.code,
                reason=error.reason,
                ignored_fields=ignored,
            )
        except OrderflowError as error:
            error.order_id = order_id
            raise

    def _apply(self, event_type: EventType[Any], event: Any, message: InboundMessage) -> Effect:
        """Run the event's decisions against the store until one is final."""
        context = Context(message_id=message.message_id, now=self._clock())
        decision = event_type.first(event, context)
        writes = 0
        while isinstance(decision, Write):
            if writes == MAX_WRITES:
                raise StoreUnavailableError(f"the order kept changing under {MAX_WRITES} conditional writes")
            writes += 1
            result = self._store.apply(decision.operation)
            decision = decision.then if result.applied else event_type.decide(event, result.current, context)
        if isinstance(decision, Wait):
            if message.group_id is not None and decision.in_order is not None:
                return decision.in_order  # FIFO: waiting would block the very event awaited
            if message.receive_count >= self._max_receives:
                raise decision.give_up
            raise AwaitingOrderError(decision.reason, metric=decision.metric)
        return decision.effect


def already_applied(body: str, read: Callable[[str, str], Mapping[str, Any] | None]) -> bool | None:
    """Whether the event in ``body`` is already in the store (``read(orderId, createdAt)`` gives the item).

    ``None`` when the body is not a valid event (nothing of it can be stored). A dead letter
    whose event is applied would change nothing if sent again: it only needs deleting.
    """
    try:
        data = load_json_object(body)
        event_type = event_type_of(data)
        event = validate(event_type.model, data)
    except PermanentError:
        return None
    return bool(event_type.applied(event, read(*event_type.key(event))))
