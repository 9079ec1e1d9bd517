"""The notification service's resources (infra/notifications.py): its tables, the sender's SES identity,
the rule that feeds its queue, and the least privilege of Notifier, in every stage and topology."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.config import stage_from_context
from infra.payments import IDEMPOTENCY_ACTIONS, IDEMPOTENCY_EXPIRY

if TYPE_CHECKING:
    from tests.infra.conftest import Synthesized


def _props(resource: dict[str, Any]) -> dict[str, Any]:
    return resource["Properties"]  # type: ignore[no-any-return]


def _id(stack: Synthesized, resource_type: str, **properties: Any) -> str:
    target = stack.one(resource_type, **properties)
    return next(key for key, value in stack.json["Resources"].items() if value is target)


def _arn(stack: Synthesized, resource_type: str, **properties: Any) -> dict[str, Any]:
    return {"Fn::GetAtt": [_id(stack, resource_type, **properties), "Arn"]}


def _key_arn(stack: Synthesized) -> dict[str, Any]:
    [key] = stack.resources("AWS::KMS::Key")
    return {"Fn::GetAtt": [key, "Arn"]}


def _function(stack: Synthesized) -> dict[str, Any]:
    return _props(stack.one("AWS::Lambda::Function", FunctionName="Notifier"))


def _statements(stack: Synthesized) -> list[dict[str, Any]]:
    role = _function(stack)["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in stack.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in _props(policy)["Roles"]
        for statement in _props(policy)["PolicyDocument"]["Statement"]
    ]


def _identity_arn(stack: Synthesized) -> dict[str, Any]:
    """The sender identity's ARN as CDK builds it (``arn:<partition>:ses:<region>:<account>:identity/<address>``)."""
    [identity_id] = stack.resources("AWS::SES::EmailIdentity")
    return {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":ses:", {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"},
             ":identity/", {"Ref": identity_id}],
        ]
    }  # fmt: skip


def test_every_stage_and_topology_has_the_notification_service(any_stack: Synthesized) -> None:
    assert _function(any_stack)["Handler"] == "orderflow.notifier_handler.lambda_handler"
    rule = _props(any_stack.one("AWS::Events::Rule", Name="DomainEventsToNotifications"))
    assert rule["EventPattern"] == {
        "source": ["orderflow.orders", "orderflow.payments"],
        "detail-type": ["OrderCancelled", "PaymentCaptured", "PaymentRefunded"],
    }
    assert rule["EventBusName"] == {"Ref": _id(any_stack, "AWS::Events::EventBus", Name="OrderDomainEvents")}


def test_the_rule_sends_the_whole_event_to_the_notification_queue_and_what_it_cannot_to_the_dlq(
    stack: Synthesized,
) -> None:
    [target] = _props(stack.one("AWS::Events::Rule", Name="DomainEventsToNotifications"))["Targets"]
    assert target["Arn"] == _arn(stack, "AWS::SQS::Queue", QueueName="NotificationQueue")
    assert "InputPath" not in target
    assert "Input" not in target
    assert target["DeadLetterConfig"] == {"Arn": _arn(stack, "AWS::SQS::Queue", QueueName="NotificationDLQ")}
    queue = _props(stack.one("AWS::SQS::Queue", QueueName="NotificationQueue"))
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": _arn(stack, "AWS::SQS::Queue", QueueName="NotificationDLQ"),
        "maxReceiveCount": 5,
    }
    assert queue["KmsMasterKeyId"] == _key_arn(stack)


def test_only_the_notification_rule_may_send_to_the_notification_queue_and_its_dlq(stack: Synthesized) -> None:
    rule = _arn(stack, "AWS::Events::Rule", Name="DomainEventsToNotifications")
    for queue in ("NotificationQueue", "NotificationDLQ"):
        ref = {"Ref": _id(stack, "AWS::SQS::Queue", QueueName=queue)}
        [policy] = [
            _props(p)["PolicyDocument"] for p in stack.resources("AWS::SQS::QueuePolicy").values()
            if ref in _props(p)["Queues"]
        ]  # fmt: skip
        allows = [statement for statement in policy["Statement"] if statement["Effect"] == "Allow"]
        assert len(allows) == 1, queue
        assert allows[0]["Principal"] == {"Service": "events.amazonaws.com"}
        assert allows[0]["Action"] == "sqs:SendMessage"
        assert allows[0]["Condition"] == {"ArnEquals": {"aws:SourceArn": [rule]}}


def test_the_tables_are_encrypted_recoverable_and_expire(stack: Synthesized) -> None:
    notifications = _props(stack.one("AWS::DynamoDB::Table", TableName="Notifications"))
    assert notifications["KeySchema"] == [
        {"AttributeName": "orderId", "KeyType": "HASH"},
        {"AttributeName": "eventId", "KeyType": "RANGE"},
    ]
    assert notifications["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    records = _props(stack.one("AWS::DynamoDB::Table", TableName="NotifierIdempotency"))
    assert records["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]  # Powertools' default key attribute
    assert records["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    for table in (notifications, records):
        assert table["BillingMode"] == "PAY_PER_REQUEST"
        assert table["SSESpecification"] == {"KMSMasterKeyId": _key_arn(stack), "SSEEnabled": True, "SSEType": "KMS"}
        assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert table.get("DeletionProtectionEnabled", False) == (stack.stage == "prod")


def test_the_sender_is_an_ses_email_identity_for_the_stages_address(stack: Synthesized) -> None:
    sender = stage_from_context(stack.stage).sender_email
    [identity] = stack.resources("AWS::SES::EmailIdentity").values()
    assert _props(identity)["EmailIdentity"] == sender
    assert "DkimSigningAttributes" not in _props(identity)  # an address, not a domain: verified by a link
    assert stack.json["Outputs"]["SenderEmail"]["Value"] == sender


def test_the_function_s_environment_is_the_contracts(stack: Synthesized) -> None:
    assert _function(stack)["Environment"]["Variables"] == {
        "ORDERS_TABLE": {"Ref": _id(stack, "AWS::DynamoDB::Table", TableName="Orders")},
        "NOTIFICATIONS_TABLE": {"Ref": _id(stack, "AWS::DynamoDB::Table", TableName="Notifications")},
        "IDEMPOTENCY_TABLE": {"Ref": _id(stack, "AWS::DynamoDB::Table", TableName="NotifierIdempotency")},
        "DLQ_URL": {"Ref": _id(stack, "AWS::SQS::Queue", QueueName="NotificationDLQ")},
        "SENDER_EMAIL": stage_from_context(stack.stage).sender_email,
        "IDEMPOTENCY_EXPIRY_SECONDS": str(int(IDEMPOTENCY_EXPIRY.to_seconds())),
        "POWERTOOLS_SERVICE_NAME": "notifier",
        "POWERTOOLS_METRICS_NAMESPACE": "Orderflow",
    }
    assert _function(stack)["KmsKeyArn"] == _key_arn(stack)


def test_notifier_is_granted_exactly_what_it_uses(stack: Synthesized) -> None:
    by_sid = {statement.get("Sid"): statement for statement in _statements(stack)}
    sids = ("ReadTheOrder", "ClaimAndRecordEachEmail", "KeepIdempotencyRecords", "SendAsTheSenderIdentity")
    own = {sid: (by_sid[sid]["Action"], by_sid[sid]["Resource"]) for sid in sids}
    assert own == {
        "ReadTheOrder": ("dynamodb:GetItem", _arn(stack, "AWS::DynamoDB::Table", TableName="Orders")),
        "ClaimAndRecordEachEmail": (
            ["dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            _arn(stack, "AWS::DynamoDB::Table", TableName="Notifications"),
        ),
        "KeepIdempotencyRecords": (
            sorted(IDEMPOTENCY_ACTIONS),
            _arn(stack, "AWS::DynamoDB::Table", TableName="NotifierIdempotency"),
        ),
        "SendAsTheSenderIdentity": (["ses:SendEmail", "ses:SendRawEmail"], _identity_arn(stack)),
    }
    # Orders is only read, and only item by item: no write, no query, no scan, no index
    orders = _arn(stack, "AWS::DynamoDB::Table", TableName="Orders")
    on_orders = [statement for statement in _statements(stack) if statement["Resource"] == orders]
    assert [statement["Action"] for statement in on_orders] == ["dynamodb:GetItem"]
    # nothing of the payment service's: no bus, no secret, no Payments
    actions = {action for s in _statements(stack) for action in ([s["Action"]] if isinstance(s["Action"], str)
               else s["Action"])}  # fmt: skip
    assert not {"events:PutEvents", "secretsmanager:GetSecretValue"} & actions
    assert not any(action.endswith("*") for action in actions)
    ses = [s for s in _statements(stack) if any(str(a).startswith("ses:") for a in s["Action"])]
    assert [s["Sid"] for s in ses] == ["SendAsTheSenderIdentity"]  # SES on the sender's identity only
    wildcard = [s for s in _statements(stack) if s["Resource"] == "*"]
    assert {action for s in wildcard for action in s["Action"]} == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_the_notification_service_has_the_consumer_alarms_and_a_dashboard_row(stack: Synthesized) -> None:
    names = {_props(alarm)["AlarmName"] for alarm in stack.resources("AWS::CloudWatch::Alarm").values()}
    assert {f"orderflow-Notification{name}" for name in ("DlqNotEmpty", "OldestMessageAge", "FunctionErrors",
            "FunctionThrottles", "DurationP99NearTimeout")} <= names  # fmt: skip
    # its DLQ alarm says what that DLQ holds and where to look, not the order DLQ's advice
    dlq_alarm = _props(stack.one("AWS::CloudWatch::Alarm", AlarmName="orderflow-NotificationDlqNotEmpty"))
    assert "NotificationDLQ" in dlq_alarm["AlarmDescription"]
    assert "/aws/lambda/Notifier" in dlq_alarm["AlarmDescription"]
    [dashboard] = stack.resources("AWS::CloudWatch::Dashboard").values()
    body = str(_props(dashboard)["DashboardBody"])
    assert "Notifications: events not handled (NotificationDLQ)" in body
    assert _id(stack, "AWS::CloudWatch::Alarm", AlarmName="orderflow-NotificationDlqNotEmpty") in body


def test_an_uncertain_email_sets_off_an_alarm_on_the_notifiers_own_metric(stack: Synthesized) -> None:
    [alarm] = [
        resource["Properties"]
        for resource in stack.resources("AWS::CloudWatch::Alarm").values()
        if resource["Properties"]["AlarmName"] == "orderflow-EmailsUncertain"
    ]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("Orderflow", "EmailsUncertain", "Sum")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "notifier"}]
    assert "/aws/lambda/Notifier" in alarm["AlarmDescription"]
