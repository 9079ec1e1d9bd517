"""The Notifier's Lambda entry point: domain events from the notification queue, e-mailed to the customer.

Each SQS record is one EventBridge event from the order events bus (``PaymentCaptured``,
``OrderCancelled`` or ``PaymentRefunded``, delivered whole by the stack's rule). The record's work
runs behind Powertools Idempotency, keyed on the event's ``detail.eventId``; beneath it, a claim in
the ``Notifications`` table, written before SES is asked, keeps an e-mail from being sent twice
when Powertools' record is gone (orderflow.domain.notifications.service, docs/services.md).

The response is a partial batch response. Transient failures (SES throttling or a 5xx, DynamoDB, the
same event in progress elsewhere) are batch item failures, retried with backoff; permanent ones go
to the notification DLQ with their code and reason, as the other services' do.
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
from orderflow.composition import REPLAYED, NotifierRuntime, NotifierSettings, build_at_init, build_notifier_runtime
from orderflow.consumers import FailedRecords, idempotency_failures
from orderflow.domain.notifications.errors import InvalidDomainEventError
from orderflow.domain.notifications.models import DomainEvent
from orderflow.domain.notifications.service import ACTION_METRICS, NotificationAction

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "notifier"
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
def _build_runtime() -> NotifierRuntime:
    return build_notifier_runtime(NotifierSettings.from_env())


def _runtime() -> NotifierRuntime:
    with _runtime_lock:  # once per environment, whichever record thread asks first
        return _build_runtime()


def parse_event(body: str) -> dict[str, Any]:
    """The record's body as a validated domain event (a dict, as Powertools hashes and stores it)."""
    return consumers.parse_event(body, DomainEvent, InvalidDomainEventError, "a domain event the notifier e-mails")


def _record_handler(record: SQSRecord) -> str:
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(message_id=record.message_id)
    runtime = _runtime()
    receive_count = int(record.attributes.approximate_receive_count or 1)
    failures = FailedRecords(
        dead_letters=runtime.dead_letters, retries=runtime.retries, retry_delays=runtime.retry_delays,
        logger=logger, count=_count, rejected_metric="NotificationEventsRejected",
        rejected_message="Notification event rejected",
    )  # fmt: skip
    return failures.run(record, receive_count, lambda: _handle(runtime, record))


def _handle(runtime: NotifierRuntime, record: SQSRecord) -> str:
    event = parse_event(record.body)
    detail = event["detail"]
    logger.thread_safe_append_keys(
        order_id=detail["orderId"], event_id=detail["eventId"], event_type=event["detail-type"],
        correlation_id=detail["eventId"],
    )  # fmt: skip
    with idempotency_failures(detail["eventId"], _count, in_progress_metric="NotificationEventsInProgress"):
        answer = runtime.handle(event=event)
    if answer.get(REPLAYED):
        _count("DuplicateEventsDropped")
        logger.info("Event already handled: its first answer returned", extra={"answer": answer})
        return str(answer.get("action"))
    action = NotificationAction(answer["action"])
    _count(ACTION_METRICS[action])
    fields = {"action": action.value, "kind": answer["kind"], "ses_message_id": answer["messageId"]}
    if action is NotificationAction.UNCERTAIN:
        logger.error(answer["message"], extra=fields)  # an e-mail perhaps never sent: a person should look
    else:
        logger.info(answer["message"], extra=fields)
    return action.value


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Handle an SQS batch of domain events; return ``{"batchItemFailures": [...]}``."""
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
