"""The Lambda entry point: Powertools around one domain call per SQS record.

Configure with ``TABLE_NAME``, ``DLQ_URL`` and ``MAX_RECEIVE_COUNT`` (set by the stack).
Each record is one event (``OrderCreated``, ``OrderCancelled``); the domain decides what
it does, and the handler logs the message and counts the metrics the result names, so a
new event type needs no change here. The response is a partial batch response: only
records that may succeed on retry are listed in ``batchItemFailures``; permanently bad
ones are already in the DLQ with their reason.
"""

from __future__ import annotations

import threading
import warnings
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import process_partial_response

from orderflow.batch import processor_for, redrive_count
from orderflow.composition import Runtime, Settings, build_at_init, build_runtime
from orderflow.domain.errors import TransientError
from orderflow.domain.lifecycle import Outcome
from orderflow.domain.processing import InboundMessage
from orderflow.domain.retry import retry_delay

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "order-processor"
NAMESPACE = "Orderflow"

# An invocation may rightly count nothing (a waiting cancellation that finds its order
# already completed it): Powertools would warn on every such flush.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)

# Records of a batch run concurrently (orderflow.batch): per-record log keys are
# thread-local, and metrics are added under a lock.
_metrics_lock = threading.Lock()


def _count(name: str) -> None:
    with _metrics_lock:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


_runtime_lock = threading.Lock()


@cache
def _build_runtime() -> Runtime:
    return build_runtime(Settings.from_env())


def _runtime() -> Runtime:
    # Built once per execution environment, in INIT when loaded as a function (build_at_init, at
    # the end of this module), else on first use: clients and their connections are reused by
    # every later invocation.
    # functools.cache alone is not enough: the records of a batch run on threads, and it
    # lets each of them build its own runtime (ten sessions, ten clients) on the first
    # batch, which once made a cold batch on a busy machine outlast its timeout.
    with _runtime_lock:
        return _build_runtime()


def _record_handler(record: SQSRecord) -> str:
    # A producer may pass its own correlation id; otherwise the message id ties the lines together.
    producer_id = record.message_attributes["correlationId"]
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(
        correlation_id=(producer_id.string_value if producer_id else None) or record.message_id,
        message_id=record.message_id,
    )
    message = InboundMessage(
        message_id=record.message_id,
        body=record.body,
        # Set by SQS itself (producers cannot send system attributes): always a count from 1.
        receive_count=int(record.attributes.approximate_receive_count or 1),
        redrive_count=redrive_count(record, logger),
        group_id=record.attributes.message_group_id,
    )
    runtime = _runtime()
    try:
        result = runtime.processor.process(message)
    except TransientError as error:
        # Back off: retry sooner than the queue's long visibility timeout, later each time.
        delay = retry_delay(message.receive_count, runtime.retry_delays)
        postponed = runtime.retries.postpone(
            queue_arn=record.event_source_arn, receipt_handle=record.receipt_handle, seconds=delay
        )
        logger.thread_safe_append_keys(order_id=error.order_id)
        logger.warning(
            error.summary,
            extra={
                "error": str(error),
                "receive_count": message.receive_count,
                "retry_in": delay if postponed else None,
                **error.log_fields,
            },
        )
        _count("TransientFailures")
        if error.metric:
            _count(error.metric)
        raise
    logger.thread_safe_append_keys(order_id=result.order_id, event_type=result.event_type)
    if result.ignored_fields:
        logger.warning("Unknown fields ignored", extra={"fields": result.ignored_fields})
    for name in result.metrics:
        _count(name)
    if result.outcome is not Outcome.REJECTED:
        logger.info(result.message)
    else:
        logger.warning(result.message, extra={"error_code": result.error_code, "reason": result.reason})
        with single_metric(
            name="OrdersRejectedByReason",
            unit=MetricUnit.Count,
            value=1,
            namespace=NAMESPACE,
            default_dimensions={"service": SERVICE},
        ) as by_reason:
            by_reason.add_dimension(name="reason", value=result.error_code or "UNKNOWN")
    return result.outcome.value


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Process an SQS batch; return ``{"batchItemFailures": [...]}``."""
    # One line ties each message to this request id: if the invocation times out or its
    # environment dies before a record logs anything, the message's logs still lead here.
    logger.info(
        "Batch received", extra={"message_ids": [record.get("messageId") for record in event.get("Records") or []]}
    )
    _runtime()  # built here, in one thread, before the records fan out
    return process_partial_response(
        event=event,
        record_handler=_record_handler,
        processor=processor_for(event, tracer=tracer, logger=logger),
        context=context,
    )


build_at_init(_runtime)
