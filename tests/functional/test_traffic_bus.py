"""Traffic through the EventBridge ingress (orderflow_local.ops.traffic with a bus): the bus refuses the
bodies that are not JSON objects, and the verdict counts them as refused at the producer, not as lost."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from orderflow_local.ops.traffic import plan_traffic, send, verify

if TYPE_CHECKING:
    from tests.functional.conftest import EmulatedAws


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _is_object(text: str) -> bool:
    """A JSON object, strictly: Python's json reads NaN and Infinity, which JSON (and EventBridge) refuses."""
    try:
        return isinstance(json.loads(text, parse_constant=_not_json), dict)
    except ValueError:
        return False


def test_the_bus_refuses_what_is_not_a_json_object_and_the_verdict_counts_it_refused(aws: EmulatedAws) -> None:
    import boto3

    # Given a bus whose rule sends every event's detail to the order queue, as the ingress's routes do
    events = boto3.client("events", region_name="us-east-1")
    events.create_event_bus(Name="OrderIngress")
    queue_arn = aws.sqs.get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="all", EventBusName="OrderIngress", EventPattern=json.dumps({"source": [{"exists": True}]}))
    events.put_targets(
        Rule="all", EventBusName="OrderIngress", Targets=[{"Id": "q", "Arn": queue_arn, "InputPath": "$.detail"}]
    )
    plan = plan_traffic(120, seed=3, malformed_rate=0.1)
    not_objects = {n for n, message in enumerate(plan.messages) if not _is_object(message.body)}
    assert not_objects  # the plan has malformed bodies that are not JSON objects
    # When the traffic is put on the bus
    refused: dict[int, str] = {}
    sent_at = send(aws.sqs, aws.queue_url, plan.messages, events=events, bus_name="OrderIngress", refused=refused)
    # Then exactly those are refused, each with EventBridge's reason, and every other reached the queue as sent
    assert set(refused) == not_objects
    assert all(reason.startswith("MalformedDetail") for reason in refused.values())
    assert set(sent_at) == set(range(len(plan.messages))) - not_objects
    bodies = []
    while batch := aws.sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [message["Body"] for message in batch]
        aws.sqs.delete_message_batch(
            QueueUrl=aws.queue_url,
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)],
        )

    def canonical(text: str) -> str:
        return json.dumps(json.loads(text), sort_keys=True)

    assert sorted(map(canonical, bodies)) == sorted(
        canonical(m.body) for n, m in enumerate(plan.messages) if n in sent_at
    )
    # and the verdict counts them refused by the bus, not missing from the DLQ
    verdict = verify(plan, dynamodb=aws.dynamodb, table_name=aws.table_name, sqs=aws.sqs, dlq_url=aws.dlq_url,
                     refused=refused)  # fmt: skip
    assert verdict.rejected_by_reason["refused by the bus: MalformedDetail"] == len(not_objects)
    expected_in_dlq = sum(1 for n, m in enumerate(plan.messages) if m.kind in {"malformed", "invalid"} and n in sent_at)
    assert verdict.rejected_missing == expected_in_dlq  # nothing processed them: only the sent ones are missing
