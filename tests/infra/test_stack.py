"""One assertion for every item of the stack and its hardening checklist, per stage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.infra.conftest import Synthesized

DAY = 24 * 3600


def _ref(resource: dict[str, Any], key: str) -> Any:
    return resource["Properties"][key]


def _logical_id(stack: Synthesized, resource_type: str, **properties: Any) -> str:
    target = stack.one(resource_type, **properties)
    return next(key for key, value in stack.json["Resources"].items() if value is target)


#: Each queue -> function consumer in every stage: the order service's, the payment service's
#: (infra/payments.py) and the notification service's (infra/notifications.py). The EventBridge
#: ingress adds a fourth (tests/infra/test_ingress.py).
CONSUMERS = {"OrderProcessor": "OrderCreatedQueue", "PaymentProcessor": "PaymentQueue", "Notifier": "NotificationQueue"}


def _mapping(stack: Synthesized, queue: str) -> dict[str, Any]:
    """The event source mapping that consumes ``queue``."""
    queue_id = _logical_id(stack, "AWS::SQS::Queue", QueueName=queue)
    return stack.one("AWS::Lambda::EventSourceMapping", EventSourceArn={"Fn::GetAtt": [queue_id, "Arn"]})


def test_queues_names_retention_and_redrive(stack: Synthesized) -> None:
    dlq = stack.one("AWS::SQS::Queue", QueueName="OrderCreatedDLQ")
    queue = stack.one("AWS::SQS::Queue", QueueName="OrderCreatedQueue")
    assert _ref(dlq, "MessageRetentionPeriod") == 14 * DAY
    assert _ref(queue, "MessageRetentionPeriod") == 7 * DAY
    dlq_id = _logical_id(stack, "AWS::SQS::Queue", QueueName="OrderCreatedDLQ")
    assert _ref(queue, "RedrivePolicy") == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": 5,
    }


@pytest.mark.parametrize(("function_name", "queue_name"), CONSUMERS.items())
def test_visibility_timeout_follows_awss_six_times_rule(
    stack: Synthesized, function_name: str, queue_name: str
) -> None:
    queue = stack.one("AWS::SQS::Queue", QueueName=queue_name)
    function = stack.one("AWS::Lambda::Function", FunctionName=function_name)
    mapping = _mapping(stack, queue_name)
    assert _ref(mapping, "FunctionName") == {
        "Ref": _logical_id(stack, "AWS::Lambda::Function", FunctionName=function_name)
    }
    required = 6 * _ref(function, "Timeout") + _ref(mapping, "MaximumBatchingWindowInSeconds")
    assert _ref(queue, "VisibilityTimeout") >= required
    assert _ref(queue, "VisibilityTimeout") == 185


def test_table_keys_gsi_ttl_pitr_and_billing(stack: Synthesized) -> None:
    table = stack.one("AWS::DynamoDB::Table", TableName="Orders")
    assert _ref(table, "BillingMode") == "PAY_PER_REQUEST"
    assert _ref(table, "GlobalSecondaryIndexes") == [
        {
            "IndexName": "CustomerIndex",
            "KeySchema": [
                {"AttributeName": "customerId", "KeyType": "HASH"},
                {"AttributeName": "createdAt", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ]
    assert _ref(table, "TimeToLiveSpecification") == {"AttributeName": "ttl", "Enabled": True}
    assert _ref(table, "PointInTimeRecoverySpecification") == {"PointInTimeRecoveryEnabled": True}


def test_everything_at_rest_is_encrypted_with_the_rotating_pipeline_key(any_stack: Synthesized) -> None:
    stack = any_stack
    [key_id] = stack.resources("AWS::KMS::Key")
    key = stack.json["Resources"][key_id]
    assert _ref(key, "EnableKeyRotation") is True
    key_arn = {"Fn::GetAtt": [key_id, "Arn"]}
    for queue in stack.resources("AWS::SQS::Queue").values():
        assert _ref(queue, "KmsMasterKeyId") == key_arn
    table = stack.one("AWS::DynamoDB::Table", TableName="Orders")
    assert _ref(table, "SSESpecification") == {"KMSMasterKeyId": key_arn, "SSEEnabled": True, "SSEType": "KMS"}
    for function in stack.resources("AWS::Lambda::Function").values():
        assert _ref(function, "KmsKeyArn") == key_arn
    log_groups = stack.resources("AWS::Logs::LogGroup").values()
    assert len(log_groups) == len(stack.resources("AWS::Lambda::Function"))  # one per function
    for log_group in log_groups:
        assert _ref(log_group, "KmsKeyId") == key_arn
    for topic in stack.resources("AWS::SNS::Topic").values():
        assert _ref(topic, "KmsMasterKeyId") == key_arn
    for kind in ("AWS::Events::EventBus", "AWS::Events::Archive"):
        assert stack.resources(kind), kind
        for resource in stack.resources(kind).values():
            assert _ref(resource, "KmsKeyIdentifier") == key_arn, kind


def test_every_queue_denies_requests_without_tls(any_stack: Synthesized) -> None:
    stack = any_stack
    policies = stack.resources("AWS::SQS::QueuePolicy").values()
    denied: set[str] = set()
    for policy in policies:
        for statement in _ref(policy, "PolicyDocument")["Statement"]:
            if statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}:
                assert statement["Action"] == "sqs:*"
                denied.add(statement["Resource"]["Fn::GetAtt"][0])
    assert denied == set(stack.resources("AWS::SQS::Queue"))


def _function_role_id(stack: Synthesized, function: str = "OrderProcessor") -> str:
    """A function's execution role (the outbox pipe has a role of its own: tests/infra/test_outbox.py)."""
    role = _ref(stack.one("AWS::Lambda::Function", FunctionName=function), "Role")
    assert _ref(stack.json["Resources"][role["Fn::GetAtt"][0]], "AssumeRolePolicyDocument")["Statement"][0][
        "Principal"
    ] == {"Service": "lambda.amazonaws.com"}
    return str(role["Fn::GetAtt"][0])


def _function_names(stack: Synthesized) -> list[str]:
    """OrderProcessor, PaymentProcessor and Notifier, and OrderCancellationProcessor in the EventBridge ingress."""
    return [str(_ref(function, "FunctionName")) for function in stack.resources("AWS::Lambda::Function").values()]


def _role_statements(stack: Synthesized, function: str = "OrderProcessor") -> list[dict[str, Any]]:
    role_id = _function_role_id(stack, function)
    statements = []
    for policy in stack.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in _ref(policy, "Roles"):
            statements.extend(_ref(policy, "PolicyDocument")["Statement"])
    return statements


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


#: What every queue-fed function's role holds: its queue, its DLQ, the key, its logs, X-Ray.
_CONSUMER_ACTIONS = (
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
    "sqs:SendMessage",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
)
_ORDER_SERVICE_ACTIONS = sorted({*_CONSUMER_ACTIONS, "dynamodb:PutItem", "dynamodb:UpdateItem"})
#: Each function's actions, all of them: the order service's conditional writes; the payment
#: service's conditional writes, Powertools' idempotency records, its secret and its events; the
#: notification service's read of the order, its claims, its idempotency records and SES's send.
FUNCTION_ACTIONS = {
    "OrderProcessor": _ORDER_SERVICE_ACTIONS,
    "OrderCancellationProcessor": _ORDER_SERVICE_ACTIONS,
    "PaymentProcessor": sorted(
        {
            *_CONSUMER_ACTIONS,
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "events:PutEvents",
            "secretsmanager:GetSecretValue",
        }
    ),
    "Notifier": sorted(
        {
            *_CONSUMER_ACTIONS,
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "ses:SendEmail",
            "ses:SendRawEmail",
        }
    ),
}


def test_function_role_has_exactly_the_actions_it_uses(any_stack: Synthesized) -> None:
    stack = any_stack
    functions = _function_names(stack)
    assert {"OrderProcessor", "PaymentProcessor", "Notifier"} <= set(functions) <= set(FUNCTION_ACTIONS)
    for function in functions:  # each function's own role (four in the EventBridge ingress)
        actions = sorted(action for statement in _role_statements(stack, function) for action in _actions(statement))
        assert sorted(set(actions)) == FUNCTION_ACTIONS[function], function


def test_function_role_is_scoped_and_unmanaged(stack: Synthesized) -> None:
    role = stack.json["Resources"][_function_role_id(stack)]
    assert "ManagedPolicyArns" not in role["Properties"]
    table_id = _logical_id(stack, "AWS::DynamoDB::Table", TableName="Orders")
    dlq_id = _logical_id(stack, "AWS::SQS::Queue", QueueName="OrderCreatedDLQ")
    queue_id = _logical_id(stack, "AWS::SQS::Queue", QueueName="OrderCreatedQueue")
    for statement in _role_statements(stack):
        actions = _actions(statement)
        if any(action.startswith("xray:") for action in actions):
            assert statement["Resource"] == "*"  # X-Ray has no resource-level permissions
            continue
        assert statement["Resource"] != "*"
        assert not any(action.endswith("*") for action in actions)
        if "dynamodb:PutItem" in actions or "dynamodb:UpdateItem" in actions:
            assert statement["Resource"] == {"Fn::GetAtt": [table_id, "Arn"]}  # no index/*
        if "sqs:SendMessage" in actions:
            assert statement["Resource"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
        if "sqs:ReceiveMessage" in actions or "sqs:ChangeMessageVisibility" in actions:
            assert statement["Resource"] == {"Fn::GetAtt": [queue_id, "Arn"]}


def test_function_configuration(stack: Synthesized) -> None:
    function = stack.one("AWS::Lambda::Function", FunctionName="OrderProcessor")
    assert _ref(function, "Architectures") == ["arm64"]
    assert _ref(function, "Runtime") == "python3.14"
    assert _ref(function, "Handler") == "orderflow.handler.lambda_handler"
    assert _ref(function, "TracingConfig") == {"Mode": "Active"}
    table_id = _logical_id(stack, "AWS::DynamoDB::Table", TableName="Orders")
    dlq_id = _logical_id(stack, "AWS::SQS::Queue", QueueName="OrderCreatedDLQ")
    environment = _ref(function, "Environment")["Variables"]
    assert environment["TABLE_NAME"] == {"Ref": table_id}
    assert environment["DLQ_URL"] == {"Ref": dlq_id}
    queue = stack.one("AWS::SQS::Queue", QueueName="OrderCreatedQueue")
    # the handler's bounded wait for a missing order ends on the queue's last receive
    assert environment["MAX_RECEIVE_COUNT"] == str(_ref(queue, "RedrivePolicy")["maxReceiveCount"])


def test_event_source_mapping(stack: Synthesized) -> None:
    # one mapping per consumer, each from its own queue to its own function
    by_queue = {
        _ref(mapping, "EventSourceArn")["Fn::GetAtt"][0]: _ref(mapping, "FunctionName")
        for mapping in stack.resources("AWS::Lambda::EventSourceMapping").values()
    }
    assert by_queue == {
        _logical_id(stack, "AWS::SQS::Queue", QueueName=queue): {
            "Ref": _logical_id(stack, "AWS::Lambda::Function", FunctionName=function)
        }
        for function, queue in CONSUMERS.items()
    }
    assert len(stack.resources("AWS::Lambda::EventSourceMapping")) == len(CONSUMERS)
    for queue in CONSUMERS.values():
        mapping = _mapping(stack, queue)
        assert _ref(mapping, "BatchSize") == 10
        assert _ref(mapping, "MaximumBatchingWindowInSeconds") == 5
        assert _ref(mapping, "FunctionResponseTypes") == ["ReportBatchItemFailures"]


@pytest.mark.parametrize(("stage", "maximum", "reserved"), [("dev", 2, None), ("prod", 20, 20)])
def test_concurrency_is_capped(stage: str, maximum: int, reserved: int | None, request: pytest.FixtureRequest) -> None:
    stack: Synthesized = request.getfixturevalue(stage)
    for queue in CONSUMERS.values():  # every mapping runs at most the stage's batches at once
        assert _ref(_mapping(stack, queue), "ScalingConfig") == {"MaximumConcurrency": maximum}, queue
    function = stack.one("AWS::Lambda::Function", FunctionName="OrderProcessor")
    assert function["Properties"].get("ReservedConcurrentExecutions") == reserved
    # The payment provider's rate limit, not Lambda's, bounds the payment service: its mapping's
    # MaximumConcurrency caps it, and it takes none of the account's concurrency (infra/payments.py).
    # SES's sending rate bounds the notification service the same way (infra/notifications.py).
    for name in ("PaymentProcessor", "Notifier"):
        service = stack.one("AWS::Lambda::Function", FunctionName=name)
        assert "ReservedConcurrentExecutions" not in service["Properties"], name


@pytest.mark.parametrize(("stage", "days"), [("dev", 7), ("prod", 90)])
def test_log_retention(stage: str, days: int, request: pytest.FixtureRequest) -> None:
    stack: Synthesized = request.getfixturevalue(stage)
    log_groups = stack.resources("AWS::Logs::LogGroup")
    assert {_ref(log_group, "LogGroupName") for log_group in log_groups.values()} == {
        f"/aws/lambda/{function}" for function in CONSUMERS
    }
    for log_group in log_groups.values():
        assert _ref(log_group, "RetentionInDays") == days
    for function_name in CONSUMERS:  # each function logs JSON to its own group
        function = stack.one("AWS::Lambda::Function", FunctionName=function_name)
        log_group_id = _logical_id(stack, "AWS::Logs::LogGroup", LogGroupName=f"/aws/lambda/{function_name}")
        assert _ref(function, "LoggingConfig") == {"LogFormat": "JSON", "LogGroup": {"Ref": log_group_id}}


@pytest.mark.parametrize(("stage", "policy"), [("dev", "Delete"), ("prod", "Retain")])
def test_removal_policy_by_stage(stage: str, policy: str, request: pytest.FixtureRequest) -> None:
    stack: Synthesized = request.getfixturevalue(stage)
    for resource_type in ("AWS::SQS::Queue", "AWS::DynamoDB::Table", "AWS::KMS::Key", "AWS::Logs::LogGroup"):
        for resource in stack.resources(resource_type).values():
            assert resource["DeletionPolicy"] == policy, resource_type
            assert resource["UpdateReplacePolicy"] == policy, resource_type
    table = stack.one("AWS::DynamoDB::Table", TableName="Orders")
    assert table["Properties"].get("DeletionProtectionEnabled", False) is (policy == "Retain")


#: The alarms of one queue -> function consumer, by name after its prefix ("" for the order service's,
#: "Payment" for the payment service's, "Notification" for the notification service's): metric,
#: namespace, threshold.
CONSUMER_ALARMS = {
    "DlqNotEmpty": ("ApproximateNumberOfMessagesVisible", "AWS/SQS", 1),
    "FunctionErrors": ("Errors", "AWS/Lambda", 1),
    "FunctionThrottles": ("Throttles", "AWS/Lambda", 1),
    "DurationP99NearTimeout": ("Duration", "AWS/Lambda", 24_000),
}
#: The consumers' prefixes and their function, queue and DLQ.
CONSUMER_PREFIXES = {
    "": ("OrderProcessor", "OrderCreatedQueue", "OrderCreatedDLQ"),
    "Payment": ("PaymentProcessor", "PaymentQueue", "PaymentDLQ"),
    "Notification": ("Notifier", "NotificationQueue", "NotificationDLQ"),
}
ALARMS = {
    **{
        f"orderflow-{prefix}{name}": (metric, namespace, threshold)
        for prefix in CONSUMER_PREFIXES
        for name, (metric, namespace, threshold) in CONSUMER_ALARMS.items()
    },
    "orderflow-DynamoDbWriteThrottles": ("WriteThrottleEvents", "AWS/DynamoDB", 1),
    "orderflow-OrderOutboxDLQ": ("ApproximateNumberOfMessagesVisible", "AWS/SQS", 1),
    "orderflow-EmailsUncertain": ("EmailsUncertain", "Orderflow", 1),
}
#: The message-age alarms, whose threshold is the stage's (test_age_of_oldest_message_alarm_by_stage).
AGE_ALARMS = {f"orderflow-{prefix}OldestMessageAge" for prefix in CONSUMER_PREFIXES}


def test_each_alarm_notifies_the_topic(stack: Synthesized) -> None:
    [topic_id] = stack.resources("AWS::SNS::Topic")
    alarms = {
        alarm["Properties"]["AlarmName"]: alarm["Properties"]
        for alarm in stack.resources("AWS::CloudWatch::Alarm").values()
    }
    assert set(alarms) == {*ALARMS, *AGE_ALARMS}
    for name, (metric, namespace, threshold) in ALARMS.items():
        assert (alarms[name]["MetricName"], alarms[name]["Namespace"], alarms[name]["Threshold"]) == (
            metric,
            namespace,
            threshold,
        ), name
    for prefix in CONSUMER_PREFIXES:
        assert alarms[f"orderflow-{prefix}DurationP99NearTimeout"]["ExtendedStatistic"] == "p99"
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"


def _queue_dimension(stack: Synthesized, queue: str) -> dict[str, Any]:
    queue_id = _logical_id(stack, "AWS::SQS::Queue", QueueName=queue)
    return {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}


def _function_dimension(stack: Synthesized, function: str) -> dict[str, Any]:
    function_id = _logical_id(stack, "AWS::Lambda::Function", FunctionName=function)
    return {"Name": "FunctionName", "Value": {"Ref": function_id}}


def test_each_consumers_alarms_watch_its_own_function_and_queues(stack: Synthesized) -> None:
    for prefix, (function, queue, dlq) in CONSUMER_PREFIXES.items():
        watches = {
            "DlqNotEmpty": _queue_dimension(stack, dlq),
            "OldestMessageAge": _queue_dimension(stack, queue),
            "FunctionErrors": _function_dimension(stack, function),
            "FunctionThrottles": _function_dimension(stack, function),
            "DurationP99NearTimeout": _function_dimension(stack, function),
        }
        assert set(watches) == {*CONSUMER_ALARMS, "OldestMessageAge"}
        for name, dimension in watches.items():
            alarm = stack.one("AWS::CloudWatch::Alarm", AlarmName=f"orderflow-{prefix}{name}")
            assert _ref(alarm, "Dimensions") == [dimension], f"{prefix}{name}"


@pytest.mark.parametrize(("stage", "seconds"), [("dev", 900), ("prod", 300)])
def test_age_of_oldest_message_alarm_by_stage(stage: str, seconds: int, request: pytest.FixtureRequest) -> None:
    stack: Synthesized = request.getfixturevalue(stage)
    for name in AGE_ALARMS:  # every consumer's queue
        alarm = stack.one("AWS::CloudWatch::Alarm", AlarmName=name)
        assert _ref(alarm, "MetricName") == "ApproximateAgeOfOldestMessage"
        assert _ref(alarm, "Threshold") == seconds


def test_alarm_topic_requires_tls_and_accepts_cloudwatch(stack: Synthesized) -> None:
    [policy] = stack.resources("AWS::SNS::TopicPolicy").values()
    statements = _ref(policy, "PolicyDocument")["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
    )
    assert any(s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} for s in statements)


def test_one_dashboard_shows_the_pipelines_health(stack: Synthesized) -> None:
    [dashboard] = stack.resources("AWS::CloudWatch::Dashboard").values()
    assert _ref(dashboard, "DashboardName") == "orderflow-pipeline"
    body = str(_ref(dashboard, "DashboardBody"))
    for metric in ("OrdersStored", "OrdersCancelled", "CancellationsAwaitingOrder", "ORDER_NOT_FOUND",
                   "ApproximateAgeOfOldestMessage", "Throttles", "WriteThrottleEvents", "alarm"):  # fmt: skip
        assert metric in body


def test_outputs(stack: Synthesized) -> None:
    outputs = stack.json["Outputs"]
    assert set(outputs) == {
        "QueueUrl",
        "TableName",
        "DLQUrl",
        "OrderEventsBusName",
        "OrderEventsBusArn",
        "OutboxDLQUrl",
        "PaymentQueueUrl",
        "PaymentDLQUrl",
        "PaymentsTableName",
        "PaymentApiKeySecretArn",
        "NotificationQueueUrl",
        "NotificationDLQUrl",
        "NotificationsTableName",
        "SenderEmail",
    }
    queue_id = _logical_id(stack, "AWS::SQS::Queue", QueueName="OrderCreatedQueue")
    assert outputs["QueueUrl"]["Value"] == {"Ref": queue_id}
    [secret_id] = stack.resources("AWS::SecretsManager::Secret")
    assert {name: outputs[name]["Value"] for name in
            ("PaymentQueueUrl", "PaymentDLQUrl", "PaymentsTableName", "PaymentApiKeySecretArn")} == {
        "PaymentQueueUrl": {"Ref": _logical_id(stack, "AWS::SQS::Queue", QueueName="PaymentQueue")},
        "PaymentDLQUrl": {"Ref": _logical_id(stack, "AWS::SQS::Queue", QueueName="PaymentDLQ")},
        "PaymentsTableName": {"Ref": _logical_id(stack, "AWS::DynamoDB::Table", TableName="Payments")},
        "PaymentApiKeySecretArn": {"Ref": secret_id},
    }  # fmt: skip
    assert {name: outputs[name]["Value"] for name in
            ("NotificationQueueUrl", "NotificationDLQUrl", "NotificationsTableName", "SenderEmail")} == {
        "NotificationQueueUrl": {"Ref": _logical_id(stack, "AWS::SQS::Queue", QueueName="NotificationQueue")},
        "NotificationDLQUrl": {"Ref": _logical_id(stack, "AWS::SQS::Queue", QueueName="NotificationDLQ")},
        "NotificationsTableName": {"Ref": _logical_id(stack, "AWS::DynamoDB::Table", TableName="Notifications")},
        "SenderEmail": "orders@orderflow.example",
    }  # fmt: skip
