"""`orderflow invoke` beside a running `orderflow up`: the samples in events/ run in a new execution
environment as the function's role, what they write is in the stack afterwards, their log lines are
printed and in the function's log group; a failure is reported as Lambda reports it, and what
invoke cannot do is one line saying what to do.

One `orderflow up` (a process, as a user starts it, in a folder of its own where it records its
functions); invoke runs in-process (typer's CliRunner) in that folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from typer.testing import CliRunner

from orderflow_cli.main import app
from tests.support import free_port, wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

# One worker runs this module's tests, so its module-scoped stack starts once (make test: --dist loadgroup).
pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("test_invoke")]

BIN = Path(sys.executable).parent
SAMPLES = Path(__file__).parents[2] / "events"
PROCESSOR = SAMPLES / "OrderProcessor"
PAYMENTS = SAMPLES / "PaymentProcessor"
NOTIFIER = SAMPLES / "Notifier"
LOG_GROUP = "/aws/lambda/OrderProcessor"
ENV = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass
class Up:
    process: subprocess.Popen[str]
    endpoint: str
    #: Where it runs, and records its functions (.orderflow/stacks/PORT.json).
    folder: Path
    output: Path

    def client(self, service: str) -> Any:
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id="local",
            aws_secret_access_key="local",
        )  # fmt: skip


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    folder = tmp_path_factory.mktemp("up")
    port = free_port()
    output = folder / "up.out"
    with output.open("w") as out:
        process = subprocess.Popen(
            [str(BIN / "orderflow"), "up", "--port", str(port), "--batching-window", "1", "--no-reload"],
            cwd=folder, stdout=out, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, **ENV, "COLUMNS": "200"},
        )  # fmt: skip
    running = Up(process, f"http://127.0.0.1:{port}", folder, output)
    try:
        wait_until(
            lambda: "Press Ctrl-C to stop" in output.read_text() or process.poll() is not None, "orderflow up", 180
        )
        assert process.poll() is None, output.read_text()
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


@pytest.fixture
def in_up_folder(up: Up, monkeypatch: pytest.MonkeyPatch) -> Up:
    monkeypatch.chdir(up.folder)
    return up


def _orderflow(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(app, list(args), input=stdin, env=ENV, prog_name="orderflow")


def _invoke(up: Up, *args: str, stdin: str | None = None) -> Any:
    return _orderflow("invoke", *args, "--endpoint-url", up.endpoint, stdin=stdin)


def _log_lines(stderr: str) -> list[str]:
    """What invoke printed of the function's log: its JSON lines (not its own `Invoking ...` line)."""
    return [line for line in stderr.splitlines() if line.startswith("{")]


def _request_id(lines: list[str]) -> str:
    starts = [json.loads(line) for line in lines if '"platform.start"' in line]
    assert len(starts) == 1, lines
    return str(starts[0]["record"]["requestId"])


def _stored(up: Up, order_id: str) -> dict[str, Any]:
    result = _orderflow("orders", "get", order_id, "--endpoint-url", up.endpoint)
    assert result.exit_code == 0, result.output
    [item] = json.loads(result.stdout)
    return dict(item)


def test_the_valid_samples_store_the_order_then_cancel_it_and_their_logs_are_printed_and_sent(
    in_up_folder: Up,
) -> None:
    up = in_up_folder
    order = json.loads(json.loads((PROCESSOR / "order-created.json").read_text())["Records"][0]["body"])

    created = _invoke(up, "OrderProcessor", "--event", str(PROCESSOR / "order-created.json"))

    # Then the result is the function's, alone on stdout (jq reads it), and the order is stored
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout) == {"batchItemFailures": []}
    stored = _stored(up, order["orderId"])
    assert (stored["status"], stored["customerId"], stored["createdAt"]) == (
        "CONFIRMED",
        order["customerId"],
        order["createdAt"],
    )
    # and the invocation ran as the function's role, in a new environment: a cold start with its INIT
    assert "as OrderProcessingStack-ProcessorRole" in created.stderr
    lines = _log_lines(created.stderr)
    kinds = [json.loads(line).get("type") for line in lines]
    assert kinds[:2] == ["platform.initStart", "platform.start"]
    assert kinds[-2:] == ["platform.runtimeDone", "platform.report"]
    assert any(json.loads(line).get("message") == "Order stored" for line in lines)
    # and the lines printed are the lines in the function's log group, in its environment's own stream
    logs = up.client("logs")
    request_id = _request_id(lines)
    found = logs.filter_log_events(logGroupName=LOG_GROUP, filterPattern=f'"{request_id}"')["events"]
    streams = {event["logStreamName"] for event in found}
    assert len(streams) == 1, found
    sent = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=streams.pop(), startFromHead=True)["events"]
    assert [event["message"] for event in sent] == lines

    # When the cancellation sample is invoked, from stdin
    cancelled = _invoke(up, "OrderProcessor", "--event", "-", stdin=(PROCESSOR / "order-cancelled.json").read_text())

    # Then the order is cancelled, with the sample's reason
    assert cancelled.exit_code == 0, cancelled.output
    assert json.loads(cancelled.stdout) == {"batchItemFailures": []}
    stored = _stored(up, order["orderId"])
    assert (stored["status"], stored["cancellationReason"]) == ("CANCELLED", "Customer changed their mind")


def test_the_invalid_sample_is_rejected_to_the_dlq_with_its_reason(in_up_folder: Up) -> None:
    up = in_up_folder
    [record] = json.loads((PROCESSOR / "invalid-order.json").read_text())["Records"]

    # The logical id names the function too
    result = _invoke(up, "ProcessorOrderProcessorFnAF186E91", "-e", str(PROCESSOR / "invalid-order.json"))

    # The handler rejects the record to the DLQ itself: it is not a batch item failure
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"batchItemFailures": []}
    reason = "items[0].quantity: Input should be greater than or equal to 1; shippingAddress: is required"
    rejected = [json.loads(line) for line in _log_lines(result.stderr) if "Event rejected to the DLQ" in line]
    assert [(line["error_code"], line["reason"], line["message_id"]) for line in rejected] == [
        ("VALIDATION_FAILED", reason, record["messageId"])
    ]
    listed = _orderflow("dlq", "list", "--json", "--endpoint-url", up.endpoint)
    assert listed.exit_code == 0, listed.output
    letters = [letter for letter in json.loads(listed.stdout) if letter["sourceMessageId"] == record["messageId"]]
    assert [(letter["errorCode"], letter["reason"], letter["body"]) for letter in letters] == [
        ("VALIDATION_FAILED", reason, record["body"])
    ]


def test_a_function_that_raises_exits_1_with_lambdas_error_document(in_up_folder: Up) -> None:
    # Given no --event: {} (as sam sends), which is no SQS batch
    result = _invoke(in_up_folder, "OrderProcessor")

    assert result.exit_code == 1
    error = json.loads(result.stdout)
    assert error["errorType"] == "UnexpectedBatchTypeError"
    assert error["errorMessage"].startswith("Unexpected batch event type")
    assert error["requestId"] == _request_id(_log_lines(result.stderr))
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error: OrderProcessor failed: UnexpectedBatchTypeError: Unexpected batch event type")
    report = json.loads(_log_lines(result.stderr)[-1])
    assert (report["type"], report["record"]["status"]) == ("platform.report", "error")


def test_an_unknown_function_is_one_line_naming_the_functions_there_are(in_up_folder: Up) -> None:
    result = _invoke(in_up_folder, "OrderShipper", "-e", str(PROCESSOR / "order-created.json"))

    assert result.exit_code == 1
    assert result.stderr == (
        f"error: no function 'OrderShipper' in the stack at {in_up_folder.endpoint}: its functions are "
        "OrderProcessor (logical id ProcessorOrderProcessorFnAF186E91), "
        "PaymentProcessor (logical id PaymentsProcessorPaymentProcessorFnF9B53709), "
        "Notifier (logical id NotificationsNotifierNotifierFn4FE8F2DB)\n"
    )
    assert result.stdout == ""


def _ledger(up: Up, order_id: str) -> dict[str, list[dict[str, Any]]]:
    """The embedded payment provider's charges, refunds and declines for ``order_id``."""
    result = _orderflow("payments", "list", "--json", "--order", order_id, "--endpoint-url", up.endpoint)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_the_payment_samples_charge_the_order_once_then_refund_it(in_up_folder: Up) -> None:
    up = in_up_folder
    [record] = json.loads((PAYMENTS / "order-confirmed.json").read_text())["Records"]
    detail = json.loads(record["body"])["detail"]
    order_id = detail["orderId"]

    charged = _invoke(up, "PaymentProcessor", "--event", str(PAYMENTS / "order-confirmed.json"))

    # Then the provider charged the order's total once, with the order's own idempotency key, as the role
    assert charged.exit_code == 0, charged.output
    assert json.loads(charged.stdout) == {"batchItemFailures": []}
    assert "as OrderProcessingStack-PaymentsProcessorRole" in charged.stderr
    [charge] = _ledger(up, order_id)["charges"]
    assert (charge["amount"], charge["idempotency_key"]) == (
        14999,  # USD 149.99 in cents
        f"orderflow:{order_id}#{detail['createdAt']}:charge",
    )

    # When it is invoked again: Powertools answers from the event's record, the provider is not asked
    again = _invoke(up, "PaymentProcessor", "--event", str(PAYMENTS / "order-confirmed.json"))
    assert again.exit_code == 0, again.output
    messages = [json.loads(line).get("message") for line in _log_lines(again.stderr)]
    assert "Event already handled: its first answer returned" in messages
    assert len(_ledger(up, order_id)["charges"]) == 1

    # When the cancellation sample is invoked: the whole charge is refunded
    refunded = _invoke(up, "PaymentProcessor", "--event", str(PAYMENTS / "order-cancelled.json"))
    assert refunded.exit_code == 0, refunded.output
    assert json.loads(refunded.stdout) == {"batchItemFailures": []}
    ledger = _ledger(up, order_id)
    [refund] = ledger["refunds"]
    assert (refund["amount"], refund["charge"]) == (charge["amount"], charge["id"])
    assert len(ledger["charges"]) == 1

    # And the stack's Notifier, given the payment's outcomes, dead-letters them: their order is in no table
    dlq_url = up.client("sqs").get_queue_url(QueueName="NotificationDLQ")["QueueUrl"]

    def dead_letters() -> list[tuple[str, str]]:
        listed = _orderflow("dlq", "list", "--json", "--dlq-url", dlq_url, "--endpoint-url", up.endpoint)
        assert listed.exit_code == 0, listed.output
        letters = [letter for letter in json.loads(listed.stdout) if order_id in letter["body"]]
        events = [(json.loads(letter["body"]), letter["errorCode"]) for letter in letters]
        return sorted((event["detail-type"], code) for event, code in events)

    wait_until(
        lambda: dead_letters() == [("PaymentCaptured", "ORDER_NOT_FOUND"), ("PaymentRefunded", "ORDER_NOT_FOUND")],
        "the payment's outcomes in NotificationDLQ",
        60,
    )


def _claims(up: Up, order_id: str) -> dict[str, dict[str, str]]:
    """The Notifier's claims for ``order_id`` in Notifications, by event id: kind, status, messageId."""
    items = up.client("dynamodb").query(
        TableName="Notifications",
        KeyConditionExpression="orderId = :o",
        ExpressionAttributeValues={":o": {"S": order_id}},
        ConsistentRead=True,
    )["Items"]
    return {
        item["eventId"]["S"]: {key: item[key]["S"] for key in ("kind", "status", "to", "messageId") if key in item}
        for item in items
    }


def test_the_notifier_samples_email_the_order_once_each(in_up_folder: Up) -> None:
    up = in_up_folder
    # Given the order the samples are about, put in Orders as events/README.md says (no domainEvent:
    # the outbox publishes nothing for it)
    item = json.loads((NOTIFIER / "order.dynamodb.json").read_text())
    up.client("dynamodb").put_item(TableName="Orders", Item=item)
    order_id = item["orderId"]["S"]
    [record] = json.loads((NOTIFIER / "payment-captured.json").read_text())["Records"]
    captured_id = json.loads(record["body"])["detail"]["eventId"]

    sent = _invoke(up, "Notifier", "--event", str(NOTIFIER / "payment-captured.json"))

    # Then the confirmation is sent once, as the Notifier's role, and its claim marked SENT
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.stdout) == {"batchItemFailures": []}
    assert "as OrderProcessingStack-NotificationsNotifierRole" in sent.stderr
    lines = [json.loads(line) for line in _log_lines(sent.stderr)]
    [done] = [line for line in lines if line.get("action") == "SENT"]
    assert done["kind"] == "confirmation"
    assert done["message"].startswith("E-mail sent: ")
    claims = _claims(up, order_id)
    assert claims == {
        captured_id: {
            "kind": "confirmation",
            "status": "SENT",
            "to": "ana@customers.example",
            "messageId": done["ses_message_id"],
        }
    }

    # When it is invoked again: Powertools answers from the event's record, nothing is sent
    again = _invoke(up, "Notifier", "--event", str(NOTIFIER / "payment-captured.json"))
    assert again.exit_code == 0, again.output
    messages = [json.loads(line).get("message") for line in _log_lines(again.stderr)]
    assert "Event already handled: its first answer returned" in messages
    assert _claims(up, order_id) == claims

    # When the cancellation and the refund samples are invoked: one e-mail each
    for name in ("order-cancelled.json", "payment-refunded.json"):
        result = _invoke(up, "Notifier", "--event", str(NOTIFIER / name))
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == {"batchItemFailures": []}
    claims = _claims(up, order_id)
    assert sorted((claim["kind"], claim["status"]) for claim in claims.values()) == [
        ("cancellation", "SENT"),
        ("confirmation", "SENT"),
        ("refund", "SENT"),
    ]
    assert len({claim["messageId"] for claim in claims.values()}) == 3


def test_every_function_of_the_stack_has_samples(up: Up) -> None:
    [record] = (up.folder / ".orderflow" / "stacks").glob("*.json")
    names = [function["config"]["name"] for function in json.loads(record.read_text())["functions"]]
    assert sorted(names) == ["Notifier", "OrderProcessor", "PaymentProcessor"]
    for name in names:
        assert sorted((SAMPLES / name).glob("*.json")), f"events/{name}/ has no sample event"


def test_outside_ups_folder_invoke_says_where_to_run_it(
    up: Up, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    result = _invoke(up, "OrderProcessor")

    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: the stack at {up.endpoint} is not the one recorded here: ")
    assert "has no record of it" in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_a_record_left_by_a_stack_that_stopped_is_not_used(
    up: Up, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a record for the running stack's port from an earlier stack (an `up` that was killed)
    [record] = (up.folder / ".orderflow" / "stacks").glob("*.json")
    stale = json.loads(record.read_text())
    stale["instance"] = "0" * 32
    (tmp_path / ".orderflow" / "stacks").mkdir(parents=True)
    (tmp_path / ".orderflow" / "stacks" / record.name).write_text(json.dumps(stale))
    monkeypatch.chdir(tmp_path)

    result = _invoke(up, "OrderProcessor")

    assert result.exit_code == 1
    assert "records a stack that has stopped" in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_with_no_stack_answering_it_says_to_start_up_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Even with a record for the port left behind
    port = free_port()
    (tmp_path / ".orderflow" / "stacks").mkdir(parents=True)
    (tmp_path / ".orderflow" / "stacks" / f"{port}.json").write_text("{}")
    monkeypatch.chdir(tmp_path)

    result = _orderflow("invoke", "OrderProcessor", "--port", str(port))

    assert result.exit_code == 1
    assert result.stderr == (
        f"error: cannot reach http://127.0.0.1:{port}: start `orderflow up` first (or pass --endpoint-url)\n"
    )
