"""The bad-input corpus through the real handler: nothing crashes a batch, nothing bad is
stored, everything bad reaches the DLQ with its reason, and the good records of the same
batch are stored."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from orderflow.handler import lambda_handler
from tests.bad_input.corpus import ACCEPTED, CORPUS, BadInput
from tests.support import FakeLambdaContext, sqs_record

if TYPE_CHECKING:
    from tests.functional.conftest import EmulatedAws


def _batches(cases: list[BadInput]) -> list[list[BadInput]]:
    return [cases[start : start + 8] for start in range(0, len(cases), 8)]


#: SQS refuses an empty body when it is sent, so it never reaches the function, and the DLQ
#: (an SQS queue, emulated faithfully) refuses it too: see the test after the next one.
DELIVERABLE = [case for case in CORPUS if case.body != ""]


@pytest.mark.parametrize("batch", _batches(DELIVERABLE), ids=lambda batch: f"{batch[0].name}..")
def test_bad_input_goes_to_the_dlq_and_good_neighbours_are_stored(aws: EmulatedAws, batch: list[BadInput]) -> None:
    # Given a batch of bad bodies with two good orders among them
    good = [body for _, body in ACCEPTED]
    records = [sqs_record(case.body) for case in batch] + [sqs_record(body) for body in good]
    # When the handler processes it
    response = lambda_handler({"Records": records}, FakeLambdaContext())
    # Then no record is retried, the good ones are stored, and each bad one is in the DLQ with its reason
    assert response == {"batchItemFailures": []}
    assert aws.count() == len(good)
    dead = {message["Body"]: message["MessageAttributes"] for message in aws.dlq_messages()}
    assert len(dead) == len(batch)
    for case in batch:
        attributes = dead[case.body]  # the original body, byte for byte
        assert attributes["errorCode"]["StringValue"] == case.code, case.name
        assert case.reason in attributes["errorReason"]["StringValue"], (case.name, attributes["errorReason"])


def test_a_body_the_dlq_refuses_is_kept_for_sqs_never_dropped(aws: EmulatedAws) -> None:
    # Given a record whose body SQS itself would refuse (empty), beside a good order
    [empty] = [case for case in CORPUS if case.body == ""]
    rejected, good = sqs_record(empty.body), sqs_record(ACCEPTED[0][1])
    # When the handler rejects it and the DLQ refuses the send
    response = lambda_handler({"Records": [rejected, good]}, FakeLambdaContext())
    # Then it is reported as failed, so SQS keeps it (and moves it itself after its receives)
    assert response == {"batchItemFailures": [{"itemIdentifier": rejected["messageId"]}]}
    assert aws.count() == 1
    assert aws.dlq_messages() == []


def test_accepted_inputs_are_stored_as_our_schema(aws: EmulatedAws) -> None:
    for _, body in ACCEPTED:
        assert lambda_handler({"Records": [sqs_record(body)]}, FakeLambdaContext()) == {"batchItemFailures": []}
    stored = aws.stored("ORD-BAD-080", "2026-04-20T14:30:00Z")
    assert stored is not None
    assert "giftWrap" not in stored
    mixed = aws.stored("ORD-BAD-081", "2026-04-20T14:30:00Z")
    assert mixed is not None
    assert mixed["items"]["L"][0]["M"]["productName"]["S"] == json.loads(ACCEPTED[1][1])["items"][0]["productName"]
