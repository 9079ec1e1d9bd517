"""The console's server: uvicorn, on a thread of `orderflow up`'s process, so the app reads the
running stack (its metrics, alarms and pools) directly; bound to 127.0.0.1 only.

Why uvicorn and not granian, which serves the emulator: granian runs an app in worker processes of
its own, where the stack's state is out of reach; uvicorn runs on a thread of this process
(docs/decisions.md). https://www.uvicorn.org/
"""

from __future__ import annotations

import contextlib
import errno
import logging
import secrets
import socket
import threading
import time
from typing import TYPE_CHECKING

from orderflow_local.console.app import create_app
from orderflow_local.console.feed import Feed
from orderflow_local.console.state import ConsoleState
from orderflow_local.emulator.clients import HOST

if TYPE_CHECKING:
    from orderflow_local.stack.local_stack import LocalStack

log = logging.getLogger(__name__)

#: How long a stop lets open pages' streams end before it closes them.
STOP_GRACE_SECONDS = 1


class ConsoleStartError(RuntimeError):
    """The console could not start (its port is taken, the server failed)."""


class Console:
    """The console for ``stack``, on ``port`` (0: any free one).

    Example
    -------
    >>> console = Console(stack, port=0).start()  # doctest: +SKIP
    >>> console.url  # doctest: +SKIP
    'http://127.0.0.1:40123/?token=...'
    """

    def __init__(self, stack: LocalStack, *, port: int = 0, interval: float = 2.0) -> None:
        import uvicorn

        self.token = secrets.token_urlsafe(24)
        self.state = ConsoleState(stack)
        self.feed = Feed(self.state, interval=interval)
        self._socket = _bind(port)
        self.port: int = self._socket.getsockname()[1]
        app = create_app(self.state, self.feed, token=self.token, port=lambda: self.port)
        config = uvicorn.Config(
            app,
            log_level="error",  # its warnings (another site's WebSocket attempt) are no news to the terminal
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=STOP_GRACE_SECONDS,
            ws="none",  # the page's live updates are server-sent events
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self._stack = stack

    @property
    def url(self) -> str:
        """The page, with the run's token (a POST needs it)."""
        return f"http://{HOST}:{self.port}/?token={self.token}"

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> Console:
        self.feed.observe(self._stack)
        self.feed.start()
        # serve() on the given socket: uvicorn binds nothing itself, so the port is known before.
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True, name="console-server"
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ConsoleStartError(f"the console's server did not start on {HOST}:{self.port}")
            time.sleep(0.02)
        return self

    def stop(self, *, remove_tails: bool = True) -> None:
        """Stop serving (``remove_tails``: see :meth:`Feed.stop`)."""
        self.feed.stop(remove_tails=remove_tails)  # first: the pages' streams end; the server's stop waits on none
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=STOP_GRACE_SECONDS + 5)
            self._thread = None
        with contextlib.suppress(OSError):
            self._socket.close()

    def __enter__(self) -> Console:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def _bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:``port`` (0: a free one), or ConsoleStartError saying the port is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConsoleStartError(
                f"port {port} on {HOST} is already in use (--console-port 0 picks a free one)"
            ) from None
        raise ConsoleStartError(f"cannot listen on {HOST}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(False)
    return sock
