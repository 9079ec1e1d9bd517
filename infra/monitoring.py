"""Alarms to an SNS topic and one dashboard with the pipeline's health."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

PERIOD = Duration.minutes(5)


def _name(resource: object, attribute: str) -> str:
    """A queue's or function's physical name as the template sets it (a literal in this stack)."""
    value = getattr(resource, {"QueueName": "queue_name", "FunctionName": "function_name"}[attribute], None)
    return str(value)


class PipelineMonitoring(Construct):
    """Alarms on DLQ depth, message age, Lambda errors/throttles/p99 duration, DynamoDB throttles."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        function: lambda_.IFunction,
        function_timeout: Duration,
        table: dynamodb.ITable,
        key: kms.IKey,
        max_message_age: Duration,
        alarm_email: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "AlarmTopic", display_name="orderflow alarms", master_key=key, enforce_ssl=True)
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarms",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
            )
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))

        write_throttles = cloudwatch.Metric(
            namespace="AWS/DynamoDB",
            metric_name="WriteThrottleEvents",
            dimensions_map={"TableName": table.table_name},
            statistic="Sum",
            period=PERIOD,
        )
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self.monitor_consumer(
            "",
            queue=queue,
            dead_letter_queue=dead_letter_queue,
            function=function,
            function_timeout=function_timeout,
            max_message_age=max_message_age,
        )
        self.alarms["DynamoDbWriteThrottles"] = self._alarm(
            "DynamoDbWriteThrottles",
            write_throttles,
            threshold=1,
            description="Writes to Orders are throttled: orders are being retried.",
        )
        self.dashboard = self._dashboard(queue, dead_letter_queue, function, table, write_throttles)

    def monitor_consumer(
        self,
        prefix: str,
        *,
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        function: lambda_.IFunction,
        function_timeout: Duration,
        max_message_age: Duration,
        dlq_description: str | None = None,
    ) -> None:
        """The alarms of one queue -> function consumer: its DLQ, its oldest message, the
        function's errors, throttles and p99 duration; named ``{prefix}DlqNotEmpty`` and so on.
        ``dlq_description`` says what its DLQ holds and what to do (default: the order DLQ's)."""
        queue_name, dlq_name, function_name = (
            _name(queue.node.default_child, "QueueName"),
            _name(dead_letter_queue.node.default_child, "QueueName"),
            _name(function.node.default_child, "FunctionName"),
        )
        p99_limit = function_timeout.to_milliseconds() * 0.8
        for name, metric, threshold, description in (
            (
                "DlqNotEmpty",
                dead_letter_queue.metric_approximate_number_of_messages_visible(statistic="Maximum", period=PERIOD),
                1,
                dlq_description
                or f"Orders are in {dlq_name}: inspect with `orderflow dlq list`, then fix and redrive.",
            ),
            (
                "OldestMessageAge",
                queue.metric_approximate_age_of_oldest_message(statistic="Maximum", period=PERIOD),
                max_message_age.to_seconds(),
                f"Orders wait too long in {queue_name}: the processor is failing or too slow.",
            ),
            (
                "FunctionErrors",
                function.metric_errors(statistic="Sum", period=PERIOD),
                1,
                f"{function_name} invocations failed (a whole batch failed: a dependency is down).",
            ),
            (
                "FunctionThrottles",
                function.metric_throttles(statistic="Sum", period=PERIOD),
                1,
                f"{function_name} was throttled: check reserved and account concurrency.",
            ),
            (
                "DurationP99NearTimeout",
                function.metric_duration(statistic="p99", period=PERIOD),
                p99_limit,
                f"{function_name} p99 duration is above 80% of its {function_timeout.to_seconds()} s timeout.",
            ),
        ):
            self.alarms[prefix + name] = self._alarm(
                prefix + name, metric, threshold=threshold, description=description
            )

    def alarm_on_dead_letters(self, name: str, queue: sqs.IQueue, description: str) -> cloudwatch.Alarm:
        """Alarm as soon as ``queue`` (a dead letter queue) holds a message."""
        self.alarms[name] = self._alarm(
            name,
            queue.metric_approximate_number_of_messages_visible(statistic="Maximum", period=PERIOD),
            threshold=1,
            description=description,
        )
        return self.alarms[name]

    def alarm_on_metric(
        self, name: str, metric_name: str, *, service: str, threshold: float, description: str
    ) -> cloudwatch.Alarm:
        """An alarm on one of a service's own metrics (namespace ``Orderflow``, dimension ``service``), summed
        over the alarms' period."""
        metric = cloudwatch.Metric(
            namespace="Orderflow",
            metric_name=metric_name,
            dimensions_map={"service": service},
            statistic="Sum",
            period=PERIOD,
        )
        self.alarms[name] = self._alarm(name, metric, threshold=threshold, description=description)
        return self.alarms[name]

    def add_alarm_widget(self, title: str, alarm: cloudwatch.Alarm) -> None:
        """A row on the dashboard with ``alarm``'s metric against its threshold (an alarm added after
        construction, such as a dead letter queue's that only some constructs have)."""
        self.dashboard.add_widgets(cloudwatch.AlarmWidget(title=title, alarm=alarm, width=24))

    def _alarm(self, name: str, metric: cloudwatch.IMetric, *, threshold: float, description: str) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            name,
            alarm_name=f"orderflow-{name}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        alarm.add_ok_action(actions.SnsAction(self.topic))
        return alarm

    def _dashboard(
        self,
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        function: lambda_.IFunction,
        table: dynamodb.ITable,
        write_throttles: cloudwatch.IMetric,
    ) -> cloudwatch.Dashboard:
        def custom(name: str, **dimensions: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="Orderflow",
                metric_name=name,
                dimensions_map={"service": "order-processor", **dimensions},
                statistic="Sum",
                period=PERIOD,
            )

        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name="orderflow-pipeline")
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Orders",
                left=[custom("OrdersStored"), custom("DuplicatesSkipped"), custom("OrdersRejected")],
                right=[custom("TransientFailures")],
            ),
            cloudwatch.GraphWidget(
                title="Queue",
                left=[
                    queue.metric_approximate_number_of_messages_visible(),
                    queue.metric_approximate_number_of_messages_not_visible(),
                    dead_letter_queue.metric_approximate_number_of_messages_visible(),
                ],
                right=[queue.metric_approximate_age_of_oldest_message()],
            ),
            cloudwatch.GraphWidget(
                title="Cancellations",
                left=[custom("OrdersCancelled"), custom("CancellationDuplicatesSkipped")],
                right=[
                    custom("CancellationsAwaitingOrder"),
                    custom("OrdersRejectedByReason", reason="ORDER_NOT_FOUND"),
                ],
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="OrderProcessor",
                left=[function.metric_invocations(), function.metric_errors(), function.metric_throttles()],
                right=[function.metric_duration(statistic="p99"), function.metric_duration(statistic="p50")],
            ),
            cloudwatch.GraphWidget(
                title="Orders table",
                left=[
                    table.metric_consumed_write_capacity_units(),
                ],
                right=[write_throttles],
            ),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms.values())),
        )
        return dashboard
