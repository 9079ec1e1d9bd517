"""The composition root: the one place that reads configuration and builds the adapters."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orderflow.adapters.clients import dynamodb_client, lazy_sqs_client
from orderflow.adapters.dead_letters import SqsDeadLetterPublisher
from orderflow.adapters.dynamodb_store import DynamoDbOrderStore
from orderflow.adapters.retries import SqsRetryScheduler
from orderflow.domain.processing import DEFAULT_MAX_RECEIVES, OrderProcessor
from orderflow.domain.retry import RETRY_DELAYS, parse_retry_delays

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

    from orderflow.domain.notifications.service import Mailer, NotificationService
    from orderflow.domain.payments.service import PaymentGateway, PaymentService


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
        _require(env, ("TABLE_NAME", "DLQ_URL"))
        raw = env.get("MAX_RECEIVE_COUNT") or str(DEFAULT_MAX_RECEIVES)
        if not raw.isdigit() or int(raw) < 1:
            raise ConfigurationError(
                f"MAX_RECEIVE_COUNT must be a positive integer (the queue's maxReceiveCount), not {raw!r}"
            )
        return cls(
            table_name=env["TABLE_NAME"], dlq_url=env["DLQ_URL"], max_receive_count=int(raw),
            retry_delays=_retry_delays(env),
        )  # fmt: skip


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


def build_at_init(build: Callable[[], object]) -> None:
    """Call ``build`` (a handler's cached runtime) in Lambda's INIT phase, as AWS advises, when the
    module is loaded as a function (``AWS_LAMBDA_FUNCTION_NAME`` set): INIT is not counted in the
    invocation's timeout, so the first batch after a cold start (and after every timed-out or killed
    invocation) spends its time on its records. Building makes no network call. A function missing
    its configuration still loads: its first invocation raises the clear ``ConfigurationError``,
    logged with the batch. Imported by a test or a tool, nothing is built."""
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        with contextlib.suppress(ConfigurationError):
            build()


def _require(env: Mapping[str, str], names: tuple[str, ...]) -> None:
    missing = [name for name in names if not env.get(name)]
    if missing:
        raise ConfigurationError(
            f"missing environment variable(s) {', '.join(missing)}: the stack sets them on the function; "
            "locally, `orderflow up` does"
        )


def _seconds(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name) or str(default)
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigurationError(f"{name} must be a positive number of seconds, not {raw!r}")
    return int(raw)


def _retry_delays(env: Mapping[str, str]) -> tuple[int, ...]:
    try:
        return parse_retry_delays(env["RETRY_DELAYS"]) if env.get("RETRY_DELAYS") else RETRY_DELAYS
    except ValueError as error:
        raise ConfigurationError(str(error)) from None


@dataclass(frozen=True, slots=True)
class PaymentSettings:
    """The PaymentProcessor's configuration, all set by the stack (infra/payments.py)."""

    payments_table: str
    idempotency_table: str
    dlq_url: str
    event_bus_name: str
    #: The provider's base URL (the stage's; locally, the embedded provider's).
    api_url: str
    #: The Secrets Manager secret (name or ARN) whose value is the provider's API key.
    api_key_secret: str
    #: How long Powertools keeps an event's idempotency record (``IDEMPOTENCY_EXPIRY_SECONDS``).
    idempotency_expiry: int = 3600
    #: How long the API key is cached between Secrets Manager reads (Powertools Parameters' ``max_age``).
    secret_max_age: int = 300
    retry_delays: tuple[int, ...] = RETRY_DELAYS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PaymentSettings:
        env = os.environ if env is None else env
        required = ("PAYMENTS_TABLE", "IDEMPOTENCY_TABLE", "DLQ_URL", "EVENT_BUS_NAME", "PAYMENT_API_URL",
                    "PAYMENT_API_KEY_SECRET")  # fmt: skip
        _require(env, required)
        return cls(
            payments_table=env["PAYMENTS_TABLE"],
            idempotency_table=env["IDEMPOTENCY_TABLE"],
            dlq_url=env["DLQ_URL"],
            event_bus_name=env["EVENT_BUS_NAME"],
            api_url=env["PAYMENT_API_URL"],
            api_key_secret=env["PAYMENT_API_KEY_SECRET"],
            idempotency_expiry=_seconds(env, "IDEMPOTENCY_EXPIRY_SECONDS", 3600),
            secret_max_age=_seconds(env, "SECRET_MAX_AGE_SECONDS", 300),
            retry_delays=_retry_delays(env),
        )


@dataclass(frozen=True, slots=True)
class PaymentRuntime:
    """What one PaymentProcessor execution environment keeps between invocations."""

    service: PaymentService
    #: ``handle(event=...)``: the service behind Powertools Idempotency, keyed on ``detail.eventId``.
    handle: Callable[..., dict[str, Any]]
    idempotency: IdempotencyConfig
    dead_letters: SqsDeadLetterPublisher
    retries: SqsRetryScheduler
    retry_delays: tuple[int, ...] = RETRY_DELAYS


#: Marks the answer Powertools returns for an event it already handled (its response hook).
REPLAYED = "idempotentReplay"


def _mark_replay(response: Any, idempotent_data: Any) -> Any:
    return {**response, REPLAYED: True} if isinstance(response, dict) else response


def build_payment_runtime(
    settings: PaymentSettings,
    *,
    dynamodb: DynamoDBClient | None = None,
    sqs: SQSClient | None = None,
    events: Any | None = None,
    api_key: Callable[[bool], str] | None = None,
    gateway: PaymentGateway | None = None,
) -> PaymentRuntime:
    """Wire the payment service (clients, the key's source and the gateway injectable for tests).

    Powertools Idempotency as its documentation shows it with the batch utility
    (https://docs.powertools.aws.dev/lambda/python/latest/utilities/idempotency/): the record's work
    is an ``idempotent_function`` keyed on the event's id, its payload validated on the parsed
    ``detail`` (``powertools_json()`` cannot be used there: powertools-lambda-python #8473).
    """
    # Imported here: the order processor's cold start never loads the payment service.
    from orderflow.adapters.clients import events_client
    from orderflow.adapters.event_bus import EventBridgePublisher
    from orderflow.adapters.payment_gateway import HttpPaymentGateway
    from orderflow.adapters.payments_store import DynamoDbPaymentStore
    from orderflow.domain.payments.models import PAYMENTS_SOURCE, OrderEvent
    from orderflow.domain.payments.service import PaymentService

    dynamodb = dynamodb or dynamodb_client()
    sqs = sqs or lazy_sqs_client()
    service = PaymentService(
        store=DynamoDbPaymentStore(settings.payments_table, client=dynamodb),
        gateway=gateway or HttpPaymentGateway(settings.api_url, api_key=api_key or _secret(settings)),
        publisher=EventBridgePublisher(
            settings.event_bus_name, source=PAYMENTS_SOURCE, client=events or events_client()
        ),
    )

    def handle_order_event(event: dict[str, Any]) -> dict[str, Any]:
        return service.handle(OrderEvent.model_validate(event)).to_json()

    handle, config = _idempotent(handle_order_event, settings.idempotency_table, settings.idempotency_expiry, dynamodb)
    return PaymentRuntime(
        service=service,
        handle=handle,
        idempotency=config,
        dead_letters=SqsDeadLetterPublisher(settings.dlq_url, client=sqs),
        retries=SqsRetryScheduler(client=sqs),
        retry_delays=settings.retry_delays,
    )


def _secret(settings: PaymentSettings) -> Callable[[bool], str]:
    """The API key through Powertools Parameters: cached ``secret_max_age`` seconds, fetched again on demand."""
    from aws_lambda_powertools.utilities import parameters

    def api_key(refresh: bool) -> str:
        value = parameters.get_secret(settings.api_key_secret, max_age=settings.secret_max_age, force_fetch=refresh)
        return value if isinstance(value, str) else str(value)

    return api_key


@dataclass(frozen=True, slots=True)
class NotifierSettings:
    """The Notifier's configuration, all set by the stack (infra/notifications.py)."""

    orders_table: str
    notifications_table: str
    idempotency_table: str
    dlq_url: str
    #: The From address: the stack's SES identity.
    sender: str
    idempotency_expiry: int = 3600
    retry_delays: tuple[int, ...] = RETRY_DELAYS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NotifierSettings:
        env = os.environ if env is None else env
        _require(env, ("ORDERS_TABLE", "NOTIFICATIONS_TABLE", "IDEMPOTENCY_TABLE", "DLQ_URL", "SENDER_EMAIL"))
        return cls(
            orders_table=env["ORDERS_TABLE"],
            notifications_table=env["NOTIFICATIONS_TABLE"],
            idempotency_table=env["IDEMPOTENCY_TABLE"],
            dlq_url=env["DLQ_URL"],
            sender=env["SENDER_EMAIL"],
            idempotency_expiry=_seconds(env, "IDEMPOTENCY_EXPIRY_SECONDS", 3600),
            retry_delays=_retry_delays(env),
        )


@dataclass(frozen=True, slots=True)
class NotifierRuntime:
    """What one Notifier execution environment keeps between invocations."""

    service: NotificationService
    #: ``handle(event=...)``: the service behind Powertools Idempotency, keyed on ``detail.eventId``.
    handle: Callable[..., dict[str, Any]]
    idempotency: IdempotencyConfig
    dead_letters: SqsDeadLetterPublisher
    retries: SqsRetryScheduler
    retry_delays: tuple[int, ...] = RETRY_DELAYS


def build_notifier_runtime(
    settings: NotifierSettings,
    *,
    dynamodb: DynamoDBClient | None = None,
    sqs: SQSClient | None = None,
    sesv2: Any | None = None,
    mailer: Mailer | None = None,
) -> NotifierRuntime:
    """Wire the notification service (clients and the mailer injectable for tests), behind Powertools
    Idempotency as the payment service is (:func:`build_payment_runtime`)."""
    from orderflow.adapters.mailer import SesMailer, sesv2_client
    from orderflow.adapters.notifications_store import DynamoDbNotificationStore, DynamoDbOrderReader
    from orderflow.domain.notifications.models import DomainEvent
    from orderflow.domain.notifications.service import NotificationService

    dynamodb = dynamodb or dynamodb_client()
    sqs = sqs or lazy_sqs_client()
    service = NotificationService(
        orders=DynamoDbOrderReader(settings.orders_table, client=dynamodb),
        store=DynamoDbNotificationStore(settings.notifications_table, client=dynamodb),
        mailer=mailer or SesMailer(client=sesv2 or sesv2_client()),
        sender=settings.sender,
    )

    def handle_domain_event(event: dict[str, Any]) -> dict[str, Any]:
        return service.handle(DomainEvent.model_validate(event)).to_json()

    handle, config = _idempotent(handle_domain_event, settings.idempotency_table, settings.idempotency_expiry, dynamodb)
    return NotifierRuntime(
        service=service,
        handle=handle,
        idempotency=config,
        dead_letters=SqsDeadLetterPublisher(settings.dlq_url, client=sqs),
        retries=SqsRetryScheduler(client=sqs),
        retry_delays=settings.retry_delays,
    )


def _idempotent(
    work: Callable[[dict[str, Any]], dict[str, Any]], table: str, expiry: int, dynamodb: DynamoDBClient
) -> tuple[Callable[..., dict[str, Any]], IdempotencyConfig]:
    """``work`` as Powertools' ``idempotent_function``, keyed on the event's ``detail.eventId``, its payload
    validated on the parsed ``detail`` (``powertools_json()`` cannot be used there:
    powertools-lambda-python #8473); a replayed answer is marked with :data:`REPLAYED`."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    config = IdempotencyConfig(
        event_key_jmespath="detail.eventId",
        payload_validation_jmespath="detail",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=expiry,
        response_hook=_mark_replay,
    )
    persistence = DynamoDBPersistenceLayer(table_name=table, boto3_client=dynamodb)
    handle = idempotent_function(data_keyword_argument="event", persistence_store=persistence, config=config)(work)
    return handle, config
