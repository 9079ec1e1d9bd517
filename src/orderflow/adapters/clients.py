"""boto3 clients as the order processor wants them.

No ``endpoint_url`` is passed: boto3 reads ``AWS_ENDPOINT_URL`` (and the per-service
``AWS_ENDPOINT_URL_DYNAMODB`` / ``AWS_ENDPOINT_URL_SQS``) itself, so the same code talks
to AWS in Lambda and to the local emulator on a laptop.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

#: Short timeouts: a batch has 30 s; a hung connection must fail fast and be retried by SQS.
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=2,
    read_timeout=5,
    tcp_keepalive=True,
)


def dynamodb_client(session: boto3.Session | None = None) -> DynamoDBClient:
    return (session or boto3.Session()).client("dynamodb", config=CLIENT_CONFIG)


def events_client(session: boto3.Session | None = None) -> Any:
    """EventBridge (PutEvents): reads ``AWS_ENDPOINT_URL_EVENTS`` or ``AWS_ENDPOINT_URL`` as the others do."""
    return (session or boto3.Session()).client("events", config=CLIENT_CONFIG)


def sqs_client(session: boto3.Session | None = None) -> SQSClient:
    return (session or boto3.Session()).client("sqs", config=CLIENT_CONFIG)


class _LazyClient:
    """A boto3 client built on first use: creating one costs tens of milliseconds of cold start."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._client: Any = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._factory()
        return getattr(self._client, name)


def lazy_sqs_client(session: boto3.Session | None = None) -> SQSClient:
    """An SQS client created when first called: valid orders never need one (only rejects and retries do)."""
    return cast("SQSClient", _LazyClient(lambda: sqs_client(session)))


def describe_error(exc: Exception) -> str:
    """An AWS call's failure for a log line or a reason: ``Code: Message`` for an error AWS answered, the
    exception's type for one it never answered (a timeout, a refused connection)."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        return f"{code}: {error['Message']}" if error.get("Message") else code
    return type(exc).__name__
