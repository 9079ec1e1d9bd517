"""Review findings on the runtime, driven through the real handler against emulated AWS."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from orderflow import handler
from orderflow.batch import MAX_LOGGED_ATTRIBUTE_CHARS, trace_context_of
from orderflow.handler import lambda_handler
from tests.support import FakeLambdaContext, body, create_orders_table, seed_order, sqs_record

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.functional.conftest import EmulatedAws

ROOT = Path(__file__).resolve().parents[2]

SEED_KEY = ("ORD-20260420-001", "2026-04-20T14:30:00Z")
#: What a producer may put in ``redriveCount``: none of them is a count.
UNREADABLE_REDRIVE_COUNTS = ["abc", "-1", "1.5", " ", "1e3", "٣", "9" * 5000]


def _with_redrive_count(raw_body: str, value: str) -> dict[str, Any]:
    record = sqs_record(raw_body)
    record["messageAttributes"]["redriveCount"] = {"stringValue": value, "dataType": "Number"}
    return record


def _log_lines(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    # The logger keeps the stream it found at import: read what it writes there.
    stream = io.StringIO()
    monkeypatch.setattr(handler.logger.registered_handler, "stream", stream)
    return stream


@pytest.mark.parametrize("value", UNREADABLE_REDRIVE_COUNTS, ids=lambda value: value[:8])
def test_an_unreadable_redrive_count_does_not_stop_the_order(
    aws: EmulatedAws, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    # Given a valid order whose producer set a redriveCount that is not a count
    stream = _log_lines(monkeypatch)
    record = _with_redrive_count(body(seed_order()), value)
    # When the handler processes it
    response = lambda_handler({"Records": [record]}, FakeLambdaContext())
    # Then the order is stored, nothing failed or went to the DLQ, and the value is named in a warning
    assert response == {"batchItemFailures": []}
    assert aws.stored(*SEED_KEY) is not None
    assert aws.dlq_messages() == []
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    [warning] = [line for line in lines if line["message"] == "Unreadable redriveCount ignored"]
    assert warning["level"] == "WARNING"
    assert warning["message_id"] == record["messageId"]
    assert warning["redrive_count"] == value[:MAX_LOGGED_ATTRIBUTE_CHARS]


@pytest.mark.parametrize("value", ["abc", "-1", "1.5"])
def test_a_rejected_message_with_an_unreadable_redrive_count_reaches_the_dlq_with_its_reason(
    aws: EmulatedAws, value: str
) -> None:
    record = _with_redrive_count("not json", value)
    response = lambda_handler({"Records": [record]}, FakeLambdaContext())
    assert response == {"batchItemFailures": []}
    [dead] = aws.dlq_messages()
    attributes = dead["MessageAttributes"]
    assert attributes["errorCode"]["StringValue"] == "MALFORMED_JSON"
    assert attributes["sourceMessageId"]["StringValue"] == record["messageId"]
    assert "redriveCount" not in attributes  # counted as 0: the next redrive starts the count at 1


def test_a_readable_redrive_count_is_still_carried(aws: EmulatedAws, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _log_lines(monkeypatch)
    lambda_handler({"Records": [_with_redrive_count("not json", " 3 ")]}, FakeLambdaContext())
    [dead] = aws.dlq_messages()
    assert dead["MessageAttributes"]["redriveCount"]["StringValue"] == "3"
    assert "Unreadable redriveCount" not in stream.getvalue()


# --- tracing: records on pool threads stay in the handler's trace --------------------------

#: Lambda's trace header for one sampled invocation (the function segment is its Parent).
TRACE_HEADER = "Root=1-6800a1b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"


class _CapturingEmitter:
    """An X-Ray emitter that keeps what it is given instead of sending it to a daemon."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def send_entity(self, entity: Any) -> None:
        with self._lock:
            self.sent.append(json.loads(entity.serialize()))

    def set_daemon_address(self, address: str | None) -> None:
        pass


def _flatten(entity: dict[str, Any], parent_id: str | None = None) -> Iterator[dict[str, Any]]:
    """Every subsegment in a sent tree, each with the id of the entity it hangs under."""
    yield {
        "name": entity["name"],
        "operation": entity.get("aws", {}).get("operation"),
        "id": entity["id"],
        "parent_id": entity.get("parent_id", parent_id),
    }
    for child in entity.get("subsegments", []):
        yield from _flatten(child, entity["id"])


def trace_a_batch(out: str) -> None:
    """Run a 3-record batch through the handler as Lambda would with active tracing; write what X-Ray got.

    Runs in a process of its own (see the test): it needs Lambda's environment before the
    X-Ray SDK is imported, and the SDK's botocore patch cannot be undone.
    """
    import boto3
    from aws_xray_sdk.core import xray_recorder
    from moto import mock_aws

    from orderflow.composition import Settings, build_runtime
    from orderflow_local.emulator import patches as moto_patches

    assert not handler.tracer.disabled, "the handler's Tracer should trace in this process"
    emitter = _CapturingEmitter()
    xray_recorder.configure(emitter=emitter)
    moto_patches.apply()
    threads: set[str] = set()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        create_orders_table(dynamodb)
        dlq_url = sqs.create_queue(QueueName="OrderCreatedDLQ")["QueueUrl"]
        runtime = build_runtime(Settings(table_name="Orders", dlq_url=dlq_url), dynamodb=dynamodb, sqs=sqs)
        handler._runtime = lambda: runtime  # type: ignore[method-assign]
        dynamodb.meta.events.register(
            "before-call.dynamodb.PutItem", lambda **_: threads.add(threading.current_thread().name)
        )
        records = [sqs_record(body(seed_order(orderId=f"ORD-{n:04d}"))) for n in range(3)]
        response = lambda_handler({"Records": records}, FakeLambdaContext())
    entities = [found for sent in emitter.sent for found in _flatten(sent)]
    Path(out).write_text(json.dumps({"response": response, "threads": sorted(threads), "entities": entities}))


def test_records_on_pool_threads_are_traced_under_the_handler(tmp_path: Path) -> None:
    # Given Lambda's environment with active tracing: Powertools' Tracer on, a sampled trace
    env = {
        **os.environ,
        "LAMBDA_TASK_ROOT": str(tmp_path),
        "AWS_LAMBDA_FUNCTION_NAME": "OrderProcessor",
        "_X_AMZN_TRACE_ID": TRACE_HEADER,
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",  # never used: the emitter is replaced
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    for name in ("POWERTOOLS_TRACE_DISABLED", "AWS_ENDPOINT_URL", "AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE"):
        env.pop(name, None)
    out = tmp_path / "trace.json"
    # When a batch of three runs on the pool
    script = f"from tests.functional.test_review_runtime import trace_a_batch; trace_a_batch({str(out)!r})"
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["response"] == {"batchItemFailures": []}
    assert result["threads"]
    assert all(name.startswith("record") for name in result["threads"])  # the pool's, not the handler's
    # Then every record's DynamoDB call is a subsegment of the handler's subsegment
    entities = result["entities"]
    [handler_segment] = [entity for entity in entities if entity["name"] == "## lambda_handler"]
    assert handler_segment["parent_id"] == "53995c3f42cd8ad8"  # under Lambda's function segment
    writes = [entity for entity in entities if (entity["name"], entity["operation"]) == ("dynamodb", "PutItem")]
    assert len(writes) == 3
    assert {write["parent_id"] for write in writes} == {handler_segment["id"]}


def test_without_tracing_no_trace_context_is_carried() -> None:
    # Outside Lambda (as in these tests) Powertools turns the Tracer off: the pool runs records bare
    assert handler.tracer.disabled
    assert trace_context_of(handler.tracer) is None
    assert trace_context_of(None) is None
