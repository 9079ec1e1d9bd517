"""Rules that send events to encrypted SQS queues, granting nothing more than the sending rules need.

CDK's ``targets.SqsQueue`` drops the ``aws:SourceArn`` condition from the queue policy on a
KMS-encrypted queue (to avoid a cycle through the key) and grants EventBridge the key without
any condition. :class:`QueueTarget` grants nothing: :func:`allow_rules_to_send` adds a queue
statement for the given rules only, and the pipeline key lets EventBridge encrypt for the
account's queues (infra/encryption.py).
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-troubleshooting.html#eb-sqs-encrypted
"""

from __future__ import annotations

import jsii
from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs

#: EventBridge's own retry bounds for a target (its defaults, stated): then the target's DLQ.
#: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html
RETRY_ATTEMPTS = 185
MAX_EVENT_AGE = Duration.hours(24)


def allow_rules_to_send(queue: sqs.IQueue, rules: list[events.Rule], *, sid: str) -> None:
    """The queue's policy lets EventBridge send to it for these rules only (``aws:SourceArn``).

    CDK's ``targets.SqsQueue`` drops that condition on a KMS-encrypted queue (to avoid a cycle
    through the key) and grants EventBridge the key without any condition; :class:`QueueTarget`
    grants nothing, and this statement and the key's (conditioned on the account) replace them.
    """
    queue.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sqs:SendMessage"],
            resources=[queue.queue_arn],
            conditions={"ArnEquals": {"aws:SourceArn": [rule.rule_arn for rule in rules]}},
        )
    )


@jsii.implements(events.IRuleTarget)
class QueueTarget:
    """An SQS target with EventBridge's retry bounds and an optional input path and DLQ, granting nothing."""

    def __init__(
        self, queue: sqs.IQueue, *, input_path: str | None = None, dead_letter_queue: sqs.IQueue | None = None
    ) -> None:
        self.queue, self.input_path, self.dead_letter_queue = queue, input_path, dead_letter_queue

    def bind(self, _rule: events.IRule, _id: str | None = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(
            arn=self.queue.queue_arn,
            input=events.RuleTargetInput.from_event_path(self.input_path) if self.input_path else None,
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self.dead_letter_queue.queue_arn)
            if self.dead_letter_queue
            else None,
            retry_policy=events.CfnRule.RetryPolicyProperty(
                maximum_event_age_in_seconds=MAX_EVENT_AGE.to_seconds(), maximum_retry_attempts=RETRY_ATTEMPTS
            ),
            target_resource=self.queue,
        )
