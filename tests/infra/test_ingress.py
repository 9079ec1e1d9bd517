"""The EventBridge ingress (-c ingress=eventbridge, infra/ingress.py): the bus, its routing rules,
a second consumer for cancellations, and what the bus cannot deliver or route."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from infra.config import TopologyError, topology_from_context
from infra.ingress import ROUTED_EVENTS
from infra.routing import MAX_EVENT_AGE, RETRY_ATTEMPTS

from orderflow_local.lambda_runtime.pipe_transform import RecordFilter

if TYPE_CHECKING:
    from tests.infra.conftest import Synthesized


def _props(resource: dict[str, Any]) -> dict[str, Any]:
    return resource["Properties"]  # type: ignore[no-any-return]


def _id(stack: Synthesized, resource_type: str, **properties: Any) -> str:
    target = stack.one(resource_type, **properties)
    return next(key for key, value in stack.json["Resources"].items() if value is target)


def _arn(stack: Synthesized, resource_type: str, **properties: Any) -> dict[str, Any]:
    return {"Fn::GetAtt": [_id(stack, resource_type, **properties), "Arn"]}


def _queue_arn(stack: Synthesized, name: str) -> dict[str, Any]:
    return _arn(stack, "AWS::SQS::Queue", QueueName=name)


# --- which combinations the stack builds ---------------------------------------------------


def test_ingress_eventbridge_is_a_topology_of_its_own() -> None:
    assert topology_from_context(None, None, "eventbridge").name == "eventbridge"
    assert topology_from_context(None, None, "SQS").name == "standard"
    assert topology_from_context(None, None, None).name == "standard"


@pytest.mark.parametrize(
    ("fifo", "fanout", "ingress", "message"),
    [
        ("true", None, "eventbridge", r"does not combine with -c fifo=true: EventBridge gives a FIFO queue one fixed"),
        (None, "true", "eventbridge", r"does not combine with -c fanout=true: the bus already fans out"),
        (None, None, "kafka", r"-c ingress=kafka is not an ingress: use -c ingress=sqs \(the default\) or"),
    ],
)
def test_combinations_that_make_no_sense_are_refused_with_why(
    fifo: str | None, fanout: str | None, ingress: str, message: str
) -> None:
    with pytest.raises(TopologyError, match=message):
        topology_from_context(fifo, fanout, ingress)


# --- the bus and its rules -----------------------------------------------------------------


def test_the_ingress_bus_is_encrypted_with_the_stacks_key(eventbridge: Synthesized) -> None:
    [key_id] = eventbridge.resources("AWS::KMS::Key")
    bus = _props(eventbridge.one("AWS::Events::EventBus", Name="OrderIngress"))
    assert bus["KmsKeyIdentifier"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert eventbridge.json["Outputs"]["IngressBusName"]["Value"] == {
        "Ref": _id(eventbridge, "AWS::Events::EventBus", Name="OrderIngress")
    }


@pytest.mark.parametrize("event_type", ROUTED_EVENTS)
def test_each_event_type_is_routed_to_its_own_queue_as_the_producers_event(
    eventbridge: Synthesized, event_type: str
) -> None:
    rule = _props(eventbridge.one("AWS::Events::Rule", Name=f"Route{event_type}"))
    assert rule["EventBusName"] == {"Ref": _id(eventbridge, "AWS::Events::EventBus", Name="OrderIngress")}
    assert rule["EventPattern"] == {"detail-type": [event_type]}
    [target] = rule["Targets"]
    assert target["Arn"] == _queue_arn(eventbridge, f"{event_type}Queue")
    assert target["InputPath"] == "$.detail"  # the queue gets the order event, as a producer sends it to SQS
    assert target["DeadLetterConfig"] == {"Arn": _queue_arn(eventbridge, "OrderIngressDLQ")}
    assert target["RetryPolicy"] == {
        "MaximumRetryAttempts": RETRY_ATTEMPTS,
        "MaximumEventAgeInSeconds": MAX_EVENT_AGE.to_seconds(),
    }


def test_an_event_no_rule_routes_goes_whole_to_the_ingress_dlq(eventbridge: Synthesized) -> None:
    rule = _props(eventbridge.one("AWS::Events::Rule", Name="UnroutedOrderEvents"))
    [target] = rule["Targets"]
    assert target["Arn"] == _queue_arn(eventbridge, "OrderIngressDLQ")
    assert "InputPath" not in target
    assert "Input" not in target
    # the pattern passes exactly what the routing rules do not (EventBridge's own matching rules)
    unrouted = RecordFilter((json.dumps(rule["EventPattern"]),))
    routes = [RecordFilter((json.dumps({"detail-type": [t]}),)) for t in ROUTED_EVENTS]
    for detail_type in (*ROUTED_EVENTS, "OrderShipped", "ordercreated", ""):
        event = {"detail-type": detail_type, "source": "shop", "detail": {}}
        assert unrouted.matches(event) != any(route.matches(event) for route in routes), detail_type


def test_only_the_ingress_rules_may_send_to_its_queues(eventbridge: Synthesized) -> None:
    rules = {name: _arn(eventbridge, "AWS::Events::Rule", Name=name) for name in
             ("RouteOrderCreated", "RouteOrderCancelled", "UnroutedOrderEvents")}  # fmt: skip
    expected = {
        "OrderCreatedQueue": [rules["RouteOrderCreated"]],
        "OrderCancelledQueue": [rules["RouteOrderCancelled"]],
        "OrderIngressDLQ": list(rules.values()),
    }
    policies = eventbridge.resources("AWS::SQS::QueuePolicy").values()
    for queue, senders in expected.items():
        ref = {"Ref": _id(eventbridge, "AWS::SQS::Queue", QueueName=queue)}
        [policy] = [_props(p)["PolicyDocument"] for p in policies if ref in _props(p)["Queues"]]
        allows = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
        assert allows == [
            {
                "Sid": "AllowOnlyTheIngressRulesToSend",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": _queue_arn(eventbridge, queue),
                "Condition": {"ArnEquals": {"aws:SourceArn": senders}},
            }
        ], queue


def test_eventbridge_may_use_the_key_only_for_this_account(eventbridge: Synthesized) -> None:
    [key] = eventbridge.resources("AWS::KMS::Key").values()
    for statement in _props(key)["KeyPolicy"]["Statement"]:
        if statement["Principal"] == {"Service": "events.amazonaws.com"}:
            assert statement.get("Condition"), statement  # no grant to EventBridge on behalf of any account


# --- the second consumer -------------------------------------------------------------------


def test_cancellations_have_their_own_queue_dlq_function_mapping_and_role(eventbridge: Synthesized) -> None:
    queue = _props(eventbridge.one("AWS::SQS::Queue", QueueName="OrderCancelledQueue"))
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == _queue_arn(eventbridge, "OrderCancelledDLQ")
    created = _props(eventbridge.one("AWS::Lambda::Function", FunctionName="OrderProcessor"))
    cancelled = _props(eventbridge.one("AWS::Lambda::Function", FunctionName="OrderCancellationProcessor"))
    # the same code package and handler, each with its own DLQ and role
    assert cancelled["Code"] == created["Code"]
    assert cancelled["Handler"] == created["Handler"]
    assert cancelled["Environment"]["Variables"]["DLQ_URL"] == {
        "Ref": _id(eventbridge, "AWS::SQS::Queue", QueueName="OrderCancelledDLQ")
    }
    assert cancelled["Role"] != created["Role"]
    mapping = _props(
        eventbridge.one(
            "AWS::Lambda::EventSourceMapping", EventSourceArn=_queue_arn(eventbridge, "OrderCancelledQueue")
        )
    )
    assert mapping["FunctionName"] == {
        "Ref": _id(eventbridge, "AWS::Lambda::Function", FunctionName="OrderCancellationProcessor")
    }
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_each_functions_role_reaches_only_its_own_queues(eventbridge: Synthesized) -> None:
    functions = {"OrderProcessor": "OrderCreated", "OrderCancellationProcessor": "OrderCancelled"}
    policies = eventbridge.resources("AWS::IAM::Policy").values()
    for function, event in functions.items():
        role = _props(eventbridge.one("AWS::Lambda::Function", FunctionName=function))["Role"]["Fn::GetAtt"][0]
        statements = [
            statement
            for policy in policies
            if {"Ref": role} in _props(policy).get("Roles", [])
            for statement in _props(policy)["PolicyDocument"]["Statement"]
        ]
        queues = {
            json.dumps(statement["Resource"])
            for statement in statements
            if any(str(action).startswith("sqs:") for action in _list(statement["Action"]))
        }
        assert queues == {json.dumps(_queue_arn(eventbridge, f"{event}Queue")),
                          json.dumps(_queue_arn(eventbridge, f"{event}DLQ"))}, function  # fmt: skip


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_every_consumer_and_the_ingress_dlq_are_alarmed(eventbridge: Synthesized) -> None:
    names = {_props(alarm)["AlarmName"] for alarm in eventbridge.resources("AWS::CloudWatch::Alarm").values()}
    for alarm in ("DlqNotEmpty", "OldestMessageAge", "FunctionErrors", "FunctionThrottles", "DurationP99NearTimeout"):
        assert {f"orderflow-{alarm}", f"orderflow-Cancellation{alarm}"} <= names
    assert "orderflow-IngressDlqNotEmpty" in names
    dlq_alarm = _props(eventbridge.one("AWS::CloudWatch::Alarm", AlarmName="orderflow-CancellationDlqNotEmpty"))
    assert dlq_alarm["Dimensions"] == [
        {
            "Name": "QueueName",
            "Value": {"Fn::GetAtt": [_id(eventbridge, "AWS::SQS::Queue", QueueName="OrderCancelledDLQ"), "QueueName"]},
        }
    ]
    assert "OrderCancelledDLQ" in dlq_alarm["AlarmDescription"]
