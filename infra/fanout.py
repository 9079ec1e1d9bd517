"""Fan-out: producers publish order events to an SNS topic; each consumer has its own queue."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import acknowledge
from infra.queues import MAX_RECEIVE_COUNT

#: The message attribute producers set to the event's type; subscription filters match it.
EVENT_TYPE_ATTRIBUTE = "eventType"
#: What the notifications queue receives (a notification service e-mails the customer).
NOTIFIED_EVENT_TYPES = ("OrderCancelled",)


class OrderEventsFanout(Construct):
    """``OrderEvents`` (``OrderEvents.fifo``): the topic, its subscribers and their queues.

    - the order queue, subscribed with raw message delivery, so the handler sees the
      producer's body exactly as when producers send to the queue;
    - ``OrderNotificationsQueue`` (+ its DLQ), subscribed with a filter policy on the
      ``eventType`` message attribute: it receives only cancellations. Nothing in this
      stack consumes it; it is what a notification service would read.

    Both subscriptions send what SNS cannot deliver to ``OrderEventsDeliveryDLQ``. The
    topic is encrypted with the stack's key and refuses requests without TLS; each queue's
    policy lets only this topic send (``aws:SourceArn``), and the key policy lets SNS use
    the key for the encrypted queues.
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
        self.notifications_dlq = queue_("OrderNotificationsDLQ", retention_period=Duration.days(14))
        for dead_letters, what in (
            (self.delivery_dlq, "what SNS could not deliver to a subscribed queue"),
            (self.notifications_dlq, "notifications the notification service could not handle"),
        ):
            acknowledge(
                dead_letters,
                "Serverless::Serverless-SQSRedrivePolicy",
                f"This is a dead letter queue, for {what}: a DLQ of its own would only move them further away.",
            )
            acknowledge(
                dead_letters,
                "AwsSolutions::AwsSolutions-SQS3",
                f"This is a dead letter queue, for {what}; a queue's DLQ needs no DLQ.",
            )
        self.notifications_queue = queue_(
            "OrderNotificationsQueue",
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.notifications_dlq, max_receive_count=MAX_RECEIVE_COUNT),
        )

        self.topic.add_subscription(
            subscriptions.SqsSubscription(queue, raw_message_delivery=True, dead_letter_queue=self.delivery_dlq)
        )
        self.topic.add_subscription(
            subscriptions.SqsSubscription(
                self.notifications_queue,
                raw_message_delivery=True,
                dead_letter_queue=self.delivery_dlq,
                filter_policy={
                    EVENT_TYPE_ATTRIBUTE: sns.SubscriptionFilter.string_filter(allowlist=list(NOTIFIED_EVENT_TYPES))
                },
            )
        )
