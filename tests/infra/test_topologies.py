"""The stack options -c fifo=true and -c fanout=true, alone and combined (dev stage)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from infra.config import Topology, topology_from_context

if TYPE_CHECKING:
    from tests.infra.conftest import Synthesized

DAY = 24 * 3600


def _props(resource: dict[str, Any]) -> dict[str, Any]:
    return resource["Properties"]  # type: ignore[no-any-return]


def _id(stack: Synthesized, resource_type: str, **properties: Any) -> str:
    target = stack.one(resource_type, **properties)
    return next(key for key, value in stack.json["Resources"].items() if value is target)


def _is_fifo(stack: Synthesized) -> bool:
    return any(_props(queue).get("FifoQueue") for queue in stack.resources("AWS::SQS::Queue").values())


#: Queues that are standard in every topology, FIFO included:
#: - the outbox pipe's DLQ: the pipe sends no message group id;
#: - the payment service's: an EventBridge rule feeds PaymentQueue from the order events bus, and
#:   PaymentDLQ is that rule target's DLQ as well as PaymentQueue's, and EventBridge's DLQs are standard
#:   queues (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html), while a queue's
#:   DLQ must be of its type (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html).
#:   The payment service keeps each order's payment state, so it needs no delivery order (docs/services.md).
#: - the notification service's, for the same reason (a rule on the bus feeds NotificationQueue, and
#:   NotificationDLQ is its target DLQ); it keeps one claim per event, so it needs no order either.
STANDARD_IN_EVERY_TOPOLOGY = ("OrderOutboxDLQ", "PaymentQueue", "PaymentDLQ", "NotificationQueue", "NotificationDLQ")


# --- context -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fifo", "fanout", "name"),
    [(None, None, "standard"), ("true", None, "fifo"), (None, "TRUE", "fanout"), ("1", "yes", "fifo-fanout")],
)
def test_topology_from_context(fifo: str | None, fanout: str | None, name: str) -> None:
    assert topology_from_context(fifo, fanout).name == name


def test_a_flag_that_is_not_a_boolean_says_what_to_write() -> None:
    with pytest.raises(ValueError, match=r"-c fifo=maybe is not a boolean: use -c fifo=true or -c fifo=false"):
        topology_from_context("maybe", None)


def test_the_default_is_the_tutorials_standard_direct_topology(dev: Synthesized) -> None:
    assert Topology().name == "standard"
    assert not dev.resources("AWS::SNS::Subscription")
    assert "TopicArn" not in dev.json["Outputs"]
    assert {_props(q)["QueueName"] for q in dev.resources("AWS::SQS::Queue").values()} == {
        "OrderCreatedQueue",
        "OrderCreatedDLQ",
        "OrderOutboxDLQ",  # the outbox pipe's, in every topology (tests/infra/test_outbox.py)
        "PaymentQueue",  # the payment service's, in every topology (tests/infra/test_payments.py)
        "PaymentDLQ",
        "NotificationQueue",  # the notification service's, in every topology (tests/infra/test_notifications.py)
        "NotificationDLQ",
    }


# --- FIFO --------------------------------------------------------------------------------


def test_fifo_queues_keep_redrive_retention_and_encryption(fifo: Synthesized) -> None:
    queue = fifo.one("AWS::SQS::Queue", QueueName="OrderCreatedQueue.fifo")
    dlq = fifo.one("AWS::SQS::Queue", QueueName="OrderCreatedDLQ.fifo")
    for each in (queue, dlq):
        assert _props(each)["FifoQueue"] is True
        assert _props(each)["ContentBasedDeduplication"] is True
        assert "KmsMasterKeyId" in _props(each)
    assert _props(queue)["MessageRetentionPeriod"] == 7 * DAY
    assert _props(dlq)["MessageRetentionPeriod"] == 14 * DAY
    assert _props(queue)["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [_id(fifo, "AWS::SQS::Queue", QueueName="OrderCreatedDLQ.fifo"), "Arn"]},
        "maxReceiveCount": 5,
    }


def test_a_fifo_mapping_has_no_batching_window_and_at_most_ten_records(topology: Synthesized) -> None:
    # OrderProcessor consumes the variant's queue; PaymentProcessor and Notifier theirs, standard in every variant
    queue_name = "OrderCreatedQueue.fifo" if _is_fifo(topology) else "OrderCreatedQueue"
    functions = {
        key: _props(value)["FunctionName"] for key, value in topology.resources("AWS::Lambda::Function").items()
    }
    queues = {key: _props(value) for key, value in topology.resources("AWS::SQS::Queue").items()}
    mappings = {
        queues[_props(mapping)["EventSourceArn"]["Fn::GetAtt"][0]]["QueueName"]: _props(mapping)
        for mapping in topology.resources("AWS::Lambda::EventSourceMapping").values()
    }
    assert {name: functions[mapping["FunctionName"]["Ref"]] for name, mapping in mappings.items()} == {
        queue_name: "OrderProcessor",
        "PaymentQueue": "PaymentProcessor",
        "NotificationQueue": "Notifier",
    }
    assert len(topology.resources("AWS::Lambda::EventSourceMapping")) == len(mappings)
    for name, mapping in mappings.items():  # the window rule holds for every mapping
        queue = _props(topology.one("AWS::SQS::Queue", QueueName=name))
        if queue.get("FifoQueue"):
            assert "MaximumBatchingWindowInSeconds" not in mapping
            assert mapping["BatchSize"] <= 10
            assert queue["VisibilityTimeout"] == 180  # 6 x the 30 s timeout, no window
        else:
            assert mapping["MaximumBatchingWindowInSeconds"] == 5
            assert queue["VisibilityTimeout"] == 185


def test_the_role_is_scoped_to_the_variants_queues(topology: Synthesized) -> None:
    suffix = ".fifo" if _is_fifo(topology) else ""
    consumers = {  # each function's role names its own queue and DLQ
        "OrderProcessor": (f"OrderCreatedQueue{suffix}", f"OrderCreatedDLQ{suffix}"),
        "PaymentProcessor": ("PaymentQueue", "PaymentDLQ"),  # standard in every variant
        "Notifier": ("NotificationQueue", "NotificationDLQ"),  # standard in every variant
    }
    for function, (queue, dlq) in consumers.items():
        role_id = _props(topology.one("AWS::Lambda::Function", FunctionName=function))["Role"]["Fn::GetAtt"][0]
        resources = {
            statement.get("Sid"): statement["Resource"]
            for policy in topology.resources("AWS::IAM::Policy").values()
            if {"Ref": role_id} in _props(policy)["Roles"]
            for statement in _props(policy)["PolicyDocument"]["Statement"]
        }
        queue_id = _id(topology, "AWS::SQS::Queue", QueueName=queue)
        dlq_id = _id(topology, "AWS::SQS::Queue", QueueName=dlq)
        assert resources["EventSourceMappingConsumesTheQueue"] == {"Fn::GetAtt": [queue_id, "Arn"]}, function
        assert resources["BackOffTransientFailures"] == {"Fn::GetAtt": [queue_id, "Arn"]}, function
        assert resources["RejectPermanentFailuresToTheDLQ"] == {"Fn::GetAtt": [dlq_id, "Arn"]}, function


# --- fan-out -----------------------------------------------------------------------------


def _fanout_topic(stack: Synthesized) -> tuple[str, dict[str, Any]]:
    name = "OrderEvents.fifo" if _is_fifo(stack) else "OrderEvents"
    return _id(stack, "AWS::SNS::Topic", TopicName=name), _props(stack.one("AWS::SNS::Topic", TopicName=name))


@pytest.fixture(params=["fanout", "fifo_fanout"])
def fanned(request: pytest.FixtureRequest) -> Synthesized:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def test_the_topic_is_encrypted_fifo_when_the_queues_are_and_refuses_requests_without_tls(fanned: Synthesized) -> None:
    topic_id, topic = _fanout_topic(fanned)
    [key_id] = fanned.resources("AWS::KMS::Key")
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    if _is_fifo(fanned):
        assert topic["FifoTopic"] is True
        assert topic["ContentBasedDeduplication"] is True
    else:
        assert "FifoTopic" not in topic
    policies = [
        p for p in fanned.resources("AWS::SNS::TopicPolicy").values() if {"Ref": topic_id} in _props(p)["Topics"]
    ]
    statements = [s for p in policies for s in _props(p)["PolicyDocument"]["Statement"]]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
    )


def _subscriptions(stack: Synthesized) -> dict[str, dict[str, Any]]:
    """Subscriptions of the order topic, by the queue name they deliver to."""
    topic_id, _ = _fanout_topic(stack)
    names = {key: _props(value)["QueueName"] for key, value in stack.resources("AWS::SQS::Queue").items()}
    return {
        names[_props(s)["Endpoint"]["Fn::GetAtt"][0]]: _props(s)
        for s in stack.resources("AWS::SNS::Subscription").values()
        if _props(s)["TopicArn"] == {"Ref": topic_id}
    }


def test_the_queue_is_subscribed_with_raw_delivery_and_takes_every_event(fanned: Synthesized) -> None:
    suffix = ".fifo" if _is_fifo(fanned) else ""
    subscriptions = _subscriptions(fanned)
    # the notification service is fed by the order events bus in every topology, not by this topic
    assert set(subscriptions) == {f"OrderCreatedQueue{suffix}"}
    delivery_dlq = _id(fanned, "AWS::SQS::Queue", QueueName=f"OrderEventsDeliveryDLQ{suffix}")
    [subscription] = subscriptions.values()
    assert subscription["Protocol"] == "sqs"
    assert subscription["RawMessageDelivery"] is True
    assert subscription["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [delivery_dlq, "Arn"]}}
    assert "FilterPolicy" not in subscription


def test_each_subscribed_queue_accepts_only_this_topic(fanned: Synthesized) -> None:
    topic_id, _ = _fanout_topic(fanned)
    suffix = ".fifo" if _is_fifo(fanned) else ""
    for name in (f"OrderCreatedQueue{suffix}", f"OrderEventsDeliveryDLQ{suffix}"):
        queue_id = _id(fanned, "AWS::SQS::Queue", QueueName=name)
        [policy] = [
            p for p in fanned.resources("AWS::SQS::QueuePolicy").values() if {"Ref": queue_id} in _props(p)["Queues"]
        ]
        [allow] = [s for s in _props(policy)["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
        assert allow["Principal"] == {"Service": "sns.amazonaws.com"}
        assert allow["Action"] == "sqs:SendMessage"
        assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Ref": topic_id}}}


def test_sns_may_use_the_key_of_the_encrypted_queues(fanned: Synthesized) -> None:
    [key] = fanned.resources("AWS::KMS::Key").values()
    statements = _props(key)["KeyPolicy"]["Statement"]
    [sns] = [s for s in statements if s["Principal"] == {"Service": "sns.amazonaws.com"}]
    assert {"kms:Decrypt", "kms:GenerateDataKey"} <= set(sns["Action"])


def test_fanout_adds_only_the_delivery_dlq_and_the_variants_queues_are_fifo(fanned: Synthesized) -> None:
    suffix = ".fifo" if _is_fifo(fanned) else ""
    names = {_props(queue)["QueueName"] for queue in fanned.resources("AWS::SQS::Queue").values()}
    assert names == {
        f"OrderCreatedQueue{suffix}",
        f"OrderCreatedDLQ{suffix}",
        f"OrderEventsDeliveryDLQ{suffix}",
        *STANDARD_IN_EVERY_TOPOLOGY,
    }
    for each in fanned.resources("AWS::SQS::Queue").values():
        fifo = _is_fifo(fanned) and _props(each)["QueueName"] not in STANDARD_IN_EVERY_TOPOLOGY
        assert bool(_props(each).get("FifoQueue")) == fifo, _props(each)["QueueName"]


def test_outputs_name_the_topic(fanned: Synthesized) -> None:
    topic_id, _ = _fanout_topic(fanned)
    assert fanned.json["Outputs"]["TopicArn"]["Value"] == {"Ref": topic_id}
    assert "NotificationsQueueUrl" not in fanned.json["Outputs"]  # the fan-out's notifications queue is gone


def test_the_fanout_dead_letter_queue_is_alarmed_on(fanned: Synthesized) -> None:
    suffix = ".fifo" if _is_fifo(fanned) else ""
    [topic_id] = [
        key for key, value in fanned.resources("AWS::SNS::Topic").items() if "TopicName" not in _props(value)
    ]  # the alarm topic
    alarmed = {}
    for alarm in fanned.resources("AWS::CloudWatch::Alarm").values():
        dimensions = {d["Name"]: d["Value"] for d in _props(alarm).get("Dimensions", [])}
        if "QueueName" in dimensions:
            alarmed[dimensions["QueueName"]["Fn::GetAtt"][0]] = _props(alarm)
    alarm = alarmed[_id(fanned, "AWS::SQS::Queue", QueueName=f"OrderEventsDeliveryDLQ{suffix}")]
    assert alarm["AlarmName"] == "orderflow-DeliveryDlqNotEmpty"
    assert alarm["Threshold"] == 1
    assert alarm["AlarmActions"] == [{"Ref": topic_id}]
    names = {_props(each)["AlarmName"] for each in fanned.resources("AWS::CloudWatch::Alarm").values()}
    assert "orderflow-NotificationsDlqNotEmpty" not in names  # the removed notifications queue's
