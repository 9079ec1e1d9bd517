"""Clients for the CLI: the local stack by default, any endpoint or real AWS on request."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

    from orderflow_local.ops.producer import Destination

T = TypeVar("T")
LOCAL_ENDPOINT = "http://localhost:4566"
REAL_AWS = "aws"
TABLE_NAME = "Orders"
#: The function's log group (the template's LoggingConfig).
LOG_GROUP = "/aws/lambda/OrderProcessor"


class CliError(Exception):
    """A failure the user can act on; its message says what to do.

    One that its command does not catch still ends as one ``error:`` line (orderflow_cli.main).
    """


@dataclass(frozen=True)
class Target:
    """Where the CLI talks to: an endpoint (the local stack by default) or real AWS."""

    endpoint_url: str = LOCAL_ENDPOINT
    region: str | None = None

    @property
    def is_real_aws(self) -> bool:
        return self.endpoint_url == REAL_AWS

    @property
    def is_loopback(self) -> bool:
        """The endpoint is on this machine (the local emulator): 127.0.0.0/8, ::1 or localhost."""
        return not self.is_real_aws and _is_loopback(urlsplit(self.endpoint_url).hostname)

    @cached_property
    def _session(self) -> boto3.Session:
        region = self.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        if self.is_real_aws:
            return boto3.Session(region_name=region)
        if self.is_loopback:
            return _local_session(region)
        has_credentials = "AWS_ACCESS_KEY_ID" in os.environ or "AWS_PROFILE" in os.environ
        if has_credentials:
            return boto3.Session(region_name=region)
        return boto3.Session(region_name=region, aws_access_key_id="local", aws_secret_access_key="local")  # noqa: S106

    def _endpoint(self) -> str | None:
        return None if self.is_real_aws else self.endpoint_url

    def _client(self, service: str, config: Config | None = None) -> Any:
        config = config or Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=3)
        try:  # a client resolves the credentials when it is made
            return self._session.client(service, endpoint_url=self._endpoint(), config=config)  # type: ignore[call-overload]
        except PartialCredentialsError as exc:
            raise _partial_credentials(exc, self) from None

    def sqs(self) -> SQSClient:
        return self._client("sqs")  # type: ignore[no-any-return]

    def dynamodb(self) -> DynamoDBClient:
        return self._client("dynamodb")  # type: ignore[no-any-return]

    def sns(self) -> SNSClient:
        return self._client("sns")  # type: ignore[no-any-return]

    def logs(self) -> CloudWatchLogsClient:
        return self._client("logs")  # type: ignore[no-any-return]

    def cloudwatch(self) -> CloudWatchClient:
        return self._client("cloudwatch")  # type: ignore[no-any-return]

    def events(self) -> Any:  # EventBridge (no boto3-stubs for it in the dev dependencies yet)
        return self._client("events")

    def pipes(self) -> Any:  # EventBridge Pipes (no boto3-stubs for it in the dev dependencies yet)
        return self._client("pipes")

    def sts(self) -> Any:
        return self._client("sts")

    def cloudformation(self) -> Any:
        return self._client("cloudformation")

    def lambda_(self, config: Config | None = None) -> Any:
        """Lambda; ``config`` replaces the default (Invoke wants no retries, as a retry could run it twice)."""
        return self._client("lambda", config)

    def item_reader(self, table_name: str) -> Callable[[str, str], dict[str, Any] | None]:
        """Reads an order by key (a consistent read), as plain Python values."""
        from orderflow_local.ops.dlq import table_reader

        return table_reader(self.dynamodb(), table_name)

    def queue_url(self, name: str) -> str:
        """The URL of the queue ``name``, or of ``name.fifo`` on a FIFO stack (-c fifo=true)."""
        from orderflow_local.ops.producer import find_queue

        def find() -> str:
            try:
                return find_queue(self.sqs(), name)
            except LookupError:
                raise CliError(
                    f"neither {name} nor {name}.fifo exists at {self.describe()}: is the stack deployed there?"
                ) from None

        return translate(find, self, f"queue {name}")

    def destination(
        self, *, queue_url: str | None = None, topic_arn: str | None = None, bus_name: str | None = None
    ) -> Destination:
        """Where producers send: the given queue, topic or bus, else the stack's ingress bus if it has
        one, else its topic if it has one, else its queue."""
        from orderflow_local.ops.producer import Destination, find_destination

        given = [option for option in (queue_url, topic_arn, bus_name) if option]
        if len(given) > 1:
            raise CliError("give one of --queue-url, --topic-arn and --event-bus-name, not several")
        if given:
            return Destination(queue_url=queue_url, topic_arn=topic_arn, bus_name=bus_name)

        def find() -> Destination:
            try:
                return find_destination(self.sqs(), self.sns(), self.events())
            except LookupError:
                raise CliError(
                    f"found no OrderIngress bus, no OrderEvents topic and no OrderCreatedQueue at {self.describe()}: "
                    "is the stack deployed there?"
                ) from None

        return translate(find, self, "the order queue")

    def describe(self) -> str:
        return "AWS" if self.is_real_aws else self.endpoint_url


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost" or host.endswith(".localhost"):  # RFC 6761: always this machine
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _local_session(region: str) -> boto3.Session:
    """A session with the emulator's keys only: never the user's profile, keys or session token.

    The local emulator accepts any keys, so the user's real ones (AWS_ACCESS_KEY_ID,
    AWS_SESSION_TOKEN, AWS_PROFILE) have nothing to gain there, and would sign requests to a
    plain-HTTP endpoint, the session token in clear. The profile is not even read: one named
    in AWS_PROFILE that this machine lacks would fail the command for nothing.
    """
    from botocore.session import Session as BotocoreSession

    from orderflow_local.emulator import CREDENTIALS

    no_profile = BotocoreSession(session_vars={"profile": (None, None, None, None)})
    return boto3.Session(botocore_session=no_profile, region_name=region, **CREDENTIALS)


def translate(call: Callable[[], T], target: Target, what: str) -> T:
    """Run ``call``; turn AWS and connection errors into a :class:`CliError` that says what to do."""
    try:
        return call()
    except EndpointConnectionError:
        hint = "" if target.is_real_aws else " Is `orderflow up` running? Or pass --endpoint-url."
        raise CliError(f"cannot reach {target.describe()}.{hint}") from None
    except NoCredentialsError:
        raise CliError("no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID") from None
    except PartialCredentialsError as exc:
        raise _partial_credentials(exc, target) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "Error"), error.get("Message", "")
        if "NonExistentQueue" in code or code == "ResourceNotFoundException":
            raise CliError(f"{what} does not exist at {target.describe()}: is the stack deployed there?") from None
        raise CliError(f"{what}: {code}: {message}") from None
    except BotoCoreError as exc:
        raise CliError(f"{what}: {exc}") from None


def _partial_credentials(exc: PartialCredentialsError, target: Target) -> CliError:
    """What to export when half a key pair is set (AWS_ACCESS_KEY_ID without AWS_SECRET_ACCESS_KEY)."""
    missing, source = exc.kwargs.get("cred_var", "a credential"), exc.kwargs.get("provider")
    if source == "env":
        problem = f"AWS_ACCESS_KEY_ID is set but {missing} is not: export {missing} too, or unset AWS_ACCESS_KEY_ID"
    else:
        problem = (
            f"the {source} credentials have no {missing}: add it, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    if target.is_real_aws:
        return CliError(problem)
    return CliError(
        f"{problem} (the local stack takes any: export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local)"
    )
