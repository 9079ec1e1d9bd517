"""One customer-managed KMS key for the pipeline's data at rest."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


def allow_event_bus_archive(key: kms.IKey, bus_name: str) -> None:
    """Let EventBridge encrypt the archive of the bus ``bus_name`` with ``key``.

    The bus itself gets its statement from ``events.EventBus(kms_key=...)``; an archive's
    statement is added here because ``events.Archive(kms_key=...)`` names the bus by its
    ``Fn::GetAtt`` ARN, and the key and the bus (encrypted with it) would then depend on each
    other. The bus's ARN is built from its name instead, as the bus's own statement does.
    EventBridge encrypts an archive's events with the bus's ARN as encryption context:
    https://docs.aws.amazon.com/eventbridge/latest/userguide/encryption-archives.html
    """
    stack = Stack.of(key)
    bus_arn = f"arn:{stack.partition}:events:{stack.region}:{stack.account}:event-bus/{bus_name}"
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowEventBridgeToEncryptTheOrderEventsArchive",
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo"],
            resources=["*"],
            conditions={"StringEquals": {"kms:EncryptionContext:aws:events:event-bus:arn": bus_arn}},
        )
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            # DescribeKey carries no encryption context: EventBridge checks the key is symmetric.
            sid="AllowEventBridgeToDescribeTheKey",
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["kms:DescribeKey"],
            resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
        )
    )


class PipelineKey(Construct):
    """Encrypts the queues, the table, the function's environment, its logs, the alarm topic and
    the order events bus and its archive.

    A customer-managed key (not the AWS-managed ``alias/aws/sqs``) because CloudWatch must
    publish alarms to the encrypted SNS topic and CloudWatch Logs must encrypt the log
    group: AWS-managed keys cannot grant either service. Rotation is on.
    """

    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        logs_arns = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:*"
        self.key = kms.Key(
            self,
            "Key",
            description="orderflow: queues, Orders table, function environment, logs and alarms",
            enable_key_rotation=True,
            removal_policy=removal_policy,
            pending_window=None,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublishToTheEncryptedTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        # EventBridge rules send to the encrypted queues (the payment queue; with -c ingress=eventbridge
        # the ingress queues): conditioned on the account only, as naming the rules would make the key
        # depend on them, and they on the queues, which depend on the key. Each queue's own policy
        # names the rules that may send to it (infra/routing.py).
        # https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-troubleshooting.html#eb-sqs-encrypted
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowEventBridgeToSendToTheEncryptedQueues",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsToEncryptTheFunctionsLogGroup",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": logs_arns}},
            )
        )
