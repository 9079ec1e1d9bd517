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

from orderflow import consumers
from orderflow.composition import NotifierRuntime, NotifierSettings, build_at_init, build_notifier_runtime
from orderflow.consumers import EventConsumer, Outcome
from orderflow.domain.notifications.errors import InvalidDomainEventError
from orderflow.domain.notifications.models import DomainEvent
from orderflow.domain.notifications.service import ACTION_METRICS, NotificationAction

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
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


def _outcome(answer: dict[str, Any]) -> Outcome:
    action = NotificationAction(answer["action"])
    fields = {"action": action.value, "kind": answer["kind"], "ses_message_id": answer["messageId"]}
    # An e-mail perhaps never sent is logged as an error: a person should look (docs/operations.md).
    return Outcome(action.value, ACTION_METRICS[action], answer["message"], fields,
                   error=action is NotificationAction.UNCERTAIN)  # fmt: skip


consumer = EventConsumer(
    logger=logger, tracer=tracer, count=_count, runtime=lambda: _runtime(), parse=parse_event, outcome=_outcome,
    rejected_metric="NotificationEventsRejected", rejected_message="Notification event rejected",
    in_progress_metric="NotificationEventsInProgress",
)  # fmt: skip


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Handle an SQS batch of domain events; return ``{"batchItemFailures": [...]}``."""
    return consumer.batch(event, context)


build_at_init(_runtime)
