"""The OrderProcessor function, its least-privilege role, its logs and its event source mapping."""

from __future__ import annotations

from aws_cdk import CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import acknowledge, skip_checkov
from infra.queues import MAX_RECEIVE_COUNT

FUNCTION_TIMEOUT = Duration.seconds(30)
BATCHING_WINDOW = Duration.seconds(5)
BATCH_SIZE = 10


def visibility_timeout_for(function_timeout: Duration, batching_window: Duration) -> Duration:
    """AWS's rule: at least 6 x the function timeout plus the batching window.

    The seed's 2 x rule is not enough: the event source mapping retries throttled
    invocations within the visibility window, and a message must not reappear while a
    retry of its batch may still be running.
    """
    return Duration.seconds(6 * function_timeout.to_seconds() + batching_window.to_seconds())


#: PutItem stores new orders (and tombstones); UpdateItem cancels them. Both always carry a
#: condition; the function never reads, deletes or scans.
TABLE_ACTIONS = ("dynamodb:PutItem", "dynamodb:UpdateItem")


class QueueFunction(Construct):
    """A Python function fed by an SQS queue through an event source mapping: Python 3.14 on arm64,
    256 MB, 30 s, X-Ray active, JSON logs in its own encrypted log group, a partial batch response.

    Its role is written by hand instead of ``grantReadWriteData``/managed policies: the function gets
    exactly the actions it uses, on exactly its resources: its queue, its DLQ, the key, its logs,
    and ``statements`` (what its own work needs).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        handler: str,
        description: str,
        code: lambda_.Code,
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        key: kms.IKey,
        environment: dict[str, str],
        statements: list[iam.PolicyStatement],
        batching_window: Duration | None = BATCHING_WINDOW,
        max_concurrency: int,
        reserved_concurrency: int | None,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        event: str,
        reaches: str = "SQS, DynamoDB, X-Ray, Logs",
    ) -> None:
        super().__init__(scope, construct_id)
        self.name, self.event, self.reaches = name, event, reaches
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/lambda/{name}",
            retention=log_retention,
            encryption_key=key,
            removal_policy=removal_policy,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=description,
        )
        self.function = lambda_.Function(
            self,
            f"{name}Fn",
            function_name=name,
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler=handler,
            code=code,
            timeout=FUNCTION_TIMEOUT,
            memory_size=256,
            role=self.role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
            reserved_concurrent_executions=reserved_concurrency,
            environment_encryption=key,
            environment=environment,
        )
        self.event_source_mapping = lambda_.EventSourceMapping(
            self,
            f"{event}QueueMapping",
            target=self.function,
            event_source_arn=queue.queue_arn,
            batch_size=BATCH_SIZE,
            max_batching_window=batching_window,
            report_batch_item_failures=True,
            max_concurrency=max_concurrency,
        )
        self._grant_least_privilege(queue=queue, dead_letter_queue=dead_letter_queue, key=key, own=statements)
        self._acknowledge_rules_that_do_not_apply(reserved_concurrency=reserved_concurrency)
        self._drop_redundant_role_dependency()

    def _grant_least_privilege(
        self, *, queue: sqs.IQueue, dead_letter_queue: sqs.IQueue, key: kms.IKey, own: list[iam.PolicyStatement]
    ) -> None:
        statements = [
            iam.PolicyStatement(
                sid="EventSourceMappingConsumesTheQueue",
                actions=["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                resources=[queue.queue_arn],
            ),
            iam.PolicyStatement(
                sid="BackOffTransientFailures",
                actions=["sqs:ChangeMessageVisibility"],
                resources=[queue.queue_arn],
            ),
            *own,
            iam.PolicyStatement(
                sid="RejectPermanentFailuresToTheDLQ",
                actions=["sqs:SendMessage"],
                resources=[dead_letter_queue.queue_arn],
            ),
            iam.PolicyStatement(
                sid="UseThePipelineKeyForQueuesTableAndEnvironment",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[key.key_arn],
            ),
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            ),
        ]
        policy = iam.Policy(self, "LeastPrivilege", statements=statements)
        self.role.attach_inline_policy(policy)
        # The mapping validates its permissions when it is created.
        self.event_source_mapping.node.add_dependency(policy)

    def _drop_redundant_role_dependency(self) -> None:
        # CDK makes the function depend on its role and the role's default policy; the role
        # dependency is already implied by `Role: Fn::GetAtt`, which cfn-lint flags (W3005).
        function = self.function.node.default_child
        default_policy = self.role.node.try_find_child("DefaultPolicy")
        if isinstance(function, CfnResource) and default_policy is not None:
            policy = default_policy.node.default_child
            if isinstance(policy, CfnResource):
                function.add_override("DependsOn", [Stack.of(self).get_logical_id(policy)])

    def _acknowledge_rules_that_do_not_apply(self, *, reserved_concurrency: int | None) -> None:
        skip_checkov(
            self.function,
            CKV_AWS_116="A function-level DLQ only catches asynchronous invocations; this function is invoked "
            f"synchronously by the SQS event source mapping, whose queue redrives to {self.event}DLQ.",
            CKV_AWS_117=f"The function reaches only public endpoints ({self.reaches}) over TLS with "
            "IAM auth; a VPC would add NAT or endpoint cost and nothing private to reach.",
        )
        if reserved_concurrency is None:
            skip_checkov(
                self.function,
                CKV_AWS_115="dev stage: new accounts' concurrency quota (10) cannot be reserved from; the event "
                "source mapping's MaximumConcurrency caps concurrency instead. prod reserves concurrency.",
            )
        acknowledge(
            self.role,
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            "X-Ray's PutTraceSegments and PutTelemetryRecords (added by Tracing.ACTIVE) support no "
            "resource-level permissions; every other statement names its resource.",
        )
        acknowledge(
            self.function,
            "Serverless::Serverless-LambdaDLQ",
            "A function-level DLQ only catches asynchronous invocations; the event source mapping invokes "
            f"synchronously, so failed orders go to {self.event}DLQ through the queue's redrive policy and the "
            "handler's own DLQ sends.",
        )
        acknowledge(
            self.event_source_mapping,
            "Serverless::Serverless-LambdaEventSourceMappingDestination",
            "On-failure destinations exist only for stream and Kafka sources; for SQS the source queue's "
            f"redrive policy (maxReceiveCount {MAX_RECEIVE_COUNT} -> {self.event}DLQ) is the failure destination.",
        )


class OrderProcessor(QueueFunction):
    """``OrderProcessor``: the order service, fed by ``{event}Queue``, changing Orders conditionally.

    ``name`` and ``event`` make another consumer of the same code package (the EventBridge
    ingress's ``OrderCancellationProcessor``, fed by ``OrderCancelledQueue``): its own role, log
    group, mapping and DLQ; the same Powertools service, so its metrics join the dashboard's.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        table: dynamodb.ITable,
        key: kms.IKey,
        batching_window: Duration | None = BATCHING_WINDOW,
        max_concurrency: int,
        reserved_concurrency: int | None,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        name: str = "OrderProcessor",
        event: str = "OrderCreated",
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            name=name,
            handler="orderflow.handler.lambda_handler",
            description=f"{name}: consume {event}Queue, change Orders conditionally, send to the DLQ",
            code=code,
            queue=queue,
            dead_letter_queue=dead_letter_queue,
            key=key,
            environment={
                "TABLE_NAME": table.table_name,
                "DLQ_URL": dead_letter_queue.queue_url,
                # A cancellation waiting for its order gives up on the last receive before SQS's redrive.
                "MAX_RECEIVE_COUNT": str(MAX_RECEIVE_COUNT),
                # One service, whichever function runs it: its metrics add up on one dashboard.
                "POWERTOOLS_SERVICE_NAME": "order-processor",
                "POWERTOOLS_METRICS_NAMESPACE": "Orderflow",
            },
            statements=[
                iam.PolicyStatement(
                    sid="ChangeOrdersWithConditionalWrites",
                    actions=list(TABLE_ACTIONS),
                    resources=[table.table_arn],
                )
            ],
            batching_window=batching_window,
            max_concurrency=max_concurrency,
            reserved_concurrency=reserved_concurrency,
            log_retention=log_retention,
            removal_policy=removal_policy,
            event=event,
        )
