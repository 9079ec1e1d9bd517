"""The patches to moto keep its behaviour and only change its cost."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from orderflow_local.emulator import Emulator
from orderflow_local.emulator import patches as moto_patches
from orderflow_local.emulator.patches import dynamodb as dynamodb_patches
from orderflow_local.emulator.patches import sqs as sqs_patches


@pytest.fixture(scope="module")
def emulator() -> Any:
    with Emulator(port=0) as running:
        yield running


@pytest.fixture(scope="module")
def sqs(emulator: Emulator) -> Any:
    return emulator.sqs()


def _queue(name: str) -> Any:
    from moto.sqs.models import sqs_backends

    return sqs_backends["123456789012"]["us-east-1"].queues[name]


@pytest.mark.parametrize(
    ("name", "attributes"),
    [
        ("plain", {}),
        ("fifo.fifo", {"FifoQueue": "true", "ContentBasedDeduplication": "true"}),
        ("encrypted", {"KmsMasterKeyId": "alias/orders", "Policy": json.dumps({"Version": "2012-10-17"})}),
    ],
)
def test_queue_attributes_are_the_same_as_moto_computes(sqs: Any, name: str, attributes: dict[str, str]) -> None:
    dlq_arn = sqs.get_queue_attributes(
        QueueUrl=sqs.create_queue(QueueName=f"dlq-{name}")["QueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    if not name.endswith(".fifo"):
        attributes = {**attributes, "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})}
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x", **({"MessageGroupId": "g"} if name.endswith(".fifo") else {}))
    queue = _queue(name)
    original = moto_patches.ORIGINALS["Queue.attributes"].fget(queue)
    assert dict(queue.attributes) == original
    assert queue.attributes.get("ApproximateNumberOfMessages") == 1
    assert ("ContentBasedDeduplication" in queue.attributes) is name.endswith(".fifo")
    everything = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert everything["ApproximateNumberOfMessages"] == "1"


def test_delete_semantics_are_unchanged(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="deletes", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="a")
    first = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]
    second = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]  # visible again at once
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first)  # an older handle of the message still deletes it
    sqs.delete_message(QueueUrl=url, ReceiptHandle=second)  # deleting again is accepted
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    with pytest.raises(ClientError, match="ReceiptHandleIsInvalid"):
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")


def test_receive_still_returns_only_visible_undelayed_messages(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="visibility", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": str(n)} for n in range(5)])
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3)["Messages"]]
    rest = [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]
    assert sorted(bodies + rest) == ["0", "1", "2", "3", "4"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attributes["ApproximateNumberOfMessagesNotVisible"], attributes["ApproximateNumberOfMessagesDelayed"]) == (
        "5",
        "1",
    )


def _orders_table(dynamodb: Any, name: str) -> None:
    """A table keyed like Orders (orderId), on demand."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def _race_two_conditional_puts(emulator: Emulator, table: str, key: str) -> int:
    """Two clients put one key at once, each only if absent; how many were told they succeeded."""
    import threading

    successes: list[int] = []
    refusals: list[str] = []
    clients = [emulator.dynamodb(), emulator.dynamodb()]

    def put(client: Any, n: int) -> None:
        try:
            client.put_item(
                TableName=table,
                Item={"orderId": {"S": key}, "writer": {"N": str(n)}},
                ConditionExpression="attribute_not_exists(orderId)",
            )
            successes.append(n)
        except ClientError as error:
            refusals.append(error.response["Error"]["Code"])

    threads = [threading.Thread(target=put, args=(client, n)) for n, client in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(refusals) <= {"ConditionalCheckFailedException"}
    assert len(successes) + len(refusals) == len(clients)
    return len(successes)


def test_a_conditional_write_is_atomic_as_on_aws(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models import DynamoDBBackend, table

    # Given moto's check-then-write window held open: evaluating a condition takes 50 ms
    slow = table.get_filter_expression

    def slow_condition(*args: Any, **kwargs: Any) -> Any:
        import time

        time.sleep(0.05)
        return slow(*args, **kwargs)

    monkeypatch.setattr(table, "get_filter_expression", slow_condition)
    _orders_table(emulator.dynamodb(), "Race")
    # When two writers race with the patch, exactly one wins, as on AWS
    patched = [_race_two_conditional_puts(emulator, "Race", f"patched-{n}") for n in range(3)]
    # and moto's own put_item lets both "win", the second silently overwriting the first
    monkeypatch.setattr(DynamoDBBackend, "put_item", moto_patches.ORIGINALS["DynamoDBBackend.put_item"])
    stock = [_race_two_conditional_puts(emulator, "Race", f"stock-{n}") for n in range(3)]
    assert patched == [1, 1, 1]
    assert stock == [2, 2, 2]


def test_only_dynamodb_writes_are_serialised() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    moto_patches.apply()
    for name in dynamodb_patches.DYNAMODB_WRITES:
        original = moto_patches.ORIGINALS[f"DynamoDBBackend.{name}"]
        method = getattr(DynamoDBBackend, name)
        assert method is not original
        # the lock's wrapper around moto's own, beneath UpdateItem's copy-on-write layer where there is one
        serialised = moto_patches.ORIGINALS.get(f"DynamoDBBackend.{name} (copy-on-write)", method)
        assert serialised.__wrapped__ is original
    assert "DynamoDBBackend.get_item" not in moto_patches.ORIGINALS


# --- SQS refuses what SQS refuses (tested with boto3, as every client sees it) -----------


@pytest.fixture(scope="module")
def limits_queue(sqs: Any) -> str:
    return str(sqs.create_queue(QueueName="limits")["QueueUrl"])


def _refused(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def _attribute(value: str = "v") -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


@pytest.mark.parametrize(
    ("kwargs", "code", "message"),
    [
        ({"MessageBody": ""}, "MissingParameter", "The request must contain the parameter MessageBody."),
        ({"MessageBody": "a\x00b"}, "InvalidMessageContents", "Invalid binary character '#x0' was found"),
        ({"MessageBody": "\ufffe"}, "InvalidMessageContents", "Invalid binary character '#xFFFE' was found"),
        ({"MessageBody": "x", "MessageAttributes": {f"a{n}": _attribute() for n in range(11)}},
         "InvalidParameterValue", "Number of message attributes [11] exceeds the allowed maximum [10]."),
        ({"MessageBody": "x", "MessageAttributes": {"AWS.trace": _attribute()}}, "InvalidParameterValue",
         "The message attribute name 'AWS.trace' is invalid."),
        ({"MessageBody": "x", "MessageAttributes": {"amazon.x": _attribute()}}, "InvalidParameterValue",
         "The message attribute name 'amazon.x' is invalid."),
        ({"MessageBody": "x", "MessageAttributes": {"a..b": _attribute()}}, "InvalidParameterValue",
         "The message attribute name 'a..b' is invalid."),
        ({"MessageBody": "x", "MessageAttributes": {".a": _attribute()}}, "InvalidParameterValue",
         "The message attribute name '.a' is invalid."),
        ({"MessageBody": "x", "MessageAttributes": {"a" * 257: _attribute()}}, "InvalidParameterValue",
         "is invalid."),
        # 524,289 two-byte characters: 1,048,578 bytes (moto counted characters)
        ({"MessageBody": "é" * 524_289}, "InvalidParameterValue", "Message must be shorter than 1048576 bytes."),
        # the attributes count too: name, type and value
        ({"MessageBody": "x" * 1_048_570, "MessageAttributes": {"big": _attribute("0123456789")}},
         "InvalidParameterValue", "Message must be shorter than 1048576 bytes."),
        ({"MessageBody": "x", "DelaySeconds": -1}, "InvalidParameterValue",
         "Value -1 for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900."),
    ],
)  # fmt: skip
def test_send_message_refuses_what_sqs_refuses(
    sqs: Any, limits_queue: str, kwargs: dict[str, Any], code: str, message: str
) -> None:
    def depth() -> str:
        attributes = sqs.get_queue_attributes(QueueUrl=limits_queue, AttributeNames=["ApproximateNumberOfMessages"])
        return str(attributes["Attributes"]["ApproximateNumberOfMessages"])

    before = depth()
    refused_code, refused_message = _refused(sqs.send_message, QueueUrl=limits_queue, **kwargs)
    assert refused_code == code
    assert message in refused_message
    assert depth() == before  # nothing was queued


@pytest.mark.parametrize(
    "kwargs",
    [
        {"MessageBody": "x" * 1_048_576},  # exactly the limit
        {"MessageBody": "é" * 524_288},
        {"MessageBody": "tab\tnewline\ncr\r 😀 \ue000"},
        {"MessageBody": "x", "MessageAttributes": {f"attr-{n}.part_{n}": _attribute() for n in range(10)}},
        {"MessageBody": "x", "DelaySeconds": 0},
    ],
)
def test_send_message_still_accepts_what_sqs_accepts(sqs: Any, limits_queue: str, kwargs: dict[str, Any]) -> None:
    assert sqs.send_message(QueueUrl=limits_queue, **kwargs)["MessageId"]


def test_a_batch_reports_each_refused_entry_and_sends_the_others(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="limits-batch")["QueueUrl"]
    response = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "good", "MessageBody": "kept"},
            {"Id": "empty", "MessageBody": ""},
            {"Id": "reserved", "MessageBody": "x", "MessageAttributes": {"AWS.x": _attribute()}},
            {"Id": "also-good", "MessageBody": "kept too"},
        ],
    )
    assert sorted(entry["Id"] for entry in response["Successful"]) == ["also-good", "good"]
    failed = {entry["Id"]: entry for entry in response["Failed"]}
    assert set(failed) == {"empty", "reserved"}
    assert failed["empty"]["Code"] == "MissingParameter"
    assert failed["empty"]["SenderFault"] is True
    assert failed["reserved"]["Code"] == "InvalidParameterValue"
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(message["Body"] for message in received) == ["kept", "kept too"]
    # request-level errors are still moto's, for the whole batch
    code, _ = _refused(sqs.send_message_batch, QueueUrl=url, Entries=[{"Id": "a b", "MessageBody": ""}])
    assert code == "AWS.SimpleQueueService.InvalidBatchEntryId"


def test_stock_moto_accepted_what_the_patch_refuses(limits_queue: str) -> None:
    from moto.sqs.models import sqs_backends

    backend = sqs_backends["123456789012"]["us-east-1"]
    message = moto_patches.ORIGINALS["SQSBackend.send_message"](backend, "limits", "")
    assert message.body == ""  # moto alone queues an empty body


@pytest.mark.parametrize(
    ("target", "body", "expected"),
    [
        ("ReceiveMessage", {"MaxNumberOfMessages": 11},
         "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."),
        ("ReceiveMessage", {"WaitTimeSeconds": 21},
         "Value 21 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided."),
    ],
)  # fmt: skip
def test_errors_carry_sqs_plain_message_for_any_sdk(
    emulator: Emulator, limits_queue: str, target: str, body: dict[str, Any], expected: str
) -> None:
    # As the JavaScript v3 SDK sees it: the raw JSON-protocol error, no boto prefix in it
    import urllib.error
    import urllib.request

    request = urllib.request.Request(  # noqa: S310 - the local emulator
        emulator.endpoint + "/",
        data=json.dumps({"QueueUrl": limits_queue, **body}).encode(),
        method="POST",
        headers={
            "X-Amz-Target": f"AmazonSQS.{target}",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/sqs/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310
    assert json.loads(caught.value.read())["Message"] == expected


# --- IAM enforced for role sessions (orderflow_local.emulator.patches.iam) --------------------------------

ACCOUNT = "123456789012"
TRUST = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}


@pytest.fixture
def role(emulator: Emulator) -> Any:
    """A role allowed a few table- and queue-scoped actions, assumed; enforcement on for the test."""
    import uuid

    from orderflow_local.emulator.patches import iam as moto_iam

    suffix = uuid.uuid4().hex[:8]
    iam, dynamodb, sqs = emulator.iam(), emulator.dynamodb(), emulator.sqs()
    tables = [f"allowed-{suffix}", f"other-{suffix}"]
    for table in tables:
        dynamodb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    queue = sqs.create_queue(QueueName=f"q-{suffix}")["QueueUrl"]
    name = f"role-{suffix}"
    arn = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps({"Statement": [TRUST]}),
    )["Role"]["Arn"]
    table_arn = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{tables[0]}"
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:BatchWriteItem"], "Resource": table_arn},
            {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": f"{table_arn}/index/*"},
            {"Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:DeleteMessage"],
             "Resource": f"arn:aws:sqs:us-east-1:{ACCOUNT}:q-{suffix}"},
            {"Effect": "Deny", "Action": "sqs:DeleteMessage", "Resource": "*"},
        ],
    }  # fmt: skip
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(document))
    credentials = emulator.assume_role(arn, "probe")
    moto_iam.enforce(True)
    try:
        yield {
            "tables": tables,
            "queue": queue,
            "dynamodb": credentials.session().client("dynamodb", endpoint_url=emulator.endpoint),
            "sqs": credentials.session().client("sqs", endpoint_url=emulator.endpoint),
        }
    finally:
        moto_iam.enforce(False)


def _code(call: Any) -> str:
    try:
        call()
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    return "ok"


def test_dynamodb_requests_are_authorized_on_the_table_and_index_arn(role: dict[str, Any]) -> None:
    dynamodb = role["dynamodb"]
    allowed, other = role["tables"]
    item = {"pk": {"S": "a"}}
    assert _code(lambda: dynamodb.put_item(TableName=allowed, Item=item)) == "ok"
    assert _code(lambda: dynamodb.put_item(TableName=other, Item=item)) == "AccessDeniedException"
    query = {"KeyConditionExpression": "pk = :k", "ExpressionAttributeValues": {":k": {"S": "a"}}}
    # only the index ARN is granted: querying the table itself is refused
    assert _code(lambda: dynamodb.query(TableName=allowed, **query)) == "AccessDeniedException"


def test_a_batch_is_authorized_for_each_table(role: dict[str, Any]) -> None:
    dynamodb = role["dynamodb"]
    allowed, other = role["tables"]
    put = [{"PutRequest": {"Item": {"pk": {"S": "b"}}}}]
    assert _code(lambda: dynamodb.batch_write_item(RequestItems={allowed: put})) == "ok"
    assert _code(lambda: dynamodb.batch_write_item(RequestItems={allowed: put, other: put})) == "AccessDeniedException"


def test_a_transaction_is_authorized_item_by_item_as_its_own_actions(role: dict[str, Any]) -> None:
    dynamodb = role["dynamodb"]
    allowed, _ = role["tables"]
    put = {"Put": {"TableName": allowed, "Item": {"pk": {"S": "t"}}}}
    delete = {"Delete": {"TableName": allowed, "Key": {"pk": {"S": "t"}}}}
    assert _code(lambda: dynamodb.transact_write_items(TransactItems=[put])) == "ok"  # as dynamodb:PutItem
    assert _code(lambda: dynamodb.transact_write_items(TransactItems=[put, delete])) == "AccessDeniedException"


def test_sqs_batch_actions_use_the_single_actions_permission(role: dict[str, Any]) -> None:
    sqs = role["sqs"]
    entries = [{"Id": "1", "MessageBody": "x"}]
    assert sqs.send_message_batch(QueueUrl=role["queue"], Entries=entries)["Successful"]
    assert _code(lambda: sqs.change_message_visibility_batch(
        QueueUrl=role["queue"], Entries=[{"Id": "1", "ReceiptHandle": "h", "VisibilityTimeout": 1}]
    )) == "AccessDenied"  # fmt: skip


def test_an_explicit_deny_wins_over_an_allow_and_says_so(role: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as refused:
        role["sqs"].delete_message(QueueUrl=role["queue"], ReceiptHandle="AQEB" + "x" * 10)
    error = refused.value.response["Error"]
    assert error["Code"] == "AccessDenied"
    assert error["Message"].endswith(
        f"sqs:DeleteMessage on resource: arn:aws:sqs:us-east-1:{ACCOUNT}:{role['queue'].rsplit('/', 1)[1]} "
        "with an explicit deny in an identity-based policy"
    )


def test_refusals_name_the_action_resource_and_reason(role: dict[str, Any]) -> None:
    dynamodb = role["dynamodb"]
    _, other = role["tables"]
    with pytest.raises(ClientError) as refused:
        dynamodb.get_item(TableName=other, Key={"pk": {"S": "a"}})
    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    message = error["Error"]["Message"]
    assert message.endswith(
        f"is not authorized to perform: dynamodb:GetItem on resource: arn:aws:dynamodb:us-east-1:{ACCOUNT}:"
        f"table/{other} because no identity-based policy allows the dynamodb:GetItem action"
    )
    assert message.startswith(f"User: arn:aws:sts::{ACCOUNT}:assumed-role/role-")


def test_other_credentials_stay_administrator_while_enforced(role: dict[str, Any], emulator: Emulator) -> None:
    _, other = role["tables"]
    assert _code(lambda: emulator.dynamodb().get_item(TableName=other, Key={"pk": {"S": "a"}})) == "ok"


def test_enforcement_off_leaves_moto_as_it_was(emulator: Emulator, role: dict[str, Any]) -> None:
    from orderflow_local.emulator.patches import iam as moto_iam

    moto_iam.enforce(False)
    _, other = role["tables"]
    assert _code(lambda: role["dynamodb"].get_item(TableName=other, Key={"pk": {"S": "a"}})) == "ok"


# --- SNS FIFO topics deduplicate ------------------------------------------------------------


def _fifo_topic_and_queue(emulator: Emulator, *, content_based: str) -> tuple[str, str]:
    import uuid

    sns, sqs = emulator.sns(), emulator.sqs()
    name = uuid.uuid4().hex[:10]
    topic = sns.create_topic(
        Name=f"t{name}.fifo", Attributes={"FifoTopic": "true", "ContentBasedDeduplication": content_based}
    )["TopicArn"]
    queue = sqs.create_queue(QueueName=f"q{name}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return topic, queue


def _bodies(sqs: Any, queue: str) -> list[str]:
    found = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        found += [message["Body"] for message in batch]
        for message in batch:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return found


def test_a_fifo_topic_delivers_a_duplicate_once_as_sns_does(emulator: Emulator) -> None:
    """The queue does not deduplicate by content: only the topic's deduplication id keeps the copy out."""
    sns, sqs = emulator.sns(), emulator.sqs()
    topic, queue = _fifo_topic_and_queue(emulator, content_based="true")
    first = sns.publish(TopicArn=topic, Message="order 1", MessageGroupId="g")["MessageId"]
    again = sns.publish(TopicArn=topic, Message="order 1", MessageGroupId="g")["MessageId"]
    other = sns.publish(TopicArn=topic, Message="order 1", MessageGroupId="g", MessageDeduplicationId="explicit")
    assert again == first  # accepted, answered with the first message's id
    assert other["MessageId"] != first  # another deduplication id is another message
    assert _bodies(sqs, queue) == ["order 1", "order 1"]


def test_content_based_deduplication_false_is_off(emulator: Emulator) -> None:
    sns = emulator.sns()
    topic, _ = _fifo_topic_and_queue(emulator, content_based="false")
    with pytest.raises(ClientError) as refused:
        sns.publish(TopicArn=topic, Message="order 1", MessageGroupId="g")
    assert "MessageDeduplicationId" in refused.value.response["Error"]["Message"]


def test_stock_moto_could_not_deliver_from_a_content_deduplicated_topic(emulator: Emulator) -> None:
    """moto's own publish passes no deduplication id on: a FIFO queue without its own content-based
    deduplication refuses the delivery, so the publish fails where SNS succeeds."""
    from moto.sns.models import sns_backends

    topic, queue = _fifo_topic_and_queue(emulator, content_based="true")
    model = sns_backends["123456789012"]["us-east-1"].topics[topic]
    with pytest.raises(Exception, match="MessageDeduplicationId"):
        moto_patches.ORIGINALS["Topic.publish"](model, "order 1", group_id="g")
    model.publish("order 1", group_id="g")  # patched: the topic derives the id from the body
    assert _bodies(emulator.sqs(), queue) == ["order 1"]


def test_a_fifo_queue_remembers_deduplication_ids_for_five_minutes_even_once_deleted(sqs: Any) -> None:
    import uuid

    queue = sqs.create_queue(
        QueueName=f"dedup-{uuid.uuid4().hex[:8]}.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="order 1", MessageGroupId="g")
    [first] = sqs.receive_message(QueueUrl=queue)["Messages"]
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=first["ReceiptHandle"])
    sqs.send_message(QueueUrl=queue, MessageBody="order 1", MessageGroupId="g")  # a retry: accepted, dropped
    assert sqs.receive_message(QueueUrl=queue).get("Messages", []) == []
    sqs.send_message(QueueUrl=queue, MessageBody="order 1", MessageGroupId="g", MessageDeduplicationId="another")
    [again] = sqs.receive_message(QueueUrl=queue)["Messages"]
    assert again["Body"] == "order 1"


# --- what every request costs ------------------------------------------------------------


def _attributes(size: int) -> dict[str, Any]:
    nested = {"M": {"street": {"S": "1 Main"}, "tags": {"L": [{"S": "a"}, {"N": "1.5"}, {"BOOL": True}]}}}
    return {"orderId": {"S": "O-1"}, "address": nested, "blob": {"S": "x" * size}, "count": {"N": "12"}}


@pytest.mark.parametrize("size", [10, 404_900, 405_000])
def test_an_item_is_built_and_sized_as_moto_builds_it(emulator: Emulator, size: int) -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    def build(init: Any) -> Any:
        item = Item.__new__(Item)
        try:
            init(item, DynamoType({"S": "O-1"}), None, _attributes(size))
        except ItemSizeTooLarge:
            return "ItemSizeTooLarge"
        return item

    ours, stock = build(Item.__init__), build(moto_patches.ORIGINALS["Item.__init__"])
    assert Item.__init__ is not moto_patches.ORIGINALS["Item.__init__"]
    if isinstance(stock, str) or isinstance(ours, str):
        assert ours == stock == "ItemSizeTooLarge"
    else:
        assert ours == stock  # Item.__eq__: keys and every attribute
        assert list(ours.attrs) == list(stock.attrs)
        assert type(ours.attrs) is type(stock.attrs)


def test_an_item_over_the_limit_is_still_refused_through_the_api(emulator: Emulator) -> None:
    dynamodb = emulator.dynamodb()
    _orders_table(dynamodb, "Sized")
    dynamodb.put_item(TableName="Sized", Item=_attributes(1000))
    with pytest.raises(ClientError, match="Item size has exceeded the maximum allowed size"):
        dynamodb.put_item(TableName="Sized", Item=_attributes(410_000))


def test_the_module_list_is_moto_own_and_iterates_again_and_again() -> None:
    from moto import backends

    stock = list(moto_patches.ORIGINALS["backends.list_of_moto_modules"]())
    assert backends.list_of_moto_modules is not moto_patches.ORIGINALS["backends.list_of_moto_modules"]
    assert list(backends.list_of_moto_modules()) == stock
    assert list(backends.list_of_moto_modules()) == stock
    assert "dynamodb" in backends.list_of_moto_modules()


def test_action_names_are_moto_own_and_each_caller_gets_its_own_list() -> None:
    from moto.core import responses
    from moto.dynamodb.responses import DynamoHandler
    from moto.sqs.responses import SQSResponse

    original = moto_patches.ORIGINALS["responses.method_names_from_class"]
    for clazz in (DynamoHandler, SQSResponse):
        names = responses.method_names_from_class(clazz)  # type: ignore[attr-defined]
        assert names == original(clazz)
        names.append("mutated")
        assert "mutated" not in responses.method_names_from_class(clazz)  # type: ignore[attr-defined]


_EXPRESSIONS: list[tuple[str, dict[str, str] | None, dict[str, Any] | None]] = [
    ("attribute_not_exists(orderId)", None, None),
    (
        "attribute_not_exists(#id) OR #s = :awaiting",
        {"#id": "orderId", "#s": "status"},
        {":awaiting": {"S": "AWAITING"}},
    ),
    (
        "#s IN (:a, :b) AND size(#items) > :n",
        {"#s": "status", "#items": "items"},
        {":a": {"S": "A"}, ":b": {"S": "CONFIRMED"}, ":n": {"N": "1"}},
    ),
    ("totalAmount BETWEEN :low AND :high", None, {":low": {"N": "100"}, ":high": {"N": "200"}}),
    ("NOT contains(#s, :x)", {"#s": "status"}, {":x": {"S": "CANCEL"}}),
    ("#missing = :v", {"#other": "x"}, {":v": {"S": "a"}}),  # a name it does not define
    ("status = :undefined", None, {":v": {"S": "a"}}),  # a value it does not define
    ("attribute_not_exists(orderId", None, None),  # a syntax error
    ("status = :v", None, None),  # values missing altogether
]

_ITEMS: list[dict[str, Any] | None] = [
    None,
    {
        "orderId": {"S": "ORD-1"},
        "status": {"S": "CONFIRMED"},
        "totalAmount": {"N": "149.99"},
        "items": {"L": [{"S": "a"}, {"S": "b"}]},
    },
    {"orderId": {"S": "ORD-2"}, "status": {"S": "AWAITING"}, "totalAmount": {"N": "50"}, "items": {"L": []}},
]


def _outcome(parse: Any, expression: str, names: Any, values: Any) -> tuple[Any, ...]:
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.models.dynamo_type import Item

    parser = ConditionExpressionParser(expression, names, values)
    try:
        op = parse(parser)
    except Exception as exc:  # noqa: BLE001 - the outcome compared is the error itself
        return ("error", type(exc).__name__, str(exc))
    results = []
    for attrs in _ITEMS:
        item = None if attrs is None else Item({"S": "x"}, None, attrs)
        try:
            results.append(op.expr(item))
        except Exception as exc:  # noqa: BLE001
            results.append((type(exc).__name__, str(exc)))
    return ("parsed", parser.expr_attr_names_found, parser.expr_attr_values_found, results)


@pytest.mark.usefixtures("emulator")
@pytest.mark.parametrize(("expression", "names", "values"), _EXPRESSIONS)
def test_a_condition_is_parsed_and_evaluated_as_moto_does_first_time_and_again(
    expression: str, names: dict[str, str] | None, values: dict[str, Any] | None
) -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    original = moto_patches.ORIGINALS["ConditionExpressionParser.parse"]
    assert ConditionExpressionParser.parse is not original
    expected = _outcome(original, expression, names, values)
    assert _outcome(ConditionExpressionParser.parse, expression, names, values) == expected  # a miss
    assert _outcome(ConditionExpressionParser.parse, expression, names, values) == expected  # a hit


@pytest.mark.usefixtures("emulator")
def test_a_kept_parse_does_not_follow_a_callers_later_changes() -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    values = {":s": {"S": "CONFIRMED"}}
    names = {"#s": "status"}
    first = ConditionExpressionParser("#s = :s", names, values).parse()
    values[":s"]["S"] = "CANCELLED"  # the caller reuses its dict
    again = ConditionExpressionParser("#s = :s", names, {":s": {"S": "CONFIRMED"}}).parse()
    changed = ConditionExpressionParser("#s = :s", names, values).parse()

    from moto.dynamodb.models.dynamo_type import Item

    confirmed = Item({"S": "x"}, None, {"status": {"S": "CONFIRMED"}})
    assert first.expr(confirmed)
    assert again.expr(confirmed)
    assert not changed.expr(confirmed)


def test_conditional_writes_through_the_api_still_check_each_requests_values(emulator: Emulator) -> None:
    dynamodb = emulator.dynamodb()
    _orders_table(dynamodb, "ParsedOnce")
    dynamodb.put_item(TableName="ParsedOnce", Item={"orderId": {"S": "A"}, "status": {"S": "AWAITING"}})

    def put(expected: str) -> None:
        dynamodb.put_item(
            TableName="ParsedOnce",
            Item={"orderId": {"S": "A"}, "status": {"S": "CONFIRMED"}},
            ConditionExpression="attribute_not_exists(orderId) OR #s = :expected",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":expected": {"S": expected}},
        )

    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        put("CANCELLED")
    put("AWAITING")  # same expression, other values: evaluated with these
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        put("AWAITING")  # now CONFIRMED
    with pytest.raises(ClientError, match="unused in expressions"):
        dynamodb.put_item(
            TableName="ParsedOnce",
            Item={"orderId": {"S": "B"}},
            ConditionExpression="attribute_not_exists(orderId)",
            ExpressionAttributeNames={"#s": "status"},
        )


def _split_groups(receive: Any, sqs: Any, name: str) -> list[str]:
    """Receive a FIFO queue's messages from 8 threads at once, deleting nothing: the groups two receives shared."""
    import sys
    import threading

    from moto.sqs.models import sqs_backends

    url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})[
        "QueueUrl"
    ]
    for group in range(40):
        for step in ("created", "cancelled"):
            sqs.send_message(QueueUrl=url, MessageBody=f"{group}-{step}", MessageGroupId=f"G{group}")
    backend = sqs_backends["123456789012"]["us-east-1"]
    received: list[list[str]] = []
    start = threading.Barrier(8)

    def receiver() -> None:
        start.wait()
        for _ in range(10):
            messages = receive(backend, name, 1, 0, 300)
            received.append([message.group_id for message in messages])

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, to interleave the receives
    try:
        threads = [threading.Thread(target=receiver) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    owners: dict[str, int] = {}
    split = []
    for index, groups in enumerate(received):
        for group in groups:
            if owners.setdefault(group, index) != index:
                split.append(group)
    return split


def test_concurrent_receives_never_split_a_fifo_group(emulator: Emulator, sqs: Any) -> None:
    """While a group's first message is in flight, no other receive gets its second (nothing is deleted here)."""
    from moto.sqs.models import SQSBackend

    for attempt in range(5):
        assert _split_groups(SQSBackend.receive_message, sqs, f"no-split-{attempt}.fifo") == []


def test_a_long_poll_still_waits_for_a_message_and_gets_it(sqs: Any) -> None:
    import threading

    url = sqs.create_queue(QueueName="long-poll-after-patch")["QueueUrl"]
    threading.Timer(1.0, lambda: sqs.send_message(QueueUrl=url, MessageBody="late")).start()
    messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10).get("Messages", [])
    assert [message["Body"] for message in messages] == ["late"]
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []) == []


def test_the_body_check_refuses_exactly_the_characters_sqs_refuses() -> None:
    def allowed(code: int) -> bool:  # SQS's rule, as its error message states it
        return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or code >= 0x10000

    edges = [*range(0x0, 0x21), 0x7F, 0xD7FF, 0xD800, 0xDBFF, 0xDC00, 0xDFFF, 0xE000, 0xFFFD, 0xFFFE, 0xFFFF]
    for code in [*edges, 0x10000, 0x1F600, 0x10FFFF]:
        refusal = sqs_patches.sqs_refusal(f"ok{chr(code)}ok", None, None, 1024)
        assert (refusal is None) is allowed(code), hex(code)
        if refusal is not None:
            assert f"'#x{code:X}'" in refusal.message
    first = sqs_patches.sqs_refusal("a\x01b\x02", None, None, 1024)
    assert first is not None
    assert "'#x1'" in first.message  # the first bad character is the one named


def test_queue_counts_are_the_ones_moto_computes(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="counts", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": str(n)} for n in range(7)])
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3)
    queue = _queue("counts")
    for name, expected in (
        ("approximate_number_of_messages", 4),
        ("approximate_number_of_messages_not_visible", 3),
        ("approximate_number_of_messages_delayed", 1),
    ):
        assert getattr(queue, name) == expected, name
        original = moto_patches.ORIGINALS.get(f"Queue.{name}")
        if original is not None:
            assert original.fget(queue) == expected, name
