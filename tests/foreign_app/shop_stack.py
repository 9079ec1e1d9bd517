"""A small shop, as its own team would write it: orders come in on a queue, an intake function
accepts them onto an EventBridge bus, a rule routes accepted orders to a shipping queue, and a
shipper function records each shipment in a table (with a stream).

Nothing here knows about orderflow: no explicit resource names (CloudFormation generates them),
its own KMS key, log group, alarm, topic and dashboard. A pipe (EventBridge Pipes, CloudFormation's
resource: the CDK has no stable construct for it) publishes each new shipment from the table's
stream to the bus, and a second rule sends those to a notifications queue.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_pipes as pipes
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs

if TYPE_CHECKING:
    from constructs import Construct

FUNCTIONS = Path(__file__).resolve().parent / "functions"
#: What the intake puts on the bus, and the rule routes to shipping.
SOURCE = "shop.intake"
DETAIL_TYPE = "OrderAccepted"
#: What the pipe from the shipments table's stream puts on the bus, routed to the notifications queue.
SHIPMENTS_SOURCE = "shop.shipments"


class ShopStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        key = kms.Key(self, "ShopKey", enable_key_rotation=True, removal_policy=RemovalPolicy.DESTROY)
        dead_letters = sqs.Queue(self, "OrdersDLQ", encryption=sqs.QueueEncryption.KMS, encryption_master_key=key)
        orders = sqs.Queue(
            self,
            "Orders",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            visibility_timeout=Duration.seconds(90),
            dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letters, max_receive_count=3),
        )
        shipping = sqs.Queue(self, "Shipping", visibility_timeout=Duration.seconds(90))
        bus = events.EventBus(self, "ShopBus")
        events.Rule(
            self,
            "AcceptedToShipping",
            event_bus=bus,
            event_pattern=events.EventPattern(source=[SOURCE], detail_type=[DETAIL_TYPE]),
            targets=[targets.SqsQueue(shipping)],
        )
        shipments = dynamodb.Table(
            self,
            "Shipments",
            partition_key=dynamodb.Attribute(name="orderId", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            stream=dynamodb.StreamViewType.NEW_IMAGE,
            removal_policy=RemovalPolicy.DESTROY,
        )
        notifications = sqs.Queue(self, "Notifications")
        events.Rule(
            self,
            "ShipmentsToNotifications",
            event_bus=bus,
            event_pattern=events.EventPattern(source=[SHIPMENTS_SOURCE]),
            targets=[targets.SqsQueue(notifications)],
        )
        pipe_role = iam.Role(self, "ShipmentsPipeRole", assumed_by=iam.ServicePrincipal("pipes.amazonaws.com"))
        shipments.grant_stream_read(pipe_role)
        bus.grant_put_events_to(pipe_role)
        pipes.CfnPipe(
            self,
            "ShipmentsPipe",
            role_arn=pipe_role.role_arn,
            source=shipments.table_stream_arn or "",
            source_parameters=pipes.CfnPipe.PipeSourceParametersProperty(
                dynamo_db_stream_parameters=pipes.CfnPipe.PipeSourceDynamoDBStreamParametersProperty(
                    starting_position="LATEST", batch_size=1
                ),
                filter_criteria=pipes.CfnPipe.FilterCriteriaProperty(
                    filters=[pipes.CfnPipe.FilterProperty(pattern='{"eventName": ["INSERT"]}')]
                ),
            ),
            target=bus.event_bus_arn,
            target_parameters=pipes.CfnPipe.PipeTargetParametersProperty(
                event_bridge_event_bus_parameters=pipes.CfnPipe.PipeTargetEventBridgeEventBusParametersProperty(
                    source=SHIPMENTS_SOURCE, detail_type="ShipmentRecorded"
                )
            ),
        ).node.add_dependency(pipe_role)

        intake = lambda_.Function(
            self,
            "Intake",
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler="intake.handler",
            code=lambda_.Code.from_asset(str(FUNCTIONS / "intake")),
            timeout=Duration.seconds(10),
            environment={"BUS_NAME": bus.event_bus_name},
        )
        bus.grant_put_events_to(intake)
        intake.add_event_source(sources.SqsEventSource(orders, batch_size=5, report_batch_item_failures=True))

        shipper_logs = logs.LogGroup(
            self, "ShipperLogs", log_group_name="/shop/shipper", retention=logs.RetentionDays.ONE_WEEK
        )
        shipper = lambda_.Function(
            self,
            "Shipper",
            runtime=lambda_.Runtime.PYTHON_3_12,
            handler="shipper.handler",
            code=lambda_.Code.from_asset(str(FUNCTIONS / "shipper")),
            timeout=Duration.seconds(10),
            environment={"TABLE_NAME": shipments.table_name},
            log_group=shipper_logs,
        )
        shipments.grant_write_data(shipper)
        shipper.add_event_source(sources.SqsEventSource(shipping, batch_size=5))

        alerts = sns.Topic(self, "Alerts")
        stuck = cloudwatch.Alarm(
            self,
            "OrdersDeadLettered",
            metric=dead_letters.metric_approximate_number_of_messages_visible(period=Duration.minutes(1)),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        )
        stuck.add_alarm_action(cloudwatch_actions.SnsAction(alerts))
        dashboard = cloudwatch.Dashboard(self, "ShopDashboard")
        dashboard.add_widgets(cloudwatch.GraphWidget(title="Orders", left=[orders.metric_number_of_messages_sent()]))
