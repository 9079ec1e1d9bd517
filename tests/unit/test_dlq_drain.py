"""Listing and redriving the DLQ read it until it is drained, as SQS on AWS answers: a short poll
samples a subset of its servers, so an empty one does not mean an empty queue."""

# The fake answers boto3's calls, so its arguments are named as boto3 names them.
# ruff: noqa: N803

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from orderflow_local.ops.dlq import list_dead_letters, redrive

DLQ = "https://sqs.us-east-1.amazonaws.com/123456789012/OrderCreatedDLQ"
SOURCE = "https://sqs.us-east-1.amazonaws.com/123456789012/OrderCreatedQueue"


@dataclass
class _Message:
    message_id: str
    body: str
    hidden: bool = False
    receives: int = 0


@dataclass
class SampledSqs:
    """A queue spread over servers: a short poll asks one of them in turn (the first one asked
    holds nothing), a long poll asks them all. Counts are exact; nothing waits, waits are noted."""

    servers: list[list[_Message]]
    sent: dict[str, list[str]] = field(default_factory=dict)
    #: WaitTimeSeconds of each long poll that came back empty (the time it costs).
    empty_long_polls: list[int] = field(default_factory=list)
    _asked: itertools.count[int] = field(default_factory=itertools.count)
    _handles: dict[str, _Message] = field(default_factory=dict)

    @classmethod
    def holding(cls, count: int, servers: int = 3) -> SampledSqs:
        spread: list[list[_Message]] = [[] for _ in range(servers)]
        for n in range(count):
            spread[1 + n % (servers - 1)].append(_Message(f"m-{n}", f'{{"orderId": "ORD-{n}"}}'))
        return cls(spread)

    def receive_message(
        self, *, QueueUrl: str, MaxNumberOfMessages: int, VisibilityTimeout: int, WaitTimeSeconds: int = 0, **_: Any
    ) -> dict[str, Any]:
        assert QueueUrl == DLQ
        if WaitTimeSeconds >= 1:
            asked = [message for server in self.servers for message in server]
        else:
            asked = self.servers[next(self._asked) % len(self.servers)]
        taken = [message for message in asked if not message.hidden][:MaxNumberOfMessages]
        if not taken and WaitTimeSeconds >= 1:
            self.empty_long_polls.append(WaitTimeSeconds)
        return {"Messages": [self._deliver(message, hide=VisibilityTimeout > 0) for message in taken]}

    def _deliver(self, message: _Message, *, hide: bool) -> dict[str, Any]:
        message.hidden = hide
        message.receives += 1
        handle = f"{message.message_id}/{len(self._handles)}"
        self._handles[handle] = message
        return {
            "MessageId": message.message_id,
            "Body": message.body,
            "ReceiptHandle": handle,
            "Attributes": {"ApproximateReceiveCount": str(message.receives), "SentTimestamp": "0"},
            "MessageAttributes": {},
        }

    def get_queue_attributes(self, *, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:
        visible = sum(1 for server in self.servers for message in server if not message.hidden)
        return {"Attributes": {"ApproximateNumberOfMessages": str(visible)}}

    def change_message_visibility(self, *, QueueUrl: str, ReceiptHandle: str, VisibilityTimeout: int) -> None:
        self._handles[ReceiptHandle].hidden = VisibilityTimeout > 0

    def delete_message(self, *, QueueUrl: str, ReceiptHandle: str) -> None:
        message = self._handles[ReceiptHandle]
        for server in self.servers:
            if message in server:
                server.remove(message)

    def send_message(self, *, QueueUrl: str, MessageBody: str, **_: Any) -> dict[str, str]:
        self.sent.setdefault(QueueUrl, []).append(MessageBody)
        return {"MessageId": f"sent-{len(self.sent[QueueUrl])}"}

    def remaining(self) -> int:
        return sum(len(server) for server in self.servers)


def test_a_listing_does_not_stop_at_an_empty_short_poll_while_messages_remain() -> None:
    sqs = SampledSqs.holding(25)  # the first short poll asks the server that holds none of them
    listed = list_dead_letters(sqs, DLQ)  # type: ignore[arg-type]
    assert sorted(letter.message_id for letter in listed) == sorted(f"m-{n}" for n in range(25))
    # and they are all visible again for the next reader
    assert sqs.get_queue_attributes(QueueUrl=DLQ, AttributeNames=["All"])["Attributes"] == {
        "ApproximateNumberOfMessages": "25"
    }


def test_a_redrive_does_not_stop_at_an_empty_short_poll_while_messages_remain() -> None:
    sqs = SampledSqs.holding(25)
    report = redrive(sqs, dlq_url=DLQ, source_url=SOURCE, rate=1000, sleep=lambda _: None)  # type: ignore[arg-type]
    assert report.moved == 25
    assert sorted(sqs.sent[SOURCE]) == sorted(f'{{"orderId": "ORD-{n}"}}' for n in range(25))
    assert sqs.remaining() == 0


def test_a_drained_queue_is_known_without_waiting_out_a_long_poll() -> None:
    """The emulator answers an empty long poll only after its wait: the queue's count ends the read."""
    empty = SampledSqs.holding(0)
    assert list_dead_letters(empty, DLQ) == []  # type: ignore[arg-type]
    assert redrive(empty, dlq_url=DLQ, source_url=SOURCE, rate=1000).moved == 0  # type: ignore[arg-type]
    drained = SampledSqs.holding(7)
    assert len(list_dead_letters(drained, DLQ)) == 7  # type: ignore[arg-type]
    assert redrive(drained, dlq_url=DLQ, source_url=SOURCE, rate=1000, sleep=lambda _: None).moved == 7  # type: ignore[arg-type]
    assert empty.empty_long_polls == drained.empty_long_polls == []
