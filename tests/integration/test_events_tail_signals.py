"""`orderflow events tail` as a user runs it, a process of its own against the emulator: it prints an event
put on the bus, and Ctrl-C (SIGINT) or SIGTERM end it with the shell's status (130, 143), no traceback, and
its rule, target and queue deleted. In process against moto: tests/functional/test_events_tail.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from orderflow_local.ops.events import NAME_PREFIX, SOURCE
from tests.support import wait_until

if TYPE_CHECKING:
    from orderflow_local.emulator import Emulator

pytestmark = pytest.mark.timeout(120)


def _events(emulator: Emulator) -> Any:
    from orderflow_local.emulator.clients import client_config

    return emulator.session().client("events", endpoint_url=emulator.endpoint, config=client_config())


@pytest.mark.parametrize(("stop", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_ends_the_tail_with_the_shells_status_and_nothing_left(
    emulator: Emulator, stop: signal.Signals, status: int
) -> None:
    events, sqs = _events(emulator), emulator.sqs()
    bus = f"tail-{uuid.uuid4().hex[:8]}"
    events.create_event_bus(Name=bus)
    process = subprocess.Popen(
        [sys.executable, "-m", "orderflow_cli", "events", "tail", "--endpoint-url", emulator.endpoint, "--bus", bus],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **emulator.environment()},
    )
    try:

        def subscribed() -> list[str]:
            rules = [rule["Name"] for rule in events.list_rules(EventBusName=bus).get("Rules", [])]
            return [rule for rule in rules if events.list_targets_by_rule(Rule=rule, EventBusName=bus)["Targets"]]

        [rule] = wait_until(subscribed, "the tail's rule and its target", timeout=60, interval=0.1)
        assert rule.startswith(NAME_PREFIX)
        assert [url for url in sqs.list_queues(QueueNamePrefix=NAME_PREFIX).get("QueueUrls", []) if rule in url]

        detail = {"orderId": "ORD-SIG", "version": 1, "status": "CONFIRMED", "eventId": "ORD-SIG#t#1"}
        entry = {"Source": SOURCE, "DetailType": "OrderConfirmed", "Detail": json.dumps(detail), "EventBusName": bus}
        assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
        assert process.stdout is not None
        assert process.stdout.readline().split()[1:] == ["OrderConfirmed", "ORD-SIG", "v1", "CONFIRMED", "ORD-SIG#t#1"]

        process.send_signal(stop)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == status, stderr
    assert "Traceback" not in stderr
    assert "warning" not in stderr
    assert events.list_rules(EventBusName=bus).get("Rules", []) == []
    assert [url for url in sqs.list_queues(QueueNamePrefix=NAME_PREFIX).get("QueueUrls", []) if rule in url] == []
