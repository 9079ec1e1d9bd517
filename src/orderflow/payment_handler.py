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

import threading
import warnings
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import process_partial_response

from orderflow import consumers
from orderflow.batch import processor_for
from orderflow.composition import (
    REPLAYED,
    PaymentRuntime,
    PaymentSettings,
    build_at_init,
    build_payment_runtime,
)
from orderflow.consumers import FailedRecords, idempotency_failures
from orderflow.domain.payments.errors import InvalidOrderEventError
from orderflow.domain.payments.models import OrderEvent
from orderflow.domain.payments.service import ACTION_METRICS, PaymentAction

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
    return consumers.parse_event(body, OrderEvent, InvalidOrderEventError, "an order event the payment service handles")


def _record_handler(record: SQSRecord) -> str:
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(message_id=record.message_id)
    runtime = _runtime()
    receive_count = int(record.attributes.approximate_receive_count or 1)
    failures = FailedRecords(
        dead_letters=runtime.dead_letters, retries=runtime.retries, retry_delays=runtime.retry_delays,
        logger=logger, count=_count, rejected_metric="PaymentEventsRejected",
        rejected_message="Payment event rejected",
    )  # fmt: skip
    return failures.run(record, receive_count, lambda: _handle(runtime, record))


def _handle(runtime: PaymentRuntime, record: SQSRecord) -> str:
    event = parse_event(record.body)
    detail = event["detail"]
    logger.thread_safe_append_keys(
        order_id=detail["orderId"], event_id=detail["eventId"], event_type=event["detail-type"],
        correlation_id=detail["eventId"],
    )  # fmt: skip
    with idempotency_failures(detail["eventId"], _count, in_progress_metric="PaymentEventsInProgress"):
        answer = runtime.handle(event=event)
    if answer.get(REPLAYED):
        _count("DuplicateEventsDropped")
        logger.info("Event already handled: its first answer returned", extra={"answer": answer})
        return str(answer.get("action"))
    action = PaymentAction(answer["action"])
    _count(ACTION_METRICS[action])
    logger.info(answer["message"], extra={"action": action.value, "status": answer["status"],
                                          "provider_replayed": answer["replayed"]})  # fmt: skip
    return action.value


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
