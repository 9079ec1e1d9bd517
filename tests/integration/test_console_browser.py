"""The console in a real browser: Debian's Chromium, driven by Playwright for Python (never a browser
Playwright downloads). Against a running stack, the page shows the map with counters that move, a
bad order in the dead letters with its reason, redriven from the page after a dry run, an order
found by its customer, an alarm going off while the page is open, the live tails, and a hostile
product name as text. A missing Chromium fails these tests with how to install one: never a skip.

https://playwright.dev/python/docs/api/class-browsertype#browser-type-launch
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from orderflow_local.console import Console
from orderflow_local.stack import LocalStack, StackOptions
from orderflow_local.tools.browser import CHROMIUM_ARGS
from tests.integration.console_support import PERIOD_SCALE, Running, customer
from tests.support import wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("console")]

#: Where the screenshot for docs/ and the README goes when asked (make screenshots); else only tmp_path.
SCREENSHOTS = os.environ.get("ORDERFLOW_SCREENSHOTS")
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
#: How long the page may take to show what the stack did (a batch, a poll, a live update).
SEEN = 60_000


def chromium() -> str:
    from orderflow_local.tools.browser import NoBrowserError
    from orderflow_local.tools.browser import chromium as found

    try:
        return found()
    except NoBrowserError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    options = StackOptions(port=0, batching_window=1, alarm_period_scale=PERIOD_SCALE)
    with LocalStack(options) as stack, Console(stack, port=0, interval=0.5) as console:
        yield Running(stack, console)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=list(CHROMIUM_ARGS))
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, running: Running) -> Iterator[Page]:
    """The console opened from the URL `orderflow up` prints; no script error, no dialog, allowed."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    # a 404 the page asked for (an order not found) is logged by Chromium, and is no script error
    opened.on(
        "console",
        lambda message: (
            message.type == "error"
            and not message.text.startswith("Failed to load resource")
            and errors.append(f"console: {message.text}")
        ),
    )
    opened.on("dialog", lambda dialog: errors.append(f"a script opened a dialog: {dialog.message}") or dialog.dismiss())
    opened.goto(running.console.url)
    yield opened
    pwned = opened.evaluate("window.__pwned || null")
    context.close()
    assert pwned is None, "a hostile string ran as a script"
    assert not errors, errors


def view(page: Page, name: str) -> None:
    page.click(f'nav [data-view="{name}"]')
    page.wait_for_selector(f"#{name}:visible")


def node(page: Page, name: str) -> str:
    """The map's box of the resource ``name``."""
    locator = page.locator("[data-node]", has=page.locator(f'text="{name}"')).first
    locator.wait_for(timeout=SEEN)
    return f'[data-node="{locator.get_attribute("data-node")}"]'


def number(page: Page, selector: str) -> int:
    text = page.locator(selector).inner_text()
    digits = re.findall(r"\d+", text)
    return int(digits[-1]) if digits else 0


def test_the_map_shows_the_stack_and_its_counters_move(page: Page, running: Running) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#connection")).to_have_text(re.compile("live"), timeout=SEEN)
    processor = node(page, "OrderProcessor")
    for name in ("OrderCreatedQueue", "OrderCreatedDLQ", "Orders", "OrderDomainEvents", "PaymentProcessor", "Notifier"):
        expect(page.locator(node(page, name))).to_be_visible()
    assert page.locator(f'{node(page, "OrderCreatedDLQ")}[data-kind="dlq"]').count() == 1
    wait_until(lambda: page.locator("svg path.edge").count() >= 20, "the map's arrows drawn", 30)
    invocations = f'{processor} [data-field="invocations"]'
    page.wait_for_selector(invocations)
    before = number(page, invocations)
    for _ in range(3):
        running.send_order(customerId=customer())
    wait_until(lambda: number(page, invocations) > before, "the OrderProcessor's invocations to rise on the page", 60)
    _screenshot(page, "console-map")


def test_a_bad_order_is_in_the_dead_letters_with_its_reason_and_is_redriven_from_the_page(
    page: Page, running: Running
) -> None:
    from playwright.sync_api import expect

    message_id, order_id = running.send_bad_order(customer())
    letter = running.wait_for_letter(message_id)
    view(page, "dlq")
    row = page.locator(f'[data-letter="{letter["messageId"]}"]')
    expect(row).to_be_visible(timeout=SEEN)
    expect(row).to_contain_text(message_id)
    expect(row).to_contain_text("totalAmount")  # the handler's reason, whole
    _screenshot(page, "console-dlq")
    page.click('[data-action="redrive"][data-queue="OrderCreatedDLQ"]')
    dialog = page.locator("#redrive-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(letter["messageId"])  # skipped (rejected) in the dry run, said why
    dialog.locator('[name="include-rejected"]').check()
    confirm = dialog.locator('[data-action="redrive-confirm"]')
    expect(confirm).to_be_enabled(timeout=SEEN)  # the dry run again, with the rejected ones
    confirm.click()
    expect(page.locator('[data-role="redrive-result"]')).to_contain_text(re.compile(r"moved [1-9]"), timeout=SEEN)
    # the order is still bad: rejected again, and back with its redrive counted
    wait_until(lambda: [one for one in running.letters_of(order_id) if one["redriveCount"] == 1], "the letter back", 60)


def test_an_order_is_found_by_its_customer(page: Page, running: Running) -> None:
    from playwright.sync_api import expect

    who = customer()
    order = running.send_order(customerId=who, customerEmail="ana@example.com")
    wait_until(lambda: running.stored(order["orderId"]), "the order stored", 60)
    view(page, "orders")
    page.select_option('#order-search [name="by"]', "customer")
    page.fill('#order-search [name="query"]', who)
    page.click('#order-search [type="submit"]')
    card = page.locator(f'[data-order="{order["orderId"]}"]')
    expect(card).to_be_visible(timeout=SEEN)
    expect(card).to_contain_text("CONFIRMED")
    expect(card).to_contain_text("Mechanical Keyboard")
    page.fill('#order-search [name="query"]', "CUST-NOBODY")
    page.click('#order-search [type="submit"]')
    expect(page.locator("#order-results .empty")).to_be_visible(timeout=SEEN)


def test_an_alarm_goes_off_while_the_page_is_open(page: Page, running: Running) -> None:
    from playwright.sync_api import expect

    running.post("/api/dlq/purge", {"queue": "OrderCreatedDLQ"}).raise_for_status()
    view(page, "alarms")
    state = page.locator('[data-alarm="orderflow-DlqNotEmpty"] [data-field="state"]')
    expect(state).to_have_text("OK", timeout=SEEN)
    running.send_bad_order(customer())
    expect(state).to_have_text("ALARM", timeout=SEEN)
    expect(page.locator("#alarm-summary")).to_contain_text("in ALARM")
    _screenshot(page, "console-alarms")


def test_the_live_tails_show_logs_events_mail_and_the_ledger(page: Page, running: Running) -> None:
    from playwright.sync_api import expect

    view(page, "live")
    running.wait_for_the_events_tail()
    order = running.send_order(customerId=customer(), customerEmail="bo@example.com")
    for kind in ("event", "mail", "ledger"):
        expect(page.locator(f'#tail-{kind} [data-tail="{kind}"]', has_text=order["orderId"]).first).to_be_visible(
            timeout=90_000
        )
    notifier_info = '#tail-log [data-tail="log"][data-function="Notifier"][data-level="INFO"]'
    expect(page.locator(notifier_info).first).to_be_attached(timeout=SEEN)  # "E-mail sent"
    # the filters: one function's lines only, then one level's only (each shows some, hides the rest)
    page.select_option('#tail-log [name="function"]', "Notifier")
    shown = page.locator('#tail-log [data-tail="log"]:visible')
    assert shown.count() > 0
    assert {line.get_attribute("data-function") for line in shown.all()} == {"Notifier"}
    assert page.locator('#tail-log [data-tail="log"][data-function="OrderProcessor"]:visible').count() == 0
    page.select_option('#tail-log [name="level"]', "INFO")
    levels = {line.get_attribute("data-level") for line in page.locator('#tail-log [data-tail="log"]:visible').all()}
    assert levels == {"INFO"}


def test_the_dashboard_draws_the_templates_widgets(page: Page, running: Running) -> None:
    from playwright.sync_api import expect

    running.send_order(customerId=customer())
    view(page, "dashboard")
    orders = page.locator('.widget[data-title="Orders"]')
    expect(orders).to_be_visible(timeout=SEEN)
    expect(orders.locator("canvas").first).to_be_visible()
    # the legend carries the series' latest value: a number once the order is counted, not "-"
    stored = orders.locator(".legend li", has_text="OrdersStored")
    expect(stored).to_contain_text(re.compile(r"Sum\s*[1-9]"), timeout=SEEN)
    expect(page.locator('.widget[data-title="Queue"]')).to_be_visible()
    _screenshot(page, "console-dashboard")


def test_a_hostile_product_name_is_shown_as_text(page: Page, running: Running) -> None:
    from playwright.sync_api import expect

    who = customer()
    items = [{"productId": "PROD-X", "productName": HOSTILE, "quantity": 1, "unitPrice": 149.99}]
    order = running.send_order(customerId=who, items=items)
    message_id, _ = running.send_bad_order(who, items=items)
    wait_until(lambda: running.stored(order["orderId"]), "the order stored", 60)
    running.wait_for_letter(message_id)
    view(page, "orders")
    page.select_option('#order-search [name="by"]', "id")
    page.fill('#order-search [name="query"]', order["orderId"])
    page.click('#order-search [type="submit"]')
    card = page.locator(f'[data-order="{order["orderId"]}"]')
    expect(card).to_contain_text(HOSTILE, timeout=SEEN)  # the characters, as text
    assert card.locator("img, script").count() == 0
    view(page, "dlq")
    # the letter's body is the message as sent: JSON, where the name's quotes are escaped
    body = page.locator("#dlq details", has_text=json.dumps(HOSTILE)[1:-1]).first
    expect(body).to_be_attached(timeout=SEEN)
    assert page.locator("#dlq img").count() == 0


def _screenshot(page: Page, name: str) -> None:
    """The page as it is, into the test's folder; into $ORDERFLOW_SCREENSHOTS too when set (docs/images)."""
    shot = page.screenshot(full_page=False)
    assert shot.startswith(b"\x89PNG")
    if SCREENSHOTS:
        target = Path(SCREENSHOTS)
        target.mkdir(parents=True, exist_ok=True)
        (target / f"{name}.png").write_bytes(shot)
