"""The emulator's own process: granian serving moto's app, as `orderflow up` runs it."""

from __future__ import annotations

import concurrent.futures
import os
import socket
from typing import TYPE_CHECKING

import pytest

from orderflow_local.emulator import HOST, Emulator, EmulatorError
from orderflow_local.emulator import server as emulator
from orderflow_local.emulator.child import SERVER_THREADS
from orderflow_local.emulator.server import PORT_ATTEMPTS
from orderflow_local.processes import descendants

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.timeout(120)


def test_long_polls_waiting_do_not_hold_up_other_requests() -> None:
    """Each SQS long poll holds a server thread for up to 20 s: many at once must not queue the rest."""
    pollers = 24  # more than any local stack keeps waiting at once
    assert pollers < SERVER_THREADS
    with Emulator(port=0, own_process=True) as aws:
        sqs = aws.sqs()
        url = sqs.create_queue(QueueName="long-polls")["QueueUrl"]
        with concurrent.futures.ThreadPoolExecutor(pollers) as pool:
            polls = [
                pool.submit(lambda: aws.sqs().receive_message(QueueUrl=url, WaitTimeSeconds=20).get("Messages", []))
                for _ in range(pollers)
            ]
            # Every poll is waiting on the empty queue; other requests are still answered.
            dynamodb = aws.dynamodb()
            assert dynamodb.list_tables()["TableNames"] == []
            assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            assert not any(poll.done() for poll in polls)
            # Then each message ends a poll (or a poll takes more than one).
            for n in range(pollers):
                sqs.send_message(QueueUrl=url, MessageBody=f"message {n}")
            received = [message["Body"] for poll in polls for message in poll.result(timeout=30)]
    assert sorted(received) == sorted(f"message {n}" for n in range(pollers))


def test_stopping_ends_the_servers_worker_too() -> None:
    aws = Emulator(port=0, own_process=True).start()
    process = aws._process
    workers = descendants(process.pid)
    assert workers, "granian serves from a worker process of its own"
    aws.stop()
    assert not process.is_alive()
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_stopped_emulator_frees_its_port_for_the_next() -> None:
    first = Emulator(port=0, own_process=True).start()
    port = first.port
    first.stop()
    with Emulator(port=port, own_process=True) as second:
        assert second.sqs().list_queues().get("QueueUrls", []) == []


def test_a_long_poll_in_flight_does_not_hold_up_the_stop() -> None:
    """Stopping does not wait out a client's 20 s long poll (the state is discarded anyway)."""
    import threading
    import time

    aws = Emulator(port=0, own_process=True).start()
    url = aws.sqs().create_queue(QueueName="polled-at-stop")["QueueUrl"]
    ended: list[str] = []

    def poll() -> None:
        try:
            aws.sqs().receive_message(QueueUrl=url, WaitTimeSeconds=20)
            ended.append("answered")
        except Exception as error:  # noqa: BLE001 - the server went away: what a client sees
            ended.append(type(error).__name__)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    time.sleep(0.5)  # the poll is waiting on the empty queue
    started = time.monotonic()
    aws.stop()
    assert time.monotonic() - started < 8  # well under the poll's 20 s
    poller.join(15)
    assert ended == ["EndpointConnectionError"]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process holds (listening, never answering) between the pick and the bind."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((HOST, 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_free_port_taken_before_the_server_binds_it_is_replaced_by_another(
    monkeypatch: pytest.MonkeyPatch, taken_port: int
) -> None:
    picks = iter([taken_port])
    pick_free = emulator._free_port
    monkeypatch.setattr(emulator, "_free_port", lambda: next(picks, None) or pick_free())
    with Emulator(port=0, own_process=True) as aws:
        assert aws.port not in (0, taken_port)
        assert aws.sqs().list_queues().get("QueueUrls", []) == []


def test_when_every_port_picked_is_taken_the_start_fails_in_one_line(
    monkeypatch: pytest.MonkeyPatch, taken_port: int
) -> None:
    picked: list[int] = []
    monkeypatch.setattr(emulator, "_free_port", lambda: picked.append(taken_port) or taken_port)
    with pytest.raises(EmulatorError) as refused:
        Emulator(port=0, own_process=True).start()
    assert len(picked) == PORT_ATTEMPTS
    message = str(refused.value)
    assert "\n" not in message  # granian's own error carries a Rust backtrace when RUST_BACKTRACE is set
    assert message == f"the emulator's process failed to start: port {taken_port} on {HOST} is already in use"
