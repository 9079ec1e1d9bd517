"""Fan-out: producers publish order events to an SNS topic; each consumer has its own queue."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import acknowledge

#: The message attribute producers set to the event's type: what a subscription's filter policy
#: would match, for a consumer that wants only some types (none here: the order queue takes all).
EVENT_TYPE_ATTRIBUTE = "eventType"


class OrderEventsFanout(Construct):
    """``OrderEvents`` (``OrderEvents.fifo``): the topic and the order queue's subscription.

    The order queue is subscribed with raw message delivery, so the handler sees the
    producer's body exactly as when producers send to the queue; what SNS cannot deliver
    goes to ``OrderEventsDeliveryDLQ``. Another consumer of the producers' events subscribes
    its own queue here (with a filter policy on ``eventType`` if it wants only some types).
    The services that react to what the pipeline did (payments, notifications) are fed by
    the order events bus instead, in every topology (infra/payments.py, infra/notifications.py).

    The topic is encrypted with the stack's key and refuses requests without TLS; the
    queues' policies let only this topic send (``aws:SourceArn``), and the key policy lets
    SNS use the key for the encrypted queues.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue: sqs.IQueue,
        key: kms.IKey,
        fifo: bool,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        suffix = ".fifo" if fifo else ""
        self.topic = sns.Topic(
            self,
            "OrderEvents",
            topic_name=f"OrderEvents{suffix}",
            display_name="orderflow order events",
            fifo=fifo or None,
            content_based_deduplication=True if fifo else None,
            master_key=key,
            enforce_ssl=True,
        )

        def queue_(name: str, **options: object) -> sqs.Queue:
            return sqs.Queue(
                self,
                name,
                queue_name=f"{name}{suffix}",
                encryption=sqs.QueueEncryption.KMS,
                encryption_master_key=key,
                enforce_ssl=True,
                removal_policy=removal_policy,
                fifo=fifo or None,
                content_based_deduplication=True if fifo else None,
                **options,  # type: ignore[arg-type]
            )

        self.delivery_dlq = queue_("OrderEventsDeliveryDLQ", retention_period=Duration.days(14))
        what = "what SNS could not deliver to a subscribed queue"
        acknowledge(
            self.delivery_dlq,
            "Serverless::Serverless-SQSRedrivePolicy",
            f"This is a dead letter queue, for {what}: a DLQ of its own would only move them further away.",
        )
        acknowledge(
            self.delivery_dlq,
            "AwsSolutions::AwsSolutions-SQS3",
            f"This is a dead letter queue, for {what}; a queue's DLQ needs no DLQ.",
        )

        self.topic.add_subscription(
            subscriptions.SqsSubscription(queue, raw_message_delivery=True, dead_letter_queue=self.delivery_dlq)
        )
