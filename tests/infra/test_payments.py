"""The payment service's resources (infra/payments.py): its tables, its secret, the rule that feeds
its queue, and the least privilege of PaymentProcessor, in every stage and topology."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from infra.config import stage_from_context
from infra.payments import IDEMPOTENCY_ACTIONS, IDEMPOTENCY_EXPIRY

from orderflow.composition import PaymentSettings

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
    return _props(stack.one("AWS::Lambda::Function", FunctionName="PaymentProcessor"))


def _statements(stack: Synthesized) -> list[dict[str, Any]]:
    role = _function(stack)["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in stack.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in _props(policy)["Roles"]
        for statement in _props(policy)["PolicyDocument"]["Statement"]
    ]


def test_every_stage_and_topology_has_the_payment_service(any_stack: Synthesized) -> None:
    assert _function(any_stack)["Handler"] == "orderflow.payment_handler.lambda_handler"
    rule = _props(any_stack.one("AWS::Events::Rule", Name="OrderEventsToPayments"))
    assert rule["EventPattern"] == {"source": ["orderflow.orders"], "detail-type": ["OrderConfirmed", "OrderCancelled"]}
    assert rule["EventBusName"] == {"Ref": _id(any_stack, "AWS::Events::EventBus", Name="OrderDomainEvents")}


def test_the_rule_sends_the_whole_event_to_the_payment_queue_and_what_it_cannot_to_the_dlq(stack: Synthesized) -> None:
    [target] = _props(stack.one("AWS::Events::Rule", Name="OrderEventsToPayments"))["Targets"]
    assert target["Arn"] == _arn(stack, "AWS::SQS::Queue", QueueName="PaymentQueue")
    assert "InputPath" not in target
    assert "Input" not in target
    assert target["DeadLetterConfig"] == {"Arn": _arn(stack, "AWS::SQS::Queue", QueueName="PaymentDLQ")}
    queue = _props(stack.one("AWS::SQS::Queue", QueueName="PaymentQueue"))
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == _arn(stack, "AWS::SQS::Queue", QueueName="PaymentDLQ")
    assert queue["KmsMasterKeyId"] == _key_arn(stack)


def test_only_the_payment_rule_may_send_to_the_payment_queue_and_its_dlq(stack: Synthesized) -> None:
    rule = _arn(stack, "AWS::Events::Rule", Name="OrderEventsToPayments")
    for queue in ("PaymentQueue", "PaymentDLQ"):
        ref = {"Ref": _id(stack, "AWS::SQS::Queue", QueueName=queue)}
        [policy] = [
            _props(p)["PolicyDocument"] for p in stack.resources("AWS::SQS::QueuePolicy").values()
            if ref in _props(p)["Queues"]
        ]  # fmt: skip
        allows = [statement for statement in policy["Statement"] if statement["Effect"] == "Allow"]
        assert len(allows) == 1, queue
        assert allows[0]["Principal"] == {"Service": "events.amazonaws.com"}
        assert allows[0]["Condition"] == {"ArnEquals": {"aws:SourceArn": [rule]}}


def test_the_tables_are_encrypted_recoverable_and_the_idempotency_records_expire(stack: Synthesized) -> None:
    payments = _props(stack.one("AWS::DynamoDB::Table", TableName="Payments"))
    assert [key["AttributeName"] for key in payments["KeySchema"]] == ["orderId", "createdAt"]
    records = _props(stack.one("AWS::DynamoDB::Table", TableName="PaymentIdempotency"))
    assert [key["AttributeName"] for key in records["KeySchema"]] == ["id"]  # Powertools' default key attribute
    assert records["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    for table in (payments, records):
        assert table["SSESpecification"]["KMSMasterKeyId"] == _key_arn(stack)
        assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert table.get("DeletionProtectionEnabled", False) == (stack.stage == "prod")


def test_the_api_key_is_a_secret_encrypted_with_the_stack_key_never_a_plain_variable(stack: Synthesized) -> None:
    secret = _props(stack.one("AWS::SecretsManager::Secret", Name="orderflow/payment-provider-api-key"))
    assert secret["KmsKeyId"] == _key_arn(stack)
    assert "SecretString" not in secret  # generated as a placeholder: the real key is put after deploy
    environment = _function(stack)["Environment"]["Variables"]
    [secret_id] = stack.resources("AWS::SecretsManager::Secret")
    assert environment["PAYMENT_API_KEY_SECRET"] == {"Ref": secret_id}
    assert not any("KEY" in name and name != "PAYMENT_API_KEY_SECRET" for name in environment)


def test_the_function_s_environment_is_what_the_payment_handler_reads(stack: Synthesized) -> None:
    environment = {name: "x" if isinstance(value, dict) else value
                   for name, value in _function(stack)["Environment"]["Variables"].items()}  # fmt: skip
    settings = PaymentSettings.from_env(environment)  # raises on any variable the handler needs and lacks
    assert settings.api_url == stage_from_context(stack.stage).payment_api_url
    assert settings.idempotency_expiry == IDEMPOTENCY_EXPIRY.to_seconds()


def test_payment_processor_is_granted_exactly_what_it_uses(stack: Synthesized) -> None:
    by_sid = {statement.get("Sid"): statement for statement in _statements(stack)}
    own = {sid: (by_sid[sid]["Action"], by_sid[sid]["Resource"]) for sid in
           ("KeepPaymentsWithConditionalWrites", "KeepIdempotencyRecords", "ReadTheProviderApiKey",
            "PublishPaymentEvents")}  # fmt: skip
    [secret_id] = stack.resources("AWS::SecretsManager::Secret")
    assert own == {
        "KeepPaymentsWithConditionalWrites": (
            "dynamodb:PutItem",
            _arn(stack, "AWS::DynamoDB::Table", TableName="Payments"),
        ),
        "KeepIdempotencyRecords": (
            sorted(IDEMPOTENCY_ACTIONS),
            _arn(stack, "AWS::DynamoDB::Table", TableName="PaymentIdempotency"),
        ),
        "ReadTheProviderApiKey": ("secretsmanager:GetSecretValue", {"Ref": secret_id}),
        "PublishPaymentEvents": ("events:PutEvents", _arn(stack, "AWS::Events::EventBus", Name="OrderDomainEvents")),
    }
    # nothing of the order service's: it neither reads nor writes Orders
    orders = _arn(stack, "AWS::DynamoDB::Table", TableName="Orders")
    assert all(orders != statement["Resource"] for statement in _statements(stack))
    wildcard = [s for s in _statements(stack) if s["Resource"] == "*"]
    assert {action for s in wildcard for action in s["Action"]} == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_the_payment_service_has_the_consumer_alarms(stack: Synthesized) -> None:
    names = {_props(alarm)["AlarmName"] for alarm in stack.resources("AWS::CloudWatch::Alarm").values()}
    assert {f"orderflow-Payment{name}" for name in ("DlqNotEmpty", "OldestMessageAge", "FunctionErrors",
            "FunctionThrottles", "DurationP99NearTimeout")} <= names  # fmt: skip
    # its DLQ alarm says what that DLQ holds and where to look, not the order DLQ's advice
    dlq_alarm = _props(stack.one("AWS::CloudWatch::Alarm", AlarmName="orderflow-PaymentDlqNotEmpty"))
    assert "PaymentDLQ" in dlq_alarm["AlarmDescription"]
    assert "/aws/lambda/PaymentProcessor" in dlq_alarm["AlarmDescription"]


@pytest.mark.parametrize("url", ["http://payments.example.com", "https://", "payments.example.com"])
def test_a_payment_api_url_that_is_not_https_is_refused_with_why(url: str) -> None:
    with pytest.raises(ValueError, match="must be an https:// URL"):
        stage_from_context("dev", payment_api_url=url)


def test_the_payment_api_url_comes_from_the_stage_or_the_context() -> None:
    assert stage_from_context("dev").payment_api_url != stage_from_context("prod").payment_api_url
    assert stage_from_context("prod", payment_api_url="https://api.example.net/").payment_api_url == (
        "https://api.example.net"
    )
