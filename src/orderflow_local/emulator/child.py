"""What runs in the emulator's own process: :func:`serve`, with granian (ours) or moto's
werkzeug server (stock moto, the benchmark's baseline)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import urllib.request
from typing import Any

from orderflow_local.emulator.clients import HOST
from orderflow_local.processes import ignore_interrupts

#: Python threads granian may run moto's app on (started as needed, ended after 30 s idle).
#: Every SQS long poll holds one for up to 20 s, so this stays well above the pollers and
#: clients a local stack has waiting at once.
SERVER_THREADS = 64
#: How long a stop waits for requests in flight before it kills the server's worker.
STOP_GRACE_SECONDS = 1


def serve(connection: Any, port: int, enforce_iam: bool, patched: bool, token: str) -> None:  # pragma: no cover
    """The emulator's own process, until the parent says stop (or is gone).

    Ours serves moto's app (patched and guarded, :mod:`orderflow_local.emulator.app`) with
    granian, whose HTTP handling is compiled and keeps connections alive; stock moto
    (``patched=False``, the benchmark's baseline only) runs moto's own ``ThreadedMotoServer``.
    ``token`` is this start's: the server answers it at ``IDENTITY_PATH``, which is how the
    readiness probe knows the server on the port is this one.
    """
    ignore_interrupts()
    if patched:
        _serve_granian(connection, port, enforce_iam, token)
    else:
        _serve_stock(connection, port)


def _serve_stock(connection: Any, port: int) -> None:  # pragma: no cover - runs in the child
    try:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
        server.start()
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises EmulatorError
        connection.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    connection.send(("ready", server.get_host_and_port()[1]))
    with contextlib.suppress(EOFError):  # EOF: the parent is gone
        connection.recv()  # None: stop
    server.stop()


def _serve_granian(connection: Any, port: int, enforce_iam: bool, token: str) -> None:  # pragma: no cover - the child
    import multiprocessing
    import time

    from granian.constants import Interfaces
    from granian.server import Server

    from orderflow_local.emulator import app as emulator_app

    # granian handles SIGINT itself: a session of its own keeps a Ctrl-C at the terminal away
    # from it (and from its worker), as the parent must drain while the emulator still answers.
    os.setsid()
    os.environ[emulator_app.ENFORCE_IAM] = "1" if enforce_iam else "0"
    os.environ[emulator_app.INSTANCE_TOKEN] = token
    multiprocessing.set_start_method("spawn", force=True)  # its worker: no fork of a threaded process
    # The parent started this process as a daemon (so it never waits for it at exit), which
    # multiprocessing takes to forbid children; granian's worker is this process's to stop.
    multiprocessing.current_process().daemon = False
    answered = threading.Event()

    def tell_parent_then_wait() -> None:
        deadline = time.monotonic() + 60
        while not answered.is_set():
            # A GET that changes nothing, answered with this start's token: another server on
            # the port (another worker's emulator took it first) answers otherwise, and is left
            # alone; granian's failure to bind the port then ends this process.
            if _answers_with(port, token):
                answered.set()
            elif time.monotonic() > deadline:
                connection.send(("error", f"the server did not answer on port {port} within 60 s"))
                os.kill(os.getpid(), signal.SIGTERM)
                return
            else:
                time.sleep(0.05)
        connection.send(("ready", port))
        with contextlib.suppress(EOFError, OSError):  # EOF: the parent is gone
            connection.recv()  # None: stop
        os.kill(os.getpid(), signal.SIGTERM)  # granian stops its worker, then serve() returns

    threading.Thread(target=tell_parent_then_wait, daemon=True, name="emulator-control").start()
    try:
        Server(
            "orderflow_local.emulator.app:create_app",
            factory=True,
            address=HOST,
            port=port,
            interface=Interfaces.WSGI,
            workers=1,  # moto keeps its state in one process
            blocking_threads=SERVER_THREADS,
            # A long poll in flight (up to 20 s) would hold a graceful stop; the state is
            # in memory and discarded anyway, so the worker gets a second, then is killed.
            workers_kill_timeout=STOP_GRACE_SECONDS,
            log_enabled=False,
        ).serve()
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises EmulatorError
        if not answered.is_set():
            connection.send(("error", f"{type(exc).__name__}: {exc}"))


def _answers_with(port: int, token: str) -> bool:
    """Whether the server on ``port`` is the emulator started with ``token`` (a GET: nothing changes)."""
    from orderflow_local.emulator.app import IDENTITY_PATH

    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}{IDENTITY_PATH}", timeout=5) as answer:
            return bool(answer.read().decode() == token)
    except (OSError, UnicodeDecodeError):  # not up yet, or another server (HTTPError is an OSError)
        return False
