"""Fault injection inside the function's execution environments (`orderflow up --chaos RATE`).

At the given rate per AWS call, the faults this pipeline meets in production: DynamoDB
throttling and 5xx errors, failed sends to the DLQ, the environment killed in the middle
of a batch (before or after a write), a handler timeout, and slow calls. Each fault is
appended to a journal file before it strikes, so even a killed process is counted.

The seed reproduces a run: each call's draw comes from the seed, the SQS record it serves
(its message id and receive count) and the call's ordinal within that record, not from a
generator the batch's record threads share, whose order of draws would depend on how the
threads were scheduled (and on which environment took the batch).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orderflow_local.processes import AppendedLines

if TYPE_CHECKING:
    from collections.abc import Iterator

#: What can strike each operation. Kills and timeouts are rarer: each costs a visibility timeout.
_ORDER_WRITE_FAULTS = [
    ("ddb_throttle", 4),
    ("ddb_server_error", 3),
    ("slow_call", 3),
    ("kill_before_write", 1),
    ("kill_after_write", 1),
    ("handler_timeout", 1),
]
FAULTS: dict[tuple[str, str], list[tuple[str, int]]] = {
    # Both of the store's conditional writes: PutItem (create, tombstone), UpdateItem (cancel, completion).
    ("dynamodb", "PutItem"): _ORDER_WRITE_FAULTS,
    ("dynamodb", "UpdateItem"): _ORDER_WRITE_FAULTS,
    ("sqs", "SendMessage"): [("dlq_send_failure", 3), ("slow_call", 1)],
    # The Notifier's e-mail: refused (nothing sent, the retry sends it), or sent and the environment
    # killed before the claim is marked sent (the retry must not send it again).
    ("sesv2", "SendEmail"): [("ses_throttle", 3), ("ses_server_error", 2), ("slow_call", 2), ("kill_after_send", 1)],
}
#: What can strike a pipe's PutEvents to its event bus (orderflow_local.lambda_runtime.pipe_chaos):
#: the whole call refused (throttled, or a 5xx), some of its entries refused (FailedEntryCount > 0;
#: journalled once per refused entry), or the call taking effect with its answer lost (a 5xx after
#: the write: the pipe retries, and the bus gets those events twice).
PIPE_TARGET_FAULTS: list[tuple[str, int]] = [
    ("put_events_throttle", 3),
    ("put_events_server_error", 3),
    ("put_events_entry_failed", 3),
    ("put_events_response_lost", 1),
]
FAULT_KINDS = sorted(
    {kind for faults in FAULTS.values() for kind, _ in faults} | {kind for kind, _ in PIPE_TARGET_FAULTS}
)


@dataclass(frozen=True)
class ChaosConfig:
    rate: float
    seed: int
    journal: str
    function_timeout: float
    #: Only these kinds of fault (None: all of them).
    only: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.rate <= 1:
            raise ValueError(f"the chaos rate is a probability per AWS call, 0..1, not {self.rate}")
        unknown = set(self.only or ()) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kind(s) {sorted(unknown)}: choose from {FAULT_KINDS}")


class Draws:
    """Each AWS call's random generator, from the seed and a key that does not depend on thread scheduling.

    Within an SQS record (:meth:`record`, entered in the record's thread) the key is the
    record's message id, its receive count (a redelivery draws afresh) and the call's
    ordinal within the record; so the same seed gives the same faults to the same work,
    however the batch's records interleave. A call outside any record falls back to the
    environment and the call's ordinal in the process.
    """

    def __init__(self, seed: int, environment_index: int) -> None:
        self._seed = seed
        self._environment_index = environment_index
        self._local = threading.local()
        self._outside = itertools.count()  # next() is atomic under the GIL

    @contextlib.contextmanager
    def record(self, message_id: str, receive_count: str) -> Iterator[None]:
        previous = getattr(self._local, "record", None)
        self._local.record = (f"{message_id}-{receive_count}", itertools.count())
        try:
            yield
        finally:
            self._local.record = previous

    def next(self) -> random.Random:
        current: tuple[str, itertools.count[int]] | None = getattr(self._local, "record", None)
        if current is None:
            key = f"{self._environment_index}-{next(self._outside)}"
        else:
            key = f"record-{current[0]}-{next(current[1])}"
        return random.Random(f"{self._seed}-{key}")  # noqa: S311 - fault injection, not security


def _key_records(draws: Draws) -> None:
    """Enter each SQS record Powertools' batch processors hand to the record handler (in its thread)."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor

    original = BatchProcessor._process_record

    def keyed(self: BatchProcessor, record: dict[str, Any]) -> Any:
        attributes = record.get("attributes") or {}
        with draws.record(str(record.get("messageId", "")), str(attributes.get("ApproximateReceiveCount", ""))):
            return original(self, record)

    BatchProcessor._process_record = keyed  # type: ignore[method-assign]


def install(config: ChaosConfig, environment_index: int) -> None:
    """Wrap every boto3 call in this process with fault injection."""
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    draws = Draws(config.seed, environment_index)
    _key_records(draws)
    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def record(kind: str, operation: str) -> None:
        journal_fault(config.journal, kind, operation)

    def chaotic(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        faults = [
            (kind, weight)
            for kind, weight in FAULTS.get((self.meta.service_model.service_name, operation_name), [])
            if config.only is None or kind in config.only
        ]
        if not faults:
            return original(self, operation_name, api_params)
        rng = draws.next()
        if rng.random() >= config.rate:
            return original(self, operation_name, api_params)
        kind = rng.choices([name for name, _ in faults], weights=[weight for _, weight in faults])[0]
        if kind not in _KILLS_AFTER:
            record(kind, operation_name)
        if kind == "slow_call":
            time.sleep(rng.uniform(0.05, 0.3))
        elif kind in _ERRORS:
            code, status = _ERRORS[kind]
            response: Any = {
                "Error": {"Code": code, "Message": "injected by orderflow chaos"},
                "ResponseMetadata": {"HTTPStatusCode": status},
            }
            raise ClientError(response, operation_name)
        elif kind == "kill_before_write":
            os._exit(137)
        elif kind == "handler_timeout":
            time.sleep(config.function_timeout + 5)
        result = original(self, operation_name, api_params)  # a failed write raises here: nothing to kill after
        if kind in _KILLS_AFTER:
            record(kind, operation_name)
            os._exit(137)
        return result

    BaseClient._make_api_call = chaotic  # type: ignore[attr-defined]


#: The AWS error each refusal answers with.
_ERRORS = {
    "ddb_throttle": ("ProvisionedThroughputExceededException", 400),
    "ddb_server_error": ("InternalServerError", 500),
    "dlq_send_failure": ("InternalError", 500),
    "ses_throttle": ("TooManyRequestsException", 429),
    "ses_server_error": ("InternalFailure", 500),
}
#: Faults that let the call take effect, then kill the environment.
_KILLS_AFTER = frozenset({"kill_after_write", "kill_after_send"})


def journal_fault(journal: str | Path, kind: str, operation: str) -> None:
    """Append one injected fault to the journal (before it strikes: a killed process is still counted)."""
    with open(journal, "a", encoding="utf-8") as lines:
        lines.write(f"{kind}\t{time.time():.3f}\t{operation}\n")


def count_faults(journal: str | Path) -> Counter[str]:
    """How many faults of each kind were injected so far."""
    path = Path(journal)
    if not path.exists():
        return Counter()
    return Counter(line.split("\t", 1)[0] for line in path.read_text(encoding="utf-8").splitlines() if line)


class FaultReader:
    """Reads the faults journaled since the last call: (epoch seconds, kind, AWS operation)."""

    def __init__(self, journal: str | Path, kinds: frozenset[str] | None = None) -> None:
        self._new_lines = AppendedLines(journal)
        self._kinds = kinds

    def __call__(self) -> list[tuple[float, str, str]]:
        faults = []
        for line in self._new_lines():
            kind, _, rest = line.partition("\t")
            at, _, operation = rest.partition("\t")
            if self._kinds is None or kind in self._kinds:
                faults.append((float(at or 0), kind, operation))
        return faults


def install_latency(milliseconds: float, service: str = "dynamodb") -> None:
    """Add ``milliseconds`` of network-like wait to every call to ``service`` in this process.

    The emulator answers in about a millisecond; real DynamoDB takes several. This makes
    the cost of waiting visible locally (``orderflow up --ddb-latency-ms 10``).
    """
    from botocore.client import BaseClient

    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def delayed(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == service:
            time.sleep(milliseconds / 1000)
        return original(self, operation_name, api_params)

    BaseClient._make_api_call = delayed  # type: ignore[attr-defined]
