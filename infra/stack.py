"""OrderProcessingStack: composes and wires the constructs; holds no resource of its own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_lambda as lambda_

from infra.encryption import PipelineKey
from infra.monitoring import PipelineMonitoring
from infra.processor import BATCHING_WINDOW, FUNCTION_TIMEOUT, OrderProcessor, visibility_timeout_for
from infra.queues import OrderQueues
from infra.table import OrdersTable

if TYPE_CHECKING:
    from constructs import Construct

    from infra.config import StageConfig


class OrderProcessingStack(Stack):
    """SQS -> Lambda -> DynamoDB with a DLQ, hardened as the seed's checklist asks."""

    def __init__(
        self, scope: Construct, construct_id: str, *, stage: StageConfig, code: lambda_.Code, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.stage = stage
        key = PipelineKey(self, "Encryption", removal_policy=stage.removal_policy).key
        queues = OrderQueues(
            self,
            "Queues",
            key=key,
            visibility_timeout=visibility_timeout_for(FUNCTION_TIMEOUT, BATCHING_WINDOW),
            removal_policy=stage.removal_policy,
        )
        table = OrdersTable(self, "Orders", key=key, removal_policy=stage.removal_policy).table
        processor = OrderProcessor(
            self,
            "Processor",
            code=code,
            queue=queues.queue,
            dead_letter_queue=queues.dead_letter_queue,
            table=table,
            key=key,
            max_concurrency=stage.max_concurrency,
            reserved_concurrency=stage.reserved_concurrency,
            log_retention=stage.log_retention,
            removal_policy=stage.removal_policy,
        )
        PipelineMonitoring(
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
        CfnOutput(self, "QueueUrl", value=queues.queue.queue_url, description="URL of the OrderCreated SQS queue")
        CfnOutput(self, "TableName", value=table.table_name, description="The Orders DynamoDB table")
        CfnOutput(self, "DLQUrl", value=queues.dead_letter_queue.queue_url, description="URL of the dead letter queue")
