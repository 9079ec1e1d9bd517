"""The order queue and its dead letter queue."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import acknowledge

#: Receives before SQS moves a message to the DLQ: 5, as AWS advises for Lambda consumers.
#: A whole batch fails together (a timeout, a crashed environment), so a record already
#: stored can spend its receives on its neighbours' failures; with 3, a quarter of the
#: valid orders in the DLQ under chaos were such stale entries (docs/reliability.md).
MAX_RECEIVE_COUNT = 5


class OrderQueues(Construct):
    """``OrderCreatedQueue`` (7 days) redriving to ``OrderCreatedDLQ`` (14 days) after 5 receives (MAX_RECEIVE_COUNT).

    ``event`` names another pair (``OrderCancelled``: ``OrderCancelledQueue``, ``OrderCancelledDLQ``),
    as the EventBridge ingress has one per routed event type.

    Both are KMS-encrypted and refuse requests without TLS. With ``fifo`` both are FIFO
    (``OrderCreatedQueue.fifo``, ``OrderCreatedDLQ.fifo``): producers give the orderId as the
    message group, and identical bodies within 5 minutes are deduplicated by content.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        visibility_timeout: Duration,
        removal_policy: RemovalPolicy,
        fifo: bool = False,
        event: str = "OrderCreated",
    ) -> None:
        super().__init__(scope, construct_id)
        suffix = ".fifo" if fifo else ""
        # Content-based deduplication: a producer needs no id scheme, and the AWS CLI's
        # send-message works as is; a producer may still pass MessageDeduplicationId.
        dedup = True if fifo else None
        self.dead_letter_queue = sqs.Queue(
            self,
            f"{event}DLQ",
            queue_name=f"{event}DLQ{suffix}",
            # Longer than the source's: on a standard queue a message keeps its original
            # enqueue time when it is moved, so the DLQ must outlive the source's retention.
            retention_period=Duration.days(14),
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            removal_policy=removal_policy,
            fifo=fifo or None,
            content_based_deduplication=dedup,
        )
        acknowledge(
            self.dead_letter_queue,
            "Serverless::Serverless-SQSRedrivePolicy",
            "This is the dead letter queue: a DLQ of its own would only move failed orders further away. "
            "Its messages are kept 14 days, alarmed on and redriven by `orderflow dlq redrive`.",
        )
        self.queue = sqs.Queue(
            self,
            f"{event}Queue",
            queue_name=f"{event}Queue{suffix}",
            visibility_timeout=visibility_timeout,
            retention_period=Duration.days(7),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=MAX_RECEIVE_COUNT),
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            removal_policy=removal_policy,
            fifo=fifo or None,
            content_based_deduplication=dedup,
        )
