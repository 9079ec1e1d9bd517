"""The PaymentProcessor's Lambda entry point: order events from the payment queue, charged or refunded.

Each SQS record is one EventBridge event from the order events bus (``OrderConfirmed`` or
``OrderCancelled``, delivered whole by the stack's rule). The record's work runs behind
Powertools Idempotency, keyed on the event's ``detail.eventId``: a redelivered event returns
the first answer without touching the provider. Beneath it, the payment's state and the
provider's idempotency key keep a charge from being made twice even when Powertools' record
is gone (docs/services.md).

The response is a partial batch response. Transient failures (the provider, DynamoDB,
EventBridge, an event still in progress elsewhere) are batch item failures, retried with
backoff; permanent ones go to the payment DLQ with their code and reason, as the order
service's do.
"""

from __future__ import annotations

import json
import threading
import warnings
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from pydantic import ValidationError

from orderflow.batch import processor_for, redrive_count
from orderflow.composition import (
    REPLAYED,
    PaymentRuntime,
    PaymentSettings,
    build_at_init,
    build_payment_runtime,
)
from orderflow.domain.errors import DeadLetterPublishError, PermanentError, TransientError, WaitingError
from orderflow.domain.payments.errors import IdempotencyPayloadMismatchError, InvalidOrderEventError
from orderflow.domain.payments.models import OrderEvent
from orderflow.domain.payments.service import ACTION_METRICS, PaymentAction
from orderflow.domain.retry import retry_delay

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "payment-processor"
NAMESPACE = "Orderflow"

warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)

_metrics_lock = threading.Lock()
_runtime_lock = threading.Lock()


def _count(name: str) -> None:
    with _metrics_lock:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


@cache
def _build_runtime() -> PaymentRuntime:
    return build_payment_runtime(PaymentSettings.from_env())


def _runtime() -> PaymentRuntime:
    with _runtime_lock:  # once per environment, whichever record thread asks first
        return _build_runtime()


def parse_event(body: str) -> dict[str, Any]:
    """The record's body as a validated order event (a dict, as Powertools hashes and stores it)."""
    try:
        raw = json.loads(body)
    except ValueError as error:
        raise InvalidOrderEventError(f"the body is not JSON: {error}") from None
    try:
        event = OrderEvent.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'event'}: {problem['msg']}"
            for problem in error.errors(include_url=False)
        )
        raise InvalidOrderEventError(f"not an order event the payment service handles: {problems}") from None
    return event.model_dump(mode="json", by_alias=True)


def _record_handler(record: SQSRecord) -> str:
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(message_id=record.message_id)
    runtime = _runtime()
    receive_count = int(record.attributes.approximate_receive_count or 1)
    try:
        event = parse_event(record.body)
        detail = event["detail"]
        logger.thread_safe_append_keys(
            order_id=detail["orderId"], event_id=detail["eventId"], event_type=event["detail-type"],
            correlation_id=detail["eventId"],
        )  # fmt: skip
        try:
            answer = runtime.handle(event=event)
        except IdempotencyValidationError:
            raise IdempotencyPayloadMismatchError(
                f"event {detail['eventId']} was already handled with another detail: refused, not charged again"
            ) from None
        except IdempotencyAlreadyInProgressError:
            _count("PaymentEventsInProgress")
            raise EventInProgressError("The same event is being handled elsewhere, SQS will retry") from None
        except IdempotencyPersistenceLayerError as error:
            raise IdempotencyStoreError(f"The idempotency table failed, SQS will retry: {error}") from None
    except PermanentError as error:
        _dead_letter(runtime, record, error, receive_count)
        return "REJECTED"
    except TransientError as error:
        _postpone(runtime, record, receive_count, error)
        raise
    except Exception as error:
        # Anything else (Powertools' IdempotencyInconsistentStateError under concurrent retries, a bug):
        # retried like a transient failure, and logged with the message's id, so that a letter SQS moves
        # after its receives ran out still has its reason in the logs (`orderflow dlq list`).
        unexpected = UnexpectedFailureError(f"{type(error).__name__}: {error}")
        _postpone(runtime, record, receive_count, unexpected)
        raise
    if answer.get(REPLAYED):
        _count("DuplicateEventsDropped")
        logger.info("Event already handled: its first answer returned", extra={"answer": answer})
        return str(answer.get("action"))
    action = PaymentAction(answer["action"])
    _count(ACTION_METRICS[action])
    logger.info(answer["message"], extra={"action": action.value, "status": answer["status"],
                                          "provider_replayed": answer["replayed"]})  # fmt: skip
    return action.value


class EventInProgressError(WaitingError):
    """Powertools holds the event's record in progress: another environment is handling it now."""

    summary = "The same event is being handled elsewhere, SQS will retry"


class UnexpectedFailureError(TransientError):
    """A failure none of the service's errors names: retried, and logged with its type and message."""

    summary = "Unexpected failure, SQS will retry"


class IdempotencyStoreError(TransientError):
    """Powertools could not read or write the event's idempotency record."""

    summary = "The idempotency table failed, SQS will retry"


def _postpone(runtime: PaymentRuntime, record: SQSRecord, receive_count: int, error: TransientError) -> None:
    delay = retry_delay(receive_count, runtime.retry_delays)
    postponed = runtime.retries.postpone(
        queue_arn=record.event_source_arn, receipt_handle=record.receipt_handle, seconds=delay
    )
    logger.warning(
        error.summary,
        extra={"error": str(error), "receive_count": receive_count, "retry_in": delay if postponed else None,
               **error.log_fields},
    )  # fmt: skip
    _count("TransientFailures")
    if error.metric:
        _count(error.metric)


def _dead_letter(runtime: PaymentRuntime, record: SQSRecord, error: PermanentError, receive_count: int) -> None:
    try:
        runtime.dead_letters.publish(
            record.body,
            code=error.code,
            reason=error.reason,
            source_message_id=record.message_id,
            receive_count=receive_count,
            redrive_count=redrive_count(record, logger),
        )
    except DeadLetterPublishError as failed:
        # SQS keeps the message and retries it; this line carries the reason if it is moved later.
        logger.error(str(failed), extra={"error_code": error.code, "reason": error.reason})
        _count("TransientFailures")
        raise
    logger.warning("Payment event rejected", extra={"error_code": error.code, "reason": error.reason})
    _count("PaymentEventsRejected")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Handle an SQS batch of order events; return ``{"batchItemFailures": [...]}``."""
    logger.info(
        "Batch received", extra={"message_ids": [record.get("messageId") for record in event.get("Records") or []]}
    )
    runtime = _runtime()
    # Powertools sets an in-progress record's expiry from the invocation's remaining time.
    runtime.idempotency.register_lambda_context(context)
    return process_partial_response(
        event=event,
        record_handler=_record_handler,
        processor=processor_for(event, tracer=tracer, logger=logger),
        context=context,
    )


build_at_init(_runtime)
