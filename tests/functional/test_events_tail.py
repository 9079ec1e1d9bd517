"""`orderflow events tail` against emulated AWS (moto, in process): the ops function (tail) and the command
(typer's CliRunner, `--endpoint-url aws`), each on a custom bus of the test's own. moto's EventBridge
delivers PutEvents to a rule's SQS target on a custom bus and matches its pattern, so what is printed is
what EventBridge routed. The tail runs on a thread; the test puts its events once the tail's rule and
target exist (``on_ready``, or the rule seen on the bus), and stops it with max_events, a timeout or a
threading.Event. Signals (Ctrl-C, SIGTERM) against the emulator: tests/integration/test_events_tail_signals.py."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws
from typer.testing import CliRunner

from orderflow_cli import events as events_cli
from orderflow_cli.aws import Target
from orderflow_cli.main import app
from orderflow_local.ops.events import (
    NAME_PREFIX,
    SOURCE,
    BusNotFoundError,
    Leftover,
    Subscription,
    TargetRefusedError,
    queue_policy,
    tail,
)
from tests.support import wait_until

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

BUS = "TestOrderEvents"
#: Each poll of the tail's queue waits at most this long, so a stop is seen within it.
WAIT = 1


@dataclass
class Aws:
    sqs: Any


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """moto in process, reached as AWS is (the functional conftest's fixture without the table and the handler)."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield Aws(sqs=boto3.client("sqs", region_name="us-east-1"))


@pytest.fixture
def events(aws: Aws) -> Any:
    client = boto3.client("events", region_name="us-east-1")
    client.create_event_bus(Name=BUS)
    return client


def _refuse_queue_deletion(sqs: Any) -> None:
    """``sqs`` is refused DeleteQueue (AccessDenied) on the tail's queues."""

    def refuse(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if NAME_PREFIX not in str(params["body"]):
            return None
        response = AWSResponse(url="https://fault.invalid", status_code=403, headers={}, raw=None)
        return response, {"Error": {"Code": "AccessDenied", "Message": "injected by the test"}, "ResponseMetadata": {}}

    sqs.meta.events.register("before-call.sqs.DeleteQueue", refuse)


def _put(events: Any, *entries: tuple[str, dict[str, Any]], bus: str = BUS) -> None:
    """Each (detail-type, detail) put on the bus, one PutEvents call each, in this order."""
    for detail_type, detail in entries:
        answer = events.put_events(
            Entries=[{"Source": SOURCE, "DetailType": detail_type, "Detail": json.dumps(detail), "EventBusName": bus}]
        )
        assert answer["FailedEntryCount"] == 0


def _order(order_id: str, version: int = 1, status: str = "CONFIRMED") -> dict[str, Any]:
    return {
        "schemaVersion": 1,
        "eventId": f"{order_id}#2026-04-20T14:30:00Z#{version}",
        "orderId": order_id,
        "status": status,
        "version": version,
        "occurredAt": f"2026-04-20T14:3{version}:00.000Z",
    }


def _leftovers(aws: Aws, events: Any) -> tuple[list[str], list[str]]:
    """The tail's rules on the bus and its queues that exist."""
    rules = [rule["Name"] for rule in events.list_rules(EventBusName=BUS, NamePrefix=NAME_PREFIX).get("Rules", [])]
    return rules, list(aws.sqs.list_queues(QueueNamePrefix=NAME_PREFIX).get("QueueUrls", []))


class Tailing:
    """``tail`` on a thread: what it showed, what it returned or raised, and when it was ready."""

    def __init__(self, events: Any, sqs: Any, **options: Any) -> None:
        self.shown: list[dict[str, Any]] = []
        self.ready = threading.Event()
        self.subscription: Subscription | None = None
        self.stop = threading.Event()
        self.left: list[Leftover] = []
        self.result: int | BaseException | None = None
        options.setdefault("wait_seconds", WAIT)
        options.setdefault("on_event", self.shown.append)

        def run() -> None:
            try:
                self.result = tail(
                    events,
                    sqs,
                    bus=BUS,
                    stop=self.stop,
                    on_ready=self._on_ready,
                    on_leftovers=self.left.extend,
                    **options,
                )
            except BaseException as exc:  # noqa: BLE001 - the test looks at it
                self.result = exc
            finally:
                self.ready.set()  # a tail that failed before its rule existed must not leave the test waiting

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert self.ready.wait(30), "the tail's rule and target were not created"

    def _on_ready(self, subscription: Subscription) -> None:
        self.subscription = subscription
        self.ready.set()

    def join(self) -> int | BaseException | None:
        self.thread.join(30)
        assert not self.thread.is_alive(), "the tail did not stop"
        return self.result


# --- the ops function --------------------------------------------------------------------------


def test_events_put_on_the_bus_are_shown_in_order_then_everything_it_made_is_gone(aws: Aws, events: Any) -> None:
    # Given a tail of the bus
    tailing = Tailing(events, aws.sqs, max_events=4)
    assert tailing.subscription is not None
    assert _leftovers(aws, events) == ([tailing.subscription.name], [tailing.subscription.queue_url])

    # When four events are published
    _put(
        events,
        ("OrderConfirmed", _order("ORD-1")),
        ("OrderConfirmed", _order("ORD-2")),
        ("OrderCancelled", _order("ORD-1", 2, "CANCELLED")),
        ("OrderConfirmed", _order("ORD-3")),
    )

    # Then it shows each, whole and in the order they were put, and stops after the fourth
    assert tailing.join() == 4
    assert [(event["detail-type"], event["detail"]["orderId"]) for event in tailing.shown] == [
        ("OrderConfirmed", "ORD-1"),
        ("OrderConfirmed", "ORD-2"),
        ("OrderCancelled", "ORD-1"),
        ("OrderConfirmed", "ORD-3"),
    ]
    assert tailing.shown[2]["detail"] == _order("ORD-1", 2, "CANCELLED")
    assert {event["source"] for event in tailing.shown} == {SOURCE}
    # And its rule (with its target) and its queue are deleted
    assert _leftovers(aws, events) == ([], [])
    assert tailing.left == []


def test_the_detail_type_filter_drops_the_other_events_and_other_sources(aws: Aws, events: Any) -> None:
    tailing = Tailing(events, aws.sqs, detail_types=["OrderCancelled"], max_events=2)
    assert tailing.subscription is not None
    assert tailing.subscription.pattern == {"source": [SOURCE], "detail-type": ["OrderCancelled"]}

    # Cancellations put between confirmations, and a cancellation from another source
    _put(events, ("OrderConfirmed", _order("ORD-1")), ("OrderCancelled", _order("ORD-1", 2, "CANCELLED")))
    events.put_events(
        Entries=[{"Source": "someone.else", "DetailType": "OrderCancelled", "Detail": "{}", "EventBusName": BUS}]
    )
    _put(events, ("OrderConfirmed", _order("ORD-2")), ("OrderCancelled", _order("ORD-2", 2, "CANCELLED")))

    # Only ours are shown: the other types and the other source never reached its queue
    assert tailing.join() == 2
    assert [(event["detail-type"], event["detail"]["orderId"]) for event in tailing.shown] == [
        ("OrderCancelled", "ORD-1"),
        ("OrderCancelled", "ORD-2"),
    ]


def test_a_message_delivered_twice_is_shown_once(aws: Aws, events: Any) -> None:
    # SQS delivers at least once: the same envelope twice in the queue
    tailing = Tailing(events, aws.sqs, max_events=2)
    assert tailing.subscription is not None
    first = {"id": "event-1", "detail-type": "OrderConfirmed", "source": SOURCE, "detail": _order("ORD-1")}
    second = {"id": "event-2", "detail-type": "OrderConfirmed", "source": SOURCE, "detail": _order("ORD-2")}
    for envelope in (first, first, second):
        aws.sqs.send_message(QueueUrl=tailing.subscription.queue_url, MessageBody=json.dumps(envelope))

    assert tailing.join() == 2
    assert [event["id"] for event in tailing.shown] == ["event-1", "event-2"]


def test_a_stop_or_a_timeout_ends_it_with_nothing_left(aws: Aws, events: Any) -> None:
    stopped = Tailing(events, aws.sqs)
    stopped.stop.set()
    assert stopped.join() == 0

    timed_out = Tailing(events, aws.sqs, timeout=0.5)
    assert timed_out.join() == 0
    assert _leftovers(aws, events) == ([], [])


def test_an_exception_while_showing_still_deletes_the_rule_target_and_queue(aws: Aws, events: Any) -> None:
    def broken(_event: dict[str, Any]) -> None:
        raise BrokenPipeError("the reader went away")

    tailing = Tailing(events, aws.sqs, on_event=broken)
    assert tailing.subscription is not None
    name = tailing.subscription.name
    _put(events, ("OrderConfirmed", _order("ORD-1")))

    assert isinstance(tailing.join(), BrokenPipeError)
    assert _leftovers(aws, events) == ([], [])
    with pytest.raises(events.exceptions.ResourceNotFoundException):
        events.list_targets_by_rule(Rule=name, EventBusName=BUS)


def test_the_queue_lets_only_its_rule_send_and_is_encrypted(aws: Aws, events: Any) -> None:
    tailing = Tailing(events, aws.sqs)
    try:
        subscription = tailing.subscription
        assert subscription is not None
        attributes = aws.sqs.get_queue_attributes(QueueUrl=subscription.queue_url, AttributeNames=["All"])["Attributes"]
        rule = events.describe_rule(Name=subscription.name, EventBusName=BUS)
        targets = events.list_targets_by_rule(Rule=subscription.name, EventBusName=BUS)["Targets"]
    finally:
        tailing.stop.set()
        tailing.join()
    assert subscription.name.startswith(NAME_PREFIX)
    assert attributes["SqsManagedSseEnabled"] == "true"
    assert json.loads(attributes["Policy"]) == queue_policy(attributes["QueueArn"], rule["Arn"])
    statement = json.loads(attributes["Policy"])["Statement"][0]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": rule["Arn"]}}
    assert json.loads(rule["EventPattern"]) == {"source": [SOURCE]}
    assert [target["Arn"] for target in targets] == [attributes["QueueArn"]]


def test_a_missing_bus_creates_nothing(aws: Aws, events: Any) -> None:
    with pytest.raises(BusNotFoundError) as raised:
        tail(events, aws.sqs, on_event=print, bus="NoSuchBus", wait_seconds=WAIT)
    assert raised.value.bus == "NoSuchBus"
    assert aws.sqs.list_queues(QueueNamePrefix=NAME_PREFIX).get("QueueUrls", []) == []


def test_what_it_cannot_delete_is_reported_with_its_command_and_the_rest_is_deleted(aws: Aws, events: Any) -> None:
    _refuse_queue_deletion(aws.sqs)
    tailing = Tailing(events, aws.sqs)
    assert tailing.subscription is not None
    url = tailing.subscription.queue_url
    tailing.stop.set()

    assert tailing.join() == 0
    assert tailing.left == [Leftover(f"queue {url}", f"aws sqs delete-queue --queue-url {url}")]
    assert _leftovers(aws, events) == ([], [url])  # the rule went; the queue is what was reported


def test_a_second_ctrl_c_during_the_cleanup_leaves_that_step_and_runs_the_others(aws: Aws, events: Any) -> None:
    def interrupt(**_: Any) -> None:
        raise KeyboardInterrupt

    events.meta.events.register("before-call.events.RemoveTargets", interrupt)
    tailing = Tailing(events, aws.sqs)
    assert tailing.subscription is not None
    name = tailing.subscription.name
    tailing.stop.set()

    assert isinstance(tailing.join(), KeyboardInterrupt)
    # The target stays, and so its rule (DeleteRule refuses a rule with targets, on AWS as in moto): both said,
    # each with its command; the queue, removed after them, is gone
    assert [leftover.command for leftover in tailing.left] == [
        f"aws events remove-targets --event-bus-name {BUS} --rule {name} --ids orderflow-tail-queue",
        f"aws events delete-rule --event-bus-name {BUS} --name {name}",
    ]
    assert _leftovers(aws, events) == ([name], [])


def test_a_target_put_targets_refuses_ends_it_with_the_rule_and_queue_deleted(aws: Aws, events: Any) -> None:
    # PutTargets answers 200 with the target among its FailedEntries, as AWS does for a target it refuses
    def refuse(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        response = AWSResponse(url="https://fault.invalid", status_code=200, headers={}, raw=None)
        failed = {"TargetId": "orderflow-tail-queue", "ErrorCode": "ValidationException", "ErrorMessage": "injected"}
        return response, {"FailedEntryCount": 1, "FailedEntries": [failed], "ResponseMetadata": {}}

    events.meta.events.register("before-call.events.PutTargets", refuse)
    left: list[Leftover] = []
    with pytest.raises(TargetRefusedError, match="ValidationException injected"):
        tail(events, aws.sqs, on_event=print, bus=BUS, wait_seconds=WAIT, on_leftovers=left.extend)
    assert left == []
    assert _leftovers(aws, events) == ([], [])


# --- the command -------------------------------------------------------------------------------


def _tail_command(events: Any, *args: str, publish: Callable[[], None] = lambda: None) -> Any:  # the CliRunner's Result
    """Run `orderflow events tail ARGS --endpoint-url aws`; once its rule has a target, call ``publish`` on a thread."""

    def when_ready() -> None:
        def subscribed() -> bool:
            rules = events.list_rules(EventBusName=BUS, NamePrefix=NAME_PREFIX).get("Rules", [])
            return any(events.list_targets_by_rule(Rule=rule["Name"], EventBusName=BUS)["Targets"] for rule in rules)

        wait_until(subscribed, "the tail's rule and target", timeout=30, interval=0.05)
        publish()

    publisher = threading.Thread(target=when_ready, daemon=True)
    publisher.start()
    result = CliRunner().invoke(
        app, ["events", "tail", *args, "--endpoint-url", "aws"], prog_name="orderflow", catch_exceptions=False
    )
    publisher.join(30)
    return result


def test_tail_prints_one_line_per_event_with_its_order_version_status_and_id(aws: Aws, events: Any) -> None:
    result = _tail_command(
        events,
        "--bus",
        BUS,
        "--max-events",
        "2",
        publish=lambda: _put(
            events, ("OrderConfirmed", _order("ORD-1")), ("OrderCancelled", _order("ORD-1", 2, "CANCELLED"))
        ),
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split() for line in lines] == [
        ["2026-04-20T14:31:00.000Z", "OrderConfirmed", "ORD-1", "v1", "CONFIRMED", "ORD-1#2026-04-20T14:30:00Z#1"],
        ["2026-04-20T14:32:00.000Z", "OrderCancelled", "ORD-1", "v2", "CANCELLED", "ORD-1#2026-04-20T14:30:00Z#2"],
    ]
    assert f"Tailing {BUS} (source {SOURCE})" in result.stderr
    assert "Stopped after 2 event(s)" in result.stderr
    assert _leftovers(aws, events) == ([], [])


def test_tail_json_prints_each_whole_event_as_a_json_line_of_the_detail_types_asked(aws: Aws, events: Any) -> None:
    result = _tail_command(
        events,
        "--bus",
        BUS,
        "--json",
        "--detail-type",
        "OrderCancelled",
        "--detail-type",
        "OrderRefunded",
        "--max-events",
        "2",
        publish=lambda: _put(
            events,
            ("OrderConfirmed", _order("ORD-1")),
            ("OrderCancelled", _order("ORD-1", 2, "CANCELLED")),
            ("OrderRefunded", _order("ORD-1", 3, "REFUNDED")),
        ),
    )
    assert result.exit_code == 0, result.output
    parsed = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(event["detail-type"], event["detail"]) for event in parsed] == [
        ("OrderCancelled", _order("ORD-1", 2, "CANCELLED")),
        ("OrderRefunded", _order("ORD-1", 3, "REFUNDED")),
    ]
    assert all(event["source"] == SOURCE and event["id"] for event in parsed)
    assert "detail-type OrderCancelled or OrderRefunded" in result.stderr


def test_tail_of_a_missing_bus_is_one_error_line_that_says_to_start_or_deploy_the_stack(aws: Aws) -> None:
    result = CliRunner().invoke(app, ["events", "tail", "--endpoint-url", "aws"], prog_name="orderflow")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: event bus OrderDomainEvents does not exist on AWS: deploy the stack (docs/deploy.md), or pass --bus"
    ]
    assert aws.sqs.list_queues(QueueNamePrefix=NAME_PREFIX).get("QueueUrls", []) == []


def test_tail_says_in_one_line_what_it_could_not_delete(aws: Aws, events: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The command's own SQS client is refused DeleteQueue on the tail's queue
    make_sqs = Target.sqs

    def refusing_sqs(self: Target) -> Any:
        client = make_sqs(self)
        _refuse_queue_deletion(client)
        return client

    monkeypatch.setattr(Target, "sqs", refusing_sqs)
    result = _tail_command(events, "--bus", BUS, "--timeout", "0.5")

    assert result.exit_code == 0, result.output
    rules, queues = _leftovers(aws, events)
    assert rules == []
    assert len(queues) == 1
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: could not delete queue {queues[0]} (delete it: aws sqs delete-queue --queue-url {queues[0]})"
    ]


def test_tail_off_aws_gives_the_endpoint_in_the_commands_that_delete_what_is_left() -> None:
    report = events_cli._leftover_reporter(Target("http://127.0.0.1:4566"))
    url = "http://127.0.0.1:4566/123456789012/orderflow-tail-0a1b2c3d"
    with pytest.MonkeyPatch.context() as patch:
        lines: list[str] = []
        patch.setattr(events_cli.errors, "print", lambda text, **_: lines.append(text))
        report([Leftover(f"queue {url}", f"aws sqs delete-queue --queue-url {url}")])
    assert lines == [
        f"warning: could not delete queue {url} "
        f"(delete it: aws --endpoint-url http://127.0.0.1:4566 sqs delete-queue --queue-url {url})"
    ]
