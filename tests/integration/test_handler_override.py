"""`orderflow up --handler/--visibility-timeout/--function-timeout`: any SQS handler, the template's settings."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import pytest

from orderflow_local.emulator import Emulator, EmulatorError
from orderflow_local.stack import LocalStack, StackOptions

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.timeout(300)


def test_any_sqs_handler_and_timeouts_can_replace_the_stacks(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    options = StackOptions(
        port=0,
        handler="tests.integration.handlers:scripted",
        visibility_timeout=40,
        function_timeout=6,
        function_environment={"ESM_TEST_JOURNAL": str(journal)},
    )
    with LocalStack(options) as local:
        sqs = local.emulator.sqs()
        attributes = sqs.get_queue_attributes(QueueUrl=local.outputs["QueueUrl"], AttributeNames=["VisibilityTimeout"])
        assert attributes["Attributes"]["VisibilityTimeout"] == "40"
        # the timeout is every function's; the handler only the order processor's (PaymentProcessor and
        # Notifier keep their own)
        handlers = {pool.config.name: (pool.config.handler, pool.config.timeout) for pool in local.pools}
        assert handlers == {
            "OrderProcessor": ("tests.integration.handlers:scripted", 6),
            "PaymentProcessor": ("orderflow.payment_handler.lambda_handler", 6),
            "Notifier": ("orderflow.notifier_handler.lambda_handler", 6),
        }
        assert any("below AWS's recommendation" in warning for warning in local.warnings)
        sqs.send_message(QueueUrl=local.outputs["QueueUrl"], MessageBody='{"do": "ok"}')
        deadline = time.monotonic() + 120
        while not journal.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        [invocation] = [json.loads(line) for line in journal.read_text().splitlines()]
        assert invocation["context"]["function_name"] == "OrderProcessor"
        assert invocation["context"]["remaining_ms"] <= 6000


def test_a_second_emulator_in_the_same_process_is_refused() -> None:
    with Emulator(port=0), pytest.raises(EmulatorError, match="already runs in this process"):
        Emulator(port=0).start()
