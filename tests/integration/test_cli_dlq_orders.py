"""`orderflow dlq` against a running fan-out stack (-c fanout=true), in-process (typer's CliRunner): a dead
letter followed into the function's logs by its source message id, the stack's DLQ purged.
(Their tables at 80 columns, and the errors: tests/functional/test_cli_dlq_orders.py.)"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from orderflow_cli.main import app
from orderflow_local.ops import producer
from orderflow_local.stack import LocalStack, StackOptions
from tests.support import ORDER_SERVICE, wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.synth import Synthesized

# One worker runs this module's tests, so its module-scoped stack starts once (make test: --dist loadgroup).
pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("test_cli_dlq_orders")]

#: The fan-out topology, as tests/integration/test_topologies.py synthesizes it (once per run).
FANOUT = {"stage": "dev", "fanout": "true"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, synthesized: Synthesized) -> Iterator[LocalStack]:
    log = tmp_path_factory.mktemp("fanout") / "fn.log"
    with LocalStack(
        StackOptions(port=0, template=synthesized(FANOUT), batching_window=1, log_path=log, functions=ORDER_SERVICE)
    ) as running:
        yield running


def _run(stack: LocalStack, *args: str) -> Any:
    result = CliRunner().invoke(app, [*args, "--endpoint-url", stack.endpoint], prog_name="orderflow")
    assert "Traceback" not in result.output
    return result


def _publish(stack: LocalStack, *bodies: str) -> None:
    """As producers send on a fan-out stack: to the OrderEvents topic."""
    sqs, sns = stack.emulator.sqs(), stack.emulator.sns()
    destination = producer.find_destination(sqs, sns)
    assert destination.topic_arn == stack.outputs["TopicArn"]
    producer.send_batch(destination, list(bodies), sqs=sqs, sns=sns)


def test_a_dead_letter_is_followed_into_the_logs_by_the_id_dlq_list_shows(stack: LocalStack) -> None:
    # Given a message the handler rejects (it sends a copy to the DLQ, with an id of its own there)
    text = "definitely not an order (followed into the logs)"
    _publish(stack, text)

    def listed() -> Any:
        entries = json.loads(_run(stack, "dlq", "list", "--json").stdout)
        return next((entry for entry in entries if entry["body"] == text), None)

    entry = wait_until(listed, "the rejected message in the DLQ", 60)
    assert entry["sourceMessageId"] != entry["messageId"]
    # When the table's id (the source message id) is passed to `orderflow logs --message-id`
    table = _run(stack, "dlq", "list")
    [line] = [line for line in table.stdout.splitlines() if entry["sourceMessageId"] in line]
    assert "MALFORMED_JSON" in line
    assert entry["messageId"] not in table.stdout

    def logged() -> str | None:
        result = _run(stack, "logs", "--message-id", entry["sourceMessageId"], "--since", "1h")
        return result.stdout if "Event rejected to the DLQ" in result.stdout else None

    # Then the function's lines about it are found
    assert "MALFORMED_JSON" in wait_until(logged, "the function's lines about the message", 60)


def test_dlq_purge_empties_the_stacks_dlq_once_a_minute(stack: LocalStack) -> None:
    sqs = stack.emulator.sqs()
    dlq_url = stack.outputs["DLQUrl"]
    sqs.send_message(QueueUrl=dlq_url, MessageBody="dead letter to purge")
    count = len(json.loads(_run(stack, "dlq", "list", "--json").stdout))
    # When the stack's DLQ (found by its name, as AWS's is) is purged without a question
    purged = _run(stack, "dlq", "purge", "--yes")
    # Then every message went, and it said how many
    assert purged.exit_code == 0, purged.output
    assert f"Purged {count} message(s) from {dlq_url}." in purged.stdout
    assert json.loads(_run(stack, "dlq", "list", "--json").stdout) == []
    # A second purge within the minute is refused by the emulator as by SQS: one line, to wait
    sqs.send_message(QueueUrl=dlq_url, MessageBody="dead letter too soon")
    again = _run(stack, "dlq", "purge", "--yes")
    assert again.exit_code == 1
    assert again.stderr == (
        f"error: {dlq_url} was purged less than 60 s ago (SQS allows one purge of a queue every 60 s): "
        "wait a minute, then run it again\n"
    )
    assert [entry["body"] for entry in json.loads(_run(stack, "dlq", "list", "--json").stdout)] == [
        "dead letter too soon"
    ]
