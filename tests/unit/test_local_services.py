"""The local stack's wiring for a second service: secrets from the template, the payment provider's URL
in place of the stage's, and `--handler` replacing only the order processor's handler."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest

from orderflow_local.stack.deploy import DeployedStack, _create_secret
from orderflow_local.stack.local_stack import ORDER_HANDLER, StackOptions, function_config
from orderflow_local.stack.template import FunctionSpec, SecretSpec, StackSpec

PAYMENT_HANDLER = "orderflow.payment_handler.lambda_handler"


class _Secrets:
    """Records CreateSecret as Secrets Manager answers it (the ARN gets a random suffix)."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    def create_secret(self, **request: Any) -> dict[str, str]:
        self.created.append(request)
        return {"ARN": f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{request['Name']}-AbCdEf"}


def _function(logical_id: str, handler: str, **environment: Any) -> FunctionSpec:
    return FunctionSpec(logical_id, logical_id, handler, 30, 256, "python3.14", environment)


def _stack(*functions: FunctionSpec, secrets: dict[str, SecretSpec] | None = None) -> DeployedStack:
    spec = StackSpec(queues={}, tables={}, functions={f.logical_id: f for f in functions}, mappings=[], outputs={},
                     secrets=secrets or {})  # fmt: skip
    return DeployedStack(spec)


def test_a_secret_string_is_created_as_the_template_gives_it() -> None:
    client = _Secrets()
    arn, value = _create_secret(SecretSpec("Key", {"Name": "n", "SecretString": "s3cr3t", "Description": "d"}), client)
    assert value == "s3cr3t"
    assert arn.startswith("arn:aws:secretsmanager:")
    assert client.created == [{"Name": "n", "SecretString": "s3cr3t", "Description": "d"}]


def test_a_generated_secret_follows_length_punctuation_and_excluded_characters() -> None:
    generate = {"PasswordLength": 40, "ExcludePunctuation": True, "ExcludeCharacters": "aeiou"}
    _, value = _create_secret(SecretSpec("Key", {"GenerateSecretString": generate}, "MyStack"), _Secrets())
    assert len(value) == 40
    assert set(value) <= set(string.ascii_letters + string.digits) - set("aeiou")
    templated = {"SecretStringTemplate": '{"user": "app"}', "GenerateStringKey": "password", "PasswordLength": 8}
    _, value = _create_secret(SecretSpec("Key", {"GenerateSecretString": templated}), _Secrets())
    parsed = json.loads(value)
    assert parsed["user"] == "app"
    assert len(parsed["password"]) == 8


def test_a_secret_is_named_after_the_stack_when_the_template_names_none() -> None:
    assert SecretSpec("ApiKey1234", {}, "ShopStack").name == "ShopStack-ApiKey1234"


def test_the_embedded_provider_s_url_replaces_the_stage_s_only_where_a_function_has_it() -> None:
    payments = _function("Pay", PAYMENT_HANDLER, PAYMENT_API_URL="https://api.example")
    orders = _function("Orders", ORDER_HANDLER, TABLE_NAME="Orders")
    stack = _stack(payments, orders)
    stack.environment_overrides["PAYMENT_API_URL"] = "http://127.0.0.1:4567"

    assert stack.function_environment(payments)["PAYMENT_API_URL"] == "http://127.0.0.1:4567"
    assert "PAYMENT_API_URL" not in stack.function_environment(orders)


@pytest.mark.parametrize(
    ("handlers", "expected"),
    [
        # our stack: the order processor's functions run the override, the payment service keeps its own
        ((ORDER_HANDLER, PAYMENT_HANDLER), ("probe:handler", PAYMENT_HANDLER)),
        # another app's template (no order processor): every function runs it, as before
        (("shop.a.handler", "shop.b.handler"), ("probe:handler", "probe:handler")),
    ],
)  # fmt: skip
def test_handler_replaces_the_order_processors_handler_and_only_it(
    handlers: tuple[str, str], expected: tuple[str, str]
) -> None:
    functions = [_function(f"F{index}", handler) for index, handler in enumerate(handlers)]
    stack = _stack(*functions)
    options = StackOptions(handler="probe:handler", log_path=Path("/dev/null"))
    chosen = tuple(function_config(f, stack, options, emulator_environment={}).handler for f in functions)
    assert chosen == expected
