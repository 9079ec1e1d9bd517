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

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import acknowledge
from infra.routing import QueueTarget, allow_rules_to_send

BUS_NAME = "OrderIngress"
DLQ_NAME = "OrderIngressDLQ"
#: The detail-types the bus routes, each to the queue named after it (``OrderCreatedQueue``, ...).
ROUTED_EVENTS = ("OrderCreated", "OrderCancelled")
#: The part of the event a queue receives: the producer's order event.
#: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html
TARGET_INPUT_PATH = "$.detail"


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
                targets=[QueueTarget(queue, input_path=TARGET_INPUT_PATH, dead_letter_queue=self.dead_letter_queue)],
            )
            allow_rules_to_send(queue, [self.rules[event_type]], sid="AllowOnlyTheIngressRulesToSend")
        self.unrouted = events.Rule(
            self,
            "Unrouted",
            rule_name="UnroutedOrderEvents",
            description="Events no rule routes (an unknown detail-type), whole, to OrderIngressDLQ: none is dropped",
            event_bus=self.bus,
            event_pattern=events.EventPattern(detail_type=events.Match.anything_but(*ROUTED_EVENTS)),
            targets=[QueueTarget(self.dead_letter_queue)],
        )
        allow_rules_to_send(
            self.dead_letter_queue, [*self.rules.values(), self.unrouted], sid="AllowOnlyTheIngressRulesToSend"
        )
        acknowledge(
            self.unrouted,
            "Serverless::Serverless-EventBusDLQ",
            "This rule's target is OrderIngressDLQ itself (events no rule routes): a dead letter queue for the dead "
            "letter queue would only move them further away; delivery is retried 185 times over 24 hours.",
        )
