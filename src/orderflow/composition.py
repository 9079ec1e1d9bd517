"""The composition root: the one place that reads configuration and builds the adapters."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orderflow.adapters.clients import dynamodb_client, lazy_sqs_client
from orderflow.adapters.dead_letters import SqsDeadLetterPublisher
from orderflow.adapters.dynamodb_store import DynamoDbOrderStore
from orderflow.adapters.retries import SqsRetryScheduler
from orderflow.domain.processing import DEFAULT_MAX_RECEIVES, OrderProcessor
from orderflow.domain.retry import RETRY_DELAYS, parse_retry_delays

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient


class ConfigurationError(RuntimeError):
    """The function's environment lacks a setting it cannot run without."""


@dataclass(frozen=True, slots=True)
class Settings:
    table_name: str
    dlq_url: str
    #: The queue's maxReceiveCount: a message waiting for its order gives up on its last receive.
    max_receive_count: int = DEFAULT_MAX_RECEIVES
    #: The backoff before each retry, by receive (``RETRY_DELAYS=2,8,30``; the local stack's tests shorten it).
    retry_delays: tuple[int, ...] = RETRY_DELAYS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        missing = [name for name in ("TABLE_NAME", "DLQ_URL") if not env.get(name)]
        if missing:
            raise ConfigurationError(
                f"missing environment variable(s) {', '.join(missing)}: the stack sets them on the function; "
                "locally, `orderflow up` does"
            )
        raw = env.get("MAX_RECEIVE_COUNT") or str(DEFAULT_MAX_RECEIVES)
        if not raw.isdigit() or int(raw) < 1:
            raise ConfigurationError(
                f"MAX_RECEIVE_COUNT must be a positive integer (the queue's maxReceiveCount), not {raw!r}"
            )
        try:
            delays = parse_retry_delays(env["RETRY_DELAYS"]) if env.get("RETRY_DELAYS") else RETRY_DELAYS
        except ValueError as error:
            raise ConfigurationError(str(error)) from None
        return cls(
            table_name=env["TABLE_NAME"], dlq_url=env["DLQ_URL"], max_receive_count=int(raw), retry_delays=delays
        )


@dataclass(frozen=True, slots=True)
class Runtime:
    """What one execution environment keeps between invocations."""

    processor: OrderProcessor
    retries: SqsRetryScheduler
    retry_delays: tuple[int, ...] = RETRY_DELAYS


def build_runtime(
    settings: Settings,
    *,
    dynamodb: DynamoDBClient | None = None,
    sqs: SQSClient | None = None,
) -> Runtime:
    """Wire the processor and the retry scheduler (clients injectable for tests; they share one SQS client)."""
    sqs = sqs or lazy_sqs_client()
    return Runtime(
        processor=OrderProcessor(
            store=DynamoDbOrderStore(settings.table_name, client=dynamodb or dynamodb_client()),
            dead_letters=SqsDeadLetterPublisher(settings.dlq_url, client=sqs),
            max_receives=settings.max_receive_count,
        ),
        retries=SqsRetryScheduler(client=sqs),
        retry_delays=settings.retry_delays,
    )
