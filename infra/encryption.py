"""One customer-managed KMS key for the pipeline's data at rest."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


class PipelineKey(Construct):
    """Encrypts the queues, the table, the function's environment, its logs and the alarm topic.

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
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsToEncryptTheFunctionsLogGroup",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": logs_arns}},
            )
        )
