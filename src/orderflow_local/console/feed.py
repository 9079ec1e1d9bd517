"""The console's live updates: one thread gathers what changed every ``interval`` seconds while a
page is open, and hands each open page (a subscriber) the same events.

- ``live``: the map's numbers and the alarms' states (:meth:`ConsoleState.live`);
- ``log``: the functions' log lines, as each invocation ends (an observer on each pool: no polling);
- ``alarm``: each alarm state change, as the alarm monitor makes it;
- ``event``: what is put on the stack's buses, through a temporary rule and queue on each, as
  `orderflow events tail` does (created when the first page opens, removed when `up` stops);
- ``mail``: what SES sent (the emulator's list of sent messages);
- ``ledger``: what the payment provider charged, refunded and declined.

Each kind keeps its last :data:`BACKLOG` entries: a page that opens gets them first. With no page
open, nothing is polled; only the log lines are kept (a deque append per line).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orderflow_local.cloudwatch.alarms import AlarmSpec, Evaluation
    from orderflow_local.console.state import ConsoleState
    from orderflow_local.lambda_runtime.environment import Invocation
    from orderflow_local.ops.events import Subscription

log = logging.getLogger(__name__)

#: Entries of each kind a page gets when it opens.
BACKLOG = 200
#: How long each subscriber's queue may grow before its oldest events are dropped (a stalled page).
SUBSCRIBER_QUEUE = 2000
#: The long poll of the buses' temporary queues (short: the thread must stop soon when asked).
EVENTS_WAIT_SECONDS = 1
TAIL_KINDS = ("log", "event", "mail", "ledger", "alarm")


@dataclass(eq=False)
class Subscriber:
    """One open page: events reach its asyncio queue from the feed's thread."""

    loop: asyncio.AbstractEventLoop
    #: (kind, entry, its sequence number: None for the live numbers, which are not replayed); None: the end.
    queue: asyncio.Queue[tuple[str, dict[str, Any], int | None] | None] = field(
        default_factory=lambda: asyncio.Queue(SUBSCRIBER_QUEUE)
    )

    def put(self, item: tuple[str, dict[str, Any], int | None] | None) -> None:
        def deliver() -> None:
            if self.queue.full():  # a page that stopped reading loses its oldest events, not the feed
                with contextlib.suppress(asyncio.QueueEmpty):
                    self.queue.get_nowait()
            self.queue.put_nowait(item)

        with contextlib.suppress(RuntimeError):  # its loop is closed: the server is stopping
            self.loop.call_soon_threadsafe(deliver)


class Feed:
    """Gathers and broadcasts the console's live events (a thread of its own, started by :meth:`start`)."""

    def __init__(self, state: ConsoleState, *, interval: float = 2.0) -> None:
        self.state = state
        self.interval = interval
        self._subscribers: set[Subscriber] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        #: Each kind's last entries with their sequence numbers (the SSE ids a reconnecting page resumes after).
        self.backlog: dict[str, deque[tuple[int, dict[str, Any]]]] = {
            kind: deque(maxlen=BACKLOG) for kind in TAIL_KINDS
        }
        self._sequence = 0
        self._observers: list[tuple[Any, Any]] = []  # (pool, observer): removed at the stop
        self._stack: Any = None
        self._failing: str | None = None  # the last failure said (said once until another, or success)
        self._lines: deque[tuple[str, int, str]] = deque(maxlen=BACKLOG * 5)
        self._alarm_changes: deque[dict[str, Any]] = deque(maxlen=BACKLOG)
        self._mail_seen: set[str] = set()
        self._ledger_seen = (0, 0, 0)
        self._subscriptions: list[Subscription] = []
        self._event_threads: list[threading.Thread] = []
        self._events: deque[dict[str, Any]] = deque(maxlen=BACKLOG * 5)
        #: The buses' tails: "off" (not made yet), "on" (a page is open), "paused" (their rules disabled).
        self._tails = "off"

    # --- what the stack tells the feed ----------------------------------------------------------

    def observe(self, stack: Any) -> None:
        """Hear each pool's invocations and the alarm monitor's state changes (until :meth:`stop`)."""
        self._stack = stack
        for pool in stack.pools:
            observer = self._invocation_observer(pool.config.name)
            pool.observers.append(observer)
            self._observers.append((pool, observer))
        stack.alarm_listeners.append(self._alarm_changed)

    def _forget(self) -> None:
        for pool, observer in self._observers:
            with contextlib.suppress(ValueError):
                pool.observers.remove(observer)
        self._observers = []
        if self._stack is not None:
            with contextlib.suppress(ValueError):
                self._stack.alarm_listeners.remove(self._alarm_changed)

    def _invocation_observer(self, function: str) -> Any:
        def observed(invocation: Invocation) -> None:
            self._lines.extend((function, stamp, text) for stamp, text in invocation.lines)

        return observed

    def _alarm_changed(self, alarm: AlarmSpec, previous: str, evaluation: Evaluation) -> None:
        at = time.time()
        self.state.alarm_history.changed(alarm.name, at)
        self._alarm_changes.append(
            {
                "at": round(at * 1000),
                "name": alarm.name,
                "from": previous,
                "to": evaluation.state,
                "reason": evaluation.reason,
            }
        )
        self._wake.set()

    # --- pages -----------------------------------------------------------------------------------

    def subscribe(self, loop: asyncio.AbstractEventLoop, *, after: int | None = None) -> Subscriber:
        """A new page's subscription: the backlog first (after the event ``after``, the last a reconnecting
        page had), then every event."""
        subscriber = Subscriber(loop)
        with self._lock:
            first = not self._subscribers
            self._subscribers.add(subscriber)
            backlog = sorted(
                ((sequence, kind, entry) for kind in TAIL_KINDS for sequence, entry in self.backlog[kind]
                 if after is None or sequence > after),
                key=lambda item: item[0],
            )  # fmt: skip
            for sequence, kind, entry in backlog:  # what was seen before this page opened, oldest first
                subscriber.put((kind, entry, sequence))
        if first:
            self._wake.set()  # gather now, not at the next tick
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(subscriber)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def _broadcast(self, kind: str, entry: dict[str, Any]) -> None:
        with self._lock:
            sequence = None
            if kind in self.backlog:
                self._sequence += 1
                sequence = self._sequence
                self.backlog[kind].append((sequence, entry))
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber.put((kind, entry, sequence))

    # --- the thread ------------------------------------------------------------------------------

    def start(self) -> Feed:
        self._thread = threading.Thread(target=self._run, daemon=True, name="console-feed")
        self._thread.start()
        return self

    def stop(self, *, remove_tails: bool = True) -> None:
        """Stop gathering; ``remove_tails``: delete the buses' temporary rules and queues (`up` does not:
        the embedded AWS's state goes with it)."""
        self._stop.set()
        self._wake.set()
        self._forget()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for thread in self._event_threads:
            thread.join(timeout=EVENTS_WAIT_SECONDS + 5)
        if remove_tails:
            self._unsubscribe_buses()
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber.put(None)  # the page's stream ends

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            if not self.subscribers:
                self._pause_tails()
                continue
            try:
                self.gather()
                self._failing = None
            except Exception as exc:  # noqa: BLE001 - a failed round is said once; the next one tries again
                said = f"{type(exc).__name__}: {exc}".splitlines()[0]
                if said != self._failing:
                    log.warning("the console's live update failed (%s); it keeps trying", said)
                    self._failing = said

    def gather(self) -> None:
        """One round: every kind's new entries, then the live numbers."""
        if self._tails == "off":
            self._tail_buses()
        elif self._tails == "paused":
            self._set_rules("enable")
        for kind, entries in (
            ("log", self._new_lines()),
            ("alarm", _drain(self._alarm_changes)),
            ("event", _drain(self._events)),
            ("mail", self._new_mail()),
            ("ledger", self._new_ledger()),
        ):
            for entry in entries:
                self._broadcast(kind, entry)
        self._broadcast("live", self.state.live())

    def _new_lines(self) -> list[dict[str, Any]]:
        entries = []
        for function, stamp, text in _drain(self._lines):
            try:
                line = json.loads(text)
            except ValueError:
                line = None
            if isinstance(line, dict):
                level, message = str(line.get("level", "")), str(line.get("message", text))
            else:
                level, message = _platform_level(text), text
            entries.append({"at": stamp, "function": function, "level": level, "message": message, "text": text})
        return entries

    def _new_mail(self) -> list[dict[str, Any]]:
        if not self.state.deployed.spec.email_identities:
            return []
        entries = []
        for mail in self.state.sent_mail():
            if mail.id in self._mail_seen:
                continue
            self._mail_seen.add(mail.id)
            entries.append(
                {
                    "at": round((mail.sent_at.timestamp() if mail.sent_at else time.time()) * 1000),
                    "id": mail.id,
                    "to": ", ".join(mail.to),
                    "subject": mail.subject,
                    "notification": mail.kind,
                    "orderId": mail.order_id,
                }
            )
        return entries

    def _new_ledger(self) -> list[dict[str, Any]]:
        provider = self.state.stack.payment_provider
        if provider is None:
            return []
        ledger = provider.ledger()
        seen_charges, seen_refunds, seen_declines = self._ledger_seen
        self._ledger_seen = (len(ledger.charges), len(ledger.refunds), len(ledger.declines))
        orders = {charge.id: charge.order_id for charge in ledger.charges}
        entries = [
            _ledger_entry(
                "charge", charge.order_id, charge.amount, charge.currency, charge.idempotency_key, charge.created
            )
            for charge in ledger.charges[seen_charges:]
        ]
        entries += [
            _ledger_entry(
                "refund",
                orders.get(refund.charge, ""),
                refund.amount,
                refund.currency,
                refund.idempotency_key,
                refund.created,
            )
            for refund in ledger.refunds[seen_refunds:]
        ]
        entries += [
            _ledger_entry(
                "decline", decline.order_id, decline.amount, decline.currency, decline.idempotency_key, decline.created
            )
            for decline in ledger.declines[seen_declines:]
        ]
        return sorted(entries, key=lambda entry: entry["at"])

    # --- the buses' events -----------------------------------------------------------------------

    def _tail_buses(self) -> None:
        """A temporary rule and queue on each bus of the stack, read by a thread each."""
        from orderflow_local.ops.events import NAME_PREFIX, Subscription, subscribe

        self._tails = "on"
        if not self.state.deployed.buses:
            return
        events, sqs = self.state.client("events"), self.state.client("sqs")
        account = self.state.deployed.pseudo["AWS::AccountId"]
        for logical_id in self.state.deployed.buses:
            bus = self.state.deployed.spec.buses[logical_id].name
            # named by a digest of the bus's logical id: a rule's name takes 64 characters at most
            digest = hashlib.sha256(logical_id.encode()).hexdigest()[:12]
            subscription = Subscription(bus=bus, name=f"{NAME_PREFIX}console-{digest}", pattern={"account": [account]})
            self._subscriptions.append(subscription)
            try:
                subscribe(events, sqs, subscription)
            except Exception as exc:  # noqa: BLE001 - the events tail is missing; the rest of the console works
                log.warning("cannot tail bus %s: %s", bus, exc)
                continue
            thread = threading.Thread(
                target=self._read_events, args=(subscription,), daemon=True, name=f"console-events-{bus}"
            )
            self._event_threads.append(thread)
            thread.start()

    def _read_events(self, subscription: Subscription) -> None:
        from orderflow_local.ops.events import receive

        sqs = self.state.client("sqs")
        while not self._stop.is_set():
            if self._tails != "on":
                self._stop.wait(EVENTS_WAIT_SECONDS)
                continue
            try:
                received = receive(sqs, subscription.queue_url, wait_seconds=EVENTS_WAIT_SECONDS)
            except Exception:  # noqa: BLE001 - the emulator is stopping, or a call failed: tried again
                time.sleep(EVENTS_WAIT_SECONDS)
                continue
            for _receipt, event in received:
                detail = event["detail"] if isinstance(event.get("detail"), dict) else {}
                self._events.append(
                    {
                        "at": _event_time(event.get("time")),
                        "source": event.get("source"),
                        "detailType": event.get("detail-type"),
                        "orderId": detail.get("orderId"),
                        "bus": subscription.bus,
                        "detail": detail,
                    }
                )
            if received:  # one call for the batch: the embedded AWS serves the pipeline too
                entries = [{"Id": str(index), "ReceiptHandle": receipt} for index, (receipt, _) in enumerate(received)]
                with contextlib.suppress(Exception):
                    sqs.delete_message_batch(QueueUrl=subscription.queue_url, Entries=entries)

    def _pause_tails(self) -> None:
        """With no page open, the tails' rules are disabled: the bus sends them nothing, the pipeline
        pays nothing for them."""
        if self._tails == "on":
            self._set_rules("disable")

    def _set_rules(self, action: str) -> None:
        self._tails = "on" if action == "enable" else "paused"
        for subscription in self._subscriptions:
            try:
                events = self.state.client("events")
                if action == "enable":
                    events.enable_rule(Name=subscription.name, EventBusName=subscription.bus)
                else:
                    events.disable_rule(Name=subscription.name, EventBusName=subscription.bus)
            except Exception as exc:  # noqa: BLE001 - a tail off or on a little longer: said in the log
                log.warning("cannot %s the console's rule on %s: %s", action, subscription.bus, exc)

    def _unsubscribe_buses(self) -> None:
        from orderflow_local.ops.events import unsubscribe

        if not self._subscriptions:
            return
        events, sqs = self.state.client("events"), self.state.client("sqs")
        for subscription in self._subscriptions:
            for leftover in unsubscribe(events, sqs, subscription):
                log.warning("console: could not remove %s (%s)", leftover.what, leftover.command)
        self._subscriptions = []


def _drain(entries: deque[Any]) -> list[Any]:
    drained = []
    while True:
        try:
            drained.append(entries.popleft())
        except IndexError:
            return drained


def _platform_level(text: str) -> str:
    """A line that is not JSON: Lambda's own (START, END, REPORT) are INFO; a traceback's ERROR."""
    return "ERROR" if text.startswith(("Traceback", "[ERROR]")) else "INFO"


def _ledger_entry(
    kind: str, order_id: str, amount: int, currency: str, key: str | None, created: int
) -> dict[str, Any]:
    from orderflow.domain.models import minor_units

    places = minor_units(currency.upper()) or 0
    shown = f"{amount / 10**places:.{places}f}" if places else str(amount)
    return {"at": created * 1000, "kind": kind, "orderId": order_id, "amount": shown, "currency": currency.upper(),
            "key": key}  # fmt: skip


def _event_time(text: Any) -> int:
    from datetime import datetime

    try:
        return round(datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return round(time.time() * 1000)
