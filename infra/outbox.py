"""The transactional outbox: the Orders table's stream -> an EventBridge Pipe -> the order events bus.

The handler writes only its table; each stored transition is one stream record, and the pipe
turns the records that carry a ``domainEvent`` into events on ``OrderDomainEvents``. Nothing
writes twice, so a crash cannot publish an event whose write failed or lose one whose write
succeeded (docs/decisions.md, "The outbox").
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_pipes as pipes
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.encryption import allow_event_bus_archive
from infra.nag import acknowledge

BUS_NAME = "OrderDomainEvents"
PIPE_NAME = "OrderOutbox"
DLQ_NAME = "OrderOutboxDLQ"
#: The ``source`` of every event the pipe publishes; the archive keeps exactly these.
EVENT_SOURCE = "orderflow.orders"
#: A dynamic path parameter: the event's detail-type is the stored item's ``domainEvent``.
DETAIL_TYPE_PATH = "$.dynamodb.NewImage.domainEvent.S"

#: Passes only inserts and modifications whose new image carries a domain event: the
#: AWAITING_ORDER tombstone (no ``domainEvent``) and TTL deletions (REMOVE) publish nothing.
#: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-event-filtering.html
OUTBOX_FILTER_PATTERN: dict[str, Any] = {
    "eventName": ["INSERT", "MODIFY"],
    "dynamodb": {"NewImage": {"domainEvent": {"S": [{"exists": True}]}}},
}

#: The event's detail. ``<$.path>`` placeholders are filled from the stream record: inside
#: quotes as a string's content, outside quotes as the value's JSON. A stream record carries
#: numbers as strings (``{"N": "2"}``), so ``version`` and ``totalAmount`` arrive as strings
#: either way: both are quoted, and ``totalAmount`` keeps the table's exact decimal text.
#: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-input-transformation.html
OUTBOX_INPUT_TEMPLATE = """{
  "schemaVersion": 1,
  "eventId": "<$.dynamodb.NewImage.eventId.S>",
  "orderId": "<$.dynamodb.NewImage.orderId.S>",
  "createdAt": "<$.dynamodb.NewImage.createdAt.S>",
  "customerId": "<$.dynamodb.NewImage.customerId.S>",
  "status": "<$.dynamodb.NewImage.status.S>",
  "totalAmount": "<$.dynamodb.NewImage.totalAmount.N>",
  "currency": "<$.dynamodb.NewImage.currency.S>",
  "version": "<$.dynamodb.NewImage.version.N>",
  "occurredAt": "<$.dynamodb.NewImage.statusChangedAt.S>"
}"""

#: Records per batch, as the ESM's; no batching window: a stored transition is published
#: as soon as its record arrives.
BATCH_SIZE = 10
#: Then the record's metadata goes to the DLQ. No age limit (-1): the stream's own 24 h
#: retention bounds how long a record can wait.
MAXIMUM_RETRY_ATTEMPTS = 10


class OrderOutbox(Construct):
    """``OrderDomainEvents`` (bus and archive), ``OrderOutbox`` (pipe, role) and ``OrderOutboxDLQ``.

    The bus and its archive are encrypted with the stack's key; the DLQ too, and it refuses
    requests without TLS. The pipe's role may read only this table's stream, publish only to
    this bus and send only to this DLQ.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        key: kms.IKey,
        archive_retention: Duration,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stream_arn = table.table_stream_arn
        if stream_arn is None:
            raise ValueError("the outbox reads the table's stream: create the table with a stream (NEW_AND_OLD_IMAGES)")
        stack = Stack.of(self)
        self.bus = events.EventBus(self, "Bus", event_bus_name=BUS_NAME, kms_key=key)
        # Not bus.archive(), which drops kms_key; not events.Archive(kms_key=key) either, whose
        # key statement makes the key and the bus depend on each other (see allow_event_bus_archive).
        self.archive = events.Archive(
            self,
            "Archive",
            source_event_bus=self.bus,
            archive_name=BUS_NAME,
            description="Every order event, for replaying to a consumer that had a bug (docs/operations.md)",
            event_pattern=events.EventPattern(source=[EVENT_SOURCE]),
            retention=archive_retention,
        )
        archive = self.archive.node.default_child
        if not isinstance(archive, events.CfnArchive):
            raise TypeError("events.Archive no longer wraps a CfnArchive")
        archive.kms_key_identifier = key.key_arn
        allow_event_bus_archive(key, BUS_NAME)
        self.dead_letter_queue = sqs.Queue(
            self,
            DLQ_NAME,
            queue_name=DLQ_NAME,
            # Standard in every topology: the pipe sends its failure records with no message group id.
            retention_period=Duration.days(14),
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            removal_policy=removal_policy,
        )
        for rule, reason in (
            (
                "Serverless::Serverless-SQSRedrivePolicy",
                "This is the outbox pipe's dead letter queue: it holds the stream positions of records the pipe "
                "could not publish; a DLQ of its own would only move them further away.",
            ),
            (
                "AwsSolutions::AwsSolutions-SQS3",
                "This is the outbox pipe's dead letter queue (alarmed on: OrderOutboxDLQ); a DLQ needs no DLQ.",
            ),
        ):
            acknowledge(self.dead_letter_queue, rule, reason)

        pipe_arn = f"arn:{stack.partition}:pipes:{stack.region}:{stack.account}:pipe/{PIPE_NAME}"
        self.role = iam.Role(
            self,
            "PipeRole",
            assumed_by=iam.ServicePrincipal(
                "pipes.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": stack.account, "aws:SourceArn": pipe_arn}},
            ),
            description="OrderOutbox pipe: read the Orders stream, publish to OrderDomainEvents, DLQ what fails",
        )
        policy = iam.Policy(
            self,
            "PipeLeastPrivilege",
            statements=[
                iam.PolicyStatement(
                    sid="ReadTheOrdersStream",
                    actions=[
                        "dynamodb:DescribeStream",
                        "dynamodb:GetRecords",
                        "dynamodb:GetShardIterator",
                        "dynamodb:ListStreams",
                    ],
                    resources=[stream_arn],
                ),
                iam.PolicyStatement(
                    sid="PublishToTheOrderEventsBus",
                    actions=["events:PutEvents"],
                    resources=[self.bus.event_bus_arn],
                ),
                iam.PolicyStatement(
                    sid="SendWhatCannotBePublishedToTheDLQ",
                    actions=["sqs:SendMessage"],
                    resources=[self.dead_letter_queue.queue_arn],
                ),
                iam.PolicyStatement(
                    # Decrypt: the stream's records are encrypted with the table's key; both:
                    # SQS's server-side encryption of what the pipe sends to the DLQ.
                    sid="UseThePipelineKeyForTheStreamAndTheDLQ",
                    actions=["kms:Decrypt", "kms:GenerateDataKey"],
                    resources=[key.key_arn],
                ),
            ],
        )
        self.role.attach_inline_policy(policy)

        self.pipe = pipes.CfnPipe(
            self,
            "Pipe",
            name=PIPE_NAME,
            description="Transactional outbox: each stored order transition -> one event on OrderDomainEvents",
            role_arn=self.role.role_arn,
            source=stream_arn,
            source_parameters=pipes.CfnPipe.PipeSourceParametersProperty(
                dynamo_db_stream_parameters=pipes.CfnPipe.PipeSourceDynamoDBStreamParametersProperty(
                    starting_position="LATEST",
                    batch_size=BATCH_SIZE,
                    maximum_batching_window_in_seconds=0,
                    maximum_retry_attempts=MAXIMUM_RETRY_ATTEMPTS,
                    maximum_record_age_in_seconds=-1,
                    on_partial_batch_item_failure="AUTOMATIC_BISECT",
                    dead_letter_config=pipes.CfnPipe.DeadLetterConfigProperty(arn=self.dead_letter_queue.queue_arn),
                ),
                filter_criteria=pipes.CfnPipe.FilterCriteriaProperty(
                    filters=[pipes.CfnPipe.FilterProperty(pattern=json.dumps(OUTBOX_FILTER_PATTERN))]
                ),
            ),
            target=self.bus.event_bus_arn,
            target_parameters=pipes.CfnPipe.PipeTargetParametersProperty(
                event_bridge_event_bus_parameters=pipes.CfnPipe.PipeTargetEventBridgeEventBusParametersProperty(
                    source=EVENT_SOURCE,
                    detail_type=DETAIL_TYPE_PATH,
                ),
                input_template=OUTBOX_INPUT_TEMPLATE,
            ),
            desired_state="RUNNING",
        )
        # Pipes checks its role's permissions when the pipe is created.
        self.pipe.node.add_dependency(policy)
