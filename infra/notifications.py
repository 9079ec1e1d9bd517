"""The notification service: e-mails the customer when a payment is captured or refunded and when
an order is cancelled, at most once per event (docs/services.md).

``DomainEventsToNotifications`` (a rule on the order events bus) sends ``OrderCancelled`` (source
``orderflow.orders``), ``PaymentCaptured`` and ``PaymentRefunded`` (source ``orderflow.payments``),
whole, to ``NotificationQueue`` -> ``Notifier``. The function reads the order from ``Orders``,
claims each e-mail in ``Notifications`` (one item per event, TTL on ``ttl``), keeps its Powertools
Idempotency records in ``NotifierIdempotency`` (TTL on ``expiration``) and sends through SES v2 as
the stage's sender address, an SES email identity in this stack. What it cannot handle goes to
``NotificationDLQ``, which is also the rule's target DLQ: either way a dead letter is the whole event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ses as ses
from constructs import Construct

from infra.payments import IDEMPOTENCY_ACTIONS, IDEMPOTENCY_EXPIRY, service_table
from infra.processor import BATCHING_WINDOW, FUNCTION_TIMEOUT, QueueFunction, visibility_timeout_for
from infra.queues import OrderQueues
from infra.routing import QueueTarget, allow_rules_to_send

if TYPE_CHECKING:
    from aws_cdk import RemovalPolicy
    from aws_cdk import aws_dynamodb as dynamodb
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_logs as logs

#: The domain events the notification service e-mails about, by source.
CONSUMED = {
    "orderflow.orders": ("OrderCancelled",),
    "orderflow.payments": ("PaymentCaptured", "PaymentRefunded"),
}
#: What the Notifier does with its claims in ``Notifications``: claim (conditional put), mark sent,
#: release a claim whose send failed so a retry may send.
NOTIFICATIONS_ACTIONS = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
#: SES v2 ``SendEmail`` with raw content is authorized as both actions, on the sender identity.
#: https://docs.aws.amazon.com/ses/latest/dg/control-user-access.html
SEND_ACTIONS = ("ses:SendEmail", "ses:SendRawEmail")


class NotificationService(Construct):
    """``Notifications``, ``NotifierIdempotency``, the sender's SES identity, ``NotificationQueue``/
    ``NotificationDLQ``, the rule from the order events bus, and ``Notifier``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        bus: events.IEventBus,
        orders: dynamodb.ITable,
        key: kms.IKey,
        sender_email: str,
        max_concurrency: int,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.sender_email = sender_email
        self.table = service_table(
            self,
            "NotificationsTable",
            "Notifications",
            key,
            removal_policy,
            partition_key="orderId",
            sort_key="eventId",
            ttl="ttl",
        )
        self.idempotency_table = service_table(
            self, "IdempotencyTable", "NotifierIdempotency", key, removal_policy, partition_key="id", ttl="expiration"
        )
        # SES mails this address a link: nothing is sent until it is clicked (docs/deploy.md).
        self.identity = ses.EmailIdentity(self, "Sender", identity=ses.Identity.email(sender_email))
        batching_window = BATCHING_WINDOW
        self.queues = OrderQueues(
            self,
            "Queues",
            key=key,
            visibility_timeout=visibility_timeout_for(FUNCTION_TIMEOUT, batching_window),
            removal_policy=removal_policy,
            event="Notification",
        )
        self.rule = events.Rule(
            self,
            "Route",
            rule_name="DomainEventsToNotifications",
            description="OrderCancelled, PaymentCaptured and PaymentRefunded, whole, to NotificationQueue "
            "(the notification service)",
            event_bus=bus,
            event_pattern=events.EventPattern(
                source=list(CONSUMED),
                detail_type=[detail_type for detail_types in CONSUMED.values() for detail_type in detail_types],
            ),
            targets=[QueueTarget(self.queues.queue, dead_letter_queue=self.queues.dead_letter_queue)],
        )
        allow_rules_to_send(self.queues.queue, [self.rule], sid="AllowOnlyTheNotificationRuleToSend")
        allow_rules_to_send(self.queues.dead_letter_queue, [self.rule], sid="AllowTheNotificationRuleToDeadLetter")
        self.notifier = QueueFunction(
            self,
            "Notifier",
            name="Notifier",
            handler="orderflow.notifier_handler.lambda_handler",
            description="Notifier: consume NotificationQueue, e-mail the customer through SES at most once per "
            "event, keep Notifications",
            code=code,
            queue=self.queues.queue,
            dead_letter_queue=self.queues.dead_letter_queue,
            key=key,
            environment={
                "ORDERS_TABLE": orders.table_name,
                "NOTIFICATIONS_TABLE": self.table.table_name,
                "IDEMPOTENCY_TABLE": self.idempotency_table.table_name,
                "DLQ_URL": self.queues.dead_letter_queue.queue_url,
                "SENDER_EMAIL": sender_email,
                "IDEMPOTENCY_EXPIRY_SECONDS": str(int(IDEMPOTENCY_EXPIRY.to_seconds())),
                "POWERTOOLS_SERVICE_NAME": "notifier",
                "POWERTOOLS_METRICS_NAMESPACE": "Orderflow",
            },
            statements=[
                iam.PolicyStatement(
                    sid="ReadTheOrder",
                    actions=["dynamodb:GetItem"],
                    resources=[orders.table_arn],
                ),
                iam.PolicyStatement(
                    sid="ClaimAndRecordEachEmail",
                    actions=list(NOTIFICATIONS_ACTIONS),
                    resources=[self.table.table_arn],
                ),
                iam.PolicyStatement(
                    sid="KeepIdempotencyRecords",
                    actions=list(IDEMPOTENCY_ACTIONS),
                    resources=[self.idempotency_table.table_arn],
                ),
                iam.PolicyStatement(
                    sid="SendAsTheSenderIdentity",
                    actions=list(SEND_ACTIONS),
                    resources=[self.identity.email_identity_arn],
                ),
            ],
            batching_window=batching_window,
            max_concurrency=max_concurrency,
            # SES's sending rate, not Lambda's, bounds this service: the mapping's concurrency caps it.
            reserved_concurrency=None,
            log_retention=log_retention,
            removal_policy=removal_policy,
            event="Notification",
            reaches="SQS, DynamoDB, SES, X-Ray, Logs",
        )
