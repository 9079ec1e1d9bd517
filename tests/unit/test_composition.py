"""Configuration and client construction: the composition root."""

from __future__ import annotations

import pytest

from orderflow.adapters.clients import dynamodb_client, sqs_client
from orderflow.composition import ConfigurationError, Settings


def test_settings_come_from_the_functions_environment() -> None:
    settings = Settings.from_env(
        {"TABLE_NAME": "Orders", "DLQ_URL": "http://localhost:4566/000000000000/OrderCreatedDLQ"}
    )
    assert settings.table_name == "Orders"
    assert settings.dlq_url.endswith("OrderCreatedDLQ")


def test_missing_settings_say_which_and_where_they_come_from() -> None:
    with pytest.raises(ConfigurationError, match=r"TABLE_NAME, DLQ_URL: the stack sets them"):
        Settings.from_env({})


def test_clients_honour_aws_endpoint_url(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the local emulator's endpoint in the environment
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # Then the same code talks to it, unchanged
    assert dynamodb_client().meta.endpoint_url == "http://127.0.0.1:4566"
    assert sqs_client().meta.endpoint_url == "http://127.0.0.1:4566"


def test_clients_use_aws_endpoints_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert dynamodb_client().meta.endpoint_url == "https://dynamodb.eu-west-1.amazonaws.com"


def test_clients_fail_fast_with_bounded_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    config = dynamodb_client().meta.config
    assert config.connect_timeout == 2
    assert config.retries["total_max_attempts"] == 3


def test_the_sqs_client_is_created_only_when_first_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    from orderflow.composition import build_runtime

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    runtime = build_runtime(Settings(table_name="Orders", dlq_url="http://127.0.0.1:4566/123456789012/DLQ"))
    lazy = runtime.retries._client
    assert lazy._client is None  # type: ignore[attr-defined]  # valid orders never need SQS
    assert lazy.meta.service_model.service_name == "sqs"
    assert lazy._client is not None  # type: ignore[attr-defined]
