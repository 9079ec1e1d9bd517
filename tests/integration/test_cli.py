"""`orderflow up` as a user runs it, driven by the real AWS CLI and by the `orderflow` commands."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support import EVENTS, free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

# One worker runs this module's tests, so its module-scoped stack starts once (make test: --dist loadgroup).
pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("test_cli")]

BIN = Path(sys.executable).parent
SEED_KEY = '{"orderId": {"S": "ORD-20260420-001"}, "createdAt": {"S": "2026-04-20T14:30:00Z"}}'


@dataclass
class Up:
    process: subprocess.Popen[str]
    endpoint: str
    env: dict[str, str]
    log: Path

    def aws(self, *args: str) -> Any:
        result = subprocess.run(
            [str(BIN / "aws"), "--endpoint-url", self.endpoint, "--output", "json", *args],
            env=self.env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else None

    def orderflow(
        self, *args: str, endpoint: str | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "orderflow"), *args],
            env={**self.env, "AWS_ENDPOINT_URL": endpoint or self.endpoint},
            input=stdin, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    def item(self, order_id: str) -> dict[str, Any] | None:
        """The order as stored, read with boto3: cheap enough to poll (a CLI process costs ~1 s of CPU)."""
        from boto3.dynamodb.types import TypeDeserializer

        items = _dynamodb(self).query(
            TableName="Orders",
            KeyConditionExpression="orderId = :id",
            ExpressionAttributeValues={":id": {"S": order_id}},
        )["Items"]
        return {k: TypeDeserializer().deserialize(v) for k, v in items[0].items()} if items else None

    def wait_for(self, check: Any, what: str, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}; orderflow up said:\n{self.log.read_text()}")


def _start_up(workdir: Path) -> Up:
    """`orderflow up` on a free port, once it says it is ready; its output in ``workdir``."""
    port = free_port()
    log = workdir / "up.out"
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "COLUMNS": "200",
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(BIN / "orderflow"), "up", "--port", str(port), "--log-file", str(workdir / "fn.log"),
             "--batching-window", "1"],
            stdout=out, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
    running = Up(process, f"http://localhost:{port}", env, log)
    running.wait_for(lambda: "Press Ctrl-C to stop" in log.read_text() or process.poll() is not None, "startup", 120)
    assert process.poll() is None, log.read_text()
    return running


def _stop_up(running: Up) -> None:
    if running.process.poll() is None:
        running.process.send_signal(signal.SIGTERM)
        running.process.wait(timeout=60)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    running = _start_up(tmp_path_factory.mktemp("up"))
    yield running
    _stop_up(running)


def _client(up: Up, service: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=up.endpoint, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")  # fmt: skip


def _sqs(up: Up) -> Any:
    return _client(up, "sqs")


def _dynamodb(up: Up) -> Any:
    return _client(up, "dynamodb")


def _in_dlq(up: Up, body: str) -> bool:
    """Whether the stack's DLQ holds a message with ``body`` (read without hiding it)."""
    sqs = _sqs(up)
    url = sqs.get_queue_url(QueueName="OrderCreatedDLQ")["QueueUrl"]
    for _ in range(10):  # each receive returns up to 10 of the DLQ's messages
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        if any(message["Body"] == body for message in received):
            return True
    return False


def _own_dlq(up: Up, name: str) -> str:
    """A DLQ of the test's own (`--dlq-url`): it holds what the test put there, whatever ran before."""
    return str(_sqs(up).create_queue(QueueName=f"{name}-{time.monotonic_ns()}")["QueueUrl"])


def _reject(up: Up, dlq_url: str, body: str) -> None:
    """Put ``body`` in the DLQ as the handler does when it rejects a message as malformed."""
    from orderflow.adapters.dead_letters import SqsDeadLetterPublisher

    SqsDeadLetterPublisher(dlq_url, client=_sqs(up)).publish(
        body, code="MALFORMED_JSON", reason="body is not valid JSON: Expecting value at line 1 column 1",
        source_message_id="m-rejected", receive_count=1, redrive_count=0,
    )  # fmt: skip


def _logged(up: Up, message_id: str, message: str) -> list[dict[str, Any]]:
    """The function's log lines about ``message_id`` that start with ``message``."""
    lines = []
    for text in (up.log.parent / "fn.log").read_text().splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict) and line.get("message_id") == message_id:
            lines.append(line)
    return [line for line in lines if str(line.get("message", "")).startswith(message)]


def test_up_prints_the_endpoint_resources_and_exports(up: Up) -> None:
    banner = up.log.read_text()
    assert f"export AWS_ENDPOINT_URL=http://127.0.0.1:{up.endpoint.rsplit(':', 1)[1]}" in banner
    for output in ("QueueUrl", "TableName", "DLQUrl"):
        assert output in banner
    assert "OrderCreatedQueue" in banner
    # hot reload is on by default and says what it watches: the stack's function package
    [reload_line] = [line for line in banner.splitlines() if line.strip().startswith("Hot reload")]
    assert reload_line.split()[-1].endswith("src/orderflow")
    # IAM is enforced by default and names the function's role from the template
    [iam_line] = [line for line in banner.splitlines() if line.strip().startswith("IAM")]
    assert "enforced from the template: OrderProcessor runs as OrderProcessingStack-ProcessorRole" in iam_line


def test_up_serves_the_console_at_the_url_its_banner_prints(up: Up) -> None:
    import httpx2

    found = re.search(r"Console\s+(http://127\.0\.0\.1:(\d+)/\?token=[\w-]+)", up.log.read_text())
    assert found, up.log.read_text()
    url, port = found.group(1), int(found.group(2))
    if "is taken: the console takes a free one" not in up.log.read_text():  # another test's port, rarely
        assert port == int(up.endpoint.rsplit(":", 1)[1]) + 1  # the endpoint's port + 1 when it is free
    page = httpx2.get(url, timeout=30)
    assert page.status_code == 200
    assert "OrderProcessingStack" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    overview = httpx2.get(f"http://127.0.0.1:{port}/api/overview", timeout=30).json()
    assert {"OrderProcessor", "PaymentProcessor", "Notifier"} <= {node["name"] for node in overview["nodes"]}


def test_the_seeds_end_to_end_commands_work_with_only_the_endpoint_added(up: Up) -> None:
    queue_url = up.aws("sqs", "get-queue-url", "--queue-name", "OrderCreatedQueue")["QueueUrl"]
    # aws sqs send-message (the seed's sample order)
    up.aws("sqs", "send-message", "--queue-url", queue_url, "--message-body", (EVENTS / "seed_order.json").read_text())
    # aws dynamodb get-item shows the order
    up.wait_for(lambda: up.item("ORD-20260420-001"), "the order")
    item = up.aws("dynamodb", "get-item", "--table-name", "Orders", "--key", SEED_KEY)
    assert item["Item"]["status"] == {"S": "CONFIRMED"}
    assert item["Item"]["totalAmount"] == {"N": "149.99"}
    # resending leaves the item unchanged
    up.aws("sqs", "send-message", "--queue-url", queue_url, "--message-body", (EVENTS / "seed_order.json").read_text())
    up.wait_for(lambda: _sqs(up).get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])[
        "Attributes"]["ApproximateNumberOfMessages"] == "0" and "Duplicate" in (up.log.parent / "fn.log").read_text(),
        "the duplicate to be processed")  # fmt: skip
    assert up.aws("dynamodb", "get-item", "--table-name", "Orders", "--key", SEED_KEY) == item
    # a malformed message appears in the DLQ
    up.aws("sqs", "send-message", "--queue-url", queue_url, "--message-body", '{"orderId": "ORD-BAD", ')
    dlq_url = up.aws("sqs", "get-queue-url", "--queue-name", "OrderCreatedDLQ")["QueueUrl"]

    def malformed_in_dlq() -> bool:
        received = up.aws(
            "sqs", "receive-message", "--queue-url", dlq_url, "--message-attribute-names", "All",
            "--max-number-of-messages", "10", "--visibility-timeout", "0",
        )  # fmt: skip
        return any(m["Body"] == '{"orderId": "ORD-BAD", ' for m in (received or {}).get("Messages", []))

    up.wait_for(lambda: _in_dlq(up, '{"orderId": "ORD-BAD", '), "the malformed message in the DLQ")
    assert any(malformed_in_dlq() for _ in range(10)), "the AWS CLI did not receive it"


def test_orderflow_send_get_by_customer_and_dlq_list(up: Up) -> None:
    sent = up.orderflow("send", "-", stdin=json.dumps([_order("ORD-CLI-1"), _order("ORD-CLI-2")]))
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.count("sent ") == 2
    # the two may land in different batches (two pollers), stored in either order: wait for both
    _stored(up, "ORD-CLI-1", "CONFIRMED")
    assert _stored(up, "ORD-CLI-2", "CONFIRMED")["orderId"] == "ORD-CLI-2"
    listed = up.orderflow("orders", "by-customer", "CUST-CLI")
    assert listed.returncode == 0
    assert "ORD-CLI-1" in listed.stdout
    assert "ORD-CLI-2" in listed.stdout
    up.orderflow("send", str(EVENTS / "multi_item_order.json"))
    bad = up.orderflow("send", "-", stdin="definitely not an order (dlq list)")
    assert bad.returncode == 0
    # its own malformed message is listed (an earlier test's may be there too)

    up.wait_for(lambda: _in_dlq(up, "definitely not an order (dlq list)"), "the malformed message in the DLQ")
    entries = json.loads(up.orderflow("dlq", "list", "--json").stdout)
    [entry] = [entry for entry in entries if entry["body"] == "definitely not an order (dlq list)"]
    assert (entry["errorCode"], entry["movedBy"]) == ("MALFORMED_JSON", "handler")
    assert entry["reason"].startswith("body is not valid JSON")
    table = up.orderflow("dlq", "list")
    assert "MALFORMED_JSON" in table.stdout
    assert "body is not valid JSON" in table.stdout


def test_an_order_put_with_the_aws_cli_is_charged_and_its_confirmation_listed_by_orderflow_mail(up: Up) -> None:
    # Given an order with an address and a hostile product name, sent with the AWS CLI
    order = _order("ORD-MAIL-1")
    order["customerEmail"] = "ana.lopez@example.com"
    order["items"][0]["productName"] = "<script>alert('x')</script> Keyboard"
    queue_url = up.aws("sqs", "get-queue-url", "--queue-name", "OrderCreatedQueue")["QueueUrl"]
    up.aws("sqs", "send-message", "--queue-url", queue_url, "--message-body", json.dumps(order))

    # When the order, payment and notification services have handled it
    def listed() -> list[dict[str, Any]]:
        result = up.orderflow("mail", "--order", "ORD-MAIL-1", "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    [mail] = up.wait_for(listed, "the confirmation e-mail", timeout=90)
    # Then `orderflow mail` lists the one confirmation SES sent, to the customer, for the captured payment
    assert (mail["kind"], mail["to"], mail["subject"]) == (
        "confirmation", ["ana.lopez@example.com"], "Your order ORD-MAIL-1 is confirmed"
    )  # fmt: skip
    assert mail["eventId"] == "ORD-MAIL-1#2026-04-20T14:30:00Z#PaymentCaptured"
    # and `mail show` prints it as a person reads it: the product's name as written, the HTML escaped
    shown = up.orderflow("mail", "show", mail["id"])
    assert shown.returncode == 0, shown.stderr
    assert "Subject: Your order ORD-MAIL-1 is confirmed" in shown.stdout
    assert "1 x <script>alert('x')</script> Keyboard at 149.99 USD" in shown.stdout
    html = up.orderflow("mail", "show", mail["id"], "--html").stdout
    assert "&lt;script&gt;" in html
    assert "<script>" not in html
    # and the provider charged it once
    ledger = json.loads(up.orderflow("payments", "list", "--order", "ORD-MAIL-1", "--json").stdout)
    assert len(ledger["charges"]) == 1, ledger


def _stored(up: Up, order_id: str, status: str) -> Any:
    """Wait until the order is stored in ``status``; then what `orderflow orders get` shows of it (JSON)."""
    up.wait_for(lambda: (item := up.item(order_id)) and item["status"] == status, f"{order_id} {status}")
    result = up.orderflow("orders", "get", order_id)
    assert result.returncode == 0, result.stderr
    [item] = json.loads(result.stdout)
    assert item["status"] == status
    return item


def test_a_cancel_sent_before_its_order_ends_cancelled(up: Up) -> None:
    # Given a cancellation sent first, with the order's key
    cancelled = up.orderflow(
        "cancel", "ORD-CLI-EARLY", "2026-04-20T14:30:00Z", "--reason", "Changed my mind", "--cancelled-at",
        "2026-04-20T14:35:00Z",
    )  # fmt: skip
    assert cancelled.returncode == 0, cancelled.stderr
    assert "cancel ORD-CLI-EARLY created at 2026-04-20T14:30:00Z" in cancelled.stdout
    # Then the pipeline records it while it waits for the order
    tombstone = _stored(up, "ORD-CLI-EARLY", "AWAITING_ORDER")
    assert tombstone["cancellationReason"] == "Changed my mind"
    # When the order arrives afterwards
    assert up.orderflow("send", "-", stdin=json.dumps(_order("ORD-CLI-EARLY"))).returncode == 0
    # Then it is stored cancelled, with all of its data
    item = _stored(up, "ORD-CLI-EARLY", "CANCELLED")
    assert item["customerId"] == "CUST-CLI"
    assert item["items"][0]["productId"] == "PROD-100"
    assert item["cancelledAt"] == "2026-04-20T14:35:00Z"
    assert item["cancellationReason"] == "Changed my mind"


def test_cancel_looks_the_created_at_up_and_the_aws_cli_can_cancel_too(up: Up) -> None:
    # An order, cancelled by `orderflow cancel` without its CREATED_AT
    assert up.orderflow("send", "-", stdin=json.dumps(_order("ORD-CLI-LATE"))).returncode == 0
    _stored(up, "ORD-CLI-LATE", "CONFIRMED")
    assert up.orderflow("cancel", "ORD-CLI-LATE", "--reason", "Found it cheaper").returncode == 0
    assert _stored(up, "ORD-CLI-LATE", "CANCELLED")["cancellationReason"] == "Found it cheaper"
    # Another, cancelled with the AWS CLI as the tutorial sends orders
    assert up.orderflow("send", "-", stdin=json.dumps(_order("ORD-CLI-AWS"))).returncode == 0
    _stored(up, "ORD-CLI-AWS", "CONFIRMED")
    event = {"eventType": "OrderCancelled", "orderId": "ORD-CLI-AWS", "createdAt": "2026-04-20T14:30:00Z",
             "cancelledAt": "2026-04-20T16:00:00Z", "reason": "Out of stock"}  # fmt: skip
    queue_url = f"{up.endpoint}/123456789012/OrderCreatedQueue"
    up.aws("sqs", "send-message", "--queue-url", queue_url, "--message-body", json.dumps(event))
    item = _stored(up, "ORD-CLI-AWS", "CANCELLED")
    assert item["cancellationReason"] == "Out of stock"
    # a second cancellation is a duplicate: once it is processed, the first one stays
    second = up.orderflow("cancel", "ORD-CLI-AWS", "--reason", "Another reason")
    assert second.returncode == 0, second.stderr
    [duplicate_id] = re.findall(r"sent (\S+): cancel ORD-CLI-AWS", second.stdout)
    up.wait_for(lambda: _logged(up, duplicate_id, "Duplicate cancellation skipped"), "the duplicate's outcome")
    [again] = json.loads(up.orderflow("orders", "get", "ORD-CLI-AWS").stdout)
    assert again == item


def test_cancel_refuses_an_order_it_cannot_find(up: Up) -> None:
    # (its argument errors need no stack: tests/unit/test_cli_commands.py)
    unknown = up.orderflow("cancel", "ORD-NEVER-SENT", "--reason", "why not")
    assert unknown.returncode == 1
    assert "pass CREATED_AT" in unknown.stderr


def test_orders_get_prints_valid_json_for_an_order_with_many_items(up: Up) -> None:
    order = json.loads((EVENTS / "multi_item_order.json").read_text())
    assert up.orderflow("send", str(EVENTS / "multi_item_order.json")).returncode == 0
    item = _stored(up, order["orderId"], "CONFIRMED")  # parsed as JSON, from a 200-column terminal
    assert len(item["items"]) == len(order["items"]) > 1
    narrow = subprocess.run(
        [str(BIN / "orderflow"), "orders", "get", order["orderId"]],
        env={**up.env, "AWS_ENDPOINT_URL": up.endpoint, "COLUMNS": "40"},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert json.loads(narrow.stdout)[0]["items"] == item["items"]  # no wrapping, whatever the width


def test_an_empty_body_is_refused_as_sqs_refuses_it(up: Up) -> None:
    queue_url = f"{up.endpoint}/123456789012/OrderCreatedQueue"
    result = subprocess.run(
        [str(BIN / "aws"), "--endpoint-url", up.endpoint, "sqs", "send-message", "--queue-url", queue_url,
         "--message-body", ""],
        env=up.env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "MissingParameter" in result.stderr
    assert "The request must contain the parameter MessageBody." in result.stderr
    assert result.stderr.count("An error occurred") == 1  # boto's prefix, once, not baked into the message
    sent = up.orderflow("send", "-", stdin="")
    assert sent.returncode == 1
    assert "MissingParameter: The request must contain the parameter MessageBody." in sent.stderr


def test_orderflow_dlq_redrive_leaves_rejected_messages(up: Up) -> None:
    # Given a DLQ holding a message the handler rejected
    dlq_url = _own_dlq(up, "cli-dlq-rejected")
    _reject(up, dlq_url, "definitely not an order")
    redriven = up.orderflow("dlq", "redrive", "--rate", "50", "--dlq-url", dlq_url)
    # Then it is left there
    assert redriven.returncode == 0, redriven.stderr
    assert "Moved 0 message(s)" in redriven.stdout
    assert "Left 1 rejected message(s) in the DLQ" in redriven.stdout
    [left] = json.loads(up.orderflow("dlq", "list", "--json", "--dlq-url", dlq_url).stdout)
    assert (left["body"], left["errorCode"]) == ("definitely not an order", "MALFORMED_JSON")


def test_a_missing_order_is_a_clear_error(up: Up) -> None:
    missing = up.orderflow("orders", "get", "ORD-NOPE")
    assert missing.returncode == 1
    assert "no order ORD-NOPE in Orders" in missing.stderr


def test_orders_get_can_wait_for_an_order_sent_just_now(up: Up) -> None:
    assert up.orderflow("send", "-", stdin=json.dumps(_order("ORD-CLI-WAIT"))).returncode == 0
    started = time.monotonic()
    got = up.orderflow("orders", "get", "ORD-CLI-WAIT", "--wait", "60")
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)[0]["orderId"] == "ORD-CLI-WAIT"
    assert time.monotonic() - started < 60
    missing = up.orderflow("orders", "get", "ORD-CLI-NEVER", "--wait", "1")
    assert missing.returncode == 1
    assert "after waiting 1 s" in missing.stderr


def test_dlq_list_reports_messages_in_flight_separately(up: Up) -> None:
    sqs, dlq_url = _sqs(up), _own_dlq(up, "cli-dlq-in-flight")
    # Given a DLQ whose two messages are received by another reader (hidden for a minute)
    _reject(up, dlq_url, "definitely not an order")
    sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps(_order("ORD-CLI-IN-FLIGHT")))
    hidden = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=60)["Messages"]
    assert len(hidden) == 2
    listed = up.orderflow("dlq", "list", "--dlq-url", dlq_url)
    assert listed.returncode == 0
    assert "The DLQ is empty" not in listed.stdout
    assert "No message is visible in the DLQ. 2 more in flight" in " ".join(listed.stdout.split())


def test_redrive_progress_prints_whole_lines_into_a_pipe(up: Up) -> None:
    sqs, dlq_url = _sqs(up), _own_dlq(up, "cli-dlq-progress")
    # Given 12 valid orders SQS moved to the DLQ (no errorCode: their retries ran out)
    for n in range(12):
        sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps(_order(f"ORD-CLI-REDRIVE-{n}")))
    redriven = up.orderflow("dlq", "redrive", "--rate", "100", "--dlq-url", dlq_url)
    assert redriven.returncode == 0, redriven.stderr
    lines = redriven.stdout.splitlines()
    assert "moved 10" in lines
    assert any(line.startswith("Moved 12 message(s) back to") for line in lines)
    assert "moved 1moved" not in redriven.stdout
    assert "\r" not in redriven.stdout
    up.wait_for(lambda: up.item("ORD-CLI-REDRIVE-11"), "a redriven order")


def test_redrive_deletes_dead_letters_already_stored_and_dry_run_changes_nothing(up: Up) -> None:
    sqs, dlq_url = _sqs(up), _own_dlq(up, "cli-dlq-stored")
    own = ("--dlq-url", dlq_url)
    # Given a stored order whose message SQS also moved to the DLQ (its batch kept failing after
    # the write), and one that is not stored
    stored, waiting = _order("ORD-CLI-STALE"), _order("ORD-CLI-NOT-STORED")
    assert up.orderflow("send", "-", stdin=json.dumps(stored)).returncode == 0
    up.wait_for(lambda: up.item("ORD-CLI-STALE"), "the order stored")
    for order in (stored, waiting):
        sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps(order))
    listed = json.loads(up.orderflow("dlq", "list", "--json", *own).stdout)
    flags = {_order_id(entry["body"]): entry["alreadyStored"] for entry in listed}
    assert flags["ORD-CLI-STALE"] is True
    assert flags["ORD-CLI-NOT-STORED"] is False
    assert all(entry["movedBy"] == "sqs" for entry in listed if entry["errorCode"] == "RETRIES_EXHAUSTED")
    # When a dry run comes first, then the redrive
    dry = up.orderflow("dlq", "redrive", "--dry-run", *own)
    assert "Dry run: nothing was sent or deleted. Would move 1 message(s)" in dry.stdout
    assert "Would delete 1 message(s) whose event is already stored" in dry.stdout
    assert len(json.loads(up.orderflow("dlq", "list", "--json", *own).stdout)) == len(listed)
    redriven = up.orderflow("dlq", "redrive", "--rate", "100", *own)
    # Then the stored one is deleted, the other sent back and stored
    assert "Moved 1 message(s) back to" in redriven.stdout
    assert "Deleted 1 message(s) whose event is already stored" in redriven.stdout
    assert json.loads(up.orderflow("dlq", "list", "--json", *own).stdout) == []
    up.wait_for(lambda: up.item("ORD-CLI-NOT-STORED"), "the redriven order")


def test_up_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    # its own `orderflow up`: the module's stays up for the tests after this one
    own = _start_up(tmp_path)
    try:
        own.process.send_signal(signal.SIGTERM)
        assert own.process.wait(timeout=60) == 143  # 128 + SIGTERM, as a shell reports it
        assert "Stopped." in own.log.read_text()
    finally:
        _stop_up(own)


def _order_id(text: str) -> str | None:
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed.get("orderId") if isinstance(parsed, dict) else None


def _order(order_id: str) -> dict[str, Any]:
    order = json.loads((EVENTS / "seed_order.json").read_text())
    order.update(orderId=order_id, customerId="CUST-CLI")
    return order  # type: ignore[no-any-return]
