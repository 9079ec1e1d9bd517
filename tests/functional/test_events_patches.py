"""Our patches to moto's EventBridge (orderflow_local/emulator/patches/events.py), in process: event
patterns operator by operator, what a rule's SQS target receives, and what PutEvents refuses.

Every test that involves a patch also runs the case on stock moto (the replaced function, from
``ORIGINALS``, put back for the test) and shows that moto answers otherwise. Delivery is synchronous
in process: once PutEvents returns, the queue holds what the rules sent.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from orderflow_local.emulator import patches as moto_patches
from orderflow_local.emulator.patches.events import MAX_REQUEST_BYTES, entry_size, matches

if TYPE_CHECKING:
    from collections.abc import Iterator

SOURCE = "orderflow.test"
#: AWS's example event for input transformers (eb-transform-target-input.html), as a producer puts it.
EC2_DETAIL = {"instance-id": "i-0123456789", "state": "RUNNING"}


@pytest.fixture(autouse=True)
def patched() -> None:
    moto_patches.apply()


def _stock(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """moto's own implementation of each named function back in place, for the rest of the test."""
    from moto.events.models import EventPattern, EventsBackend, Rule

    owners = {"EventPattern": EventPattern, "Rule": Rule, "EventsBackend": EventsBackend}
    for name in names:
        owner, attribute = name.split(".")
        monkeypatch.setattr(owners[owner], attribute, moto_patches.ORIGINALS[name])


# --- event patterns, operator by operator ----------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """``pattern`` is the value of ``detail.field``'s filter list; ``value`` the event's (MISSING: no field)."""

    pattern: list[Any]
    value: Any
    matches: bool
    moto_agrees: bool = True


MISSING: Any = object()

OPERATORS: dict[str, Case] = {
    # exact values (eb-event-patterns.html): strings character by character, numbers by their JSON text
    "exact string": Case(["OrderCreated"], "OrderCreated", True),
    "exact string, other case": Case(["OrderCreated"], "ordercreated", False),
    "one of several values": Case(["OrderCreated", "OrderCancelled"], "OrderCancelled", True),
    "array in the event: any element": Case(["gift"], ["express", "gift"], True),
    "array in the event: no element": Case(["gift"], ["express", "bulk"], False),
    "exact number": Case([300], 300, True),
    "300 is not 300.0": Case([300], 300.0, False, moto_agrees=False),
    "a string is not a number": Case(["300"], 300, False),
    "true is not 1": Case([1], True, False, moto_agrees=False),
    "1 is not true": Case([True], 1, False, moto_agrees=False),
    "true is true": Case([True], True, True),
    # null and empty string (eb-event-patterns-null-values.html): not interchangeable, neither matches a missing field
    "null matches null": Case([None], None, True),
    "null does not match empty string": Case([None], "", False),
    "empty string matches empty string": Case([""], "", True),
    "empty string does not match null": Case([""], None, False),
    "null does not match a missing field": Case([None], MISSING, False),
    # prefix and suffix, with and without equals-ignore-case
    "prefix": Case([{"prefix": "ORD-"}], "ORD-1", True),
    "prefix, not at the start": Case([{"prefix": "ORD-"}], "X-ORD-1", False),
    "prefix of a number": Case([{"prefix": "3"}], 300, False),
    "prefix ignoring case": Case([{"prefix": {"equals-ignore-case": "ord-"}}], "ORD-1", True),
    "prefix ignoring case, no": Case([{"prefix": {"equals-ignore-case": "ord-"}}], "CMD-1", False),
    "suffix": Case([{"suffix": ".png"}], "label.png", True),
    "suffix, no": Case([{"suffix": ".png"}], "label.pdf", False),
    "suffix ignoring case": Case([{"suffix": {"equals-ignore-case": ".PNG"}}], "label.png", True),
    "equals-ignore-case": Case([{"equals-ignore-case": "ordercreated"}], "OrderCreated", True),
    "equals-ignore-case, no": Case([{"equals-ignore-case": "ordercreated"}], "OrderCreatedX", False),
    # anything-but: values, numbers, prefix, suffix, equals-ignore-case, wildcard
    "anything-but a value": Case([{"anything-but": "CANCELLED"}], "CONFIRMED", True),
    "anything-but a value, no": Case([{"anything-but": "CANCELLED"}], "CANCELLED", False),
    "anything-but values": Case([{"anything-but": ["A", "B"]}], "C", True),
    "anything-but values, no": Case([{"anything-but": ["A", "B"]}], "B", False),
    "anything-but numbers": Case([{"anything-but": [100, 200]}], 150, True),
    "anything-but numbers, no": Case([{"anything-but": [100, 200]}], 200, False),
    "anything-but 300 passes 300.0": Case([{"anything-but": 300}], 300.0, True, moto_agrees=False),
    "anything-but 1 passes true": Case([{"anything-but": [1]}], True, True, moto_agrees=False),
    "anything-but a missing field": Case([{"anything-but": "x"}], MISSING, False),
    "anything-but prefix": Case([{"anything-but": {"prefix": "us-"}}], "eu-west-1", True),
    "anything-but prefix, no": Case([{"anything-but": {"prefix": "us-"}}], "us-east-1", False),
    "anything-but suffix": Case([{"anything-but": {"suffix": ".png"}}], "a.pdf", True),
    "anything-but suffix, no": Case([{"anything-but": {"suffix": ".png"}}], "a.png", False),
    "anything-but ignoring case": Case([{"anything-but": {"equals-ignore-case": ["a", "b"]}}], "C", True),
    "anything-but ignoring case, no": Case([{"anything-but": {"equals-ignore-case": ["a", "b"]}}], "B", False),
    "anything-but wildcard": Case([{"anything-but": {"wildcard": "*/lib/*"}}], "/usr/bin/x", True),
    "anything-but wildcard, no": Case([{"anything-but": {"wildcard": "*/lib/*"}}], "/usr/lib/x", False),
    # numeric: =, <, <=, >, >= and ranges, on JSON numbers only
    "numeric =": Case([{"numeric": ["=", 5]}], 5, True),
    "numeric = compares values": Case([{"numeric": ["=", 5]}], 5.0, True),
    "numeric =, no": Case([{"numeric": ["=", 5]}], 6, False),
    "numeric <": Case([{"numeric": ["<", 5]}], 4.5, True),
    "numeric <, no": Case([{"numeric": ["<", 5]}], 5, False),
    "numeric <=": Case([{"numeric": ["<=", 5]}], 5, True),
    "numeric >": Case([{"numeric": [">", 5]}], 5.5, True),
    "numeric >, no": Case([{"numeric": [">", 5]}], 5, False),
    "numeric >=": Case([{"numeric": [">=", 5]}], 5, True),
    "numeric range": Case([{"numeric": [">", 0, "<=", 5]}], 5, True),
    "numeric range, below": Case([{"numeric": [">", 0, "<=", 5]}], 0, False),
    "numeric range, above": Case([{"numeric": [">", 0, "<=", 5]}], 5.01, False),
    "numeric on a string": Case([{"numeric": [">", 0]}], "5", False),
    "numeric on true": Case([{"numeric": [">", 0]}], True, False, moto_agrees=False),
    "numeric = 1 on true": Case([{"numeric": ["=", 1]}], True, False, moto_agrees=False),
    # exists, on leaf nodes only (eb-create-pattern-operators.html)
    "exists true": Case([{"exists": True}], "x", True),
    "exists true on null": Case([{"exists": True}], None, True),
    "exists true, missing": Case([{"exists": True}], MISSING, False),
    "exists false, missing": Case([{"exists": False}], MISSING, True),
    "exists false, present": Case([{"exists": False}], "x", False),
    "exists true on an object (not a leaf)": Case([{"exists": True}], {"a": 1}, False),
    # wildcard
    "wildcard": Case([{"wildcard": "Order*ed"}], "OrderConfirmed", True),
    "wildcard, no": Case([{"wildcard": "Order*ed"}], "OrderConfirmation", False),
    "wildcard star matches empty": Case([{"wildcard": "Order*"}], "Order", True),
    "wildcard across a line break": Case([{"wildcard": "first*last"}], "first\nlast", True, moto_agrees=False),
    "wildcard escaped star": Case([{"wildcard": "a\\*b"}], "acb", False),
}


def _event(value: Any) -> dict[str, Any]:
    return {"source": SOURCE, "detail": {} if value is MISSING else {"field": value}}


def _stock_matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    from moto.events.models import EventPattern

    return bool(moto_patches.ORIGINALS["EventPattern.matches_event"](EventPattern.load(json.dumps(pattern)), event))


@pytest.mark.parametrize("case", OPERATORS.values(), ids=OPERATORS.keys())
def test_each_operator_matches_or_not_as_eventbridge_documents(case: Case) -> None:
    pattern = {"detail": {"field": case.pattern}}
    event = _event(case.value)

    assert matches(pattern, event) is case.matches
    assert _stock_matches(pattern, event) is (case.matches if case.moto_agrees else not case.matches)


STRUCTURES: dict[str, tuple[dict[str, Any], dict[str, Any], bool, bool]] = {
    # (pattern, event, matches, moto agrees)
    "nested fields": ({"detail": {"order": {"status": ["NEW"]}}}, {"detail": {"order": {"status": "NEW"}}}, True, True),
    "nested fields, other value": (
        {"detail": {"order": {"status": ["NEW"]}}},
        {"detail": {"order": {"status": "OLD"}}},
        False,
        True,
    ),
    "nested field missing": ({"detail": {"order": {"status": ["NEW"]}}}, {"detail": {"order": {}}}, False, True),
    "every field must match": (
        {"source": [SOURCE], "detail-type": ["OrderCreated"]},
        {"source": SOURCE, "detail-type": "OrderCancelled"},
        False,
        True,
    ),
    "$or at the top": (
        {"$or": [{"detail-type": ["OrderCreated"]}, {"detail": {"priority": ["high"]}}]},
        {"detail-type": "OrderCancelled", "detail": {"priority": "high"}},
        True,
        True,
    ),
    "$or, none": (
        {"$or": [{"detail-type": ["OrderCreated"]}, {"detail": {"priority": ["high"]}}]},
        {"detail-type": "OrderCancelled", "detail": {"priority": "low"}},
        False,
        True,
    ),
    "$or inside a field": (
        {"detail": {"$or": [{"total": [{"numeric": [">", 100]}]}, {"vip": [True]}]}},
        {"detail": {"total": 5, "vip": True}},
        True,
        True,
    ),
    "array of objects, field by field": (
        {"detail": {"items": {"sku": ["B-2"]}}},
        {"detail": {"items": [{"sku": "A-1"}, {"sku": "B-2"}]}},
        True,
        False,
    ),
    "array of objects, no object has it": (
        {"detail": {"items": {"sku": ["C-3"]}}},
        {"detail": {"items": [{"sku": "A-1"}, {"sku": "B-2"}]}},
        False,
        True,
    ),
    "array of objects, exists": (
        {"detail": {"items": {"gift": [{"exists": True}]}}},
        {"detail": {"items": [{"sku": "A-1"}, {"sku": "B-2", "gift": True}]}},
        True,
        False,
    ),
    "empty pattern matches everything": ({}, {"detail": {}}, True, True),
}


@pytest.mark.parametrize(("pattern", "event", "expected", "moto_agrees"), STRUCTURES.values(), ids=STRUCTURES.keys())
def test_nesting_or_and_arrays_of_objects(
    pattern: dict[str, Any], event: dict[str, Any], expected: bool, moto_agrees: bool
) -> None:
    assert matches(pattern, event) is expected
    assert _stock_matches(pattern, event) is (expected if moto_agrees else not expected)


# --- rules and their SQS targets -------------------------------------------------------------------


@dataclass
class Aws:
    events: Any
    sqs: Any

    def queue(self, name: str, **attributes: str) -> tuple[str, str]:
        url = self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    def rule(self, name: str, pattern: dict[str, Any], *targets: dict[str, Any], **rule: Any) -> None:
        self.events.put_rule(Name=name, EventPattern=json.dumps(pattern), **rule)
        bus = {"EventBusName": rule["EventBusName"]} if "EventBusName" in rule else {}
        self.events.put_targets(Rule=name, Targets=list(targets), **bus)

    def put(self, *entries: dict[str, Any]) -> dict[str, Any]:
        return dict(self.events.put_events(Entries=list(entries)))

    def bodies(self, url: str) -> list[str]:
        """Every message body in the queue, in the order received (each deleted once read)."""
        found: list[str] = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                found.append(message["Body"])
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield Aws(
            events=boto3.client("events", region_name="us-east-1"), sqs=boto3.client("sqs", region_name="us-east-1")
        )


def entry(detail_type: str = "OrderCreated", detail: Any = None, **extra: Any) -> dict[str, Any]:
    text = detail if isinstance(detail, str) else json.dumps(detail if detail is not None else {"orderId": "ORD-1"})
    return {"Source": SOURCE, "DetailType": detail_type, "Detail": text, **extra}


def _put_or_error(aws: Aws, *entries: dict[str, Any]) -> dict[str, Any] | Exception:
    try:
        return aws.put(*entries)
    except Exception as error:  # noqa: BLE001 - stock moto fails the call in several ways; the test compares
        return error


def test_a_rule_routes_only_the_events_its_pattern_matches(aws: Aws) -> None:
    url, arn = aws.queue("routed")
    aws.rule(
        "RouteLargeOrders",
        {"detail-type": ["OrderCreated"], "detail": {"items": {"sku": [{"prefix": "GIFT-"}]}}},
        {"Id": "q", "Arn": arn, "InputPath": "$.detail.orderId"},
    )
    aws.put(
        entry(detail={"orderId": "ORD-1", "items": [{"sku": "BOOK-1"}, {"sku": "GIFT-9"}]}),
        entry(detail={"orderId": "ORD-2", "items": [{"sku": "BOOK-1"}]}),
        entry("OrderCancelled", {"orderId": "ORD-3", "items": [{"sku": "GIFT-1"}]}),
    )
    assert aws.bodies(url) == ['"ORD-1"']


def test_input_path_passes_only_that_part_of_the_event(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    url, arn = aws.queue("created")
    aws.rule("RouteOrderCreated", {"detail-type": ["OrderCreated"]}, {"Id": "q", "Arn": arn, "InputPath": "$.detail"})
    detail = {"orderId": "ORD-1", "items": [{"sku": "A", "quantity": 2}], "total": 12.5, "gift": False}

    aws.put(entry(detail=detail), entry("OrderCancelled", {"orderId": "ORD-1"}))
    assert [json.loads(body) for body in aws.bodies(url)] == [detail]

    _stock(monkeypatch, "Rule.send_to_targets")
    aws.put(entry(detail=detail))
    [stock] = [json.loads(body) for body in aws.bodies(url)]
    assert stock != detail
    assert stock["detail"] == detail  # moto ignored InputPath: the whole event


def test_input_replaces_the_event_with_its_constant_json(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    url, arn = aws.queue("constant")
    aws.rule("Ping", {"source": [SOURCE]}, {"Id": "q", "Arn": arn, "Input": '{"ping": true, "n": [1, 2]}'})

    aws.put(entry())
    assert [json.loads(body) for body in aws.bodies(url)] == [{"ping": True, "n": [1, 2]}]

    _stock(monkeypatch, "Rule.send_to_targets")
    aws.put(entry())
    assert json.loads(aws.bodies(url)[0])["source"] == SOURCE  # moto ignored Input


def test_with_no_input_the_whole_event_is_delivered_with_its_account(aws: Aws) -> None:
    url, arn = aws.queue("whole")
    aws.rule("Everything", {"source": [SOURCE]}, {"Id": "q", "Arn": arn})
    aws.put(entry(detail={"orderId": "ORD-1"}, Resources=["arn:aws:dynamodb:us-east-1:123456789012:table/Orders"]))

    [event] = [json.loads(body) for body in aws.bodies(url)]
    assert list(event) == ["version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"]
    assert event["account"] == "123456789012"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])
    assert event["resources"] == ["arn:aws:dynamodb:us-east-1:123456789012:table/Orders"]
    assert event["detail"] == {"orderId": "ORD-1"}


TEMPLATES: dict[str, tuple[str, Any, bool]] = {
    # AWS's own examples (eb-transform-target-input.html), with its event; (template, delivered, moto agrees)
    "simple string": ('"instance <instance> is in <state>"', "instance i-0123456789 is in RUNNING", True),
    "simple JSON": (
        '{"instance" : <instance>, "state": <state>}',
        {"instance": "i-0123456789", "state": "RUNNING"},
        False,
    ),
    "JSON with strings and variables": (
        '{"instance" : <instance>, "state": "<state>", "instanceStatus": "instance \\"<instance>\\" is in <state>"}',
        {"instance": "i-0123456789", "state": "RUNNING", "instanceStatus": 'instance "i-0123456789" is in RUNNING'},
        False,
    ),
    "variables and static information": (
        '{"instance" : <instance>, "state": [ 9, <state>, true ], "Transformed" : "Yes"}',
        {"instance": "i-0123456789", "state": [9, "RUNNING", True], "Transformed": "Yes"},
        False,
    ),
    "reserved variables in a string": ('"<aws.events.rule-name> triggered"', "Transform triggered", False),
    "an object inside a string loses its quotes": (
        '{"note": "detail is <detail>"}',
        {"note": "detail is {instance-id: i-0123456789, state: RUNNING}"},
        False,
    ),
    "a path that matched nothing is left out": (
        '{"note": "[<missing>]", "state": <state>}',
        {"note": "[]", "state": "RUNNING"},
        False,
    ),
    "a variable inside a string, as moto's test has it": (
        '{"transformed": "<instance>"}',
        {"transformed": "i-0123456789"},
        True,
    ),
}


@pytest.mark.parametrize(("template", "expected", "moto_agrees"), TEMPLATES.values(), ids=TEMPLATES.keys())
def test_input_transformer_fills_the_template_as_aws_examples_show(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, template: str, expected: Any, moto_agrees: bool
) -> None:
    url, arn = aws.queue("transformed")
    paths = {
        "instance": "$.detail.instance-id",
        "state": "$.detail.state",
        "detail": "$.detail",
        "missing": "$.detail.no-such-field",
    }
    transformer = {"InputPathsMap": paths, "InputTemplate": template}
    aws.rule("Transform", {"source": [SOURCE]}, {"Id": "q", "Arn": arn, "InputTransformer": transformer})

    aws.put(entry("EC2 Instance State-change Notification", EC2_DETAIL))
    assert [json.loads(body) for body in aws.bodies(url)] == [expected]

    _stock(monkeypatch, "Rule.send_to_targets")
    answer = _put_or_error(aws, entry("EC2 Instance State-change Notification", EC2_DETAIL))
    stock = [json.loads(body) for body in aws.bodies(url)] if isinstance(answer, dict) else answer
    assert (stock == [expected]) is moto_agrees


def test_input_transformer_reserved_variables(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    url, arn = aws.queue("reserved")
    template = (
        '{"ruleArn": <aws.events.rule-arn>, "ruleName": <aws.events.rule-name>, "original": <aws.events.event>,'
        ' "whole": <aws.events.event.json>, "received": "<aws.events.event.ingestion-time>"}'
    )
    transformer = {"InputPathsMap": {}, "InputTemplate": template}
    aws.rule("Reserved", {"source": [SOURCE]}, {"Id": "q", "Arn": arn, "InputTransformer": transformer})

    aws.put(entry(detail=EC2_DETAIL))
    [body] = [json.loads(text) for text in aws.bodies(url)]
    assert body["ruleArn"] == "arn:aws:events:us-east-1:123456789012:rule/Reserved"
    assert body["ruleName"] == "Reserved"
    assert "detail" not in body["original"]  # aws.events.event: the event without its detail
    assert body["whole"]["detail"] == EC2_DETAIL
    assert {key: value for key, value in body["whole"].items() if key != "detail"} == body["original"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["received"])  # ISO 8601

    _stock(monkeypatch, "Rule.send_to_targets")
    assert isinstance(_put_or_error(aws, entry(detail=EC2_DETAIL)), Exception)  # moto: invalid JSON, call failed


def test_a_disabled_rule_does_not_fire_until_enabled(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    url, arn = aws.queue("paused")
    aws.rule("Paused", {"source": [SOURCE]}, {"Id": "q", "Arn": arn, "InputPath": "$.detail"}, State="DISABLED")

    aws.put(entry(detail={"n": 1}))
    assert aws.bodies(url) == []

    aws.events.enable_rule(Name="Paused")
    aws.put(entry(detail={"n": 2}))
    assert [json.loads(body) for body in aws.bodies(url)] == [{"n": 2}]

    aws.events.disable_rule(Name="Paused")
    _stock(monkeypatch, "Rule.send_to_targets")
    aws.put(entry(detail={"n": 3}))
    assert len(aws.bodies(url)) == 1  # moto fired the disabled rule


def test_a_rule_on_a_custom_bus_sees_only_that_bus(aws: Aws) -> None:
    url, arn = aws.queue("ingress")
    bus_arn = aws.events.create_event_bus(Name="OrderIngress")["EventBusArn"]
    target = {"Id": "q", "Arn": arn, "InputPath": "$.detail"}
    aws.rule("RouteOrderCreated", {"detail-type": ["OrderCreated"]}, target, EventBusName="OrderIngress")

    aws.put(
        entry(detail={"on": "default"}),
        entry(detail={"on": "by name"}, EventBusName="OrderIngress"),
        entry(detail={"on": "by arn"}, EventBusName=bus_arn),
    )
    assert [json.loads(body) for body in aws.bodies(url)] == [{"on": "by name"}, {"on": "by arn"}]


def test_a_fifo_target_gets_the_rules_message_group_and_deduplicates_by_content(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, arn = aws.queue("ingress.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    target = {"Id": "q", "Arn": arn, "InputPath": "$.detail", "SqsParameters": {"MessageGroupId": "orders"}}
    aws.rule("RouteToFifo", {"source": [SOURCE]}, target)

    aws.put(entry(detail={"orderId": "A"}), entry(detail={"orderId": "B"}), entry(detail={"orderId": "A"}))
    received = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"])
    messages = received["Messages"]
    # the same detail twice: the same body, so SQS's content-based deduplication drops the second
    assert [json.loads(message["Body"]) for message in messages] == [{"orderId": "A"}, {"orderId": "B"}]
    assert {message["Attributes"]["MessageGroupId"] for message in messages} == {"orders"}

    _stock(monkeypatch, "Rule.send_to_targets")
    stock_url, stock_arn = aws.queue("stock.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    aws.rule("StockFifo", {"detail-type": ["Stock"]}, {**target, "Arn": stock_arn})
    aws.put(entry("Stock", {"orderId": "A"}), entry("Stock", {"orderId": "A"}))
    assert len(aws.bodies(stock_url)) == 2  # moto sent whole events: their ids differ, nothing deduplicated


def test_a_target_that_fails_does_not_fail_the_call_or_the_other_targets(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone_url, gone_arn = aws.queue("gone")
    kept_url, kept_arn = aws.queue("kept")
    aws.rule(
        "TwoTargets",
        {"source": [SOURCE]},
        {"Id": "gone", "Arn": gone_arn, "InputPath": "$.detail"},
        {"Id": "kept", "Arn": kept_arn, "InputPath": "$.detail"},
    )
    aws.sqs.delete_queue(QueueUrl=gone_url)

    answer = aws.put(entry(detail={"n": 1}), entry(detail={"n": 2}))
    assert answer["FailedEntryCount"] == 0
    assert [json.loads(body) for body in aws.bodies(kept_url)] == [{"n": 1}, {"n": 2}]

    _stock(monkeypatch, "Rule.send_to_targets")
    assert isinstance(_put_or_error(aws, entry(detail={"n": 3})), Exception)  # moto failed the whole call
    assert aws.bodies(kept_url) == []


# --- PutEvents: what it refuses ----------------------------------------------------------------------


@pytest.fixture
def routed(aws: Aws) -> str:
    """A queue that gets every event's detail (a rule matching everything from SOURCE, InputPath $.detail)."""
    url, arn = aws.queue("everything")
    aws.rule("Everything", {"source": [SOURCE]}, {"Id": "q", "Arn": arn, "InputPath": "$.detail"})
    return url


def test_more_than_ten_entries_fail_the_whole_call(aws: Aws, routed: str) -> None:
    with pytest.raises(ClientError) as refused:
        aws.put(*[entry(detail={"n": n}) for n in range(11)])
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "Member must have length less than or equal to 10" in refused.value.response["Error"]["Message"]
    assert aws.bodies(routed) == []
    assert aws.put(*[entry(detail={"n": n}) for n in range(10)])["FailedEntryCount"] == 0


def _entry_of_size(size: int, **extra: Any) -> dict[str, Any]:
    """An entry whose size, as AWS computes it, is exactly ``size`` bytes (UTF-8: é is 2 bytes)."""
    base = entry(detail='{"pad": ""}', **extra)
    missing = size - entry_size(base)
    return entry(detail='{"pad": "' + "é" * (missing // 2) + "x" * (missing % 2) + '"}', **extra)


def test_entry_size_is_computed_as_aws_documents() -> None:
    assert entry_size({"Source": "s", "DetailType": "t", "Detail": "{}"}) == 4
    assert entry_size({"Source": "s", "DetailType": "t", "Detail": "{}", "Time": 1_700_000_000}) == 4 + 14
    assert entry_size({"Source": "é", "DetailType": "t", "Detail": '{"a":"€"}', "Resources": ["r1", "r22"]}) == (
        2 + 1 + 11 + 2 + 3
    )
    assert entry_size({"Source": "s", "DetailType": "t", "Detail": "{}", "EventBusName": "a-long-bus-name"}) == 4


def test_entries_over_the_size_limit_together_fail_the_whole_call(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    at_limit = _entry_of_size(MAX_REQUEST_BYTES, Time=1_700_000_000, Resources=["arn:aws:s3:::bucket"])
    assert entry_size(at_limit) == MAX_REQUEST_BYTES
    url, arn = aws.queue("small")  # a body that fits SQS, whatever the event's size
    aws.rule("Small", {"source": [SOURCE]}, {"Id": "q", "Arn": arn, "Input": '{"put": true}'})

    assert aws.put(at_limit)["FailedEntryCount"] == 0
    assert aws.bodies(url) == ['{"put": true}']

    half = _entry_of_size(MAX_REQUEST_BYTES // 2)
    for refused_call in ([_entry_of_size(MAX_REQUEST_BYTES + 1)], [half, half, entry()]):
        with pytest.raises(ClientError) as refused:
            aws.put(*refused_call)
        assert refused.value.response["Error"]["Code"] == "ValidationException"
        assert (
            refused.value.response["Error"]["Message"] == "Total size of the entries in the request is over the limit."
        )
        assert aws.bodies(url) == []  # nothing of the call was put, the small entry neither

    _stock(monkeypatch, "EventsBackend.put_events")
    assert aws.put(_entry_of_size(MAX_REQUEST_BYTES + 1))["FailedEntryCount"] == 0  # moto has no limit


@pytest.mark.parametrize("detail", ["[1, 2]", '"text"', "5", "true", "null"])
def test_a_detail_that_is_not_a_json_object_is_refused_in_place(
    aws: Aws, routed: str, monkeypatch: pytest.MonkeyPatch, detail: str
) -> None:
    with pytest.warns(UserWarning, match="EventDetail should be of type dict"):  # moto's warning, kept
        answer = aws.put(entry(detail={"n": 1}), entry(detail=detail), entry(detail={"n": 2}))

    assert answer["FailedEntryCount"] == 1
    first, refused, last = answer["Entries"]
    assert "EventId" in first
    assert "EventId" in last
    assert refused == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    assert [json.loads(body) for body in aws.bodies(routed)] == [{"n": 1}, {"n": 2}]

    _stock(monkeypatch, "EventsBackend.put_events")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moto warns, then puts it
        assert aws.put(entry(detail=detail))["FailedEntryCount"] == 0


@pytest.mark.parametrize("detail", ['{"totalAmount": NaN}', '{"n": Infinity}', '{"n": [-Infinity]}'])
def test_a_detail_with_numbers_json_does_not_have_is_refused_in_place(
    aws: Aws, routed: str, monkeypatch: pytest.MonkeyPatch, detail: str
) -> None:
    answer = aws.put(entry(detail={"n": 1}), entry(detail=detail))

    assert answer["Entries"][1] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    assert [json.loads(body) for body in aws.bodies(routed)] == [{"n": 1}]

    _stock(monkeypatch, "EventsBackend.put_events")
    assert aws.put(entry(detail=detail))["FailedEntryCount"] == 0  # moto reads it with Python's json, and puts it


def test_entries_missing_a_field_or_with_broken_json_are_refused_in_place_and_the_rest_put(
    aws: Aws, routed: str
) -> None:
    answer = aws.put(
        entry(detail={"n": 1}),
        {"DetailType": "OrderCreated", "Detail": "{}"},
        {"Source": SOURCE, "Detail": "{}"},
        {"Source": SOURCE, "DetailType": "OrderCreated"},
        entry(detail='{"unterminated": '),
        entry(detail={"n": 2}),
    )

    assert answer["FailedEntryCount"] == 4
    assert [result.get("ErrorCode") for result in answer["Entries"]] == [
        None,
        "InvalidArgument",
        "InvalidArgument",
        "InvalidArgument",
        "MalformedDetail",
        None,
    ]
    assert (
        answer["Entries"][1]["ErrorMessage"] == "Parameter Source is not valid. Reason: Source is a required argument."
    )
    assert [json.loads(body) for body in aws.bodies(routed)] == [{"n": 1}, {"n": 2}]
