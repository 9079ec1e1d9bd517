"""The chaos seed reproduces a run: the same seed gives the same faults to the same work, however it interleaves."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from orderflow.batch import ConcurrentBatchProcessor
from orderflow_local.lambda_runtime import chaos
from orderflow_local.lambda_runtime.chaos import ChaosConfig

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import pytest
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

CALLS_PER_RECORD = 12
MESSAGES = ["m-1", "m-2", "m-3"]

#: (message id, receive count) -> what each of its calls met, in order ("ok" or the error code).
Decisions = dict[tuple[str, str], list[str]]


def _record(message_id: str, receive_count: int = 1) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": "{}",
        "attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": "0"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orders",
        "awsRegion": "us-east-1",
    }


def _run(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    seed: int,
    records: list[dict[str, Any]],
    processor: BatchProcessor,
    before_each_call: Callable[[str], None] = lambda _message_id: None,
) -> Decisions:
    """Install chaos afresh (as a new environment does), then process ``records``; every call writes to DynamoDB."""
    monkeypatch.setattr(BaseClient, "_make_api_call", lambda *_: {})  # what chaos wraps: AWS answering
    monkeypatch.setattr(BatchProcessor, "_process_record", BatchProcessor._process_record)
    chaos.install(
        ChaosConfig(
            rate=0.5,
            seed=seed,
            journal=str(tmp_path / "journal"),
            function_timeout=1,
            only=("ddb_throttle", "ddb_server_error"),
        ),
        environment_index=0,
    )
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    decisions: Decisions = {}
    lock = threading.Lock()

    def handle(record: SQSRecord) -> None:
        outcomes = []
        for n in range(CALLS_PER_RECORD):
            before_each_call(record.message_id)
            try:
                client.put_item(TableName="orders", Item={"pk": {"S": f"{record.message_id}-{n}"}})
                outcomes.append("ok")
            except ClientError as error:
                outcomes.append(error.response["Error"]["Code"])
        with lock:
            decisions[(record.message_id, record.attributes.approximate_receive_count)] = outcomes

    process_partial_response(event={"Records": records}, record_handler=handle, processor=processor, context=None)
    return decisions


def _lockstep(order: list[str]) -> Callable[[str], None]:
    """Makes the records' threads take turns, one call each, in ``order`` (each makes the same number of calls)."""
    turn = threading.Condition()
    calls_made = [0]

    def before_each_call(message_id: str) -> None:
        with turn:
            assert turn.wait_for(lambda: order[calls_made[0] % len(order)] == message_id, timeout=10)
            calls_made[0] += 1
            turn.notify_all()

    return before_each_call


def test_the_same_seed_gives_the_same_faults_whatever_the_interleaving(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    forward = [_record(message_id) for message_id in MESSAGES]
    # One record after another, in one order and then in the other.
    in_order = _run(monkeypatch, tmp_path, 7, forward, BatchProcessor(event_type=EventType.SQS))
    reversed_order = _run(monkeypatch, tmp_path, 7, forward[::-1], BatchProcessor(event_type=EventType.SQS))
    # The records on threads of their own, their calls alternating.
    alternating = _run(
        monkeypatch,
        tmp_path,
        7,
        forward,
        ConcurrentBatchProcessor(event_type=EventType.SQS),
        _lockstep(MESSAGES[::-1]),
    )
    assert set(in_order) == {(message_id, "1") for message_id in MESSAGES}
    assert any(code != "ok" for outcomes in in_order.values() for code in outcomes), "faults were injected"
    assert reversed_order == in_order
    assert alternating == in_order


def test_another_seed_or_a_redelivery_draws_afresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    records = [_record(message_id) for message_id in MESSAGES]
    first = _run(monkeypatch, tmp_path, 7, records, BatchProcessor(event_type=EventType.SQS))
    other_seed = _run(monkeypatch, tmp_path, 8, records, BatchProcessor(event_type=EventType.SQS))
    redelivered = _run(
        monkeypatch, tmp_path, 7, [_record("m-1", receive_count=2)], BatchProcessor(event_type=EventType.SQS)
    )
    assert other_seed != first
    # Its second receive is not condemned to meet its first receive's faults again.
    assert redelivered[("m-1", "2")] != first[("m-1", "1")]


def test_ses_faults_refuse_the_notifiers_send_as_ses_would_and_are_journalled(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sent: list[str] = []
    monkeypatch.setattr(BaseClient, "_make_api_call", lambda _self, operation, _params: sent.append(operation) or {})
    journal = tmp_path / "journal"
    chaos.install(
        ChaosConfig(
            rate=1.0, seed=7, journal=str(journal), function_timeout=1, only=("ses_throttle", "ses_server_error")
        ),
        environment_index=0,
    )
    ses = boto3.client("sesv2", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    codes = set()
    for _ in range(20):
        try:
            ses.send_email(FromEmailAddress="a@b.example", Content={"Raw": {"Data": b"x"}})
        except ClientError as error:
            codes.add((error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]))

    assert codes == {("TooManyRequestsException", 429), ("InternalFailure", 500)}
    assert sent == []  # a refused send never reached SES
    assert sum(chaos.count_faults(journal).values()) == 20
    dynamodb = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    dynamodb.put_item(TableName="t", Item={"pk": {"S": "1"}})  # other calls: no SES fault applies to them
    assert sent == ["PutItem"]
