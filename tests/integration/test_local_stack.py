"""The local stack is created from the synthesized template, and does what moto does not."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from orderflow_local.emulator import Emulator, EmulatorError
from orderflow_local.emulator import patches as moto_patches
from orderflow_local.ops.dlq import MAX_REDRIVES, list_dead_letters, redrive
from orderflow_local.stack import LocalStack, StackOptions
from orderflow_local.stack.deploy import deploy
from orderflow_local.stack.synthesis import ensure_template
from orderflow_local.stack.template import TemplateError, load_template, resolve
from orderflow_local.stack.ttl import sweep_expired
from tests.support import EVENTS

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from typing import Any

# One worker runs this module's tests, so its module-scoped stack starts once (make test: --dist loadgroup).
pytestmark = [pytest.mark.timeout(180), pytest.mark.xdist_group("test_local_stack")]


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(StackOptions(port=0, ttl_sweep_interval=3600)) as running:
        yield running


def _template() -> dict[str, object]:
    return json.loads(ensure_template().read_text())  # type: ignore[no-any-return]


def test_queues_are_created_with_the_templates_settings(stack: LocalStack) -> None:
    sqs = stack.emulator.sqs()
    queue = sqs.get_queue_attributes(QueueUrl=stack.outputs["QueueUrl"], AttributeNames=["All"])["Attributes"]
    dlq = sqs.get_queue_attributes(QueueUrl=stack.outputs["DLQUrl"], AttributeNames=["All"])["Attributes"]
    assert queue["VisibilityTimeout"] == "185"
    assert queue["MessageRetentionPeriod"] == str(7 * 24 * 3600)
    assert dlq["MessageRetentionPeriod"] == str(14 * 24 * 3600)
    assert json.loads(queue["RedrivePolicy"]) == {"deadLetterTargetArn": dlq["QueueArn"], "maxReceiveCount": 5}


def test_the_table_has_the_templates_keys_gsi_and_ttl(stack: LocalStack) -> None:
    dynamodb = stack.emulator.dynamodb()
    table = dynamodb.describe_table(TableName="Orders")["Table"]
    assert table["KeySchema"] == [
        {"AttributeName": "orderId", "KeyType": "HASH"},
        {"AttributeName": "createdAt", "KeyType": "RANGE"},
    ]
    [index] = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "CustomerIndex"
    assert [key["AttributeName"] for key in index["KeySchema"]] == ["customerId", "createdAt"]
    ttl = dynamodb.describe_time_to_live(TableName="Orders")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}


def test_the_functions_and_mappings_follow_the_template(stack: LocalStack) -> None:
    # one function and one mapping per service: the order service's, the payment service's and the
    # notification service's
    queues = {
        "OrderProcessor": stack.outputs["QueueUrl"],
        "PaymentProcessor": stack.outputs["PaymentQueueUrl"],
        "Notifier": stack.outputs["NotificationQueueUrl"],
    }
    assert sorted(pool.config.name for pool in stack.pools) == sorted(queues)
    assert sorted(mapping.config.queue_url for mapping in stack.mappings) == sorted(queues.values())
    for name, queue_url in queues.items():
        [mapping] = [mapping for mapping in stack.mappings if mapping.config.queue_url == queue_url]
        [pool] = [pool for pool in stack.pools if pool.config.name == name]
        assert mapping.config.batch_size == 10
        assert mapping.config.batching_window == 5
        assert mapping.config.report_batch_item_failures is True
        assert mapping.config.max_concurrency == 2
        assert mapping.config.visibility_timeout == 185
        assert pool.config.timeout == 30
        assert pool.config.memory_size == 256
        assert pool.config.log_group == f"/aws/lambda/{name}"
        assert pool.config.environment["AWS_ENDPOINT_URL"] == stack.endpoint
    [orders] = [pool.config for pool in stack.pools if pool.config.name == "OrderProcessor"]
    assert orders.handler == "orderflow.handler.lambda_handler"
    # Ref to the DLQ resolved to the local queue's URL, Ref to the table to its name
    assert orders.environment["DLQ_URL"] == stack.outputs["DLQUrl"]
    assert orders.environment["TABLE_NAME"] == "Orders"
    [payments] = [pool.config for pool in stack.pools if pool.config.name == "PaymentProcessor"]
    assert payments.handler == "orderflow.payment_handler.lambda_handler"
    assert payments.environment["DLQ_URL"] == stack.outputs["PaymentDLQUrl"]
    assert payments.environment["PAYMENTS_TABLE"] == stack.outputs["PaymentsTableName"] == "Payments"
    assert payments.environment["IDEMPOTENCY_TABLE"] == "PaymentIdempotency"
    assert payments.environment["EVENT_BUS_NAME"] == stack.outputs["OrderEventsBusName"]
    # the secret's Ref resolved to the local secret's ARN, and the provider's URL to the embedded provider
    assert payments.environment["PAYMENT_API_KEY_SECRET"] == stack.outputs["PaymentApiKeySecretArn"]
    assert stack.payment_provider is not None
    assert payments.environment["PAYMENT_API_URL"] == stack.payment_provider.url
    [notifier] = [pool.config for pool in stack.pools if pool.config.name == "Notifier"]
    assert notifier.handler == "orderflow.notifier_handler.lambda_handler"
    assert notifier.environment["DLQ_URL"] == stack.outputs["NotificationDLQUrl"]
    assert notifier.environment["ORDERS_TABLE"] == "Orders"
    assert notifier.environment["NOTIFICATIONS_TABLE"] == stack.outputs["NotificationsTableName"] == "Notifications"
    assert notifier.environment["IDEMPOTENCY_TABLE"] == "NotifierIdempotency"
    assert notifier.environment["SENDER_EMAIL"] == stack.outputs["SenderEmail"]


def _records(stack: LocalStack, stream_arn: str) -> list[dict[str, Any]]:
    """Every record of the stream's shards, from the oldest (moto keeps them all)."""
    streams = stack.emulator.session().client("dynamodbstreams", endpoint_url=stack.endpoint)
    records = []
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records.extend(streams.get_records(ShardIterator=iterator, Limit=1000)["Records"])
    return records


def test_the_outbox_bus_its_archive_and_the_tables_stream_are_deployed(stack: LocalStack) -> None:
    deployed, events = stack.deployed, stack.emulator.events()
    assert deployed is not None
    bus = events.describe_event_bus(Name="OrderDomainEvents")
    assert stack.outputs["OrderEventsBusName"] == "OrderDomainEvents"
    assert stack.outputs["OrderEventsBusArn"] == bus["Arn"]
    assert list(deployed.buses.values()) == [bus["Arn"]]
    archive = events.describe_archive(ArchiveName="OrderDomainEvents")
    assert archive["EventSourceArn"] == bus["Arn"]
    assert archive["RetentionDays"] == 7  # dev
    assert json.loads(archive["EventPattern"]) == {"source": ["orderflow.orders"]}
    # the table's stream, as the template asks, and moto writes a record for each write
    table = stack.emulator.dynamodb().describe_table(TableName="Orders")["Table"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert list(deployed.streams.values()) == [table["LatestStreamArn"]]
    key = {"orderId": {"S": "ORD-STREAM-1"}, "createdAt": {"S": "2026-01-01T00:00:00Z"}}
    stack.emulator.dynamodb().put_item(TableName="Orders", Item={**key, "status": {"S": "CONFIRMED"}})
    [record] = [r for r in _records(stack, table["LatestStreamArn"]) if r["dynamodb"]["Keys"] == key]
    assert record["eventName"] == "INSERT"
    assert record["dynamodb"]["NewImage"]["status"] == {"S": "CONFIRMED"}
    assert stack.outputs["OutboxDLQUrl"].endswith("/OrderOutboxDLQ")


def test_the_pipe_is_resolved_to_the_local_resources(stack: LocalStack) -> None:
    deployed = stack.deployed
    assert deployed is not None
    [pipe] = deployed.pipes.values()
    [stream_arn] = deployed.streams.values()
    assert pipe["Name"] == "OrderOutbox"
    assert pipe["Source"] == stream_arn
    [bus_id] = deployed.spec.buses
    assert pipe["Target"] == deployed.buses[bus_id] == stack.outputs["OrderEventsBusArn"]
    dlq = deployed.queue_by_name("OrderOutboxDLQ")
    assert pipe["SourceParameters"]["DynamoDBStreamParameters"]["DeadLetterConfig"] == {"Arn": dlq.arn}
    assert pipe["RoleArn"] in deployed.roles.values()
    assert not _intrinsics(pipe)


def test_the_pipes_api_describes_the_pipe_as_deployed(stack: LocalStack) -> None:
    """As `aws pipes describe-pipe` / `list-pipes` would, against the emulator `orderflow up` serves."""
    deployed = stack.deployed
    assert deployed is not None
    [resolved] = deployed.pipes.values()
    pipes = stack.emulator.client("pipes")
    described = pipes.describe_pipe(Name="OrderOutbox")
    for name in ("RoleArn", "Source", "Target", "SourceParameters", "TargetParameters", "DesiredState"):
        assert described[name] == resolved[name], name
    assert described["CurrentState"] == "RUNNING"
    assert [pipe["Name"] for pipe in pipes.list_pipes()["Pipes"]] == ["OrderOutbox"]


def test_the_banner_and_status_show_the_running_outbox(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import io

    from typer.testing import CliRunner

    import orderflow_cli.up
    from orderflow_cli.common import OutputConsole
    from orderflow_cli.main import app

    out = io.StringIO()
    monkeypatch.setattr(orderflow_cli.up, "console", OutputConsole(file=out, force_terminal=False))
    orderflow_cli.up._print_banner(stack, tmp_path / "fn.log", None)
    banner = [" ".join(line.split()) for line in out.getvalue().splitlines()]
    assert "Event buses OrderDomainEvents: archive OrderDomainEvents (7 days)" in banner
    assert (
        "Pipes OrderOutbox (RUNNING): the Orders table's stream -> bus OrderDomainEvents; DLQ OrderOutboxDLQ"
    ) in banner
    assert any(line.startswith("IAM ") and "OrderOutbox runs as " in line for line in banner)
    status = CliRunner().invoke(app, ["status", "--endpoint-url", stack.endpoint], prog_name="orderflow")
    assert status.exit_code == 0, status.output
    [outbox] = [line for line in status.stdout.splitlines() if line.startswith("Outbox:")]
    assert outbox.startswith(
        "Outbox: pipe OrderOutbox RUNNING: the Orders table's stream -> bus OrderDomainEvents; DLQ OrderOutboxDLQ: "
    )
    assert " alarm orderflow-OrderOutboxDLQ " in outbox


def _intrinsics(value: object) -> list[object]:
    """The CloudFormation intrinsics left in ``value`` (``{"Ref": ...}``, ``{"Fn::...": ...}``)."""
    if isinstance(value, list):
        return [found for item in value for found in _intrinsics(item)]
    if not isinstance(value, dict):
        return []
    if len(value) == 1 and next(iter(value)).startswith(("Ref", "Fn::")):
        return [value]
    return [found for item in value.values() for found in _intrinsics(item)]


def test_rules_on_a_bus_are_created_with_their_sqs_targets(stack: LocalStack, tmp_path: Path) -> None:
    """A bus, a rule routing by detail-type to a queue, and a Lambda target (not created locally)."""
    template = {
        "Resources": {
            "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "RulesTestBus"}},
            "Inbox": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "RulesTestInbox"}},
            "Routed": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "EventBusName": {"Ref": "Bus"},
                    "EventPattern": {"detail-type": ["OrderCancelled"]},
                    "State": "ENABLED",
                    "Targets": [
                        {"Id": "Inbox", "Arn": {"Fn::GetAtt": ["Inbox", "Arn"]}},
                        {"Id": "Fn", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:Elsewhere"},
                    ],
                },
            },
        }
    }
    path = tmp_path / "rules.template.json"
    path.write_text(json.dumps(template))
    events, sqs = stack.emulator.events(), stack.emulator.sqs()
    deployed = deploy(load_template(path), sqs=sqs, dynamodb=stack.emulator.dynamodb(), events=events)
    [rule_arn] = deployed.rules.values()
    assert rule_arn.endswith(":rule/RulesTestBus/OrderProcessingStack-Routed")
    assert deployed.lookup("Routed", None) == "RulesTestBus|OrderProcessingStack-Routed"  # CloudFormation's Ref
    [target] = events.list_targets_by_rule(Rule="OrderProcessingStack-Routed", EventBusName="RulesTestBus")["Targets"]
    assert target == {"Id": "Inbox", "Arn": deployed.queues["Inbox"].arn}
    assert deployed.skipped_targets == ["Routed/Fn: arn:aws:lambda:us-east-1:123456789012:function:Elsewhere"]
    for detail_type in ("OrderConfirmed", "OrderCancelled"):
        entry = {"Source": "test", "DetailType": detail_type, "Detail": "{}", "EventBusName": "RulesTestBus"}
        assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
    received = sqs.receive_message(QueueUrl=deployed.queues["Inbox"].url, WaitTimeSeconds=1, MaxNumberOfMessages=10)
    assert [json.loads(m["Body"])["detail-type"] for m in received["Messages"]] == ["OrderCancelled"]


def test_a_change_to_the_template_is_followed(tmp_path: pytest.TempPathFactory) -> None:
    # Given the template with another batch size and visibility timeout
    template = _template()
    for resource in template["Resources"].values():  # type: ignore[attr-defined]
        if resource["Type"] == "AWS::Lambda::EventSourceMapping":
            resource["Properties"]["BatchSize"] = 3
        if resource["Type"] == "AWS::SQS::Queue" and resource["Properties"]["QueueName"] == "OrderCreatedQueue":
            resource["Properties"]["VisibilityTimeout"] = 200
    changed = tmp_path / "OrderProcessingStack.template.json"  # type: ignore[operator]
    changed.write_text(json.dumps(template))
    spec = load_template(changed)
    # Then the local stack reads it
    assert spec.mappings[0].batch_size == 3
    assert next(q for q in spec.queues.values() if q.name == "OrderCreatedQueue").visibility_timeout == 200
    assert "AWS::KMS::Key" in spec.not_emulated


def test_intrinsics_resolve_to_local_resources() -> None:
    def lookup(logical_id: str, attribute: str | None) -> str:
        return f"{logical_id}.{attribute or 'Ref'}"

    pseudo = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"}
    value = {
        "a": {"Ref": "Queue"},
        "b": {"Fn::GetAtt": ["Queue", "Arn"]},
        "c": {"Fn::Join": ["-", [{"Ref": "AWS::Region"}, "x"]]},
        "d": {"Fn::Sub": "arn:${AWS::AccountId}:${Queue.Arn}:${Table}"},
        "e": {"Fn::Select": [1, ["x", {"Ref": "Table"}]]},
    }
    assert resolve(value, lookup, pseudo=pseudo) == {
        "a": "Queue.Ref",
        "b": "Queue.Arn",
        "c": "us-east-1-x",
        "d": "arn:123456789012:Queue.Arn:Table.Ref",
        "e": "Table.Ref",
    }
    with pytest.raises(TemplateError, match="cannot resolve Fn::ImportValue"):
        resolve({"Fn::ImportValue": "x"}, lookup, pseudo=pseudo)


def test_a_missing_template_says_how_to_make_one(tmp_path: pytest.TempPathFactory) -> None:
    with pytest.raises(TemplateError, match="run `make synth`"):
        load_template(tmp_path / "nope.json")  # type: ignore[operator]


@pytest.mark.parametrize("own_process", [False, True])
def test_a_taken_port_is_a_clear_error(stack: LocalStack, own_process: bool) -> None:
    emulator = Emulator(port=stack.emulator.port, own_process=own_process)
    with pytest.raises(EmulatorError, match=r"already in use: is `orderflow up` already running\?"):
        emulator.start()


def test_expired_items_are_swept(stack: LocalStack) -> None:
    dynamodb = stack.emulator.dynamodb()
    now = int(time.time())
    for order_id, ttl in (("ORD-EXPIRED", now - 10), ("ORD-ALIVE", now + 3600)):
        dynamodb.put_item(
            TableName="Orders",
            Item={"orderId": {"S": order_id}, "createdAt": {"S": "2026-01-01T00:00:00Z"}, "ttl": {"N": str(ttl)}},
        )
    assert sweep_expired(dynamodb, "Orders") == 1
    key = {"createdAt": {"S": "2026-01-01T00:00:00Z"}}
    assert "Item" not in dynamodb.get_item(TableName="Orders", Key={"orderId": {"S": "ORD-EXPIRED"}, **key})
    assert "Item" in dynamodb.get_item(TableName="Orders", Key={"orderId": {"S": "ORD-ALIVE"}, **key})


def test_the_seed_order_flows_through_the_real_handler(stack: LocalStack) -> None:
    sqs, dynamodb = stack.emulator.sqs(), stack.emulator.dynamodb()
    sqs.send_message(QueueUrl=stack.outputs["QueueUrl"], MessageBody=(EVENTS / "seed_order.json").read_text())
    key = {"orderId": {"S": "ORD-20260420-001"}, "createdAt": {"S": "2026-04-20T14:30:00Z"}}
    deadline = time.monotonic() + 60
    while "Item" not in (item := dynamodb.get_item(TableName="Orders", Key=key)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert item["Item"]["status"] == {"S": "CONFIRMED"}
    assert Decimal(item["Item"]["totalAmount"]["N"]) == Decimal("149.99")


def test_moto_patches_refuse_another_moto_version() -> None:
    with pytest.raises(moto_patches.MotoVersionError, match=r"patches moto 5\.2\.5, but moto 9\.9\.9 is installed"):
        moto_patches.apply(version="9.9.9")


# --- the DLQ redrive ---------------------------------------------------------------------


@pytest.fixture
def queues(stack: LocalStack) -> Iterator[tuple[str, str]]:
    """A fresh source queue and DLQ (no mapping polls them)."""
    sqs = stack.emulator.sqs()
    suffix = str(time.monotonic_ns())
    source = sqs.create_queue(QueueName=f"redrive-source-{suffix}")["QueueUrl"]
    dlq = sqs.create_queue(QueueName=f"redrive-dlq-{suffix}")["QueueUrl"]
    return source, dlq


def _dead_letter(stack: LocalStack, dlq: str, body: str, **attributes: str) -> None:
    stack.emulator.sqs().send_message(
        QueueUrl=dlq,
        MessageBody=body,
        MessageAttributes={
            name: {"DataType": "Number" if name == "redriveCount" else "String", "StringValue": value}
            for name, value in attributes.items()
        },
    )


def _drain(stack: LocalStack, url: str) -> list[dict[str, object]]:
    sqs = stack.emulator.sqs()
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
        "Messages", []
    )
    return list(messages)  # type: ignore[arg-type]


def test_redrive_moves_exhausted_messages_back_with_their_attributes(
    stack: LocalStack, queues: tuple[str, str]
) -> None:
    source, dlq = queues
    _dead_letter(stack, dlq, '{"orderId": "ORD-1"}', correlationId="corr-9")
    report = redrive(stack.emulator.sqs(), dlq_url=dlq, source_url=source, rate=100)
    assert report.moved == 1
    [moved] = _drain(stack, source)
    assert moved["Body"] == '{"orderId": "ORD-1"}'
    attributes = moved["MessageAttributes"]
    assert attributes["correlationId"]["StringValue"] == "corr-9"  # type: ignore[index]
    assert attributes["redriveCount"]["StringValue"] == "1"  # type: ignore[index]
    assert _drain(stack, dlq) == []


def test_redrive_to_a_fifo_queue_keeps_the_group_and_is_not_taken_for_a_duplicate(stack: LocalStack) -> None:
    """The stack's FIFO queues deduplicate by content: a redrive within 5 minutes of the original
    send must not be accepted and silently dropped."""
    sqs = stack.emulator.sqs()
    suffix = str(time.monotonic_ns())
    fifo = {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    source = sqs.create_queue(QueueName=f"redrive-source-{suffix}.fifo", Attributes=fifo)["QueueUrl"]
    dlq = sqs.create_queue(QueueName=f"redrive-dlq-{suffix}.fifo", Attributes=fifo)["QueueUrl"]
    body = '{"orderId": "ORD-FIFO-1"}'
    sqs.send_message(QueueUrl=source, MessageBody=body, MessageGroupId="ORD-FIFO-1")  # the original send
    [original] = sqs.receive_message(QueueUrl=source)["Messages"]
    sqs.delete_message(QueueUrl=source, ReceiptHandle=original["ReceiptHandle"])
    sqs.send_message(QueueUrl=dlq, MessageBody=body, MessageGroupId="ORD-FIFO-1")  # as SQS moves it
    report = redrive(sqs, dlq_url=dlq, source_url=source, rate=100)
    assert report.moved == 1
    [moved] = sqs.receive_message(QueueUrl=source, AttributeNames=["All"])["Messages"]
    assert moved["Body"] == body
    assert moved["Attributes"]["MessageGroupId"] == "ORD-FIFO-1"


def test_redrive_leaves_rejected_messages_unless_asked(stack: LocalStack, queues: tuple[str, str]) -> None:
    source, dlq = queues
    _dead_letter(stack, dlq, "not json", errorCode="MALFORMED_JSON", errorReason="body is not valid JSON")
    report = redrive(stack.emulator.sqs(), dlq_url=dlq, source_url=source, rate=100)
    assert (report.moved, report.skipped_rejected) == (0, 1)
    assert [letter.error_code for letter in list_dead_letters(stack.emulator.sqs(), dlq)] == ["MALFORMED_JSON"]
    report = redrive(stack.emulator.sqs(), dlq_url=dlq, source_url=source, rate=100, include_rejected=True)
    assert report.moved == 1


def test_redrive_is_capped_so_nothing_loops_forever(stack: LocalStack, queues: tuple[str, str]) -> None:
    source, dlq = queues
    _dead_letter(stack, dlq, "not json", errorCode="MALFORMED_JSON", redriveCount=str(MAX_REDRIVES))
    report = redrive(stack.emulator.sqs(), dlq_url=dlq, source_url=source, rate=100, include_rejected=True)
    assert (report.moved, report.skipped_capped) == (0, 1)
    assert "the cap is 3" in report.skipped[0][1]
    assert len(list_dead_letters(stack.emulator.sqs(), dlq)) == 1


def test_redrive_is_rate_limited(stack: LocalStack, queues: tuple[str, str]) -> None:
    source, dlq = queues
    for n in range(3):
        _dead_letter(stack, dlq, f'{{"n": {n}}}')
    pauses: list[float] = []
    report = redrive(stack.emulator.sqs(), dlq_url=dlq, source_url=source, rate=2, sleep=pauses.append)
    assert report.moved == 3
    # each move is followed by the rest of its 0.5 s slot (2 per second), less the time it took
    assert len(pauses) == 3
    assert all(0 <= pause <= 0.5 for pause in pauses)
    assert sum(pauses) > 0


def test_the_handler_rejecting_a_redriven_message_again_counts_toward_the_cap(stack: LocalStack) -> None:
    # Given a malformed message already redriven twice, back on the real queue
    sqs = stack.emulator.sqs()
    sqs.send_message(
        QueueUrl=stack.outputs["QueueUrl"],
        MessageBody="still not json",
        MessageAttributes={"redriveCount": {"DataType": "Number", "StringValue": "2"}},
    )
    # Then it lands in the DLQ again with its count, and one more redrive reaches the cap
    deadline = time.monotonic() + 60
    letters = []
    while time.monotonic() < deadline:
        letters = [m for m in list_dead_letters(sqs, stack.outputs["DLQUrl"]) if m.body == "still not json"]
        if letters:
            break
        time.sleep(0.3)
    [letter] = letters
    assert letter.redrive_count == 2
    assert letter.error_code == "MALFORMED_JSON"


def test_only_the_functions_asked_for_get_an_event_source_mapping() -> None:
    # Given the stack's template (the default one, as every LocalStack here runs it)
    options = StackOptions(port=0, functions=("OrderProcessor",), alarms=False, function_logs=False)
    # When only the order service's function is asked for
    with LocalStack(options) as stack:
        # Then it alone polls its queue; the other services' queues are deployed, unconsumed
        assert [pool.config.name for pool in stack.pools] == ["OrderProcessor"]
        assert [mapping.config.queue_url.rsplit("/", 1)[1] for mapping in stack.mappings] == ["OrderCreatedQueue"]
        assert {"PaymentQueueUrl", "NotificationQueueUrl"} <= set(stack.outputs)
