"""What the console's tests share: a running stack with its console, and orders sent to it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx2

from orderflow_local.ops import producer
from tests.support import body, seed_order, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable

    from orderflow_local.console import Console
    from orderflow_local.stack import LocalStack

#: Alarm periods scaled to a second or two: an alarm goes off while a test watches.
PERIOD_SCALE = 300.0


@dataclass
class Running:
    stack: LocalStack
    console: Console

    @property
    def base(self) -> str:
        return self.console.base

    def get(self, path: str, **params: str) -> httpx2.Response:
        return httpx2.get(self.base + path, params=params, timeout=30)

    def post(self, path: str, payload: dict[str, Any], *, token: str | None = None) -> httpx2.Response:
        headers = {"Origin": self.base, "X-Orderflow-Token": self.console.token if token is None else token}
        return httpx2.post(self.base + path, json=payload, headers=headers, timeout=60)

    def send(self, text: str) -> str:
        emulator = self.stack.emulator
        destination = producer.find_destination(emulator.sqs(), emulator.sns(), emulator.events())
        return producer.send(destination, text, sqs=emulator.sqs(), sns=emulator.sns(), events=emulator.events())

    def send_order(self, **changes: Any) -> dict[str, Any]:
        order = seed_order(orderId=f"ORD-{uuid.uuid4().hex[:10]}", **changes)
        self.send(body(order))
        return order

    def send_bad_order(self, customer: str, **changes: Any) -> tuple[str, str]:
        """An order the handler rejects (its total does not add up): a dead letter with its reason.
        Its message id and its order id."""
        order = seed_order(orderId=f"ORD-BAD-{uuid.uuid4().hex[:8]}", customerId=customer, totalAmount=1, **changes)
        return self.send(json.dumps(order, default=float)), order["orderId"]

    def letters_of(self, order_id: str) -> list[dict[str, Any]]:
        """The dead letters whose body is the order's (a redriven one has a new message id)."""
        return self._letters(lambda letter: f'"orderId": "{order_id}"' in letter["body"])

    def letters(self, source_message_id: str) -> list[dict[str, Any]]:
        return self._letters(lambda letter: letter["sourceMessageId"] == source_message_id)

    def _letters(self, wanted: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        answer = self.get("/api/dlq")
        answer.raise_for_status()
        return [letter for queue in answer.json()["queues"] for letter in queue["letters"] if wanted(letter)]

    def wait_for_letter(self, source_message_id: str, timeout: float = 60) -> dict[str, Any]:
        found = wait_until(lambda: self.letters(source_message_id), f"dead letter {source_message_id}", timeout)
        return found[0]  # type: ignore[no-any-return]

    def tail_rules(self) -> list[dict[str, Any]]:
        """The console's temporary rules on the domain events bus (made when a page first opens)."""
        events = self.stack.emulator.events()
        return list(events.list_rules(EventBusName="OrderDomainEvents", NamePrefix="orderflow-tail-console-")["Rules"])

    def wait_for_the_events_tail(self) -> None:
        """Until the console's rule on the bus is on: an event put before would not reach the page."""
        wait_until(
            lambda: [rule for rule in self.tail_rules() if rule["State"] == "ENABLED"], "the console's rule on", 30
        )

    def stored(self, order_id: str) -> dict[str, Any] | None:
        answer = self.get("/api/orders", id=order_id)
        return answer.json()["orders"][0] if answer.status_code == 200 else None


def customer() -> str:
    return f"CUST-{uuid.uuid4().hex[:8]}"
