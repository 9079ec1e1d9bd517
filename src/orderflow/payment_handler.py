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

from orderflow import consumers
from orderflow.composition import (
    PaymentRuntime,
    PaymentSettings,
    build_at_init,
    build_payment_runtime,
)
from orderflow.consumers import EventConsumer, Outcome
from orderflow.domain.payments.errors import InvalidOrderEventError
from orderflow.domain.payments.models import OrderEvent
from orderflow.domain.payments.service import ACTION_METRICS, PaymentAction

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
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


def _outcome(answer: dict[str, Any]) -> Outcome:
    action = PaymentAction(answer["action"])
    fields = {"action": action.value, "status": answer["status"], "provider_replayed": answer["replayed"]}
    return Outcome(action.value, ACTION_METRICS[action], answer["message"], fields)


consumer = EventConsumer(
    logger=logger, tracer=tracer, count=_count, runtime=lambda: _runtime(), parse=parse_event, outcome=_outcome,
    rejected_metric="PaymentEventsRejected", rejected_message="Payment event rejected",
    in_progress_metric="PaymentEventsInProgress",
)  # fmt: skip


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Handle an SQS batch of order events; return ``{"batchItemFailures": [...]}``."""
    return consumer.batch(event, context)


build_at_init(_runtime)
