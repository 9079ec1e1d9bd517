"""`orderflow send` and `orderflow cancel`, run in-process (typer's CliRunner) against an in-process
emulator: what a JSON array becomes, and a cancellation whose order is not stored yet."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from orderflow_cli.main import app
from orderflow_local.emulator import Emulator
from tests.support import create_orders_table

if TYPE_CHECKING:
    from collections.abc import Iterator

    from click.testing import Result

# One worker runs this module's tests, so its emulator starts once.
pytestmark = pytest.mark.xdist_group("test_cli_send")

ORDER_ID = "ORD-20260420-001"
CREATED_AT = "2026-04-20T14:30:00Z"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(port=0) as running:
        create_orders_table(running.dynamodb())
        running.sqs().create_queue(QueueName="OrderCreatedQueue")
        yield running


@pytest.fixture
def queue_url(emulator: Emulator) -> str:
    """A queue of the test's own: it holds what the test sent, whatever ran before."""
    return str(emulator.sqs().create_queue(QueueName=f"send-{uuid.uuid4().hex[:12]}")["QueueUrl"])


def _run(emulator: Emulator, *args: str, stdin: str | None = None) -> Result:
    env = {"AWS_ENDPOINT_URL": emulator.endpoint, "COLUMNS": "200", "AWS_DEFAULT_REGION": "us-east-1"}
    return CliRunner().invoke(app, list(args), input=stdin, env=env, prog_name="orderflow")


def _bodies(emulator: Emulator, queue_url: str) -> list[str]:
    """Every body in the queue (each received once)."""
    bodies: list[str] = []
    while True:
        batch = emulator.sqs().receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60)
        if not batch.get("Messages"):
            return bodies
        bodies.extend(message["Body"] for message in batch["Messages"])


def test_an_array_of_orders_is_one_message_each_as_written(emulator: Emulator, queue_url: str) -> None:
    text = '[\n  {"orderId": "ORD-A", "totalAmount": 149.990},\n  {"orderId": "ORD-B", "totalAmount": 1e2}\n]\n'
    result = _run(emulator, "send", "-", "--queue-url", queue_url, stdin=text)
    assert result.exit_code == 0, result.output
    assert len([line for line in result.stdout.splitlines() if line.startswith("sent ")]) == 2
    # each element's own text: its numbers as written, not as Python writes them back
    assert sorted(_bodies(emulator, queue_url)) == [
        '{"orderId": "ORD-A", "totalAmount": 149.990}',
        '{"orderId": "ORD-B", "totalAmount": 1e2}',
    ]


def test_an_array_of_anything_is_split_too_so_each_bad_element_is_rejected_on_its_own(
    emulator: Emulator, queue_url: str
) -> None:
    result = _run(emulator, "send", "-", "--queue-url", queue_url, stdin='[1, "x", null, {"orderId": "ORD-C"}]')
    assert result.exit_code == 0, result.output
    assert sorted(_bodies(emulator, queue_url)) == sorted(["1", '"x"', "null", '{"orderId": "ORD-C"}'])


def test_an_array_in_an_array_is_how_to_send_an_array_as_one_body(emulator: Emulator, queue_url: str) -> None:
    result = _run(emulator, "send", "-", "--queue-url", queue_url, stdin="[[1, 2]]")
    assert result.exit_code == 0, result.output
    assert _bodies(emulator, queue_url) == ["[1, 2]"]


def test_what_is_not_an_array_is_one_message_exactly_as_read(emulator: Emulator, queue_url: str) -> None:
    for text in ('{"orderId": "ORD-D"}\n', "not json at all", "42"):
        result = _run(emulator, "send", "-", "--queue-url", queue_url, stdin=text)
        assert result.exit_code == 0, result.output
        assert _bodies(emulator, queue_url) == [text]


def test_an_empty_array_is_an_error_and_sends_nothing(emulator: Emulator, queue_url: str) -> None:
    result = _run(emulator, "send", "-", "--queue-url", queue_url, stdin=" [ ] ")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: stdin is an empty JSON array: there is no event to send"
    assert _bodies(emulator, queue_url) == []


def test_send_help_says_how_an_array_is_sent() -> None:
    result = CliRunner().invoke(app, ["send", "--help"], env={"COLUMNS": "200"}, prog_name="orderflow")
    assert result.exit_code == 0
    help_text = " ".join(result.stdout.split())
    assert "A JSON array is always split: each element is one message" in help_text
    assert "wrap it in another: [[1, 2]]" in help_text


def test_cancel_of_an_order_not_stored_yet_says_it_may_be_on_its_way(emulator: Emulator, queue_url: str) -> None:
    result = _run(emulator, "cancel", "ORD-NOT-YET", "--reason", "r", "--queue-url", queue_url)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no order ORD-NOT-YET in Orders yet")
    assert "it may still be on its way" in result.stderr
    assert "add --wait 15" in result.stderr
    assert "pass CREATED_AT" in result.stderr
    assert _bodies(emulator, queue_url) == []


def test_cancel_with_wait_sends_once_the_order_is_stored(
    emulator: Emulator, queue_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an order that is stored only after cancel has looked it up once and found nothing
    order_id = f"ORD-WAIT-{uuid.uuid4().hex[:8]}"
    real_sleep, waits = time.sleep, []

    def store_on_first_wait(seconds: float) -> None:
        if threading.current_thread() is threading.main_thread():  # the command's wait, not the emulator's
            if not waits:
                emulator.dynamodb().put_item(
                    TableName="Orders", Item={"orderId": {"S": order_id}, "createdAt": {"S": CREATED_AT}}
                )
            waits.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", store_on_first_wait)
    # When it is cancelled with --wait
    result = _run(emulator, "cancel", order_id, "--reason", "Changed my mind", "--wait", "15", "--queue-url", queue_url)
    # Then it waited, found the order's createdAt and sent the cancellation
    assert result.exit_code == 0, result.output
    assert waits
    assert result.stdout.strip().endswith(f"cancel {order_id} created at {CREATED_AT}")
    [body] = _bodies(emulator, queue_url)
    cancellation = json.loads(body)
    assert cancellation["eventType"] == "OrderCancelled"
    assert (cancellation["orderId"], cancellation["createdAt"]) == (order_id, CREATED_AT)
    assert cancellation["reason"] == "Changed my mind"


def test_cancel_with_wait_gives_up_when_the_order_never_comes(emulator: Emulator, queue_url: str) -> None:
    result = _run(emulator, "cancel", "ORD-NEVER", "--reason", "r", "--wait", "0.3", "--queue-url", queue_url)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no order ORD-NEVER in Orders after waiting 0.3 s")
    assert "pass CREATED_AT" in result.stderr
    assert _bodies(emulator, queue_url) == []
