"""Stage settings refuse what AWS would refuse, with a message that says what to do."""

from __future__ import annotations

import pytest
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_logs as logs
from infra.config import STAGES, StageConfig, stage_from_context


def _stage(**changes: object) -> StageConfig:
    settings: dict[str, object] = {
        "name": "test",
        "removal_policy": RemovalPolicy.DESTROY,
        "log_retention": logs.RetentionDays.ONE_DAY,
        "max_concurrency": 2,
        "reserved_concurrency": None,
        "max_message_age": Duration.minutes(1),
        "event_archive_retention": Duration.days(1),
    }
    settings.update(changes)
    return StageConfig(**settings)  # type: ignore[arg-type]


def test_default_stage_is_dev() -> None:
    assert stage_from_context(None) is STAGES["dev"]


def test_unknown_stage_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown stage 'staging': use -c stage=dev or -c stage=prod"):
        stage_from_context("staging")


def test_alarm_email_is_carried_into_the_stage() -> None:
    prod = stage_from_context("prod", "oncall@example.com")
    assert prod.alarm_email == "oncall@example.com"
    assert prod.event_archive_retention.to_days() == 365  # the rest of the stage is kept


@pytest.mark.parametrize("maximum", [1, 1001])
def test_maximum_concurrency_within_awss_range(maximum: int) -> None:
    with pytest.raises(ValueError, match=r"max_concurrency must be 2\.\.1000"):
        _stage(max_concurrency=maximum)


def test_reserved_concurrency_below_the_maximum_is_refused() -> None:
    with pytest.raises(ValueError, match="reserved_concurrency must be at least max_concurrency"):
        _stage(max_concurrency=10, reserved_concurrency=5)


def test_the_sender_email_is_a_placeholder_until_the_context_gives_yours() -> None:
    assert stage_from_context("dev").sender_email == "orders@orderflow.example"  # RFC 2606: resolves nowhere
    prod = stage_from_context("prod", sender_email="orders@shop.example.com")
    assert prod.sender_email == "orders@shop.example.com"
    assert prod.max_concurrency == STAGES["prod"].max_concurrency  # the rest of the stage is kept


@pytest.mark.parametrize(
    "address", ["", "orders", "orders@", "@shop.example.com", "orders@localhost", "a@b@c.com", "Shop <o@shop.com>"]
)
def test_a_sender_email_that_is_not_one_address_is_refused_with_why(address: str) -> None:
    with pytest.raises(ValueError, match=r"-c senderEmail=.* must be one e-mail address such as"):
        stage_from_context("dev", sender_email=address)
