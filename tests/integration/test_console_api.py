"""The console's API against a running stack: the map's live numbers, the dashboard, the alarms, the
dead letters with their reasons and their redrive (dry run first), orders with payment and e-mail,
and the live stream's events. The page itself is tested in a real browser (test_console_browser.py)."""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

import httpx2
import pytest

from orderflow_local.console import Console
from orderflow_local.stack import LocalStack, StackOptions
from tests.integration.console_support import PERIOD_SCALE, Running, customer
from tests.support import wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("console")]


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    options = StackOptions(port=0, batching_window=1, alarm_period_scale=PERIOD_SCALE)
    with LocalStack(options) as stack, Console(stack, port=0, interval=0.5) as console:
        yield Running(stack, console)


def node_named(running: Running, name: str) -> str:
    (found,) = [node["id"] for node in running.get("/api/overview").json()["nodes"] if node["name"] == name]
    return str(found)


def test_the_live_numbers_move_as_orders_are_processed(running: Running) -> None:
    processor, orders = node_named(running, "OrderProcessor"), node_named(running, "Orders")
    before = running.get("/api/live").json()["nodes"][processor]["invocations"]
    order = running.send_order(customerId=customer())
    wait_until(lambda: running.stored(order["orderId"]), "the order stored", 60)
    live = wait_until(
        lambda: (now := running.get("/api/live").json())["nodes"][processor]["invocations"] > before and now,
        "the OrderProcessor's invocations to rise",
        30,
    )
    # DescribeTable's ItemCount, read again every few seconds (on AWS it is updated every six hours or so)
    wait_until(lambda: running.get("/api/live").json()["nodes"][orders]["items"] >= 1, "the Orders table's count", 30)
    assert set(live["nodes"][node_named(running, "OrderCreatedQueue")]) == {"depth", "inFlight"}
    assert live["alarms"]  # every alarm's state, by name


def test_a_bad_order_is_a_dead_letter_with_its_reason_and_the_alarm_goes_off(running: Running) -> None:
    message_id, _ = running.send_bad_order(customer())
    letter = running.wait_for_letter(message_id)
    assert letter["errorCode"]
    assert "totalAmount" in letter["reason"]
    assert letter["reasonSource"] == "attributes"
    assert letter["movedBy"] == "handler"
    alarm = wait_until(
        lambda: next(
            (
                a
                for a in running.get("/api/alarms").json()
                if a["name"] == "orderflow-DlqNotEmpty" and a["state"] == "ALARM"
            ),
            None,
        ),
        "orderflow-DlqNotEmpty in ALARM",
        30,
    )
    assert alarm["comparison"] == ">="
    assert alarm["localPeriod"] == alarm["period"] / PERIOD_SCALE
    assert alarm["points"]
    assert alarm["points"][-1][1] >= 1
    assert "Threshold Crossed" in alarm["reason"]


def test_a_redrive_is_a_dry_run_first_and_a_rejected_letter_moves_only_when_asked(running: Running) -> None:
    message_id, order_id = running.send_bad_order(customer())
    letter = running.wait_for_letter(message_id)
    plain = running.post("/api/dlq/redrive", {"queue": "OrderCreatedDLQ", "dryRun": True})
    assert plain.status_code == 200, plain.text
    assert letter["messageId"] in {skipped[0] for skipped in plain.json()["skipped"]}  # rejected: skipped
    assert letter["messageId"] not in plain.json()["wouldMove"]
    asked = running.post("/api/dlq/redrive", {"queue": "OrderCreatedDLQ", "dryRun": True, "includeRejected": True})
    assert letter["messageId"] in asked.json()["wouldMove"]
    assert running.letters(message_id), "a dry run moved nothing"
    done = running.post("/api/dlq/redrive", {"queue": "OrderCreatedDLQ", "dryRun": False, "includeRejected": True})
    assert done.status_code == 200
    assert done.json()["moved"] >= 1
    assert done.json()["message"].startswith("moved ")
    # rejected again on its way through (the order is still bad): back, with its redrive counted
    back = wait_until(
        lambda: [one for one in running.letters_of(order_id) if one["redriveCount"] == 1], "the letter back", 60
    )
    assert back[0]["errorCode"] == letter["errorCode"]


def test_a_redrive_without_the_token_or_of_a_queue_it_cannot_redrive_is_refused(running: Running) -> None:
    refused = running.post("/api/dlq/redrive", {"queue": "OrderCreatedDLQ", "dryRun": False}, token="wrong")
    assert refused.status_code == 403
    assert "token" in refused.json()["error"]
    unknown = running.post("/api/dlq/redrive", {"queue": "NoSuchDLQ", "dryRun": True})
    assert unknown.status_code == 404
    assert "NoSuchDLQ" in unknown.json()["error"]
    pipe_dlq = running.post("/api/dlq/redrive", {"queue": "OrderOutboxDLQ", "dryRun": True})
    assert pipe_dlq.status_code == 400
    assert "no source queue" in pipe_dlq.json()["error"]
    malformed = httpx2.post(
        running.base + "/api/dlq/redrive",
        content=b"not json",
        headers={"Origin": running.base, "X-Orderflow-Token": running.console.token},
    )
    assert malformed.status_code == 400
    assert "JSON" in malformed.json()["error"]


def test_orders_are_found_by_id_and_by_customer_with_their_payment_and_emails(running: Running) -> None:
    who = customer()
    first = running.send_order(customerId=who, customerEmail="ana@example.com")
    second = running.send_order(customerId=who)
    found = wait_until(
        lambda: (
            (answer := running.get("/api/orders", customer=who)).status_code == 200
            and len(answer.json()["orders"]) == 2
            and answer.json()
        ),
        "both of the customer's orders",
        60,
    )
    assert {order["orderId"] for order in found["orders"]} == {first["orderId"], second["orderId"]}
    emailed = wait_until(
        lambda: (order := running.stored(first["orderId"])) and order["payment"] and order["emails"] and order,
        "the first order charged and e-mailed",
        90,
    )
    assert emailed["payment"]["status"] == "CAPTURED"
    assert emailed["payment"]["chargeId"]
    assert emailed["emails"][0]["notification"] == "confirmation"
    events = [entry["event"] for entry in emailed["history"]]
    assert events[0] == "created"
    assert "payment captured" in events
    assert "e-mail: confirmation" in events
    assert emailed["item"]["customerEmail"] == "ana@example.com"
    missing = running.get("/api/orders", id="ORD-NOT-THERE")
    assert missing.status_code == 404
    assert "ORD-NOT-THERE" in missing.json()["error"]
    assert running.get("/api/orders").status_code == 400


def test_the_dashboard_is_the_templates_with_local_points(running: Running) -> None:
    running.send_order(customerId=customer())
    dashboard = wait_until(
        lambda: (
            (board := running.get("/api/dashboard").json())
            and any(
                series["points"]
                for widget in board["widgets"]
                if widget["title"] == "Orders"
                for series in widget.get("series", [])
            )
            and board
        ),
        "a point on the Orders widget",
        60,
    )
    titles = [widget["title"] for widget in dashboard["widgets"]]
    assert titles[:3] == ["Orders", "Queue", "Cancellations"]
    orders = next(widget for widget in dashboard["widgets"] if widget["title"] == "Orders")
    assert orders["templatePeriod"] == 300
    assert orders["period"] == 300 / PERIOD_SCALE
    assert {series["label"] for series in orders["series"]} >= {"OrdersStored", "OrdersRejected"}
    assert any(widget["type"] == "alarm" for widget in dashboard["widgets"])


def test_the_stream_brings_logs_domain_events_mail_the_ledger_and_live_numbers(running: Running) -> None:
    seen: dict[str, list[dict[str, Any]]] = {}
    order_id: list[str] = []
    stop = threading.Event()

    def read() -> None:
        with httpx2.stream("GET", running.base + "/api/stream", timeout=httpx2.Timeout(60, read=30)) as answer:
            kind = None
            for line in answer.iter_lines():
                if stop.is_set():
                    return
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: ") and kind:
                    seen.setdefault(kind, []).append(json.loads(line.removeprefix("data: ")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        running.wait_for_the_events_tail()  # the page open, the console's rule on the bus is on
        order_id.append(running.send_order(customerId=customer(), customerEmail="bo@example.com")["orderId"])

        def mine(kind: str, key: str = "orderId") -> list[dict[str, Any]]:
            return [entry for entry in seen.get(kind, []) if entry.get(key) == order_id[0]]

        wait_until(lambda: mine("event") and mine("ledger") and mine("mail"), "the order's event, charge and mail", 90)
        wait_until(lambda: seen.get("live") and seen.get("log"), "live numbers and log lines", 30)
    finally:
        stop.set()
    assert {entry["detailType"] for entry in mine("event")} >= {"OrderConfirmed", "PaymentCaptured"}
    charge = mine("ledger")[0]
    assert charge["kind"] == "charge"
    assert charge["amount"] == "149.99"
    assert charge["currency"] == "USD"
    assert mine("mail")[0]["notification"] == "confirmation"
    assert "bo@example.com" in mine("mail")[0]["to"]
    assert {entry["function"] for entry in seen["log"]} >= {"OrderProcessor"}
    assert all(set(entry) >= {"at", "function", "level", "message", "text"} for entry in seen["log"])
    # each line is its own function's (the Notifier's lines are the Notifier's, never another's)
    assert all(entry["function"] == "Notifier" for entry in seen["log"] if '"service":"notifier"' in entry["text"])
    # the page gone, the console's rule on the bus is disabled: the pipeline pays nothing for it
    reader.join(timeout=30)
    assert len(running.tail_rules()) == 1
    wait_until(lambda: running.tail_rules()[0]["State"] == "DISABLED", "the console's rule disabled", 30)
