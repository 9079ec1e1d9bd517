"""`orderflow dlq` and `orderflow orders` in-process (typer's CliRunner) against emulated AWS (moto, in
process), reached as real AWS is (`--endpoint-url aws`): their tables on an 80-column terminal and in a
pipe, the ids they show, and `dlq purge`. Against a running fan-out stack:
tests/integration/test_cli_dlq_orders.py."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from orderflow.handler import lambda_handler
from orderflow_cli import dlq, orders
from orderflow_cli.common import OutputConsole
from orderflow_cli.main import app
from tests.support import FakeLambdaContext, body, cancellation, seed_order, sqs_record

if TYPE_CHECKING:
    from tests.functional.conftest import EmulatedAws

AWS = ["--endpoint-url", "aws"]
#: A reason longer than an 80-column table leaves it, with words to wrap at.
LONG_REASON = "Customer changed their mind after finding the same keyboard cheaper elsewhere"


def _run(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(app, [*args, *AWS], input=stdin, prog_name="orderflow")


def _terminal(monkeypatch: pytest.MonkeyPatch, width: int = 80) -> None:
    """The commands print to an 80-column terminal (CliRunner's output is not one)."""
    narrow = OutputConsole(force_terminal=True, width=width, color_system=None, highlight=False)
    monkeypatch.setattr(dlq, "console", narrow)
    monkeypatch.setattr(orders, "console", narrow)


def _rows(output: str, whole: int = 0) -> list[list[str]]:
    """A rich table's rows, each a list of its cells' text, a folded cell's lines joined by a space;
    a row starts with a line whose column ``whole`` (one that never folds) holds something."""
    rows: list[list[str]] = []
    for line in output.splitlines():
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        if cells[whole] or not rows:
            rows.append(cells)
        else:
            rows[-1] = [f"{old} {new}".strip() for old, new in zip(rows[-1], cells, strict=True)]
    return rows


def _same_text(shown: str, text: str) -> bool:
    """``shown`` is ``text`` whole, wherever a fold broke it onto another line."""
    return shown.replace(" ", "") == text.replace(" ", "")


def _reject(aws: EmulatedAws, raw: str) -> dict[str, Any]:
    """The handler rejects ``raw``, sending it to the DLQ with a message id of its own there: its record."""
    record = sqs_record(raw)
    assert lambda_handler({"Records": [record]}, FakeLambdaContext())["batchItemFailures"] == []
    return record


def _store(*events: dict[str, Any]) -> None:
    for event in events:
        assert lambda_handler({"Records": [sqs_record(body(event))]}, FakeLambdaContext())["batchItemFailures"] == []


# --- dlq list ----------------------------------------------------------------------------------


def test_dlq_list_on_an_80_column_terminal_shows_ids_codes_and_reasons_whole(
    aws: EmulatedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a message the handler rejected, and one SQS moved when its receives ran out
    rejected = _reject(aws, '{"orderId": "ORD-BROKEN", "items": [ ')
    aws.sqs.send_message(QueueUrl=aws.dlq_url, MessageBody=body(seed_order(orderId="ORD-MOVED")))
    explained = {entry["errorCode"]: entry for entry in json.loads(_run("dlq", "list", "--json").stdout)}
    _terminal(monkeypatch)
    # When they are listed on an 80-column terminal
    result = _run("dlq", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    # Then nothing is cut: every line fits, no ellipsis, each id and code on one line whole, each reason folded
    assert max(len(line) for line in lines) <= 80
    assert "…" not in result.stdout
    rows = {row[1]: row for row in _rows(result.stdout)}
    assert set(rows) == {"MALFORMED_JSON", "RETRIES_EXHAUSTED"}
    assert rows["MALFORMED_JSON"][0] == rejected["messageId"]  # the source id, which the logs carry
    assert any(rejected["messageId"] in line for line in lines)
    for code, row in rows.items():
        # (each listing is a receive: SQS's count, in the reason of what it moved, grew by one since)
        reason = explained[code]["reason"].replace("after 0 receives", "after 1 receives")
        assert _same_text(row[2], reason), (row, reason)
    assert "Not shown at this width: redrives, receives, moved by, stored" in result.stdout


def test_dlq_list_in_a_pipe_prints_each_message_on_one_whole_line(aws: EmulatedAws) -> None:
    rejected = _reject(aws, "definitely not an order (a pipe)")
    [entry] = json.loads(_run("dlq", "list", "--json").stdout)
    result = _run("dlq", "list")  # CliRunner's output is not a terminal, as a pipe is not
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.stdout.splitlines() if rejected["messageId"] in line]
    cells = [cell.strip() for cell in line.strip("│").split("│")]
    assert cells == [rejected["messageId"], "handler", "MALFORMED_JSON", entry["reason"], "-", "1", "0"]
    assert "Not shown" not in result.stdout


def test_dlq_list_says_where_it_shortened_a_body(aws: EmulatedAws) -> None:
    long_body = "not an order " + "x" * 300
    _reject(aws, long_body)
    result = _run("dlq", "list", "--show-body")
    assert result.exit_code == 0, result.output
    shown = f"{long_body[:200]} [the first 200 of {len(long_body)} characters: --json has it whole]"
    assert shown in result.stdout, result.stdout
    assert json.loads(_run("dlq", "list", "--json").stdout)[0]["body"] == long_body


def test_dlq_list_json_tells_the_source_message_id_from_the_dlq_copys(aws: EmulatedAws) -> None:
    rejected = _reject(aws, "definitely not an order (json)")
    moved = aws.sqs.send_message(QueueUrl=aws.dlq_url, MessageBody=body(seed_order(orderId="ORD-MOVED-2")))
    copies = aws.sqs.receive_message(QueueUrl=aws.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    [copy] = [message for message in copies if message["MessageId"] != moved["MessageId"]]  # the handler's
    entries = {entry["errorCode"]: entry for entry in json.loads(_run("dlq", "list", "--json").stdout)}
    # the handler's copy has an id of its own in the DLQ; the logs carry the source's
    handler = entries["MALFORMED_JSON"]
    assert handler["sourceMessageId"] == rejected["messageId"]
    assert handler["messageId"] == copy["MessageId"] != rejected["messageId"]
    # SQS keeps a message's id when it moves it
    sqs = entries["RETRIES_EXHAUSTED"]
    assert sqs["sourceMessageId"] == sqs["messageId"] == moved["MessageId"]
    help_text = " ".join(_run("dlq", "list", "--help").stdout.split())
    assert "sourceMessageId (the id the function's logs carry" in help_text
    assert "messageId (the DLQ copy's own id" in help_text


# --- orders by-customer ----------------------------------------------------------------------


def test_orders_by_customer_on_an_80_column_terminal_keeps_created_at_whole(
    aws: EmulatedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a customer's cancelled order, whose status holds a long reason
    order = seed_order(orderId="ORD-BY-CUSTOMER-0001", createdAt="2026-04-20T14:30:00.123456Z")
    _store(order, cancellation(order, reason=LONG_REASON))
    _terminal(monkeypatch)
    result = _run("orders", "by-customer", order["customerId"])
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert "…" not in result.stdout
    [row] = _rows(result.stdout)
    assert row[:2] == [order["orderId"], order["createdAt"]]
    assert _same_text(row[2], f"CANCELLED ({LONG_REASON})")
    assert "Not shown at this width: items, total" in result.stdout


def test_orders_by_customer_json_is_what_orders_get_prints(aws: EmulatedAws) -> None:
    older, newer = seed_order(orderId="ORD-JSON-1"), seed_order(orderId="ORD-JSON-2", createdAt="2026-04-21T09:00:00Z")
    _store(older, newer)
    result = _run("orders", "by-customer", older["customerId"], "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [item["orderId"] for item in listed] == ["ORD-JSON-2", "ORD-JSON-1"]  # newest first
    assert listed[1] == json.loads(_run("orders", "get", "ORD-JSON-1").stdout)[0]
    assert listed[1]["totalAmount"] == 149.99  # numbers, not strings or Decimals
    assert listed[1]["itemCount"] == 1
    none = _run("orders", "by-customer", "CUST-NOBODY", "--json")
    assert (none.exit_code, json.loads(none.stdout)) == (0, [])


# --- dlq purge ---------------------------------------------------------------------------------


def _fill_dlq(aws: EmulatedAws, count: int) -> None:
    for n in range(count):
        aws.sqs.send_message(QueueUrl=aws.dlq_url, MessageBody=f"dead letter {n}")


def test_dlq_purge_asks_first_and_says_how_many_went(aws: EmulatedAws, monkeypatch: pytest.MonkeyPatch) -> None:
    _fill_dlq(aws, 3)
    aws.sqs.receive_message(QueueUrl=aws.dlq_url, MaxNumberOfMessages=1, VisibilityTimeout=60)  # one in flight
    monkeypatch.setattr(dlq, "_interactive", lambda: True)
    # When the question is answered no, nothing goes
    declined = _run("dlq", "purge", stdin="n\n")
    assert declined.exit_code == 1
    assert f"Delete all 3 message(s), 1 of them in flight, in {aws.dlq_url}?" in declined.stdout
    assert "Nothing was purged." in declined.stdout
    assert len(aws.dlq_messages()) == 2  # and the one in flight
    # When it is answered yes, every message goes, in flight too
    purged = _run("dlq", "purge", stdin="y\n")
    assert purged.exit_code == 0, purged.output
    assert f"Purged 3 message(s) from {aws.dlq_url}." in purged.stdout
    attributes = aws.sqs.get_queue_attributes(QueueUrl=aws.dlq_url, AttributeNames=["All"])["Attributes"]
    assert (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]) == (
        "0",
        "0",
    )
    # A second purge within 60 s is refused by SQS: one line, saying to wait
    _fill_dlq(aws, 1)
    again = _run("dlq", "purge", "--yes")
    assert again.exit_code == 1
    assert again.stderr.count("\n") == 1
    assert re.fullmatch(r"error: \S+ was purged less than 60 s ago .*wait a minute, then run it again\n", again.stderr)
    assert "Traceback" not in again.output


def test_dlq_purge_refuses_without_a_terminal_unless_yes(aws: EmulatedAws) -> None:
    _fill_dlq(aws, 2)
    refused = _run("dlq", "purge")  # CliRunner's input is not a terminal
    assert refused.exit_code == 1
    assert refused.stderr == (
        f"error: not purging 2 message(s) in {aws.dlq_url} without a confirmation: "
        "run it in a terminal, or pass --yes\n"
    )
    assert len(aws.dlq_messages()) == 2
    purged = _run("dlq", "purge", "--yes")
    assert purged.exit_code == 0, purged.output
    assert "Purged 2 message(s)" in purged.stdout
    assert "SQS takes up to 60 s" in purged.stdout  # on AWS, a purge finishes later
    assert aws.dlq_messages() == []
    empty = _run("dlq", "purge")
    assert (empty.exit_code, empty.stdout) == (0, f"The DLQ is empty: nothing to purge ({aws.dlq_url}).\n")


@pytest.mark.parametrize("command", [["dlq", "purge"], ["orders", "by-customer"]])
def test_the_new_commands_and_options_have_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], prog_name="orderflow", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Usage: orderflow" in result.stdout
