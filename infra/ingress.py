"""The EventBridge ingress (``-c ingress=eventbridge``): producers put order events on a bus, and
its rules route each event type to a queue and a function of its own.

The tutorial names EventBridge for content-based routing, "routing OrderCreated to one Lambda
and OrderCancelled to another". Each routed type keeps what the SQS ingress has: a queue that
batches for its function, a DLQ with the reason, retries. The rule's target takes the event's
``detail`` only (``InputPath``), so the queue's message body is the producer's order event,
exactly as a producer sends it to the queue directly: one handler serves both ingresses.

Nothing is dropped silently: what the bus cannot deliver to a queue (after EventBridge's
retries) goes to ``OrderIngressDLQ`` with EventBridge's error attributes, and so does an event
whose detail-type no rule routes, whole.
"""

from __future__ import annotations

import jsii
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import acknowledge

BUS_NAME = "OrderIngress"
DLQ_NAME = "OrderIngressDLQ"
#: The detail-types the bus routes, each to the queue named after it (``OrderCreatedQueue``, ...).
ROUTED_EVENTS = ("OrderCreated", "OrderCancelled")
#: The part of the event a queue receives: the producer's order event.
#: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html
TARGET_INPUT_PATH = "$.detail"
#: EventBridge's own retry bounds for a target (its defaults, stated): then the DLQ.
#: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html
RETRY_ATTEMPTS = 185
MAX_EVENT_AGE = Duration.hours(24)


class OrderIngress(Construct):
    """``OrderIngress`` (encrypted with the stack's key), a rule per routed event type, a rule for
    everything else, and ``OrderIngressDLQ``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queues: dict[str, sqs.IQueue],
        key: kms.IKey,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        if sorted(queues) != sorted(ROUTED_EVENTS):
            raise ValueError(f"the ingress routes {', '.join(ROUTED_EVENTS)}: give a queue for each")
        self.bus = events.EventBus(self, "Bus", event_bus_name=BUS_NAME, kms_key=key)
        self.dead_letter_queue = sqs.Queue(
            self,
            DLQ_NAME,
            queue_name=DLQ_NAME,
            retention_period=Duration.days(14),
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            removal_policy=removal_policy,
        )
        for rule in ("Serverless::Serverless-SQSRedrivePolicy", "AwsSolutions::AwsSolutions-SQS3"):
            acknowledge(
                self.dead_letter_queue,
                rule,
                "This is a dead letter queue, for order events the ingress bus could not deliver or route: a DLQ "
                "of its own would only move them further away. It is alarmed on (IngressDlqNotEmpty).",
            )
        self.rules: dict[str, events.Rule] = {}
        for event_type, queue in queues.items():
            self.rules[event_type] = events.Rule(
                self,
                f"Route{event_type}",
                rule_name=f"Route{event_type}",
                description=f"{event_type} events to {event_type}Queue (the detail only: the producer's order event)",
                event_bus=self.bus,
                event_pattern=events.EventPattern(detail_type=[event_type]),
                targets=[_QueueTarget(queue, input_path=TARGET_INPUT_PATH, dead_letter_queue=self.dead_letter_queue)],
            )
            _allow_rules_to_send(queue, [self.rules[event_type]])
        self.unrouted = events.Rule(
            self,
            "Unrouted",
            rule_name="UnroutedOrderEvents",
            description="Events no rule routes (an unknown detail-type), whole, to OrderIngressDLQ: none is dropped",
            event_bus=self.bus,
            event_pattern=events.EventPattern(detail_type=events.Match.anything_but(*ROUTED_EVENTS)),
            targets=[_QueueTarget(self.dead_letter_queue)],
        )
        _allow_rules_to_send(self.dead_letter_queue, [*self.rules.values(), self.unrouted])
        acknowledge(
            self.unrouted,
            "Serverless::Serverless-EventBusDLQ",
            "This rule's target is OrderIngressDLQ itself (events no rule routes): a dead letter queue for the dead "
            "letter queue would only move them further away; delivery is retried 185 times over 24 hours.",
        )
        self._allow_eventbridge_to_use_the_key(key)

    def _allow_eventbridge_to_use_the_key(self, key: kms.IKey) -> None:
        """EventBridge sends to the encrypted queues and DLQ: the key must let it encrypt for them.

        https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-troubleshooting.html#eb-sqs-encrypted
        """
        stack = Stack.of(self)
        # Conditioned on the account only: naming the rules would make the key depend on the rules,
        # which depend on the queues, which depend on the key.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowEventBridgeToSendToTheEncryptedIngressQueues",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )


def _allow_rules_to_send(queue: sqs.IQueue, rules: list[events.Rule]) -> None:
    """The queue's policy lets EventBridge send to it for these rules only (``aws:SourceArn``).

    CDK's ``targets.SqsQueue`` drops that condition on a KMS-encrypted queue (to avoid a cycle
    through the key) and grants EventBridge the key without any condition; :class:`_QueueTarget`
    grants nothing, and this statement and the key's (conditioned on the account) replace them.
    """
    queue.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowOnlyTheIngressRulesToSend",
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sqs:SendMessage"],
            resources=[queue.queue_arn],
            conditions={"ArnEquals": {"aws:SourceArn": [rule.rule_arn for rule in rules]}},
        )
    )


@jsii.implements(events.IRuleTarget)
class _QueueTarget:
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
