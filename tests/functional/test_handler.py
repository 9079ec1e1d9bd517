"""The Lambda handler end to end over SQS batches, against emulated DynamoDB and SQS."""

from __future__ import annotations

import io
import json
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from orderflow import handler
from orderflow.composition import Settings, build_runtime
from orderflow.handler import lambda_handler
from tests.support import EVENTS, FakeLambdaContext, body, cancellation, seed_order, sqs_record

if TYPE_CHECKING:
    from tests.functional.conftest import EmulatedAws

SEED_KEY = ("ORD-20260420-001", "2026-04-20T14:30:00Z")
#: The handler's own runtime factory (the ``aws`` fixture replaces it with a ready-made runtime).
BUILD_ON_FIRST_USE = handler._runtime


def _invoke(*records: dict[str, Any]) -> dict[str, Any]:
    return lambda_handler({"Records": list(records)}, FakeLambdaContext())


def _order(n: int, **changes: Any) -> dict[str, Any]:
    return seed_order(orderId=f"ORD-{n:04d}", **changes)


def _failures(response: dict[str, Any]) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def test_all_good_batch_stores_every_order(aws: EmulatedAws) -> None:
    # Given three valid orders
    records = [sqs_record(body(_order(n))) for n in range(3)]
    # When the batch is processed
    response = _invoke(*records)
    # Then none failed and all are stored, enriched as the seed does
    assert response == {"batchItemFailures": []}
    assert aws.count() == 3
    item = aws.stored("ORD-0001", "2026-04-20T14:30:00Z")
    assert item is not None
    assert item["status"] == {"S": "CONFIRMED"}
    assert item["itemCount"] == {"N": "1"}
    assert item["sqsMessageId"] == {"S": records[1]["messageId"]}
    assert item["totalAmount"] == {"N": "149.99"}
    assert item["items"]["L"][0]["M"]["unitPrice"] == {"N": "149.99"}
    assert int(item["ttl"]["N"]) > 0
    assert aws.dlq_messages() == []


def test_malformed_record_goes_to_dlq_and_is_not_a_failure(aws: EmulatedAws) -> None:
    good = sqs_record(body(_order(1)))
    bad_body = '{"orderId": "ORD-BROKEN", "items": [ '
    bad = sqs_record(bad_body, receive_count=1)
    response = _invoke(good, bad)
    assert _failures(response) == []
    assert aws.count() == 1
    [dead] = aws.dlq_messages()
    assert dead["Body"] == bad_body  # byte for byte
    attributes = dead["MessageAttributes"]
    assert attributes["errorCode"]["StringValue"] == "MALFORMED_JSON"
    assert attributes["errorReason"]["StringValue"].startswith("body is not valid JSON")
    assert attributes["sourceMessageId"]["StringValue"] == bad["messageId"]
    assert attributes["receiveCount"]["StringValue"] == "1"


def test_invalid_order_goes_to_dlq_with_its_reasons(aws: EmulatedAws) -> None:
    raw = body(_order(2, totalAmount=Decimal("1.00"), currency="usd"))
    response = _invoke(sqs_record(raw, receive_count=2))
    assert _failures(response) == []
    assert aws.count() == 0
    [dead] = aws.dlq_messages()
    assert dead["Body"] == raw
    assert dead["MessageAttributes"]["errorCode"]["StringValue"] == "VALIDATION_FAILED"
    assert "currency:" in dead["MessageAttributes"]["errorReason"]["StringValue"]
    assert dead["MessageAttributes"]["receiveCount"]["StringValue"] == "2"


def test_duplicate_is_a_success_and_leaves_the_item_unchanged(aws: EmulatedAws) -> None:
    first = sqs_record(body(seed_order()))
    _invoke(first)
    before = aws.stored(*SEED_KEY)
    # The same order redelivered, even in another message, with reordered keys
    again = sqs_record(json.dumps(dict(reversed(list(json.loads(body(seed_order())).items())))))
    response = _invoke(again)
    assert _failures(response) == []
    assert aws.stored(*SEED_KEY) == before
    assert before is not None
    assert before["sqsMessageId"] == {"S": first["messageId"]}
    assert aws.dlq_messages() == []


def test_conflicting_duplicate_goes_to_dlq_and_never_overwrites(aws: EmulatedAws) -> None:
    _invoke(sqs_record(body(seed_order())))
    before = aws.stored(*SEED_KEY)
    changed = seed_order(items=[{**seed_order()["items"][0], "quantity": 2}], totalAmount=Decimal("299.98"))
    conflicting = sqs_record(body(changed))
    response = _invoke(conflicting)
    assert _failures(response) == []
    assert aws.stored(*SEED_KEY) == before
    [dead] = aws.dlq_messages()
    assert dead["Body"] == conflicting["body"]
    assert dead["MessageAttributes"]["errorCode"]["StringValue"] == "CONFLICTING_DUPLICATE"


def test_throttling_on_one_record_fails_only_that_record(aws: EmulatedAws) -> None:
    aws.fail_calls(
        aws.dynamodb,
        "PutItem",
        "ProvisionedThroughputExceededException",
        400,
        when=lambda request: '"ORD-0002"' in request,
    )
    records = [sqs_record(body(_order(n))) for n in range(1, 4)]
    response = _invoke(*records)
    assert _failures(response) == [records[1]["messageId"]]
    assert aws.count() == 2
    assert aws.stored("ORD-0002", "2026-04-20T14:30:00Z") is None
    assert aws.dlq_messages() == []


@pytest.mark.parametrize(("code", "status"), [("InternalServerError", 500), ("ServiceUnavailable", 503)])
def test_server_errors_are_transient(aws: EmulatedAws, code: str, status: int) -> None:
    aws.fail_calls(aws.dynamodb, "PutItem", code, status, when=lambda request: '"ORD-0001"' in request)
    records = [sqs_record(body(_order(n))) for n in range(1, 3)]
    assert _failures(_invoke(*records)) == [records[0]["messageId"]]


def test_dlq_send_failing_reports_the_record_as_failed(aws: EmulatedAws) -> None:
    aws.fail_calls(aws.sqs, "SendMessage", "InternalError", 500, when=lambda request: True)
    good = sqs_record(body(_order(1)))
    bad = sqs_record("not json")
    response = _invoke(good, bad)
    assert _failures(response) == [bad["messageId"]]
    assert aws.count() == 1


def test_entirely_failed_batch_raises_so_lambda_counts_an_error(aws: EmulatedAws) -> None:
    aws.fail_calls(aws.dynamodb, "PutItem", "ThrottlingException", 400, when=lambda request: True)
    with pytest.raises(BatchProcessingError):
        _invoke(sqs_record(body(_order(1))), sqs_record(body(_order(2))))
    assert aws.count() == 0


def test_a_batch_of_cancellations_all_waiting_for_their_orders_is_retried_without_an_error(aws: EmulatedAws) -> None:
    # Given two cancellations whose orders are not stored yet (the EventBridge ingress's cancellation
    # queue batches them together)
    first, second = _order(1), _order(2)
    records = [sqs_record(body(cancellation(first))), sqs_record(body(cancellation(second)))]
    # When they arrive together, every record fails, for SQS to retry it, but the invocation is no error
    response = _invoke(*records)
    assert sorted(_failures(response)) == sorted(record["messageId"] for record in records)
    # and each cancellation is recorded, waiting for its order
    statuses = {key[0]: item["status"] for key, item in aws.items().items()}
    assert statuses == {first["orderId"]: "AWAITING_ORDER", second["orderId"]: "AWAITING_ORDER"}


def test_a_batch_failing_for_waiting_and_for_a_dependency_still_raises(aws: EmulatedAws) -> None:
    aws.fail_calls(aws.dynamodb, "PutItem", "ThrottlingException", 400, when=lambda request: "ORD-T1" in request)
    waiting = sqs_record(body(cancellation(_order(2))))
    throttled = sqs_record(body(seed_order(orderId="ORD-T1")))
    with pytest.raises(BatchProcessingError):
        _invoke(waiting, throttled)


def test_logs_are_structured_and_carry_ids_but_no_address(aws: EmulatedAws, monkeypatch: pytest.MonkeyPatch) -> None:
    # The logger keeps the stream it found at import: read what it writes there.
    stream = io.StringIO()
    monkeypatch.setattr(handler.logger.registered_handler, "stream", stream)
    record = sqs_record(body(seed_order()))
    _invoke(record)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    stored = [line for line in lines if line["message"] == "Order stored"]
    assert len(stored) == 1
    assert stored[0]["message_id"] == record["messageId"]
    assert stored[0]["order_id"] == "ORD-20260420-001"
    assert stored[0]["correlation_id"] == record["messageId"]
    everything = json.dumps(lines)
    assert "Dev Lane" not in everything
    assert "Portland" not in everything


def test_metrics_are_emitted_as_emf(aws: EmulatedAws, capsys: pytest.CaptureFixture[str]) -> None:
    _invoke(sqs_record(body(_order(1))), sqs_record(body(_order(1))), sqs_record("[]"))
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    values: dict[str, float] = {}
    for blob in blobs:
        for metric in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            name = metric["Name"]
            value = blob[name]
            values[name] = values.get(name, 0) + (sum(value) if isinstance(value, list) else value)
    assert values["OrdersStored"] == 1
    assert values["DuplicatesSkipped"] == 1
    assert values["OrdersRejected"] == 1
    by_reason = [blob for blob in blobs if "OrdersRejectedByReason" in blob]
    assert by_reason[0]["reason"] == "MALFORMED_JSON"
    assert by_reason[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "reason"]]


def test_the_sample_sqs_event_stores_the_seed_order(aws: EmulatedAws) -> None:
    event = json.loads((EVENTS / "sqs_batch_seed_order.json").read_text())
    assert lambda_handler(event, FakeLambdaContext()) == {"batchItemFailures": []}
    assert aws.stored(*SEED_KEY) is not None


def test_a_redriven_message_rejected_again_keeps_its_redrive_count(aws: EmulatedAws) -> None:
    record = sqs_record("still not json")
    record["messageAttributes"]["redriveCount"] = {"stringValue": "2", "dataType": "Number"}
    _invoke(record)
    [dead] = aws.dlq_messages()
    assert dead["MessageAttributes"]["redriveCount"]["StringValue"] == "2"


def test_a_first_rejection_has_no_redrive_count(aws: EmulatedAws) -> None:
    _invoke(sqs_record("not json"))
    [dead] = aws.dlq_messages()
    assert "redriveCount" not in dead["MessageAttributes"]


def _delivered(aws: EmulatedAws, raw_body: str) -> dict[str, Any]:
    """Send ``raw_body`` to the real queue and receive it, as the event source mapping would."""
    aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody=raw_body)
    [message] = aws.sqs.receive_message(
        QueueUrl=aws.queue_url, VisibilityTimeout=185, MessageSystemAttributeNames=["All"]
    )["Messages"]
    record = sqs_record(raw_body, message_id=message["MessageId"])
    record["receiptHandle"] = message["ReceiptHandle"]
    record["attributes"]["ApproximateReceiveCount"] = message["Attributes"]["ApproximateReceiveCount"]
    record["eventSourceARN"] = aws.sqs.get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    return record


def test_a_transient_failure_is_retried_after_a_short_backoff(aws: EmulatedAws) -> None:
    # Given a message received with the queue's long visibility timeout, and throttling
    calls: list[dict[str, Any]] = []
    aws.sqs.meta.events.register(
        "provide-client-params.sqs.ChangeMessageVisibility", lambda params, **_: calls.append(dict(params))
    )
    aws.fail_calls(aws.dynamodb, "PutItem", "ThrottlingException", 400, when=lambda request: '"ORD-0001"' in request)
    record = _delivered(aws, body(_order(1)))
    # When the handler fails it transiently
    response = _invoke(record, sqs_record(body(_order(2))))
    # Then it is reported, and its visibility shortened to the first backoff step
    assert _failures(response) == [record["messageId"]]
    assert [(call["ReceiptHandle"], call["VisibilityTimeout"]) for call in calls] == [(record["receiptHandle"], 2)]
    assert calls[0]["QueueUrl"].endswith("/123456789012/OrderCreatedQueue")
    time.sleep(2.5)
    again = aws.sqs.receive_message(QueueUrl=aws.queue_url, MessageSystemAttributeNames=["All"])["Messages"]
    assert again[0]["MessageId"] == record["messageId"]  # back long before 185 s
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"


def test_the_backoff_follows_the_functions_retry_delays(aws: EmulatedAws, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a function configured with RETRY_DELAYS=5,7 (Settings.from_env reads it)
    settings = Settings(table_name="Orders", dlq_url=aws.dlq_url, retry_delays=(5, 7))
    runtime = build_runtime(settings, dynamodb=aws.dynamodb, sqs=aws.sqs)
    monkeypatch.setattr(handler, "_runtime", lambda: runtime)
    calls: list[dict[str, Any]] = []
    aws.sqs.meta.events.register(
        "provide-client-params.sqs.ChangeMessageVisibility", lambda params, **_: calls.append(dict(params))
    )
    aws.fail_calls(aws.dynamodb, "PutItem", "ThrottlingException", 400, when=lambda request: '"ORD-0001"' in request)
    record = _delivered(aws, body(_order(1)))
    # When its first receive fails transiently, and then its second (beside an order that is stored)
    assert _failures(_invoke(record, sqs_record(body(_order(2))))) == [record["messageId"]]
    record["attributes"]["ApproximateReceiveCount"] = "2"
    assert _failures(_invoke(record, sqs_record(body(_order(3))))) == [record["messageId"]]
    # Then the waits are the configured ones, not the default 2 s and 8 s
    assert [call["VisibilityTimeout"] for call in calls] == [5, 7]


def test_a_failed_backoff_still_reports_the_record(aws: EmulatedAws) -> None:
    aws.fail_calls(aws.dynamodb, "PutItem", "ThrottlingException", 400, when=lambda request: '"ORD-0001"' in request)
    aws.fail_calls(aws.sqs, "ChangeMessageVisibility", "InternalError", 500, when=lambda request: True)
    record = _delivered(aws, body(_order(1)))
    response = _invoke(record, sqs_record(body(_order(2))))
    assert _failures(response) == [record["messageId"]]


def test_records_of_a_standard_batch_are_written_concurrently(aws: EmulatedAws) -> None:
    import threading

    threads: set[str] = set()
    arrived = threading.Barrier(3, timeout=10)

    def gather(**_: Any) -> None:
        threads.add(threading.current_thread().name)
        arrived.wait()  # three writes must be in flight at once, or this times out

    aws.dynamodb.meta.events.register("before-call.dynamodb.PutItem", gather)
    records = [sqs_record(body(_order(n))) for n in range(1, 4)]
    assert _invoke(*records) == {"batchItemFailures": []}
    assert len(threads) == 3
    assert aws.count() == 3


def test_a_fifo_batch_is_processed_in_order_and_a_failure_holds_back_only_its_group(aws: EmulatedAws) -> None:
    order: list[str] = []
    aws.dynamodb.meta.events.register(
        "provide-client-params.dynamodb.PutItem", lambda params, **_: order.append(params["Item"]["orderId"]["S"])
    )
    aws.fail_calls(aws.dynamodb, "PutItem", "ThrottlingException", 400, when=lambda request: '"ORD-0002"' in request)
    records = [sqs_record(body(_order(n))) for n in range(1, 6)]
    groups = ["A", "A", "B", "A", "B"]
    for record, group in zip(records, groups, strict=True):
        record["eventSourceARN"] = "arn:aws:sqs:us-east-1:123456789012:OrderCreatedQueue.fifo"
        record["attributes"]["MessageGroupId"] = group
    response = _invoke(*records)
    # ORD-0002 failed: it and the later ORD-0004 of group A are retried; group B went on
    assert _failures(response) == [records[1]["messageId"], records[3]["messageId"]]
    assert order == ["ORD-0001", "ORD-0002", "ORD-0003", "ORD-0005"]


def test_a_fifo_record_skipped_after_its_group_failed_is_logged_with_its_own_message_id(
    aws: EmulatedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If its receives run out on a skip, SQS moves it with no failure of its own: this line is its reason."""
    import io

    from orderflow import handler

    stream = io.StringIO()  # the lines as the function writes them, formatted when logged
    monkeypatch.setattr(handler.logger.registered_handler, "stream", stream)
    aws.fail_calls(aws.dynamodb, "PutItem", "ThrottlingException", 400, when=lambda request: '"ORD-0001"' in request)
    records = [sqs_record(body(_order(n)), receive_count=6) for n in range(1, 4)]
    for record, group in zip(records, ["A", "A", "B"], strict=True):
        record["eventSourceARN"] = "arn:aws:sqs:us-east-1:123456789012:OrderCreatedQueue.fifo"
        record["attributes"]["MessageGroupId"] = group

    assert _failures(_invoke(*records)) == [records[0]["messageId"], records[1]["messageId"]]

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    skipped = [line for line in lines if line["message"].startswith("Skipped after an earlier message of its group")]
    assert [(line["message_id"], line["message_group_id"], line["receive_count"]) for line in skipped] == [
        (records[1]["messageId"], "A", 6)
    ]
    assert skipped[0]["level"] == "WARNING"  # what `orderflow dlq list` reads as a failure's reason


def test_a_connection_error_on_the_write_is_transient(aws: EmulatedAws) -> None:
    from botocore.exceptions import EndpointConnectionError

    def unreachable(params: dict[str, Any], **_: Any) -> None:
        if '"ORD-0001"' in params["body"].decode():
            raise EndpointConnectionError(endpoint_url="https://dynamodb.invalid")

    aws.dynamodb.meta.events.register("before-call.dynamodb.PutItem", unreachable)
    records = [sqs_record(body(_order(n))) for n in range(1, 3)]
    assert _failures(_invoke(*records)) == [records[0]["messageId"]]
    assert aws.count() == 1
    assert aws.dlq_messages() == []


def test_a_condition_failure_without_the_stored_item_is_retried_not_guessed(aws: EmulatedAws) -> None:
    # Without ALL_OLD we cannot tell a duplicate from a conflict: retry rather than decide.
    aws.fail_calls(
        aws.dynamodb, "PutItem", "ConditionalCheckFailedException", 400, when=lambda request: '"ORD-0001"' in request
    )
    records = [sqs_record(body(_order(1))), sqs_record(body(_order(2)))]
    assert _failures(_invoke(*records)) == [records[0]["messageId"]]
    assert aws.dlq_messages() == []


def test_a_connection_error_on_the_dlq_send_keeps_the_record(aws: EmulatedAws) -> None:
    from botocore.exceptions import EndpointConnectionError

    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://sqs.invalid")

    aws.sqs.meta.events.register("before-call.sqs.SendMessage", unreachable)
    good, bad = sqs_record(body(_order(1))), sqs_record("not json")
    assert _failures(_invoke(good, bad)) == [bad["messageId"]]


def test_a_long_reason_is_cut_to_fit_the_dlq_attribute(aws: EmulatedAws) -> None:
    item = seed_order()["items"][0]
    many = seed_order(items=[{**item, "quantity": 0}] * 100, totalAmount=Decimal("1"))
    raw = body(many)
    _invoke(sqs_record(raw))
    [dead] = aws.dlq_messages()
    reason = dead["MessageAttributes"]["errorReason"]["StringValue"]
    assert len(reason) == 1024
    assert reason.endswith("…")
    assert reason.startswith("items[0].quantity: Input should be greater than or equal to 1")
    assert dead["Body"] == raw


def test_the_first_batch_builds_the_runtime_once_though_its_records_run_on_threads(
    aws: EmulatedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a fresh execution environment (no runtime yet) whose runtime takes a while to build
    monkeypatch.setattr(handler, "_runtime", BUILD_ON_FIRST_USE)  # not the fixture's ready-made one
    built: list[int] = []

    def slow_build(settings: Settings) -> Any:
        built.append(1)
        time.sleep(0.2)  # long enough for every record thread to ask for it meanwhile
        return build_runtime(settings, dynamodb=aws.dynamodb, sqs=aws.sqs)

    monkeypatch.setenv("TABLE_NAME", aws.table_name)
    monkeypatch.setenv("DLQ_URL", aws.dlq_url)
    monkeypatch.setattr(handler, "build_runtime", slow_build)
    handler._build_runtime.cache_clear()
    try:
        # When its first batch of ten arrives, and then a second
        assert _invoke(*(sqs_record(body(_order(n))) for n in range(1, 11))) == {"batchItemFailures": []}
        assert _invoke(sqs_record(body(_order(11)))) == {"batchItemFailures": []}
    finally:
        handler._build_runtime.cache_clear()
    # Then one runtime (one set of clients) served both, and every order is stored
    assert built == [1]
    assert aws.count() == 11
