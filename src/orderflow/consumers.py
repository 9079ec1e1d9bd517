"""What the services that consume domain events (PaymentProcessor, Notifier) do alike with a record:
Powertools Idempotency's failures mapped to retries or dead letters, a transient failure postponed
with backoff, a permanent one published to the service's DLQ with its reason."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from pydantic import BaseModel, ValidationError

from orderflow.batch import processor_for, redrive_count
from orderflow.composition import REPLAYED
from orderflow.domain.errors import DeadLetterPublishError, PermanentError, TransientError, WaitingError
from orderflow.domain.retry import retry_delay

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from aws_lambda_powertools import Logger, Tracer
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from orderflow.adapters.dead_letters import SqsDeadLetterPublisher
    from orderflow.adapters.retries import SqsRetryScheduler


def parse_event(body: str, model: type[BaseModel], invalid: type[PermanentError], what: str) -> dict[str, Any]:
    """The record's body validated as ``model``, as a dict (Powertools hashes and stores it); ``invalid``
    names what is wrong with it, field by field (``what``: "an order event the payment service handles")."""
    try:
        raw = json.loads(body)
    except ValueError as error:
        raise invalid(f"the body is not JSON: {error}") from None
    try:
        event = model.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'event'}: {problem['msg']}"
            for problem in error.errors(include_url=False)
        )
        raise invalid(f"not {what}: {problems}") from None
    return event.model_dump(mode="json", by_alias=True)


#: What a record's handler returns for a record it dead-lettered.
REJECTED = "REJECTED"


class EventInProgressError(WaitingError):
    """Powertools holds the event's record in progress: another environment is handling it now."""

    summary = "The same event is being handled elsewhere, SQS will retry"


class UnexpectedFailureError(TransientError):
    """A failure none of the service's errors names: retried, and logged with its type and message."""

    summary = "Unexpected failure, SQS will retry"


class IdempotencyStoreError(TransientError):
    """Powertools could not read or write the event's idempotency record."""

    summary = "The idempotency table failed, SQS will retry"


class IdempotencyPayloadMismatchError(PermanentError):
    """The same event id arrived with another detail: Powertools' payload validation refused it."""

    code = "PAYLOAD_MISMATCH"


@contextlib.contextmanager
def idempotency_failures(event_id: str, count: Callable[[str], None], *, in_progress_metric: str) -> Iterator[None]:
    """Powertools Idempotency's errors as the service's: a payload mismatch is permanent, an event in
    progress elsewhere waits (a batch item failure, never a dead letter), a persistence failure is
    transient."""
    try:
        yield
    except IdempotencyValidationError:
        raise IdempotencyPayloadMismatchError(
            f"event {event_id} was already handled with another detail: refused, not handled again"
        ) from None
    except IdempotencyAlreadyInProgressError:
        count(in_progress_metric)
        raise EventInProgressError("The same event is being handled elsewhere, SQS will retry") from None
    except IdempotencyPersistenceLayerError as error:
        raise IdempotencyStoreError(f"The idempotency table failed, SQS will retry: {error}") from None


@dataclass(frozen=True, slots=True)
class FailedRecords:
    """Where a service's failed records go: retried with backoff, or dead-lettered with their reason."""

    dead_letters: SqsDeadLetterPublisher
    retries: SqsRetryScheduler
    retry_delays: tuple[int, ...]
    logger: Logger
    count: Callable[[str], None]
    #: The metric a dead-lettered record counts (``PaymentEventsRejected``).
    rejected_metric: str
    #: Its log line ("Payment event rejected").
    rejected_message: str

    def postpone(self, record: SQSRecord, receive_count: int, error: TransientError) -> None:
        delay = retry_delay(receive_count, self.retry_delays)
        postponed = self.retries.postpone(
            queue_arn=record.event_source_arn, receipt_handle=record.receipt_handle, seconds=delay
        )
        self.logger.warning(
            error.summary,
            extra={"error": str(error), "receive_count": receive_count, "retry_in": delay if postponed else None,
                   **error.log_fields},
        )  # fmt: skip
        self.count("TransientFailures")
        if error.metric:
            self.count(error.metric)

    def dead_letter(self, record: SQSRecord, error: PermanentError, receive_count: int) -> None:
        try:
            self.dead_letters.publish(
                record.body,
                code=error.code,
                reason=error.reason,
                source_message_id=record.message_id,
                receive_count=receive_count,
                redrive_count=redrive_count(record, self.logger),
            )
        except DeadLetterPublishError as failed:
            # SQS keeps the message and retries it; this line carries the reason if it is moved later.
            self.logger.error(str(failed), extra={"error_code": error.code, "reason": error.reason})
            self.count("TransientFailures")
            raise
        self.logger.warning(self.rejected_message, extra={"error_code": error.code, "reason": error.reason})
        self.count(self.rejected_metric)

    def run(self, record: SQSRecord, receive_count: int, work: Callable[[], str]) -> str:
        """``work()``'s answer for the record, or ``REJECTED`` when it failed for good and was
        dead-lettered. A transient failure is postponed and raised (a batch item failure); anything
        else is postponed as an ``UnexpectedFailureError`` and raised, so that a letter SQS moves after
        its receives ran out still has its reason in the logs (`orderflow dlq list`)."""
        try:
            return work()
        except PermanentError as error:
            self.dead_letter(record, error, receive_count)
            return REJECTED
        except TransientError as error:
            self.postpone(record, receive_count, error)
            raise
        except Exception as error:
            self.postpone(record, receive_count, UnexpectedFailureError(f"{type(error).__name__}: {error}"))
            raise


class ConsumerRuntime(Protocol):
    """What a consumer's execution environment keeps: its use case behind Powertools Idempotency, and
    where its failed records go."""

    @property
    def handle(self) -> Callable[..., dict[str, Any]]: ...
    @property
    def idempotency(self) -> IdempotencyConfig: ...
    @property
    def dead_letters(self) -> SqsDeadLetterPublisher: ...
    @property
    def retries(self) -> SqsRetryScheduler: ...
    @property
    def retry_delays(self) -> tuple[int, ...]: ...


@dataclass(frozen=True)
class Outcome:
    """How a consumer reports one record's answer: its action (the record handler's result), the metric
    it counts, and its log line."""

    action: str
    metric: str
    message: str
    fields: dict[str, Any]
    error: bool = False


@dataclass(frozen=True)
class EventConsumer:
    """A consumer of domain events, as both services' handlers run one: each record parsed, handled behind
    Powertools Idempotency (keyed on ``detail.eventId``), its answer counted and logged; a failure
    retried with backoff or dead-lettered with its reason; the batch a partial batch response."""

    logger: Logger
    tracer: Tracer
    count: Callable[[str], None]
    #: The environment's runtime (the handler module's, looked up on each call: tests replace it).
    runtime: Callable[[], ConsumerRuntime]
    parse: Callable[[str], dict[str, Any]]
    #: The answer's metric and log line.
    outcome: Callable[[dict[str, Any]], Outcome]
    rejected_metric: str
    rejected_message: str
    in_progress_metric: str

    def record(self, record: SQSRecord) -> str:
        self.logger.thread_safe_clear_keys()
        self.logger.thread_safe_append_keys(message_id=record.message_id)
        runtime = self.runtime()
        failures = FailedRecords(
            dead_letters=runtime.dead_letters, retries=runtime.retries, retry_delays=runtime.retry_delays,
            logger=self.logger, count=self.count, rejected_metric=self.rejected_metric,
            rejected_message=self.rejected_message,
        )  # fmt: skip
        receive_count = int(record.attributes.approximate_receive_count or 1)
        return failures.run(record, receive_count, lambda: self._handle(runtime, record))

    def _handle(self, runtime: ConsumerRuntime, record: SQSRecord) -> str:
        event = self.parse(record.body)
        detail = event["detail"]
        self.logger.thread_safe_append_keys(
            order_id=detail["orderId"], event_id=detail["eventId"], event_type=event["detail-type"],
            correlation_id=detail["eventId"],
        )  # fmt: skip
        with idempotency_failures(detail["eventId"], self.count, in_progress_metric=self.in_progress_metric):
            answer = runtime.handle(event=event)
        if answer.get(REPLAYED):
            self.count("DuplicateEventsDropped")
            self.logger.info("Event already handled: its first answer returned", extra={"answer": answer})
            return str(answer.get("action"))
        outcome = self.outcome(answer)
        self.count(outcome.metric)
        log = self.logger.error if outcome.error else self.logger.info
        log(outcome.message, extra=outcome.fields)
        return outcome.action

    def batch(self, event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        """Handle an SQS batch; return ``{"batchItemFailures": [...]}``."""
        self.logger.info(
            "Batch received", extra={"message_ids": [record.get("messageId") for record in event.get("Records") or []]}
        )
        # Powertools sets an in-progress record's expiry from the invocation's remaining time.
        self.runtime().idempotency.register_lambda_context(context)
        return process_partial_response(
            event=event,
            record_handler=self.record,
            processor=processor_for(event, tracer=self.tracer, logger=self.logger),
            context=context,
        )
