"""Integration tests start their own emulator on a free port, and stop it."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from orderflow_local.emulator import Emulator
from orderflow_local.lambda_runtime.environment import EnvironmentPool, FunctionConfig
from orderflow_local.lambda_runtime.esm import EventSourceMapping, MappingConfig

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(port=0) as running:
        yield running


@dataclass
class Harness:
    """A queue, a scripted function and a mapping between them."""

    emulator: Emulator
    journal: Path
    queue_url: str = ""
    queue_arn: str = ""
    mapping: EventSourceMapping | None = None
    pool: EnvironmentPool | None = None
    warnings: list[str] = field(default_factory=list)

    def create_queue(self, *, visibility_timeout: int = 30, fifo: bool = False) -> None:
        sqs = self.emulator.sqs()
        name = f"esm-{uuid.uuid4().hex[:12]}" + (".fifo" if fifo else "")
        attributes = {"VisibilityTimeout": str(visibility_timeout)}
        if fifo:
            attributes.update(FifoQueue="true", ContentBasedDeduplication="false")
        self.queue_url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    def start(
        self, *, function_timeout: float = 5, handler: str = "tests.integration.handlers:scripted", **mapping: Any
    ) -> None:
        sqs = self.emulator.sqs()
        visibility = int(
            sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout"])["Attributes"][
                "VisibilityTimeout"
            ]
        )
        fifo = self.queue_url.endswith(".fifo")
        config = FunctionConfig(
            name="ScriptedFn",
            handler=handler,
            timeout=function_timeout,
            memory_size=128,
            environment={**self.emulator.environment(), "ESM_TEST_JOURNAL": str(self.journal)},
        )
        self.pool = EnvironmentPool(config)
        self.mapping = EventSourceMapping(
            MappingConfig(
                queue_url=self.queue_url,
                queue_arn=self.queue_arn,
                visibility_timeout=visibility,
                function_timeout=function_timeout,
                fifo=fifo,
                **mapping,
            ),
            sqs_factory=self.emulator.sqs,
            invoker=self.pool,
            on_warning=self.warnings.append,
        ).start()

    def stop(self) -> None:
        if self.mapping:
            self.mapping.stop()
        if self.pool:
            self.pool.shutdown()

    def send(self, *instructions: dict[str, Any], group: str | None = None, **extra: Any) -> list[str]:
        sqs = self.emulator.sqs()
        ids = []
        for instruction in instructions:
            kwargs: dict[str, Any] = {"QueueUrl": self.queue_url, "MessageBody": json.dumps(instruction), **extra}
            if group is not None:
                kwargs.update(MessageGroupId=group, MessageDeduplicationId=uuid.uuid4().hex)
            ids.append(sqs.send_message(**kwargs)["MessageId"])
        return ids

    def invocations(self) -> list[dict[str, Any]]:
        if not self.journal.exists():
            return []
        # A worker may be mid-way through appending a large entry: only whole lines count.
        complete = self.journal.read_text().rpartition("\n")[0]
        return [json.loads(line) for line in complete.splitlines()]

    def depth(self) -> int:
        attributes = self.emulator.sqs().get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def wait_until(self, condition: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def wait_for_records(self, count: int, timeout: float = 30) -> None:
        self.wait_until(
            lambda: sum(len(i["records"]) for i in self.invocations()) >= count, timeout, f"{count} delivered records"
        )


@pytest.fixture
def harness(emulator: Emulator, tmp_path: Path) -> Iterator[Harness]:
    running = Harness(emulator=emulator, journal=tmp_path / "journal.jsonl")
    yield running
    running.stop()
