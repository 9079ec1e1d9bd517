"""Fault injection in a pipe's target: PutEvents fails as EventBridge's can, reproducibly from the seed."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from orderflow_local.lambda_runtime.chaos import count_faults
from orderflow_local.lambda_runtime.pipe_chaos import ChaoticEvents, TargetChaos, chaotic_target

if TYPE_CHECKING:
    from pathlib import Path


class Bus:
    """The AWS side: an EventBridge client that keeps what it was given and answers as PutEvents does."""

    def __init__(self) -> None:
        self.put: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's keyword
        self.put.extend(Entries)
        start = len(self.put) - len(Entries)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": f"ev-{start + n}"} for n in range(len(Entries))]}

    def describe_event_bus(self) -> dict[str, str]:
        return {"Name": "OrderDomainEvents"}


class Other:
    """Any other client the pipe makes."""


def _entries(count: int, first: int = 0) -> list[dict[str, Any]]:
    return [
        {"Source": "orderflow.orders", "DetailType": "OrderConfirmed", "Detail": json.dumps({"eventId": f"o{n}#1"})}
        for n in range(first, first + count)
    ]


def _events(tmp_path: Path, *, rate: float = 1.0, seed: int = 1, only: tuple[str, ...] | None) -> tuple[Any, Bus]:
    bus = Bus()
    chaos = TargetChaos(rate=rate, seed=seed, journal=str(tmp_path / "journal"), only=only)
    clients: dict[str, Any] = {"events": bus, "sqs": Other()}
    return chaotic_target(clients.__getitem__, chaos, pipe="OrderOutbox")("events"), bus


@pytest.mark.parametrize(
    ("kind", "code", "status"),
    [("put_events_throttle", "ThrottlingException", 400), ("put_events_server_error", "InternalException", 500)],
)
def test_a_refused_call_raises_aws_error_and_puts_nothing(tmp_path: Path, kind: str, code: str, status: int) -> None:
    events, bus = _events(tmp_path, only=(kind,))
    with pytest.raises(ClientError) as raised:
        events.put_events(Entries=_entries(3))
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert bus.put == []
    assert count_faults(tmp_path / "journal") == {kind: 1}


def test_refused_entries_come_back_failed_in_place_and_only_the_others_are_put(tmp_path: Path) -> None:
    # the rate is per entry: about that share of the entries is refused, however they are batched
    events, bus = _events(tmp_path, rate=0.3, only=("put_events_entry_failed",))
    refused_total = 0
    for call in range(20):
        entries = _entries(10, first=call * 10)
        before = len(bus.put)
        answer = events.put_events(Entries=entries)
        results = answer["Entries"]
        assert len(results) == len(entries)  # one result per entry, in the request's order
        refused = [entry for entry, result in zip(entries, results, strict=True) if "ErrorCode" in result]
        assert len(refused) == answer["FailedEntryCount"]
        for result in results:
            if "ErrorCode" in result:
                assert result["ErrorCode"] in {"InternalFailure", "ThrottlingException"}  # retryable, as documented
                assert result["ErrorMessage"]
                assert "EventId" not in result
            else:
                assert result["EventId"].startswith("ev-")
        assert bus.put[before:] == [entry for entry in entries if entry not in refused]
        refused_total += len(refused)
    assert count_faults(tmp_path / "journal") == {"put_events_entry_failed": refused_total}
    assert 30 < refused_total < 90  # about 0.3 of the 200 entries


def test_a_lost_response_puts_the_events_and_still_raises(tmp_path: Path) -> None:
    events, bus = _events(tmp_path, only=("put_events_response_lost",))
    entries = _entries(2)
    with pytest.raises(ClientError) as raised:
        events.put_events(Entries=entries)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert bus.put == entries  # the caller retries: the bus gets them again
    assert count_faults(tmp_path / "journal") == {"put_events_response_lost": 1}


def _outcomes(tmp_path: Path, seed: int, calls: int = 60) -> list[str]:
    tmp_path.mkdir()
    events, _bus = _events(tmp_path, rate=0.3, seed=seed, only=None)
    outcomes = []
    for call in range(calls):
        try:
            answer = events.put_events(Entries=_entries(4, first=call * 4))
        except ClientError as error:
            outcomes.append(error.response["Error"]["Code"])
        else:
            outcomes.append("".join("x" if "ErrorCode" in result else "." for result in answer["Entries"]))
    return outcomes


def test_the_seed_reproduces_the_faults_call_by_call(tmp_path: Path) -> None:
    first = _outcomes(tmp_path / "a", seed=5)
    assert first == _outcomes(tmp_path / "b", seed=5)
    assert first != _outcomes(tmp_path / "c", seed=6)
    faulty = [outcome for outcome in first if outcome != "...."]
    assert 0.6 < len(faulty) / len(first) < 0.9  # a call of 4 entries meets a fault at 1 - 0.7 ** 4 = 0.76
    assert {"ThrottlingException", "InternalException"} <= set(faulty)
    assert any("x" in outcome for outcome in faulty)


@pytest.mark.parametrize(("rate", "only"), [(0.0, None), (1.0, ("kill_after_write",))])
def test_no_fault_that_can_strike_the_target_leaves_the_clients_as_they_are(
    tmp_path: Path, rate: float, only: tuple[str, ...] | None
) -> None:
    bus = Bus()
    factory = {"events": bus}.__getitem__
    assert chaotic_target(factory, TargetChaos(rate, 1, str(tmp_path / "journal"), only), pipe="p") is factory


def test_only_put_events_is_touched(tmp_path: Path) -> None:
    events, _bus = _events(tmp_path, only=("put_events_throttle",))
    assert isinstance(events, ChaoticEvents)
    assert events.describe_event_bus() == {"Name": "OrderDomainEvents"}  # other calls pass through
    chaos = TargetChaos(rate=1.0, seed=1, journal=str(tmp_path / "journal"), only=None)
    other = Other()
    assert chaotic_target({"sqs": other}.__getitem__, chaos, pipe="p")("sqs") is other
    assert not (tmp_path / "journal").exists()


def test_an_unknown_fault_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        TargetChaos(rate=0.1, seed=1, journal=str(tmp_path / "journal"), only=("put_events_meteor",))
