"""A pipe's filter (EventBridge pattern semantics), input template and dynamic path parameters, and the
failure record it dead-letters (docs/event-source-mapping.md, "EventBridge Pipes: the rules our runner
reproduces")."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orderflow_local.lambda_runtime.pipe_config import PipeConfig
from orderflow_local.lambda_runtime.pipe_transform import (
    MISSING,
    JsonPathError,
    RecordFilter,
    TemplateContext,
    evaluate_path,
    render_template,
    resolve_dynamic,
)
from orderflow_local.lambda_runtime.pipes import failure_record, to_pipe_record

STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/2025-01-01T00:00:00.000"
OUTBOX_FILTER = json.dumps(
    {"eventName": ["INSERT", "MODIFY"], "dynamodb": {"NewImage": {"domainEvent": {"S": [{"exists": True}]}}}}
)
CONTEXT = TemplateContext(
    pipe_arn="arn:aws:pipes:us-east-1:123456789012:pipe/OrderOutbox",
    pipe_name="OrderOutbox",
    source_arn=STREAM,
    target_arn="arn:aws:events:us-east-1:123456789012:event-bus/OrderDomainEvents",
    ingestion_time="2025-01-01T00:00:02Z",
)


def record(event_name: str = "INSERT", **image: dict[str, Any]) -> dict[str, Any]:
    new_image = {"orderId": {"S": "ORD-1"}, "version": {"N": "2"}, "domainEvent": {"S": "OrderConfirmed"}, **image}
    return {
        "eventID": "e1",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1735689600,
            "Keys": {"orderId": {"S": "ORD-1"}},
            "NewImage": {key: value for key, value in new_image.items() if value},
            "SequenceNumber": "100",
            "SizeBytes": 26,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": STREAM,
    }


# -- filters -------------------------------------------------------------------------------------


def test_the_outbox_filter_passes_inserts_and_modifies_that_carry_a_domain_event() -> None:
    outbox = RecordFilter((OUTBOX_FILTER,))

    assert outbox.matches(record("INSERT"))
    assert outbox.matches(record("MODIFY", domainEvent={"S": "OrderCancelled"}))
    assert not outbox.matches(record("INSERT", domainEvent={}))  # the AWAITING_ORDER tombstone
    assert not outbox.matches(record("REMOVE"))


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ({"prefix": "ORD-"}, "ORD-1", True),
        ({"prefix": "ORD-"}, "XORD-1", False),
        ({"anything-but": ["CANCELLED"]}, "CONFIRMED", True),
        ({"anything-but": ["CANCELLED"]}, "CANCELLED", False),
        ({"anything-but": {"prefix": "AWAIT"}}, "AWAITING_ORDER", False),
        ({"anything-but": {"prefix": "AWAIT"}}, "CONFIRMED", True),
        ({"numeric": [">", 0, "<=", 5]}, 5, True),
        ({"numeric": [">", 0, "<=", 5]}, 6, False),
        ({"numeric": [">", 0]}, "5", False),  # DynamoDB's N values are strings: numeric never matches them
        ({"numeric": [">", 0]}, True, False),  # moto matched: Python's True is 1
        ({"exists": True}, "x", True),
        ({"exists": True}, None, True),  # null is a value
        ({"equals-ignore-case": "orderconfirmed"}, "OrderConfirmed", True),
        ({"wildcard": "Order*ed"}, "OrderConfirmed", True),
    ],
)
def test_content_filters_match_as_eventbridge_does(pattern: dict[str, Any], value: Any, matches: bool) -> None:
    assert (
        RecordFilter((json.dumps({"detail": {"field": [pattern]}}),)).matches({"detail": {"field": value}}) is matches
    )


def test_exists_false_matches_a_missing_field_and_anything_but_does_not() -> None:
    event = {"dynamodb": {"NewImage": {"orderId": {"S": "ORD-1"}}}}

    assert RecordFilter((json.dumps({"dynamodb": {"NewImage": {"domainEvent": {"S": [{"exists": False}]}}}}),)).matches(
        event
    )
    assert not RecordFilter(
        (json.dumps({"dynamodb": {"NewImage": {"domainEvent": {"S": [{"anything-but": "x"}]}}}}),)
    ).matches(event)


def test_a_boolean_matches_only_a_boolean() -> None:
    # moto compares with Python's ==, where True == 1; EventBridge keeps them apart.
    assert not RecordFilter((json.dumps({"flag": [1]}),)).matches({"flag": True})
    assert RecordFilter((json.dumps({"flag": [True]}),)).matches({"flag": True})
    assert not RecordFilter((json.dumps({"flag": [False]}),)).matches({"flag": True})
    assert RecordFilter((json.dumps({"flag": [{"anything-but": [False]}]}),)).matches({"flag": True})


def test_an_array_of_objects_is_matched_field_by_field() -> None:
    # A DynamoDB list of strings: {"L": [{"S": "a"}, {"S": "b"}]}; moto did not look inside the objects.
    event = {"dynamodb": {"NewImage": {"tags": {"L": [{"S": "gift"}, {"S": "express"}]}}}}

    assert RecordFilter((json.dumps({"dynamodb": {"NewImage": {"tags": {"L": {"S": ["express"]}}}}}),)).matches(event)
    assert not RecordFilter((json.dumps({"dynamodb": {"NewImage": {"tags": {"L": {"S": ["bulk"]}}}}}),)).matches(event)


def test_several_filters_pass_a_record_that_matches_any_and_none_pass_everything() -> None:
    inserts, removes = json.dumps({"eventName": ["INSERT"]}), json.dumps({"eventName": ["REMOVE"]})

    assert RecordFilter((inserts, removes)).matches(record("REMOVE"))
    assert not RecordFilter((inserts, removes)).matches(record("MODIFY"))
    assert RecordFilter(()).matches(record("MODIFY"))
    assert RecordFilter((json.dumps({"$or": [{"eventName": ["MODIFY"]}, {"eventName": ["REMOVE"]}]}),)).matches(
        record("MODIFY")
    )


#: Where moto's matcher differed from EventBridge: the pipe's filter decides as EventBridge does, since
#: it is the emulator's own matcher (orderflow_local/event_patterns.py, tested case by case against
#: stock moto in tests/functional/test_events_patches.py). (pattern, the record's value, passes?)
EVENTBRIDGE_NOT_MOTO = [
    ([300], 300.0, False),  # "300, 300.0, and 3.0e2 are not considered equal"
    ([True], 1, False),  # a boolean is not a number
    ([{"numeric": [">", 0]}], True, False),
    ([{"anything-but": 300}], 300.0, True),
    ([{"wildcard": "first*last"}], "first\nlast", True),  # * crosses line breaks
]


@pytest.mark.parametrize(("pattern", "value", "passes"), EVENTBRIDGE_NOT_MOTO)
def test_a_pipe_filter_decides_as_eventbridge_where_moto_did_not(pattern: list[Any], value: Any, passes: bool) -> None:
    record_ = {"dynamodb": {"NewImage": {"field": value}}}
    assert RecordFilter((json.dumps({"dynamodb": {"NewImage": {"field": pattern}}}),)).matches(record_) is passes


def test_a_filter_reaches_into_an_array_of_objects_as_eventbridge_flattens_it() -> None:
    image = {"dynamodb": {"NewImage": {"items": {"L": [{"M": {"sku": {"S": "A"}}}, {"M": {"sku": {"S": "B"}}}]}}}}
    pattern = {"dynamodb": {"NewImage": {"items": {"L": {"M": {"sku": {"S": ["B"]}}}}}}}
    assert RecordFilter((json.dumps(pattern),)).matches(image)
    pattern["dynamodb"]["NewImage"]["items"]["L"]["M"]["sku"]["S"] = ["C"]
    assert not RecordFilter((json.dumps(pattern),)).matches(image)


# -- input templates -----------------------------------------------------------------------------


def test_inside_quotes_a_value_is_string_content_outside_its_json_value() -> None:
    rendered = render_template(
        '{"id": "<$.dynamodb.NewImage.orderId.S>", "idValue": <$.dynamodb.NewImage.orderId.S>,'
        ' "version": <$.dynamodb.NewImage.version.N>, "size": <$.dynamodb.SizeBytes>,'
        ' "sizeText": "<$.dynamodb.SizeBytes>",'
        ' "keys": <$.dynamodb.Keys>, "keysText": "<$.dynamodb.Keys>"}',
        record(),
        CONTEXT,
    )

    assert json.loads(rendered) == {
        "id": "ORD-1",
        "idValue": "ORD-1",  # a string outside quotes keeps its quotes (AWS's documented output)
        "version": "2",  # DynamoDB numbers are strings ({"N": "2"}): they stay strings
        "size": 26,  # a JSON number goes in bare
        "sizeText": "26",
        "keys": {"orderId": {"S": "ORD-1"}},
        "keysText": '{"orderId":{"S":"ORD-1"}}',
    }


@pytest.mark.parametrize(
    "text",
    ['say "hi"', "back\\slash", "new\nline and\ttab", "ünïcødé €", "<$.not.a.placeholder>", "\u0001 control"],
)
def test_string_content_is_json_escaped(text: str) -> None:
    rendered = render_template('{"note": "note: <$.dynamodb.NewImage.note.S>!"}', record(note={"S": text}), CONTEXT)

    assert json.loads(rendered) == {"note": f"note: {text}!"}


def test_an_escaped_quote_in_the_template_does_not_end_its_string() -> None:
    rendered = render_template(r'{"a": "he said \"<$.dynamodb.NewImage.orderId.S>\" twice"}', record(), CONTEXT)

    assert json.loads(rendered) == {"a": 'he said "ORD-1" twice'}


def test_a_missing_path_is_an_empty_string_inside_quotes_and_null_outside() -> None:
    rendered = render_template('{"a": "<$.dynamodb.NewImage.nope.S>", "b": <$.dynamodb.OldImage>}', record(), CONTEXT)

    assert json.loads(rendered) == {"a": "", "b": None}


def test_reserved_variables() -> None:
    rendered = render_template(
        '{"pipe": <aws.pipes.pipe-name>, "arn": "<aws.pipes.pipe-arn>", "source": <aws.pipes.source-arn>,'
        ' "target": <aws.pipes.target-arn>, "at": "<aws.pipes.event.ingestion-time>", "event": <aws.pipes.event.json>}',
        record(),
        CONTEXT,
    )

    assert json.loads(rendered) == {
        "pipe": "OrderOutbox",
        "arn": CONTEXT.pipe_arn,
        "source": STREAM,
        "target": CONTEXT.target_arn,
        "at": "2025-01-01T00:00:02Z",
        "event": record(),
    }


def test_paths_take_indices_and_wildcards() -> None:
    document = {"a": {"list": [{"S": "x"}, {"S": "y"}], "map": {"k-1": 1, "k/2": 2}}}

    assert evaluate_path(document, "$.a.list[1].S") == "y"
    assert evaluate_path(document, "$.a.list.0.S") == "x"
    assert evaluate_path(document, "$.a.list[*].S") == ["x", "y"]
    assert evaluate_path(document, "$.a.map.k-1") == 1
    assert evaluate_path(document, "$.a.map.k/2") == 2
    assert evaluate_path(document, "$.a.list[5]") is MISSING
    assert evaluate_path(document, "$") == document
    with pytest.raises(JsonPathError):
        evaluate_path(document, "a.list")


# -- dynamic path parameters ---------------------------------------------------------------------


def test_a_parameter_starting_with_a_path_takes_the_source_records_value() -> None:
    assert resolve_dynamic("$.dynamodb.NewImage.domainEvent.S", record()) == "OrderConfirmed"
    assert resolve_dynamic("$.dynamodb.SizeBytes", record()) == "26"
    assert resolve_dynamic("orderflow.orders", record()) == "orderflow.orders"
    assert resolve_dynamic("prefix $.dynamodb.SizeBytes", record()) == "prefix $.dynamodb.SizeBytes"  # the whole value
    assert resolve_dynamic("$.dynamodb.NewImage.domainEvent.S", record(domainEvent={})) is None


# -- records and failure records -----------------------------------------------------------------


def test_a_stream_record_is_plain_json_with_its_source_arn() -> None:
    import datetime as dt

    raw = {
        "eventID": "e1",
        "dynamodb": {
            "ApproximateCreationDateTime": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
            "NewImage": {"blob": {"B": b"\x00\x01"}, "blobs": {"BS": [b"\x02"]}},
            "SequenceNumber": "100",
        },
    }

    converted = to_pipe_record(raw, STREAM)

    assert converted["dynamodb"]["ApproximateCreationDateTime"] == 1735689600
    assert converted["dynamodb"]["NewImage"] == {"blob": {"B": "AAE="}, "blobs": {"BS": ["Ag=="]}}
    assert converted["eventSourceARN"] == STREAM
    json.dumps(converted)


def test_the_failure_record_names_the_batch_by_its_place_in_the_stream() -> None:
    config = PipeConfig(
        name="OrderOutbox",
        source_arn=STREAM,
        target_arn=CONTEXT.target_arn,
        starting_position="LATEST",
    )
    first, last = record(), record()
    last["dynamodb"] = {**last["dynamodb"], "SequenceNumber": "300", "ApproximateCreationDateTime": 1735689660}

    failure = failure_record(config, "shardId-1", [first, last], "RetryAttemptsExhausted", now=1735689700.5)

    assert failure == {
        "context": {
            "partnerResourceArn": "arn:aws:pipes:us-east-1:123456789012:pipe/OrderOutbox",
            "condition": "RetryAttemptsExhausted",
        },
        "version": "1.0",
        "timestamp": "2025-01-01T00:01:40.500Z",
        "DDBStreamBatchInfo": {
            "shardId": "shardId-1",
            "startSequenceNumber": "100",
            "endSequenceNumber": "300",
            "approximateArrivalOfFirstRecord": "2025-01-01T00:00:00Z",
            "approximateArrivalOfLastRecord": "2025-01-01T00:01:00Z",
            "batchSize": 2,
            "streamArn": STREAM,
        },
    }
