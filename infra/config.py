"""Stage settings (dev/prod): chosen in app.py from CDK context, passed into constructs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_logs as logs


@dataclass(frozen=True, kw_only=True)
class StageConfig:
    """Everything that differs between stages; constructs never read the environment."""

    name: str
    removal_policy: RemovalPolicy
    log_retention: logs.RetentionDays
    #: Event source mapping ``MaximumConcurrency``: how many batches run at once, so the
    #: pipeline cannot outrun DynamoDB or the account's concurrency (2..1000).
    max_concurrency: int
    #: Reserved concurrency for the function (None: none reserved). Must be >= the
    #: mapping's maximum concurrency, or Lambda throttles the mapping's own invocations.
    reserved_concurrency: int | None
    #: Alarm when the oldest message has waited longer than this.
    max_message_age: Duration
    #: How long the order events bus's archive keeps events (a replay reaches this far back).
    event_archive_retention: Duration
    #: The payment provider's base URL (``-c paymentApiUrl=https://...``): its sandbox in dev, its live
    #: API in prod. The defaults are placeholders that resolve nowhere (RFC 2606's example.com): set
    #: yours before deploying (docs/deploy.md). Locally, `orderflow up` runs its own provider.
    payment_api_url: str = "https://sandbox.payments.example.com"
    #: The notification service's From address (``-c senderEmail=...``), an SES email identity in the stack:
    #: SES mails it a link that must be clicked before anything is sent (docs/deploy.md). The default is a
    #: placeholder (RFC 2606's .example): set yours before deploying.
    sender_email: str = "orders@orderflow.example"
    #: Optional e-mail address subscribed to the alarm topic.
    alarm_email: str | None = None

    def __post_init__(self) -> None:
        if not 2 <= self.max_concurrency <= 1000:
            raise ValueError(f"max_concurrency must be 2..1000 (AWS's range), got {self.max_concurrency}")
        if self.reserved_concurrency is not None and self.reserved_concurrency < self.max_concurrency:
            raise ValueError("reserved_concurrency must be at least max_concurrency, or the mapping is throttled")


STAGES: dict[str, StageConfig] = {
    "dev": StageConfig(
        name="dev",
        removal_policy=RemovalPolicy.DESTROY,
        log_retention=logs.RetentionDays.ONE_WEEK,
        max_concurrency=2,
        # New accounts may have a concurrency quota of 10, and Lambda refuses to reserve
        # any of it then (unreserved must stay >= 10): dev must deploy anywhere.
        reserved_concurrency=None,
        max_message_age=Duration.minutes(15),
        event_archive_retention=Duration.days(7),
    ),
    "prod": StageConfig(
        name="prod",
        removal_policy=RemovalPolicy.RETAIN,
        log_retention=logs.RetentionDays.THREE_MONTHS,
        max_concurrency=20,
        reserved_concurrency=20,
        max_message_age=Duration.minutes(5),
        event_archive_retention=Duration.days(365),
        payment_api_url="https://payments.example.com",
    ),
}


#: One address, no display name: what SES verifies as an email identity (local part, ``@``, a dotted domain).
_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>.]+")


def stage_from_context(
    stage: str | None,
    alarm_email: str | None = None,
    payment_api_url: str | None = None,
    sender_email: str | None = None,
) -> StageConfig:
    """The stage named by ``cdk -c stage=NAME`` (default dev), with a clear error otherwise;
    ``-c alarmEmail=...``, ``-c paymentApiUrl=https://...`` and ``-c senderEmail=...`` override its settings."""
    name = stage or "dev"
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}: use -c stage=dev or -c stage=prod")
    base = STAGES[name]
    changes: dict[str, str] = {}
    if alarm_email is not None:
        changes["alarm_email"] = alarm_email
    if payment_api_url is not None:
        if not payment_api_url.startswith("https://") or len(payment_api_url) <= len("https://"):
            raise ValueError(f"-c paymentApiUrl={payment_api_url} must be an https:// URL (the provider's base URL)")
        changes["payment_api_url"] = payment_api_url.rstrip("/")
    if sender_email is not None:
        if not _EMAIL.fullmatch(sender_email):
            raise ValueError(
                f"-c senderEmail={sender_email} must be one e-mail address such as orders@shop.example.com "
                "(the notification service's From address, verified in SES)"
            )
        changes["sender_email"] = sender_email
    return StageConfig(**{**base.__dict__, **changes}) if changes else base


#: ``-c ingress=...``: how producers reach the pipeline.
INGRESS_SQS, INGRESS_EVENTBRIDGE = "sqs", "eventbridge"
INGRESSES = (INGRESS_SQS, INGRESS_EVENTBRIDGE)


class TopologyError(ValueError):
    """A context option, or a combination of them, that the stack does not build."""


@dataclass(frozen=True, kw_only=True)
class Topology:
    """The tutorial's ways to grow the pipeline, as stack options (CDK context).

    Which combinations make sense (docs/decisions.md, "Ingress through EventBridge"):
    ``fifo`` and ``fanout`` combine; ``ingress=eventbridge`` stands alone, as EventBridge
    routes by content and fans out itself, and sends to a FIFO queue with one fixed message
    group per target, so it cannot keep one group per order.
    """

    #: ``-c fifo=true``: FIFO queues, one message group per order, events applied in order.
    fifo: bool = False
    #: ``-c fanout=true``: producers publish to an SNS topic that fans out to the queue and
    #: to a notifications queue.
    fanout: bool = False
    #: ``-c ingress=eventbridge``: producers put events on the ``OrderIngress`` bus, whose rules
    #: route ``OrderCreated`` and ``OrderCancelled`` to a queue and a function each.
    ingress: str = INGRESS_SQS

    def __post_init__(self) -> None:
        if self.ingress not in INGRESSES:
            raise TopologyError(
                f"-c ingress={self.ingress} is not an ingress: "
                "use -c ingress=sqs (the default) or -c ingress=eventbridge"
            )
        if self.eventbridge and self.fifo:
            raise TopologyError(
                "-c ingress=eventbridge does not combine with -c fifo=true: EventBridge gives a FIFO queue one fixed "
                "message group per rule target, so orders could not each keep their own group; drop one of the two"
            )
        if self.eventbridge and self.fanout:
            raise TopologyError(
                "-c ingress=eventbridge does not combine with -c fanout=true: the bus already fans out (add a rule "
                "for another consumer); drop one of the two"
            )

    @property
    def eventbridge(self) -> bool:
        return self.ingress == INGRESS_EVENTBRIDGE

    @property
    def name(self) -> str:
        """``standard``, ``fifo``, ``fanout``, ``fifo-fanout`` or ``eventbridge``."""
        if self.eventbridge:
            return INGRESS_EVENTBRIDGE
        return "-".join(part for part, on in (("fifo", self.fifo), ("fanout", self.fanout)) if on) or "standard"


_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}


def topology_from_context(fifo: object, fanout: object, ingress: object = None) -> Topology:
    """``-c fifo=true -c fanout=true`` (either, both or none) or ``-c ingress=eventbridge``, with a
    clear error (:class:`TopologyError`) otherwise."""
    chosen = INGRESS_SQS if ingress is None or str(ingress).strip() == "" else str(ingress).strip().lower()
    return Topology(fifo=_flag("fifo", fifo), fanout=_flag("fanout", fanout), ingress=chosen)


def _flag(name: str, value: object) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise TopologyError(f"-c {name}={value} is not a boolean: use -c {name}=true or -c {name}=false")
