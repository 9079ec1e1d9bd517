"""Fault injection in a pipe's target: its ``PutEvents`` to the event bus (``orderflow up --chaos RATE``).

The rate is per event put (an entry of the call): a call of n entries meets a fault with
probability 1 - (1 - rate)^n. The pipe puts as many records per call as it has gathered, which
depends on timing; per entry, the share of events that meet a fault does not. A call that meets
one gets, weighted as :data:`~orderflow_local.lambda_runtime.chaos.PIPE_TARGET_FAULTS` says, what
EventBridge can answer:

- the whole call refused: ``ThrottlingException`` (400) or ``InternalException`` (500), nothing put;
- the entries the draw struck refused: ``FailedEntryCount`` > 0, each with a retryable ``ErrorCode``
  (``InternalFailure`` or ``ThrottlingException``) and an ``ErrorMessage``, the others put. EventBridge
  goes on with the rest of the entries when one fails, and answers one result per entry, in order
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevents.html,
  https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsResultEntry.html);
- the call taking effect and its answer lost: the events are put, then a 500 is raised, as a
  connection reset or a timeout after the write looks to the caller. The pipe retries them, so the bus
  gets them twice: the at-least-once delivery consumers must expect.

Each fault is journalled (the same journal as the function's, so ``LocalStack.faults()`` counts them)
before the caller sees it. The draws come from the seed, the pipe's name and the call's ordinal on
that pipe: a pipe reads its shard one batch at a time, so with the same seed the same calls meet the
same faults.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orderflow_local.lambda_runtime.chaos import FAULT_KINDS, PIPE_TARGET_FAULTS, journal_fault

if TYPE_CHECKING:
    from collections.abc import Callable

#: Whole-call refusals: (error code, HTTP status).
_REFUSALS = {
    "put_events_throttle": ("ThrottlingException", 400),
    "put_events_server_error": ("InternalException", 500),
    "put_events_response_lost": ("InternalException", 500),
}
#: The retryable per-entry error codes PutEventsResultEntry documents.
_ENTRY_ERRORS = ["InternalFailure", "ThrottlingException"]
MESSAGE = "injected by orderflow chaos"


@dataclass(frozen=True)
class TargetChaos:
    """Faults for a pipe's target: probability per ``PutEvents`` call, seed, journal, kinds allowed."""

    rate: float
    seed: int
    journal: str
    #: Only these kinds of fault (None: all of them); kinds of the function's faults are ignored here.
    only: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.rate <= 1:
            raise ValueError(f"the chaos rate is a probability per AWS call, 0..1, not {self.rate}")
        unknown = set(self.only or ()) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kind(s) {sorted(unknown)}: choose from {FAULT_KINDS}")

    @property
    def faults(self) -> list[tuple[str, int]]:
        """The kinds this configuration may inject, with their weights."""
        return [(kind, weight) for kind, weight in PIPE_TARGET_FAULTS if self.only is None or kind in self.only]


class ChaoticEvents:
    """An EventBridge client whose ``PutEvents`` fails as EventBridge can; every other call passes through."""

    def __init__(self, client: Any, chaos: TargetChaos, draws: Callable[[], random.Random]) -> None:
        self._client = client
        self._chaos = chaos
        self._draws = draws

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def put_events(self, **request: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        rng = self._draws()
        faults = self._chaos.faults
        entries = list(request.get("Entries", []))
        struck = {index for index in range(len(entries)) if rng.random() < self._chaos.rate}
        if not faults or not struck:
            return dict(self._client.put_events(**request))
        kind = rng.choices([name for name, _ in faults], weights=[weight for _, weight in faults])[0]
        if kind == "put_events_entry_failed":
            return self._refuse_entries(request, entries, struck, rng)
        journal_fault(self._chaos.journal, kind, "PutEvents")
        if kind == "put_events_response_lost":
            self._client.put_events(**request)  # it takes effect; the caller never hears so
        code, status = _REFUSALS[kind]
        response: Any = {"Error": {"Code": code, "Message": MESSAGE}, "ResponseMetadata": {"HTTPStatusCode": status}}
        raise ClientError(response, "PutEvents")

    def _refuse_entries(
        self, request: dict[str, Any], entries: list[dict[str, Any]], refused: set[int], rng: random.Random
    ) -> dict[str, Any]:
        """Refuse the entries at the ``refused`` indexes; put the others, and answer for each in place."""
        kept = [entry for index, entry in enumerate(entries) if index not in refused]
        answer: dict[str, Any] = (
            dict(self._client.put_events(**{**request, "Entries": kept}))
            if kept
            else {"FailedEntryCount": 0, "Entries": []}
        )
        answered = iter(answer.get("Entries", []))
        results: list[dict[str, Any]] = []
        for index in range(len(entries)):
            if index in refused:
                journal_fault(self._chaos.journal, "put_events_entry_failed", "PutEvents")
                results.append({"ErrorCode": rng.choice(_ENTRY_ERRORS), "ErrorMessage": MESSAGE})
            else:
                results.append(next(answered, {"ErrorCode": "InternalFailure", "ErrorMessage": "no result"}))
        return {
            **answer,
            "FailedEntryCount": sum(1 for result in results if result.get("ErrorCode")),
            "Entries": results,
        }


def chaotic_target(client_factory: Callable[[str], Any], chaos: TargetChaos, *, pipe: str) -> Callable[[str], Any]:
    """``client_factory`` whose ``events`` clients fail ``PutEvents`` as ``chaos`` says (itself when no
    fault can strike). The clients it makes for one pipe share one sequence of draws."""
    if not chaos.rate or not chaos.faults:
        return client_factory
    calls = itertools.count()  # next() is atomic under the GIL

    def draws() -> random.Random:
        return random.Random(f"{chaos.seed}-pipe-{pipe}-{next(calls)}")  # noqa: S311 - fault injection

    def make(service: str) -> Any:
        client = client_factory(service)
        return ChaoticEvents(client, chaos, draws) if service == "events" else client

    return make
