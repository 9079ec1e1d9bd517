"""IAM enforced from the template: the function and its event source mapping run as its role."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from orderflow_local.stack import LocalStack, StackOptions
from orderflow_local.stack.synthesis import ensure_template
from tests.support import body, cancellation, seed_order, wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.timeout(240)

PROBE = "tests.integration.handlers:iam_probe"
ACCOUNT = "123456789012"


def _start(tmp_path: Path, name: str, *, environment: dict[str, str] | None = None, **options: Any) -> LocalStack:
    journal = tmp_path / f"{name}.journal"
    return LocalStack(
        StackOptions(
            port=0,
            ttl_sweep_interval=3600,
            log_path=tmp_path / f"{name}.log",
            function_environment={"ESM_TEST_JOURNAL": str(journal), **(environment or {})},
            batching_window=1,  # the template's 5 s, shortened: each receive waits 1 s
            **options,
        )
    )


def _probe(stack: LocalStack, journal: Path, calls: list[list[Any]]) -> dict[str, Any]:
    """Have the function make ``calls`` with its own credentials; what each answered."""
    before = len(journal.read_text().splitlines()) if journal.exists() else 0
    stack.emulator.sqs().send_message(QueueUrl=stack.outputs["QueueUrl"], MessageBody=json.dumps({"calls": calls}))
    lines = wait_until(
        lambda: journal.exists() and journal.read_text().splitlines()[before:], "the probe's invocation", 60
    )
    return json.loads(lines[0])  # type: ignore[no-any-return]


def _dead_letters(stack: LocalStack, what: str, timeout: float) -> list[dict[str, Any]]:
    """Wait for messages in the stack's DLQ (received, with their attributes)."""
    sqs = stack.emulator.sqs()
    return wait_until(  # type: ignore[no-any-return]
        lambda: sqs.receive_message(
            QueueUrl=stack.outputs["DLQUrl"], MessageAttributeNames=["All"], WaitTimeSeconds=1
        ).get("Messages"),
        what,
        timeout,
    )


def _calls(stack: LocalStack) -> list[list[Any]]:
    key = {"orderId": {"S": "ORD-IAM-1"}, "createdAt": {"S": "2026-04-20T14:30:00Z"}}
    return [
        ["dynamodb", "put_item", {"TableName": "Orders", "Item": {**key, "status": {"S": "CONFIRMED"}}}],
        ["dynamodb", "get_item", {"TableName": "Orders", "Key": key}],
        ["dynamodb", "query", {"TableName": "Orders", "IndexName": "CustomerIndex",
                               "KeyConditionExpression": "customerId = :c",
                               "ExpressionAttributeValues": {":c": {"S": "CUST-1"}}}],
        ["sqs", "send_message", {"QueueUrl": stack.outputs["DLQUrl"], "MessageBody": "to the DLQ"}],
        ["sqs", "send_message", {"QueueUrl": stack.outputs["QueueUrl"], "MessageBody": "to the main queue"}],
    ]  # fmt: skip


@pytest.fixture
def enforced(tmp_path: Path) -> Iterator[tuple[LocalStack, Path]]:
    # function-scoped: one emulator per process, and other tests here start their own
    with _start(tmp_path, "probe", handler=PROBE) as stack:
        yield stack, tmp_path / "probe.journal"


def _statements(stack: LocalStack, role_arn: str) -> dict[str | None, dict[str, Any]]:
    """The statements of the role's inline policies in the embedded IAM, by Sid."""
    iam = stack.emulator.iam()
    name = role_arn.rsplit("/", 1)[1]
    return {
        statement.get("Sid"): statement
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]
        for statement in iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]["Statement"]
    }


def test_the_role_and_its_policies_come_from_the_template_with_local_arns(
    enforced: tuple[LocalStack, Path],
) -> None:
    stack, _ = enforced
    template = json.loads(ensure_template().read_text())
    lambda_roles = {
        key
        for key, value in template["Resources"].items()
        if value["Type"] == "AWS::IAM::Role"
        and value["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        == {"Service": "lambda.amazonaws.com"}
    }  # the functions' (the outbox pipe has its own: test_the_pipes_role_...)
    functions = {
        value["Properties"]["FunctionName"]: value["Properties"]["Role"]["Fn::GetAtt"][0]
        for value in template["Resources"].values()
        if value["Type"] == "AWS::Lambda::Function"
    }
    # each function its own role: the order service's, the payment service's and the notification service's
    assert sorted(functions) == ["Notifier", "OrderProcessor", "PaymentProcessor"]
    assert set(functions.values()) == lambda_roles
    iam = stack.emulator.iam()
    for function, logical_id in functions.items():
        role_arn = stack.roles[function]
        assert role_arn == f"arn:aws:iam::{ACCOUNT}:role/OrderProcessingStack-{logical_id}"
        trust = iam.get_role(RoleName=role_arn.rsplit("/", 1)[1])["Role"]["AssumeRolePolicyDocument"]
        assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
        assert _statements(stack, role_arn)["WriteOwnLogs"]["Resource"] == (
            f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/{function}:*"
        )
    orders = _statements(stack, stack.roles["OrderProcessor"])
    assert (
        orders["ChangeOrdersWithConditionalWrites"]["Resource"] == f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Orders"
    )
    assert orders["RejectPermanentFailuresToTheDLQ"]["Resource"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:OrderCreatedDLQ"
    payments = _statements(stack, stack.roles["PaymentProcessor"])
    assert payments["KeepPaymentsWithConditionalWrites"]["Resource"] == (
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Payments"
    )
    assert payments["KeepIdempotencyRecords"]["Resource"] == (
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/PaymentIdempotency"
    )
    secret = stack.outputs["PaymentApiKeySecretArn"]
    assert secret.startswith(f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:orderflow/payment-provider-api-key-")
    assert payments["ReadTheProviderApiKey"]["Resource"] == secret
    assert payments["PublishPaymentEvents"]["Resource"] == stack.outputs["OrderEventsBusArn"]
    assert payments["RejectPermanentFailuresToTheDLQ"]["Resource"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:PaymentDLQ"
    notifier = _statements(stack, stack.roles["Notifier"])
    assert notifier["ReadTheOrder"]["Action"] == "dynamodb:GetItem"
    assert notifier["ReadTheOrder"]["Resource"] == f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Orders"
    assert notifier["ClaimAndRecordEachEmail"]["Resource"] == (
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Notifications"
    )
    assert notifier["KeepIdempotencyRecords"]["Resource"] == (
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/NotifierIdempotency"
    )
    assert sorted(notifier["SendAsTheSenderIdentity"]["Action"]) == ["ses:SendEmail", "ses:SendRawEmail"]
    assert notifier["SendAsTheSenderIdentity"]["Resource"] == (
        f"arn:aws:ses:us-east-1:{ACCOUNT}:identity/{stack.outputs['SenderEmail']}"
    )
    assert notifier["RejectPermanentFailuresToTheDLQ"]["Resource"] == (
        f"arn:aws:sqs:us-east-1:{ACCOUNT}:NotificationDLQ"
    )
    assert "PublishPaymentEvents" not in notifier  # it publishes no events: the e-mail is its only effect


def test_the_function_gets_the_roles_temporary_credentials_and_ungranted_calls_are_denied(
    enforced: tuple[LocalStack, Path],
) -> None:
    """The --handler override keeps the role; the role allows what the template grants and nothing else."""
    stack, journal = enforced
    result = _probe(stack, journal, _calls(stack))
    assert result["access_key"].startswith("ASIA")  # STS temporary credentials, as Lambda's
    put, get, query, send_dlq, send_main = result["outcomes"]
    assert put == "ok"
    assert send_dlq == "ok"
    role = f"arn:aws:sts::{ACCOUNT}:assumed-role/{stack.roles['OrderProcessor'].rsplit('/', 1)[1]}/OrderProcessor"
    assert get == (
        f"AccessDeniedException: User: {role} is not authorized to perform: dynamodb:GetItem on resource: "
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Orders because no identity-based policy allows the "
        "dynamodb:GetItem action"
    )
    assert query.startswith("AccessDeniedException: ")
    assert f"dynamodb:Query on resource: arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Orders/index/CustomerIndex" in query
    assert send_main.startswith(f"AccessDenied: User: {role} is not authorized to perform: sqs:SendMessage")
    assert f"on resource: arn:aws:sqs:us-east-1:{ACCOUNT}:OrderCreatedQueue" in send_main


def _denied(call: Any) -> str:
    """The refusal's error code and message, or "ok"."""
    try:
        call()
    except ClientError as error:
        return f"{error.response['Error']['Code']}: {error.response['Error']['Message']}"
    return "ok"


def test_the_pipes_role_reads_its_stream_publishes_to_its_bus_and_nothing_else(
    enforced: tuple[LocalStack, Path],
) -> None:
    """The outbox pipe's role from the template: the stream, the bus, the pipe's DLQ; nothing else."""
    stack, _ = enforced
    assert stack.deployed is not None
    [pipe] = stack.deployed.pipes.values()
    [stream_arn] = stack.deployed.streams.values()
    assert pipe["RoleArn"] in stack.deployed.roles.values()
    trust = stack.emulator.iam().get_role(RoleName=pipe["RoleArn"].rsplit("/", 1)[1])["Role"]
    assert trust["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["StringEquals"] == {
        "aws:SourceAccount": ACCOUNT,  # resolved from the template's Ref
        "aws:SourceArn": f"arn:aws:pipes:us-east-1:{ACCOUNT}:pipe/OrderOutbox",
    }
    session = stack.emulator.assume_role(pipe["RoleArn"], session_name="OrderOutbox").session()
    streams = session.client("dynamodbstreams", endpoint_url=stack.endpoint)
    events = session.client("events", endpoint_url=stack.endpoint)
    sqs = session.client("sqs", endpoint_url=stack.endpoint)
    dynamodb = session.client("dynamodb", endpoint_url=stack.endpoint)
    # granted: what the pipe does
    [shard] = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST")
    streams.get_records(ShardIterator=iterator["ShardIterator"])
    entry = {"Source": "orderflow.orders", "DetailType": "OrderConfirmed", "Detail": "{}"}
    published = events.put_events(Entries=[{**entry, "EventBusName": pipe["Target"]}])
    assert published["FailedEntryCount"] == 0
    sqs.send_message(QueueUrl=stack.outputs["OutboxDLQUrl"], MessageBody="a failed batch's stream positions")
    # refused: anything else, each on the resource AWS authorizes
    other_bus = _denied(lambda: events.put_events(Entries=[entry]))  # the default bus
    assert other_bus.startswith("AccessDeniedException: ")
    assert f"events:PutEvents on resource: arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default" in other_bus
    read_table = _denied(lambda: dynamodb.scan(TableName="Orders"))
    assert f"dynamodb:Scan on resource: arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Orders" in read_table
    other_queue = _denied(lambda: sqs.send_message(QueueUrl=stack.outputs["QueueUrl"], MessageBody="x"))
    assert f"sqs:SendMessage on resource: arn:aws:sqs:us-east-1:{ACCOUNT}:OrderCreatedQueue" in other_queue


def _raw_email(sender: str, to: str) -> bytes:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, "Your order ORD-IAM-MAIL"
    message.set_content("Order ORD-IAM-MAIL: confirmation.\n")
    return message.as_bytes()


def test_the_notifiers_role_reads_orders_claims_and_sends_as_its_sender_and_nothing_else(
    enforced: tuple[LocalStack, Path],
) -> None:
    """The Notifier's role from the template: GetItem on Orders (never a write), its own two tables, its
    DLQ, and SES sends from the sender identity only."""
    stack, _ = enforced
    session = stack.emulator.assume_role(stack.roles["Notifier"], session_name="Notifier").session()
    dynamodb = session.client("dynamodb", endpoint_url=stack.endpoint)
    sesv2 = session.client("sesv2", endpoint_url=stack.endpoint)
    sqs = session.client("sqs", endpoint_url=stack.endpoint)
    events = session.client("events", endpoint_url=stack.endpoint)
    order = {"orderId": {"S": "ORD-IAM-MAIL"}, "createdAt": {"S": "2026-04-20T14:30:00Z"}}
    claim = {"orderId": {"S": "ORD-IAM-MAIL"}, "eventId": {"S": "ORD-IAM-MAIL#2026-04-20T14:30:00Z#PaymentCaptured"}}
    sender = stack.outputs["SenderEmail"]
    role = f"arn:aws:sts::{ACCOUNT}:assumed-role/{stack.roles['Notifier'].rsplit('/', 1)[1]}/Notifier"
    # granted: what the Notifier does
    dynamodb.get_item(TableName="Orders", Key=order, ConsistentRead=True)
    dynamodb.put_item(
        TableName="Notifications", Item={**claim, "status": {"S": "SENDING"}},
        ConditionExpression="attribute_not_exists(eventId)",
    )  # fmt: skip
    dynamodb.update_item(
        TableName="Notifications", Key=claim, UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":s": {"S": "SENT"}},
    )  # fmt: skip
    dynamodb.delete_item(TableName="Notifications", Key=claim)
    dynamodb.put_item(TableName="NotifierIdempotency", Item={"id": {"S": "notifier#iam-probe"}})
    sqs.send_message(QueueUrl=stack.outputs["NotificationDLQUrl"], MessageBody="a dead letter")
    sent = sesv2.send_email(FromEmailAddress=sender, Content={"Raw": {"Data": _raw_email(sender, "ana@example.com")}})
    assert sent["MessageId"]
    # refused: anything else, each on the resource AWS authorizes
    write_order = _denied(lambda: dynamodb.put_item(TableName="Orders", Item={**order, "status": {"S": "X"}}))
    assert write_order == (
        f"AccessDeniedException: User: {role} is not authorized to perform: dynamodb:PutItem on resource: "
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Orders because no identity-based policy allows the "
        "dynamodb:PutItem action"
    )
    update_order = _denied(
        lambda: dynamodb.update_item(
            TableName="Orders",
            Key=order,
            UpdateExpression="SET #s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "X"}},
        )
    )
    assert f"dynamodb:UpdateItem on resource: arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Orders" in update_order
    read_payments = _denied(lambda: dynamodb.get_item(TableName="Payments", Key=order))
    assert f"dynamodb:GetItem on resource: arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Payments" in read_payments
    scan_claims = _denied(lambda: dynamodb.scan(TableName="Notifications"))
    assert f"dynamodb:Scan on resource: arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Notifications" in scan_claims
    other_sender = "billing@elsewhere.example"
    as_other = _denied(
        lambda: sesv2.send_email(
            FromEmailAddress=other_sender, Content={"Raw": {"Data": _raw_email(other_sender, "ana@example.com")}}
        )
    )
    assert as_other.startswith(f"AccessDeniedException: User: {role} is not authorized to perform: ses:SendEmail")
    assert sender not in as_other
    other_queue = _denied(lambda: sqs.send_message(QueueUrl=stack.outputs["PaymentDLQUrl"], MessageBody="x"))
    assert f"sqs:SendMessage on resource: arn:aws:sqs:us-east-1:{ACCOUNT}:PaymentDLQ" in other_queue
    entry = {"Source": "orderflow.notifications", "DetailType": "EmailSent", "Detail": "{}"}
    publish = _denied(lambda: events.put_events(Entries=[{**entry, "EventBusName": "OrderDomainEvents"}]))
    assert f"events:PutEvents on resource: arn:aws:events:us-east-1:{ACCOUNT}:event-bus/OrderDomainEvents" in publish


def test_other_credentials_are_the_administrator(enforced: tuple[LocalStack, Path]) -> None:
    stack, _ = enforced
    dynamodb = stack.emulator.dynamodb()  # the "local" keys people and tests use
    dynamodb.get_item(TableName="Orders", Key={"orderId": {"S": "x"}, "createdAt": {"S": "y"}})
    stack.emulator.sqs().get_queue_attributes(QueueUrl=stack.outputs["QueueUrl"], AttributeNames=["All"])


def test_no_iam_runs_the_function_with_the_emulators_keys(tmp_path: Path) -> None:
    with _start(tmp_path, "open", handler=PROBE, iam=False) as stack:
        assert stack.roles == {}
        result = _probe(stack, tmp_path / "open.journal", _calls(stack))
    assert result["access_key"] == "local"
    assert result["outcomes"] == ["ok"] * 5


def test_the_pipeline_works_under_enforcement(tmp_path: Path) -> None:
    """Every call the real handler and the event source mapping make is granted: store, cancel, reject."""
    with _start(tmp_path, "pipeline") as stack:
        sqs, dynamodb = stack.emulator.sqs(), stack.emulator.dynamodb()
        order = seed_order(orderId="ORD-IAM-PIPE")
        sqs.send_message(QueueUrl=stack.outputs["QueueUrl"], MessageBody=body(order))
        sqs.send_message(QueueUrl=stack.outputs["QueueUrl"], MessageBody="{not json")
        key = {"orderId": {"S": order["orderId"]}, "createdAt": {"S": order["createdAt"]}}
        wait_until(lambda: dynamodb.get_item(TableName="Orders", Key=key).get("Item"), "the order stored", 60)
        sqs.send_message(QueueUrl=stack.outputs["QueueUrl"], MessageBody=json.dumps(cancellation(order)))
        wait_until(
            lambda: dynamodb.get_item(TableName="Orders", Key=key)["Item"]["status"]["S"] == "CANCELLED",
            "the order cancelled",
            60,
        )
        rejected = _dead_letters(stack, "the malformed message in the DLQ with its reason", 60)
        assert rejected[0]["MessageAttributes"]["errorCode"]["StringValue"] == "MALFORMED_JSON"
    log = (tmp_path / "pipeline.log").read_text()
    assert "AccessDenied" not in log


def test_the_event_source_mapping_polls_as_the_role(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """On AWS the mapping receives with the function's role: without sqs:ReceiveMessage, nothing is consumed."""
    template = json.loads(ensure_template().read_text())
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy":
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                kept = [action for action in actions if action != "sqs:ReceiveMessage"]
                statement["Action"] = kept or ["sqs:Nothing"]
    path = tmp_path / "OrderProcessingStack.template.json"
    path.write_text(json.dumps(template))
    caplog.set_level(logging.ERROR, logger="orderflow_local.lambda_runtime.esm")
    with _start(tmp_path, "no-receive", template=path) as stack:
        sqs = stack.emulator.sqs()
        sqs.send_message(QueueUrl=stack.outputs["QueueUrl"], MessageBody=body(seed_order()))
        wait_until(lambda: "sqs:ReceiveMessage" in caplog.text, "the mapping's ReceiveMessage refused", 30)
        counts = sqs.get_queue_attributes(QueueUrl=stack.outputs["QueueUrl"], AttributeNames=["All"])["Attributes"]
        assert counts["ApproximateNumberOfMessages"] == "1"  # waiting, never received
        assert counts["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert "AccessDenied" in caplog.text


def test_removing_a_grant_from_infra_fails_the_pipeline_as_aws_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stack synthesized without dynamodb:UpdateItem: orders are stored, cancels are refused.

    As on AWS, the refusal is AccessDeniedException; the handler treats it as a failure that is
    not the message's fault, so SQS retries the cancel and finally moves it to the DLQ, while
    the order stays CONFIRMED.
    """
    from infra.app import build_app, template_path

    from infra import processor, queues

    monkeypatch.setattr(processor, "TABLE_ACTIONS", ("dynamodb:PutItem",))
    # 3 receives, not the stack's 5: the test waits for SQS's move to the DLQ
    monkeypatch.setattr(processor, "MAX_RECEIVE_COUNT", 3)
    monkeypatch.setattr(queues, "MAX_RECEIVE_COUNT", 3)
    app, _ = build_app(context={"stage": "dev"}, outdir=str(tmp_path / "cdk.out"))
    app.synth()
    template = template_path(tmp_path / "cdk.out")
    granted = {
        statement.get("Sid"): statement["Action"]
        for resource in json.loads(template.read_text())["Resources"].values()
        if resource["Type"] == "AWS::IAM::Policy"
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    }
    assert granted["ChangeOrdersWithConditionalWrites"] == "dynamodb:PutItem"  # the order service's grant, alone
    assert "dynamodb:UpdateItem" in granted["KeepIdempotencyRecords"]  # the payment service's are its own

    # backing off 1 s, then 1 s (RETRY_DELAYS), not the function's default 2 s and 8 s
    with _start(tmp_path, "no-update", template=template, environment={"RETRY_DELAYS": "1,1"}) as stack:
        sqs, dynamodb = stack.emulator.sqs(), stack.emulator.dynamodb()
        order = seed_order(orderId="ORD-IAM-GRANT")
        key = {"orderId": {"S": order["orderId"]}, "createdAt": {"S": order["createdAt"]}}
        sqs.send_message(QueueUrl=stack.outputs["QueueUrl"], MessageBody=body(order))
        wait_until(lambda: dynamodb.get_item(TableName="Orders", Key=key).get("Item"), "the order stored", 60)
        cancel_id = sqs.send_message(QueueUrl=stack.outputs["QueueUrl"], MessageBody=json.dumps(cancellation(order)))[
            "MessageId"
        ]
        # maxReceiveCount 3, backing off 1 s then 1 s, each receive after the 1 s batching window
        moved = _dead_letters(stack, "the cancel moved to the DLQ by SQS", 90)
        assert moved[0]["MessageId"] == cancel_id
        assert "MessageAttributes" not in moved[0]  # SQS moved it: the handler did not reject it
        assert dynamodb.get_item(TableName="Orders", Key=key)["Item"]["status"]["S"] == "CONFIRMED"
    failures = [
        json.loads(line)
        for line in (tmp_path / "no-update.log").read_text().splitlines()
        if cancel_id in line and "AccessDeniedException" in line
    ]
    assert len(failures) == 3  # one per receive
    assert "dynamodb:UpdateItem" in failures[0]["error"]
