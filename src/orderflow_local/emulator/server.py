"""The emulator's lifecycle, on the parent's side: start moto (in this process, or in a process of
its own: see :mod:`orderflow_local.emulator.child`), hand out clients, stop it."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import signal
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import boto3

from orderflow_local.emulator import patches as moto_patches
from orderflow_local.emulator.child import serve
from orderflow_local.emulator.clients import CREDENTIALS, DEFAULT_PORT, HOST, REGION, RoleCredentials, client_config
from orderflow_local.emulator.patches import iam as moto_iam
from orderflow_local.processes import cpu_seconds, descendants, start_shielded

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sts import STSClient

#: Asked for any free port (0): how many picked ports may be taken before the start gives up.
PORT_ATTEMPTS = 3

log = logging.getLogger(__name__)


_running: set[int] = set()
_running_lock = threading.Lock()


class EmulatorError(RuntimeError):
    """The emulator could not start (for example, its port is taken)."""


class PortInUseError(EmulatorError):
    """The emulator's port is held by another process."""


@dataclass
class Emulator:
    """moto in server mode, one endpoint for SQS, DynamoDB, SNS, IAM and STS.

    Example
    -------
    >>> with Emulator(port=0) as aws:  # doctest: +SKIP
    ...     aws.sqs().list_queues()
    """

    port: int = DEFAULT_PORT
    #: Run moto in a process of its own, with its own GIL, instead of in this one (whose
    #: threads then only serve the emulator's clients). Its state is then reachable only
    #: through the endpoint.
    own_process: bool = False
    #: Authorize requests signed by an assumed role against its policies (orderflow_local.emulator.patches.iam).
    enforce_iam: bool = False
    #: With ``own_process``: False runs stock moto, without our patches (the benchmark's baseline only).
    patched: bool = True
    _server: Any = field(default=None, init=False, repr=False)
    _process: Any = field(default=None, init=False, repr=False)
    _connection: Any = field(default=None, init=False, repr=False)
    _port_claim: Any = field(default=None, init=False, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> Emulator:
        if self.own_process:
            # A new process starts from an empty account: nothing to reset (and a reset over
            # HTTP would wipe whatever answers on the port, another worker's emulator included).
            _ensure_port_free(self.port)
            self._start_own_process()
            return self
        moto_patches.apply()
        _ensure_port_free(self.port)
        with _running_lock:
            if _running:
                raise EmulatorError(
                    "an emulator already runs in this process: moto keeps one state per process, so a second "
                    "one would share (and reset) its queues and tables. Stop the first one, or use another process."
                )
            _running.add(id(self))
        # werkzeug logs every request at INFO: thousands of lines that bury the output.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        try:
            self._server = _ThreadedServer(self.port)
        except BaseException:
            with _running_lock:
                _running.discard(id(self))
            raise
        self.port = self._server.port
        moto_iam.enforce(self.enforce_iam)
        _reset_this_process()
        return self

    @property
    def pid(self) -> int | None:
        """The emulator's own process, or None when it runs in this one."""
        return self._process.pid if self._process is not None else None

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the emulator's processes have used; None when in-process or not on Linux."""
        if self._process is None or self._process.pid is None:
            return None
        return cpu_seconds([self._process.pid, *descendants(self._process.pid)])

    def _start_own_process(self) -> None:
        if self.port or not self.patched:  # a port asked for (checked free), or moto's server picks one
            self._start_process(self.port)
            return
        # granian cannot say which port it bound, so a free one is picked here. Another process
        # may take it before granian binds it: then another is picked.
        for attempt in range(1, PORT_ATTEMPTS + 1):
            port = _free_port()
            try:
                self._start_process(port)
                return
            except PortInUseError:
                if attempt == PORT_ATTEMPTS:
                    raise
                log.info("port %d was taken before the emulator bound it; trying another", port)

    def _start_process(self, port: int) -> None:
        import multiprocessing

        self._port_claim = _claim_port(port) if port else None
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(
            target=serve,
            args=(child, port, self.enforce_iam, self.patched, secrets.token_hex(16)),
            daemon=True,
            name="orderflow-emulator",
        )
        # A Ctrl-C is the parent's to handle: the emulator must keep answering while the stop
        # drains and counts what it discards.
        start_shielded(self._process)
        child.close()
        if not self._connection.poll(60):
            self.stop()
            raise EmulatorError("the emulator's process did not start within 60 s")
        status, value = self._connection.recv()
        if status != "ready":
            self.stop()
            # One line: granian's errors can carry a Rust backtrace (with RUST_BACKTRACE set).
            reason = str(value).strip().splitlines()[0] if str(value).strip() else "no reason given"
            if "Address already in use" in reason:  # granian's bind error (EADDRINUSE)
                raise PortInUseError(f"the emulator's process failed to start: port {port} on {HOST} is already in use")
            raise EmulatorError(f"the emulator's process failed to start: {reason}")
        self.port = int(value)

    def stop(self) -> None:
        if self._process is not None:
            with contextlib.suppress(BrokenPipeError, OSError):
                self._connection.send(None)
            server_processes = descendants(self._process.pid) if self._process.pid else []
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(timeout=5)
            for pid in server_processes:  # the HTTP server's worker, if a kill left it behind
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self._connection.close()
            self._process = None
            self._release_port()
            return
        if self._server is not None:
            self._server.stop()
            self._server = None
            moto_iam.enforce(False)
        with _running_lock:
            _running.discard(id(self))

    def _release_port(self) -> None:
        if self._port_claim is not None:
            self._port_claim.close()
            self._port_claim = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def session(self) -> boto3.Session:
        return boto3.Session(
            region_name=REGION,
            aws_access_key_id=CREDENTIALS["aws_access_key_id"],
            aws_secret_access_key=CREDENTIALS["aws_secret_access_key"],
        )

    def sqs(self, credentials: RoleCredentials | None = None) -> SQSClient:
        session = credentials.session() if credentials else self.session()
        return session.client("sqs", endpoint_url=self.endpoint, config=client_config())

    def sns(self) -> SNSClient:
        return self.session().client("sns", endpoint_url=self.endpoint, config=client_config())

    def iam(self) -> IAMClient:
        return self.session().client("iam", endpoint_url=self.endpoint, config=client_config())

    def sts(self) -> STSClient:
        return self.session().client("sts", endpoint_url=self.endpoint, config=client_config())

    def assume_role(self, role_arn: str, session_name: str) -> RoleCredentials:
        """The role's temporary credentials (Lambda names the session after the function)."""
        found = self.sts().assume_role(RoleArn=role_arn, RoleSessionName=session_name)
        credentials = found["Credentials"]
        return RoleCredentials(
            role_arn, credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
        )

    def dynamodb(self) -> DynamoDBClient:
        return self.session().client("dynamodb", endpoint_url=self.endpoint, config=client_config())

    def logs(self) -> CloudWatchLogsClient:
        return self.session().client("logs", endpoint_url=self.endpoint, config=client_config())

    def cloudwatch(self) -> CloudWatchClient:
        return self.session().client("cloudwatch", endpoint_url=self.endpoint, config=client_config())

    def client(self, service: str, credentials: RoleCredentials | None = None) -> Any:
        """A client of ``service`` on this emulator, as ``credentials``' role when given."""
        session = credentials.session() if credentials else self.session()
        return session.client(service, endpoint_url=self.endpoint, config=client_config())  # type: ignore[call-overload]

    def events(self) -> Any:
        """An EventBridge client (typed Any: boto3-stubs' ``events`` extra is not installed)."""
        return self.session().client("events", endpoint_url=self.endpoint, config=client_config())

    def environment(self) -> dict[str, str]:
        """What a process needs in its environment to use this emulator with plain boto3."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
        }


def _claim_port(port: int) -> IO[str]:
    """Hold ``port`` against the other emulators on this machine (its own processes) until the stop.

    granian binds with SO_REUSEPORT (its workers share the port), so the granian of a second
    emulator that picked the same free port (another pytest-xdist worker) would bind a port the
    first one serves, and the kernel would split the connections between the two. A lock per
    port, per user, makes the second pick another; it ends with the process that holds it.
    """
    import fcntl
    import tempfile

    directory = Path(tempfile.gettempdir()) / f"orderflow-emulator-ports-{os.getuid()}"
    directory.mkdir(mode=0o700, exist_ok=True)
    claim = (directory / f"{port}.lock").open("w")
    try:
        fcntl.flock(claim, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        claim.close()
        raise PortInUseError(
            f"the emulator's process failed to start: port {port} on {HOST} is already in use"
        ) from None
    return claim


def _reset_this_process() -> None:
    """Empty moto's state in this process (it keeps one per process, across emulators).

    Called directly, never through ``/moto-api/reset`` over HTTP: a request would reset
    whatever answers on the port, which need not be this emulator.
    """
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()


class _ThreadedServer:
    """moto's guarded app served by werkzeug on threads of this process (as moto's ThreadedMotoServer).

    The port is bound here, in the caller's thread: a taken port is a PortInUseError now, not
    werkzeug's exit in the server's thread.
    """

    def __init__(self, port: int) -> None:
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server

        from orderflow_local.emulator.app import application

        listener = _listen(port)
        try:
            self._server = make_server(
                HOST, port, application(""), threaded=True, request_handler=MotoRequestHandler, fd=listener.fileno()
            )
        finally:
            listener.close()  # the server holds its own duplicate
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="emulator-server")
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _ensure_port_free(port: int) -> None:
    if port == 0:
        return
    _bind(port).close()


def _listen(port: int) -> socket.socket:
    """A socket listening on ``port`` (0: any free one) for the in-process server."""
    listener = _bind(port)
    try:
        listener.listen(128)
    except BaseException:
        listener.close()
        raise
    return listener


def _bind(port: int) -> socket.socket:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # As the server binds (werkzeug sets SO_REUSEADDR): sockets of an earlier run left in
    # TIME_WAIT do not hold the port, only a listening server does.
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((HOST, port))
    except OSError as exc:
        probe.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"port {port} on {HOST} is already in use: is `orderflow up` already running? "
                "Stop it, or pick another port with --port."
            ) from None
        raise
    return probe
