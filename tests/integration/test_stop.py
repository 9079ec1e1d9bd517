"""Stopping `orderflow up` as a person does (Ctrl-C, twice; SIGTERM) and starting it again at once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from orderflow_local.emulator import Emulator, EmulatorError
from orderflow_local.emulator.server import _ensure_port_free
from tests.support import free_port, wait_until

pytestmark = pytest.mark.timeout(300)

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Up:
    process: subprocess.Popen[str]
    port: int
    output: Path
    journal: Path

    def text(self) -> str:
        return self.output.read_text()

    def ctrl_c(self) -> None:
        """What a terminal does on Ctrl-C: SIGINT to the whole foreground process group."""
        os.killpg(self.process.pid, signal.SIGINT)

    def send(self, *bodies: dict[str, object]) -> None:
        import boto3

        sqs = boto3.client(
            "sqs", endpoint_url=f"http://127.0.0.1:{self.port}", region_name="us-east-1",
            aws_access_key_id="local", aws_secret_access_key="local",
        )  # fmt: skip
        url = f"http://127.0.0.1:{self.port}/123456789012/OrderCreatedQueue"
        for start in range(0, len(bodies), 10):
            entries = [{"Id": str(n), "MessageBody": json.dumps(b)} for n, b in enumerate(bodies[start : start + 10])]
            sqs.send_message_batch(QueueUrl=url, Entries=entries)


def _up(tmp_path: Path, port: int, name: str) -> Up:
    output = tmp_path / f"{name}.out"
    journal = tmp_path / f"{name}.journal"
    env = {**os.environ, "ESM_TEST_JOURNAL": str(journal), "COLUMNS": "200"}
    with output.open("w") as out:
        process = subprocess.Popen(
            [str(BIN / "orderflow"), "up", "--port", str(port), "--log-file", str(tmp_path / f"{name}.log"),
             "--handler", "tests.integration.handlers:scripted", "--function-timeout", "30", "--batching-window", "1"],
            stdout=out, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT, start_new_session=True,
        )  # fmt: skip
    up = Up(process, port, output, journal)
    deadline = time.monotonic() + 120
    while "Press Ctrl-C to stop" not in up.text():
        assert process.poll() is None, up.text()
        assert time.monotonic() < deadline, up.text()
        time.sleep(0.3)
    return up


@pytest.fixture
def port() -> int:
    return free_port()


def test_ctrl_c_lets_the_batches_in_flight_finish_then_says_what_it_discards(tmp_path: Path, port: int) -> None:
    up = _up(tmp_path, port, "first")
    marker = tmp_path / "in-flight"
    # Given a burst: batches that take 4 s each (0.4 s a record), and more waiting in the queue
    up.send(*[{"do": "sleep", "seconds": 0.4, "marker": str(marker)} for _ in range(40)])
    wait_until(marker.exists, "a batch in flight")
    interrupted = time.time()
    # When Ctrl-C is pressed while batches run
    up.ctrl_c()
    code = up.process.wait(timeout=60)
    text = up.text()
    # Then it exits 130 (as a shell reports a process Ctrl-C ended), with no traceback from the runner or any worker
    assert code == 130, text
    assert "Traceback" not in text
    assert "KeyboardInterrupt" not in text
    # the batches in flight finished after the Ctrl-C; no new receive began: at most one batch
    # a poller had already received (dev's MaximumConcurrency is 2) was still handed over
    invocations = [json.loads(line) for line in up.journal.read_text().splitlines()]
    assert invocations
    assert any(entry["ended"] > interrupted for entry in invocations)
    assert sum(1 for entry in invocations if entry["started"] >= interrupted) <= 2
    # and it said what the stop discards: the rest of the burst was still in the queue
    [summary] = [line for line in text.splitlines() if line.startswith("Discarded with the emulator's")]
    left = int(summary.split(" messages in OrderCreatedQueue")[0].rsplit(" ", 1)[-1])
    assert left == 40 - sum(len(entry["records"]) for entry in invocations)
    assert "0 items in Orders" in summary
    assert text.rstrip().endswith("Stopped.")

    # When it starts again on the same port at once (the busy run left TIME_WAIT sockets)
    again = _up(tmp_path, port, "second")
    # Then it starts, and SIGTERM stops it cleanly too, with 143 (128 + SIGTERM)
    again.process.send_signal(signal.SIGTERM)
    assert again.process.wait(timeout=60) == 143
    assert "Traceback" not in again.text()


def test_a_second_ctrl_c_stops_at_once(tmp_path: Path, port: int) -> None:
    up = _up(tmp_path, port, "impatient")
    marker = tmp_path / "in-flight"
    up.send(*[{"do": "sleep", "seconds": 8, "marker": str(marker)} for _ in range(3)])  # a 24 s batch
    wait_until(marker.exists, "a batch in flight")
    up.ctrl_c()
    time.sleep(1)
    pressed = time.monotonic()
    up.ctrl_c()
    code = up.process.wait(timeout=20)
    assert time.monotonic() - pressed < 15  # not the 24 s the batch still had to run
    text = up.text()
    assert code == 130, text
    assert "Stopped at once" in text
    assert "Traceback" not in text


def test_the_port_check_ignores_time_wait_sockets_as_the_server_does() -> None:
    # Given a port whose last connection was closed by the server side: it sits in TIME_WAIT
    port = free_port()
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()  # the side that closes first keeps TIME_WAIT
        time.sleep(0.1)
        client.close()
    # a plain bind (the old check) refuses it
    with socket.socket() as plain, pytest.raises(OSError, match="Address already in use"):
        plain.bind(("127.0.0.1", port))
    # Then the emulator's check, and the emulator itself, accept it
    _ensure_port_free(port)
    with Emulator(port=port) as emulator:
        assert emulator.sqs().list_queues().get("QueueUrls", []) == []
        # while a server listens, the port is refused with a clear message
        with pytest.raises(EmulatorError, match=f"port {port} on 127.0.0.1 is already in use"):
            _ensure_port_free(port)


@pytest.mark.parametrize(
    ("spec", "error_type"),
    [
        ("badformat", "Runtime.MalformedHandlerName"),
        ("module:", "Runtime.MalformedHandlerName"),
        (":handler", "Runtime.MalformedHandlerName"),
        ("my-module:handler", "Runtime.ImportModuleError"),  # as Lambda: no module has that name
    ],
)
def test_a_handler_that_is_not_module_colon_function_is_named(spec: str, error_type: str) -> None:
    from typer.testing import CliRunner

    from orderflow_cli.main import app

    result = CliRunner().invoke(app, ["up", "--port", "0", "--handler", spec], prog_name="orderflow")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: --handler {spec!r}: {error_type}: ")
    assert len(result.stderr.splitlines()) == 1, result.stderr  # no traceback


STARTS_UNDER_CTRL_C = """
import os, signal, threading, time
from collections import Counter
from orderflow_local.lambda_runtime.environment import EnvironmentPool, FunctionConfig

signal.signal(signal.SIGINT, lambda *_: None)  # the runner handles its own Ctrl-C
config = FunctionConfig(name="f", handler="tests.integration.handlers:scripted", timeout=20, memory_size=128,
                        environment={"ESM_TEST_JOURNAL": os.devnull}, log_path=None)
pool = EnvironmentPool(config)
results = Counter()

def cold_starts():
    for _ in range(3):
        environment = pool._acquire()  # a new environment each time
        results[environment.invoke({"Records": []}).status] += 1
        environment.stop(kill=True)

threads = [threading.Thread(target=cold_starts) for _ in range(3)]
for thread in threads:
    thread.start()
for _ in range(40):  # Ctrl-C, again and again, to the whole group while environments start
    os.killpg(0, signal.SIGINT)
    time.sleep(0.05)
for thread in threads:
    thread.join()
print(dict(results))
"""


def test_environments_starting_during_ctrl_c_are_not_interrupted() -> None:
    result = subprocess.run(
        [sys.executable, "-c", STARTS_UNDER_CTRL_C],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False, start_new_session=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{'ok': 9}"
    assert "KeyboardInterrupt" not in result.stderr
