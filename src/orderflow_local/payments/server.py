"""The provider over HTTP: a stdlib ThreadingHTTPServer on 127.0.0.1, in the calling process, with its faults.

HTTP/1.1 with kept-alive connections, every answer with a Content-Length. Faults are injected
here, on ``/v1/`` requests only (the admin endpoints are never faulted): each request draws once
(orderflow_local.payments.faults) before anything else. ``rate_limited`` and ``server_error``
answer before the API runs, as a rate limiter in front of an API does
(https://docs.stripe.com/rate-limits), so nothing is saved for an idempotency key; ``response_lost`` lets the API
run (the charge is made, its result saved for the key) and then closes the connection without a
byte of response, which is what a client sees when a network drops an answer.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

from orderflow_local.payments.api import Answer, PaymentApi, Request
from orderflow_local.payments.faults import (
    LATENCY,
    RATE_LIMITED,
    RESPONSE_LOST,
    SERVER_ERROR,
    FaultDraws,
    ProviderFaults,
)
from orderflow_local.payments.idempotency import DEFAULT_TTL_SECONDS
from orderflow_local.payments.ledger import new_id

if TYPE_CHECKING:
    from collections import Counter
    from collections.abc import Callable
    from types import TracebackType

    from orderflow_local.payments.ledger import Ledger

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
#: The local endpoints (not Stripe's): the ledger, and whether the provider is up.
LEDGER_PATH = "/_orderflow/ledger"
HEALTH_PATH = "/_orderflow/health"
#: Larger request bodies are refused (a charge's is a few hundred bytes).
MAX_BODY_BYTES = 1 << 20
#: A kept-alive connection idle this long is closed.
IDLE_TIMEOUT_SECONDS = 60


class PaymentProvider:
    """A payment API with Stripe's idempotency contract, served on 127.0.0.1 from a thread of this process.

    ``key_ttl_seconds`` is how long an idempotency key is kept (Stripe: 24 hours); ``faults``
    what to inject; ``clock`` times the keys (a test's, to expire them without waiting).
    """

    def __init__(
        self,
        api_key: str,
        *,
        port: int = 0,
        key_ttl_seconds: float = DEFAULT_TTL_SECONDS,
        faults: ProviderFaults | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = PaymentApi(api_key, key_ttl_seconds=key_ttl_seconds, clock=clock)
        self.port = port
        self._draws = FaultDraws(faults)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        """Listen and serve (on a daemon thread); :attr:`url` says where."""
        if self._server is not None:
            return self
        server = _Server((HOST, self.port), self.api, self._draws)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="payment-provider", daemon=True
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, once started."""
        if self._server is None:
            raise RuntimeError("the payment provider is not started")
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        """Stop listening and close every connection (a kept-alive one too: nothing is answered after stop)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def ledger(self) -> Ledger:
        """A snapshot of what was charged, refunded and declined."""
        return self.api.ledger()

    def faults(self) -> Counter[str]:
        """How many faults of each kind were injected so far."""
        return self._draws.injected()

    def set_faults(self, faults: ProviderFaults | None) -> None:
        """Inject ``faults`` from now on (None: none); the counts so far are kept."""
        self._draws.set(faults)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], api: PaymentApi, draws: FaultDraws) -> None:
        self.api = api
        self.draws = draws
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-request (its function timed out or was killed, as chaos does) is
        normal traffic for a provider: logged at debug, not printed as a traceback on stderr."""
        error = sys.exc_info()[1]
        if isinstance(error, (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)):
            log.debug("client %s went away: %s", client_address, error)
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "orderflow-payments/1"
    timeout = IDLE_TIMEOUT_SECONDS
    # The headers and the body are two writes: without TCP_NODELAY the body waits for the client's
    # delayed ACK of the headers (40 ms a request on Linux).
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _serve(self) -> None:
        path = urlsplit(self.path).path
        body = self._read_body()
        if body is None:
            return
        if not path.startswith("/v1/"):
            self._local(path)
            return
        fault = self.server.draws.draw()
        if fault == LATENCY:
            faults = self.server.draws.faults
            time.sleep((faults.latency_ms if faults else 0) / 1000)
        elif fault == RATE_LIMITED:
            self._send(
                Answer(
                    429,
                    _error(
                        "rate_limit_error",
                        "Too many requests hit the API too quickly (an injected fault).",
                        "rate_limit",
                    ),
                    {"Retry-After": "1"},
                )
            )
            return
        elif fault == SERVER_ERROR:
            self._send(Answer(500, _error("api_error", "An unknown error occurred (an injected fault).")))
            return
        request = Request(
            method=self.command,
            path=path,
            authorization=self.headers.get("Authorization"),
            idempotency_key=self.headers.get("Idempotency-Key"),
            body=body,
        )
        try:
            answer = self.server.api.handle(request)
        except Exception:
            log.exception("the payment provider failed on %s %s", self.command, path)
            answer = Answer(500, _error("api_error", "An unknown error occurred while processing your request."))
        if fault == RESPONSE_LOST:
            self.close_connection = True  # done, saved, and not a byte of it sent
            return
        self._send(answer)

    def _local(self, path: str) -> None:
        """The admin endpoints: on the loopback only, never faulted, no API key."""
        host = self.client_address[0]
        if not ipaddress.ip_address(host).is_loopback:
            self._send(Answer(403, _error("invalid_request_error", "The ledger is for this machine only.")))
        elif self.command == "GET" and path == LEDGER_PATH:
            self._send(Answer(200, self.server.api.ledger().to_json()))
        elif self.command == "GET" and path == HEALTH_PATH:
            self._send(Answer(200, {"ok": True}))
        else:
            message = f"Unrecognized request URL ({self.command}: {path})."
            self._send(Answer(404, _error("invalid_request_error", message)))

    def _read_body(self) -> bytes | None:
        """The request's body (by its Content-Length); None when it was refused (and answered)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._send(Answer(411, _error("invalid_request_error", "Send the body with a Content-Length.")))
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True
            self._send(Answer(413, _error("invalid_request_error", f"A body is at most {MAX_BODY_BYTES} bytes.")))
            return None
        return self.rfile.read(length) if length else b""

    def _send(self, answer: Answer) -> None:
        payload = json.dumps(answer.body).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Request-Id", new_id("req"))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)


def _error(error_type: str, message: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"type": error_type, **({"code": code} if code else {}), "message": message}}
