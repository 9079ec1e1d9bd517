"""The payment service: charges confirmed orders and refunds cancelled ones through an external
payment provider, exactly once (docs/services.md).

``OrderEventsToPayments`` (a rule on the order events bus) sends ``OrderConfirmed`` and
``OrderCancelled``, whole, to ``PaymentQueue`` -> ``PaymentProcessor``. The function keeps each
order's payment in ``Payments``, its Powertools Idempotency records in ``PaymentIdempotency``
(TTL on ``expiration``), reads the provider's API key from Secrets Manager, and publishes
``PaymentCaptured``, ``PaymentDeclined`` and ``PaymentRefunded`` to the same bus (source
``orderflow.payments``). What it cannot handle goes to ``PaymentDLQ``, which is also the rule's
target DLQ: either way a dead letter is the whole order event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.nag import acknowledge
from infra.processor import BATCHING_WINDOW, FUNCTION_TIMEOUT, QueueFunction, visibility_timeout_for
from infra.queues import OrderQueues
from infra.routing import QueueTarget, allow_rules_to_send

if TYPE_CHECKING:
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_logs as logs

#: The order events the payment service consumes (source ``orderflow.orders``).
CONSUMED = ("OrderConfirmed", "OrderCancelled")
#: Idempotency actions Powertools' DynamoDB persistence layer uses:
#: https://docs.powertools.aws.dev/lambda/python/latest/utilities/idempotency/#iam-permissions
IDEMPOTENCY_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
#: What Powertools keeps an event's record for: a redelivery within it is answered from the record.
IDEMPOTENCY_EXPIRY = Duration.hours(1)
#: The secret holding the provider's API key (a name, not a value).
SECRET_NAME = "orderflow/payment-provider-api-key"  # noqa: S105


class PaymentService(Construct):
    """``Payments``, ``PaymentIdempotency``, the API key's secret, ``PaymentQueue``/``PaymentDLQ``,
    the rule from the order events bus, and ``PaymentProcessor``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        bus: events.IEventBus,
        key: kms.IKey,
        api_url: str,
        max_concurrency: int,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.table = service_table(
            self, "PaymentsTable", "Payments", key, removal_policy, sort_key="createdAt", partition_key="orderId"
        )
        self.idempotency_table = service_table(
            self, "IdempotencyTable", "PaymentIdempotency", key, removal_policy, partition_key="id", ttl="expiration"
        )
        self.api_key = secretsmanager.Secret(
            self,
            "ApiKey",
            secret_name=SECRET_NAME,
            description="The payment provider's API key for PaymentProcessor: set it after the first deploy "
            "(docs/deploy.md); the generated value is a placeholder the provider refuses",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(exclude_punctuation=True, password_length=40),
            removal_policy=removal_policy,
        )
        acknowledge(
            self.api_key,
            "AwsSolutions::AwsSolutions-SMG4",
            "A third-party API key: it is rotated at the provider, then put here (docs/operations.md); Secrets "
            "Manager cannot rotate it without a provider-specific rotation function.",
        )
        batching_window = BATCHING_WINDOW
        self.queues = OrderQueues(
            self,
            "Queues",
            key=key,
            visibility_timeout=visibility_timeout_for(FUNCTION_TIMEOUT, batching_window),
            removal_policy=removal_policy,
            event="Payment",
        )
        self.rule = events.Rule(
            self,
            "Route",
            rule_name="OrderEventsToPayments",
            description="OrderConfirmed and OrderCancelled, whole, to PaymentQueue (the payment service)",
            event_bus=bus,
            event_pattern=events.EventPattern(source=["orderflow.orders"], detail_type=list(CONSUMED)),
            targets=[QueueTarget(self.queues.queue, dead_letter_queue=self.queues.dead_letter_queue)],
        )
        allow_rules_to_send(self.queues.queue, [self.rule], sid="AllowOnlyThePaymentRuleToSend")
        allow_rules_to_send(self.queues.dead_letter_queue, [self.rule], sid="AllowThePaymentRuleToDeadLetter")
        self.processor = QueueFunction(
            self,
            "Processor",
            name="PaymentProcessor",
            handler="orderflow.payment_handler.lambda_handler",
            description="PaymentProcessor: consume PaymentQueue, charge and refund through the provider, keep "
            "Payments, publish payment events",
            code=code,
            queue=self.queues.queue,
            dead_letter_queue=self.queues.dead_letter_queue,
            key=key,
            environment={
                "PAYMENTS_TABLE": self.table.table_name,
                "IDEMPOTENCY_TABLE": self.idempotency_table.table_name,
                "DLQ_URL": self.queues.dead_letter_queue.queue_url,
                "EVENT_BUS_NAME": bus.event_bus_name,
                "PAYMENT_API_URL": api_url,
                "PAYMENT_API_KEY_SECRET": self.api_key.secret_arn,
                "IDEMPOTENCY_EXPIRY_SECONDS": str(int(IDEMPOTENCY_EXPIRY.to_seconds())),
                "POWERTOOLS_SERVICE_NAME": "payment-processor",
                "POWERTOOLS_METRICS_NAMESPACE": "Orderflow",
            },
            statements=[
                iam.PolicyStatement(
                    sid="KeepPaymentsWithConditionalWrites",
                    actions=["dynamodb:PutItem"],
                    resources=[self.table.table_arn],
                ),
                iam.PolicyStatement(
                    sid="KeepIdempotencyRecords",
                    actions=list(IDEMPOTENCY_ACTIONS),
                    resources=[self.idempotency_table.table_arn],
                ),
                iam.PolicyStatement(
                    sid="ReadTheProviderApiKey",
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[self.api_key.secret_arn],
                ),
                iam.PolicyStatement(
                    sid="PublishPaymentEvents",
                    actions=["events:PutEvents"],
                    resources=[bus.event_bus_arn],
                ),
            ],
            batching_window=batching_window,
            max_concurrency=max_concurrency,
            # The provider's rate limit, not Lambda's, bounds this service: the mapping's concurrency caps it.
            reserved_concurrency=None,
            log_retention=log_retention,
            removal_policy=removal_policy,
            event="Payment",
            reaches="SQS, DynamoDB, EventBridge, Secrets Manager, X-Ray, Logs, the payment provider's HTTPS API",
        )


def service_table(
    scope: Construct,
    construct_id: str,
    name: str,
    key: kms.IKey,
    removal_policy: RemovalPolicy,
    *,
    partition_key: str,
    sort_key: str | None = None,
    ttl: str | None = None,
) -> dynamodb.Table:
    """A service's own table: on-demand, PITR, encrypted with the stack key, deletion protection where
    the stage retains (the payment and notification services' tables and their idempotency records)."""
    return dynamodb.Table(
        scope,
        construct_id,
        table_name=name,
        partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name=sort_key, type=dynamodb.AttributeType.STRING) if sort_key else None,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        time_to_live_attribute=ttl,
        encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
        encryption_key=key,
        deletion_protection=removal_policy == RemovalPolicy.RETAIN,
        removal_policy=removal_policy,
    )
