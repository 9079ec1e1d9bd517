"""OrderProcessingStack: composes and wires the constructs; holds no resource of its own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_lambda as lambda_

from infra.config import Topology
from infra.encryption import PipelineKey
from infra.fanout import OrderEventsFanout
from infra.ingress import OrderIngress
from infra.monitoring import PipelineMonitoring
from infra.notifications import NotificationService
from infra.outbox import OrderOutbox
from infra.payments import PaymentService
from infra.processor import BATCHING_WINDOW, FUNCTION_TIMEOUT, OrderProcessor, visibility_timeout_for
from infra.queues import OrderQueues
from infra.table import OrdersTable

if TYPE_CHECKING:
    from aws_cdk import aws_dynamodb as dynamodb
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_sqs as sqs
    from constructs import Construct

    from infra.config import StageConfig


class OrderProcessingStack(Stack):
    """SQS -> Lambda -> DynamoDB with a DLQ, hardened as the seed's checklist asks; the table's
    stream publishes each stored transition to the order events bus (the outbox).

    ``topology`` adds the tutorial's growth paths: FIFO queues (one group per order), an
    SNS topic in front of the queue (fan-out), or an EventBridge bus whose rules route
    ``OrderCreated`` and ``OrderCancelled`` to a queue and a function each (ingress). The
    payment and notification services, fed by the order events bus, are in every topology.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: StageConfig,
        code: lambda_.Code,
        topology: Topology | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.stage = stage
        self.topology = topology = topology or Topology()
        key = PipelineKey(self, "Encryption", removal_policy=stage.removal_policy).key
        # A FIFO mapping has no batching window (AWS allows none on FIFO queues).
        batching_window = None if topology.fifo else BATCHING_WINDOW
        table = OrdersTable(self, "Orders", key=key, removal_policy=stage.removal_policy).table
        queues, processor = self._consumer(
            "", code=code, key=key, table=table, batching_window=batching_window, fifo=topology.fifo
        )
        monitoring = PipelineMonitoring(
            self,
            "Monitoring",
            queue=queues.queue,
            dead_letter_queue=queues.dead_letter_queue,
            function=processor.function,
            function_timeout=FUNCTION_TIMEOUT,
            table=table,
            key=key,
            max_message_age=stage.max_message_age,
            alarm_email=stage.alarm_email,
        )
        outbox = OrderOutbox(
            self,
            "Outbox",
            table=table,
            key=key,
            archive_retention=stage.event_archive_retention,
            removal_policy=stage.removal_policy,
        )
        outbox_alarm = monitoring.alarm_on_dead_letters(
            "OrderOutboxDLQ",
            outbox.dead_letter_queue,
            "The outbox pipe could not publish stored order transitions to OrderDomainEvents: OrderOutboxDLQ holds "
            "their stream positions (shard, sequence numbers); the items are in Orders (docs/operations.md).",
        )
        monitoring.add_alarm_widget("Order events outbox: records not published (OrderOutboxDLQ)", outbox_alarm)
        CfnOutput(self, "QueueUrl", value=queues.queue.queue_url, description="URL of the OrderCreated SQS queue")
        CfnOutput(self, "TableName", value=table.table_name, description="The Orders DynamoDB table")
        CfnOutput(self, "DLQUrl", value=queues.dead_letter_queue.queue_url, description="URL of the dead letter queue")
        CfnOutput(self, "OrderEventsBusName", value=outbox.bus.event_bus_name, description="The order events bus")
        CfnOutput(self, "OrderEventsBusArn", value=outbox.bus.event_bus_arn, description="ARN of the order events bus")
        CfnOutput(
            self,
            "OutboxDLQUrl",
            value=outbox.dead_letter_queue.queue_url,
            description="What the outbox pipe could not publish (stream positions, not the records)",
        )
        self._payments(code=code, key=key, outbox=outbox, monitoring=monitoring)
        self._notifications(code=code, key=key, orders=table, outbox=outbox, monitoring=monitoring)
        if topology.eventbridge:
            self._ingress(
                code=code,
                key=key,
                table=table,
                created_queue=queues.queue,
                monitoring=monitoring,
                batching_window=batching_window,
            )
        if topology.fanout:
            fanout = OrderEventsFanout(
                self, "Fanout", queue=queues.queue, key=key, fifo=topology.fifo, removal_policy=stage.removal_policy
            )
            monitoring.alarm_on_dead_letters(
                "DeliveryDlqNotEmpty",
                fanout.delivery_dlq,
                "SNS could not deliver order events to a subscribed queue (a key or queue policy problem): "
                "they are in OrderEventsDeliveryDLQ.",
            )
            CfnOutput(self, "TopicArn", value=fanout.topic.topic_arn, description="The OrderEvents topic: publish here")

    def _consumer(
        self,
        prefix: str,
        *,
        code: lambda_.Code,
        key: kms.IKey,
        table: dynamodb.ITable,
        batching_window: Duration | None,
        event: str = "OrderCreated",
        name: str = "OrderProcessor",
        fifo: bool = False,
    ) -> tuple[OrderQueues, OrderProcessor]:
        """A queue (``{event}Queue``), its DLQ and the function that consumes it (``{prefix}Queues``,
        ``{prefix}Processor``: the default consumer's construct ids are the stack's first ones)."""
        stage = self.stage
        queues = OrderQueues(
            self,
            f"{prefix}Queues",
            key=key,
            visibility_timeout=visibility_timeout_for(FUNCTION_TIMEOUT, batching_window or Duration.seconds(0)),
            removal_policy=stage.removal_policy,
            fifo=fifo,
            event=event,
        )
        processor = OrderProcessor(
            self,
            f"{prefix}Processor",
            code=code,
            queue=queues.queue,
            dead_letter_queue=queues.dead_letter_queue,
            table=table,
            key=key,
            batching_window=batching_window,
            max_concurrency=stage.max_concurrency,
            reserved_concurrency=stage.reserved_concurrency,
            log_retention=stage.log_retention,
            removal_policy=stage.removal_policy,
            name=name,
            event=event,
        )
        return queues, processor

    def _payments(
        self, *, code: lambda_.Code, key: kms.IKey, outbox: OrderOutbox, monitoring: PipelineMonitoring
    ) -> None:
        """The payment service, fed by the order events bus (every topology has it)."""
        stage = self.stage
        payments = PaymentService(
            self,
            "Payments",
            code=code,
            bus=outbox.bus,
            key=key,
            api_url=stage.payment_api_url,
            max_concurrency=stage.max_concurrency,
            log_retention=stage.log_retention,
            removal_policy=stage.removal_policy,
        )
        monitoring.monitor_consumer(
            "Payment",
            queue=payments.queues.queue,
            dead_letter_queue=payments.queues.dead_letter_queue,
            function=payments.processor.function,
            function_timeout=FUNCTION_TIMEOUT,
            max_message_age=stage.max_message_age,
            dlq_description="Order events the payment service could not handle are in PaymentDLQ, whole, with their "
            "reason: docs/operations.md, 'The payment DLQ' (orderflow dlq list --dlq-url <PaymentDLQ> --log-group "
            "/aws/lambda/PaymentProcessor).",
        )
        monitoring.add_alarm_widget(
            "Payments: events not handled (PaymentDLQ)", monitoring.alarms["PaymentDlqNotEmpty"]
        )
        CfnOutput(
            self, "PaymentQueueUrl", value=payments.queues.queue.queue_url, description="The payment service's queue"
        )
        CfnOutput(
            self,
            "PaymentDLQUrl",
            value=payments.queues.dead_letter_queue.queue_url,
            description="Order events the payment service could not handle, whole, with the reason",
        )
        CfnOutput(self, "PaymentsTableName", value=payments.table.table_name, description="Each order's payment")
        CfnOutput(
            self,
            "PaymentApiKeySecretArn",
            value=payments.api_key.secret_arn,
            description="Put the payment provider's API key here after the first deploy",
        )

    def _notifications(
        self,
        *,
        code: lambda_.Code,
        key: kms.IKey,
        orders: dynamodb.ITable,
        outbox: OrderOutbox,
        monitoring: PipelineMonitoring,
    ) -> None:
        """The notification service, fed by the order events bus (every topology has it)."""
        stage = self.stage
        notifications = NotificationService(
            self,
            "Notifications",
            code=code,
            bus=outbox.bus,
            orders=orders,
            key=key,
            sender_email=stage.sender_email,
            max_concurrency=stage.max_concurrency,
            log_retention=stage.log_retention,
            removal_policy=stage.removal_policy,
        )
        monitoring.monitor_consumer(
            "Notification",
            queue=notifications.queues.queue,
            dead_letter_queue=notifications.queues.dead_letter_queue,
            function=notifications.notifier.function,
            function_timeout=FUNCTION_TIMEOUT,
            max_message_age=stage.max_message_age,
            dlq_description="Events the notification service could not handle are in NotificationDLQ, whole, with "
            "their reason (no e-mail was sent for them): orderflow dlq list --dlq-url <NotificationDLQ> --log-group "
            "/aws/lambda/Notifier.",
        )
        monitoring.add_alarm_widget(
            "Notifications: events not handled (NotificationDLQ)", monitoring.alarms["NotificationDlqNotEmpty"]
        )
        uncertain = monitoring.alarm_on_metric(
            "EmailsUncertain",
            "EmailsUncertain",
            service="notifier",
            threshold=1,
            description="The Notifier could not tell whether SES sent an e-mail (an attempt interrupted after "
            "asking SES) and did not send it again: find the event ids in /aws/lambda/Notifier (level ERROR) "
            "and check with the customer (docs/operations.md, 'Uncertain e-mails').",
        )
        monitoring.add_alarm_widget("Notifications: e-mails perhaps not sent (EmailsUncertain)", uncertain)
        CfnOutput(
            self,
            "NotificationQueueUrl",
            value=notifications.queues.queue.queue_url,
            description="The notification service's queue",
        )
        CfnOutput(
            self,
            "NotificationDLQUrl",
            value=notifications.queues.dead_letter_queue.queue_url,
            description="Events the notification service could not handle, whole, with the reason",
        )
        CfnOutput(
            self,
            "NotificationsTableName",
            value=notifications.table.table_name,
            description="Each e-mail claimed and sent, by order and event",
        )
        CfnOutput(
            self,
            "SenderEmail",
            value=notifications.sender_email,
            description="The From address: an SES identity, verified by the link SES mails it (docs/deploy.md)",
        )

    def _ingress(
        self,
        *,
        code: lambda_.Code,
        key: kms.IKey,
        table: dynamodb.ITable,
        created_queue: sqs.IQueue,
        monitoring: PipelineMonitoring,
        batching_window: Duration | None,
    ) -> None:
        """``-c ingress=eventbridge``: the bus, and a cancellations consumer (queue, DLQ, function, alarms)."""
        stage = self.stage
        cancellations, processor = self._consumer(
            "Cancellation",
            code=code,
            key=key,
            table=table,
            batching_window=batching_window,
            event="OrderCancelled",
            name="OrderCancellationProcessor",
        )
        monitoring.monitor_consumer(
            "Cancellation",
            queue=cancellations.queue,
            dead_letter_queue=cancellations.dead_letter_queue,
            function=processor.function,
            function_timeout=FUNCTION_TIMEOUT,
            max_message_age=stage.max_message_age,
        )
        ingress = OrderIngress(
            self,
            "Ingress",
            queues={"OrderCreated": created_queue, "OrderCancelled": cancellations.queue},
            key=key,
            removal_policy=stage.removal_policy,
        )
        alarm = monitoring.alarm_on_dead_letters(
            "IngressDlqNotEmpty",
            ingress.dead_letter_queue,
            "OrderIngress could not deliver order events to their queue, or no rule routes their detail-type: "
            "they are in OrderIngressDLQ (EventBridge's ERROR_CODE and ERROR_MESSAGE attributes say why).",
        )
        monitoring.add_alarm_widget("Order ingress: events not delivered or not routed (OrderIngressDLQ)", alarm)
        CfnOutput(self, "IngressBusName", value=ingress.bus.event_bus_name, description="Producers put events here")
        CfnOutput(self, "IngressBusArn", value=ingress.bus.event_bus_arn, description="ARN of the ingress bus")
        CfnOutput(
            self,
            "IngressDLQUrl",
            value=ingress.dead_letter_queue.queue_url,
            description="Order events the ingress bus could not deliver or route",
        )
        CfnOutput(
            self,
            "CancellationQueueUrl",
            value=cancellations.queue.queue_url,
            description="URL of the OrderCancelled SQS queue",
        )
        CfnOutput(
            self,
            "CancellationDLQUrl",
            value=cancellations.dead_letter_queue.queue_url,
            description="URL of the cancellations' dead letter queue",
        )
