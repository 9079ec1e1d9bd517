"""Nothing lost, nothing duplicated: the pipeline's promise, under chaos.

For a stream with duplicates, invalid orders and cancellations (some sent before their
order), at several fault rates with a fixed seed, through the SQS ingress (standard and FIFO)
and the EventBridge ingress: every valid order ends stored exactly once with the data it was
sent with, CANCELLED if it was cancelled and CONFIRMED if not, or (when its retries ran out)
sits in a DLQ with its original body; every cancellation is applied or in a DLQ; every invalid
message is in a DLQ and never stored, or was refused by the bus at the producer; no stored
data is ever overwritten, and no cancelled order ever goes back to CONFIRMED.

And the outbox, while faults also strike the pipe's PutEvents to the bus: every stored
transition reaches the bus at least once, with the item's event id, detail-type and version;
nothing is published for a non-transition; every duplicate carries the same event id and the
same detail; the pipe's DLQ stays empty.

And the payments, while faults strike the payment function and the payment provider (latency,
429, 500, a response lost after the charge) at the same rate: checked against the provider's
ledger, every CONFIRMED order is charged exactly once, every CANCELLED one net zero (never
charged, or charged once and refunded once), nothing else is charged, and every payment dead
letter carries its reason and, redriven, leaves nothing behind.

And the e-mails, while faults also strike SES (429, 500, slow, the environment killed after SES
accepted an e-mail): checked against what SES sent, no event is e-mailed twice; every capture,
refund and cancellation is e-mailed once, unless the Notifier reported it uncertain (only an
interruption can make it so, and it is never sent again); nothing else is e-mailed.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

import pytest
from infra.ingress import ROUTED_EVENTS

from orderflow_local.lambda_runtime.chaos import PIPE_TARGET_FAULTS
from orderflow_local.ops.dlq import list_dead_letters, table_reader
from orderflow_local.ops.producer import DEFAULT_EVENT_TYPE, event_type_and_group
from orderflow_local.ops.traffic import plan_traffic, send, verify
from orderflow_local.stack import LocalStack, StackOptions
from tests.reliability.invariant_support import (
    PaymentsSettled,
    all_messages,
    chaos_lines,
    consumers,
    dead_letters,
    drained,
    explain_dead_letters,
    items,
    mapping_of,
    moved_forward_only,
    outbox_problems,
    pipe_idle,
    redrive_to_source,
    send_traffic,
    settle_notifications,
    settle_payments,
    snapshots_until_drained,
    stored_transitions,
    stream_images,
    subscribe,
)
from tests.support import wait_until

if TYPE_CHECKING:
    from orderflow_local.ops.dlq import Explained, RedriveReport
    from orderflow_local.ops.traffic import PlannedMessage, TrafficPlan, Verdict
    from tests.reliability.invariant_support import Item, Key, NotificationsSettled
    from tests.synth import Synthesized

#: `make test` runs this module on its own, after the rest of the suite, two tests at a time: each case
#: keeps the cores busy with faults, timeouts and retries, and four at once beside other tests once
#: outlasted every timeout in CI. Run with the rest (`pytest -n 4 --dist loadgroup`), one worker takes
#: them one after another.
pytestmark = [pytest.mark.timeout(900), pytest.mark.xdist_group("test_invariant")]

MESSAGES = 100
#: The faults injected into the pipe's PutEvents, as the journal names them.
PIPE_FAULT_KINDS = {kind for kind, _ in PIPE_TARGET_FAULTS}
#: Each topology's CDK context (beside stage=dev).
CONTEXT = {"standard": {}, "fifo": {"fifo": "true"}, "eventbridge": {"ingress": "eventbridge"}}
#: Each case's seeds, another set per topology: its traffic (duplicates, mistakes, cancellations and
#: when they are sent), the faults in the functions and the pipe, and the payment provider's faults.
SEEDS = {
    "standard": {"traffic": 11, "chaos": 5, "provider": 7},
    "fifo": {"traffic": 12, "chaos": 6, "provider": 8},
    "eventbridge": {"traffic": 13, "chaos": 7, "provider": 9},
}
REJECTED = {"malformed", "invalid"}
#: Each topology's consumers, OrderProcessor first, and the outputs naming their DLQs.
EXPECTED_FUNCTIONS = {
    "standard": ["OrderProcessor"],
    "fifo": ["OrderProcessor"],
    "eventbridge": ["OrderProcessor", "OrderCancellationProcessor"],
}
DLQ_OUTPUTS = {"standard": ["DLQUrl"], "fifo": ["DLQUrl"], "eventbridge": ["DLQUrl", "CancellationDLQUrl"]}


def _is_json_object(body: str) -> bool:
    try:
        return isinstance(json.loads(body), dict)
    except ValueError:
        return False


def _routed_type(body: str) -> str:
    """The detail-type a producer puts ``body`` on the bus with, which the bus's rules route by."""
    event_type, _ = event_type_and_group(body)
    return event_type or DEFAULT_EVENT_TYPE


def _state(item: Item) -> dict[str, str]:
    """What a failed snapshot check shows of an item: its status, version and expiry."""
    return {name: str(next(iter(item[name].values()))) for name in ("status", "version", "ttl") if name in item}


def _message(plan: TrafficPlan, body: str) -> PlannedMessage:
    """The planned message a letter's body is (the first sent with it: duplicates copy earlier ones)."""
    return next(message for message in plan.messages if message.body == body)


@pytest.mark.parametrize(
    ("rate", "topology"),
    [(0.0, "standard"), (0.2, "standard"), (0.15, "fifo"), (0.2, "eventbridge")],
)
def test_nothing_lost_nothing_duplicated_under_chaos(rate: float, topology: str, synthesized: Synthesized) -> None:
    began = time.monotonic()
    # Given a stream of orders with duplicates, malformed and invalid ones
    plan = plan_traffic(
        MESSAGES, seed=SEEDS[topology]["traffic"], duplicate_rate=0.1, malformed_rate=0.05, invalid_rate=0.05,
        cancel_rate=0.3, run=f"r{rate}{topology}",
    )  # fmt: skip
    assert plan.cancelled_first > 0  # some cancellations are sent before their order
    # A function timeout generous enough that only injected faults time out, even on a busy machine (at 5 s,
    # make test's load timed out payment batches that were only slow, dozens per case), and a visibility
    # timeout well above it plus the batching window and a cold start (at 10 s with 12 s, a slow batch's
    # messages came back while it ran, and a receive was spent with no failure to log).
    # On FIFO (-c fifo=true) the producer sends each order's events in its own message group; on
    # EventBridge (-c ingress=eventbridge) it puts them on the ingress bus, whose rules route
    # OrderCreated and OrderCancelled each to a queue and a function of its own.
    # Retries back off 1, 2, then 3 s (RETRY_DELAYS) and batches gather for 1 s, not the stack's 2/8/30 s
    # and 5 s: the same faults and the same paths, in a fraction of the waiting.
    options = StackOptions(
        port=0, chaos_rate=rate, chaos_seed=SEEDS[topology]["chaos"], visibility_timeout=20, function_timeout=10,
        template=synthesized({"stage": "dev", **CONTEXT[topology]}), batching_window=1,
        function_environment={"RETRY_DELAYS": "1,2,3"},
        provider_chaos_rate=rate, provider_chaos_seed=SEEDS[topology]["provider"],
    )  # fmt: skip
    with LocalStack(options) as stack:
        assert stack.outputs["QueueUrl"].endswith(".fifo") == (topology == "fifo")
        assert ("IngressBusName" in stack.outputs) == (topology == "eventbridge")
        queues = consumers(stack)  # every mapping's queue, with its own DLQ and function
        assert [consumer.function for consumer in queues] == EXPECTED_FUNCTIONS[topology]
        assert [consumer.dlq_url for consumer in queues] == [stack.outputs[name] for name in DLQ_OUTPUTS[topology]]
        subscriber = subscribe(stack)  # a consumer of the order events, there before any traffic
        # When it is sent while faults strike every function and the pipe's PutEvents to the bus
        refused = send_traffic(stack, plan)
        snapshots = snapshots_until_drained(stack, timeout=400)
        phases = {"drained": time.monotonic() - began}  # where a slow run's time went, printed below
        verdict = verify(
            plan, dynamodb=stack.emulator.dynamodb(), table_name="Orders", sqs=stack.emulator.sqs(),
            dlq_url=queues[0].dlq_url, more_dlq_urls=tuple(consumer.dlq_url for consumer in queues[1:]),
            refused=refused,
        )  # fmt: skip
        final = items(stack)
        faults = stack.faults()
        for logs in stack.function_logs:  # every invocation is recorded (drained); send its events now,
            logs.flush()  # not at the sender's next tick, which a busy machine may delay past any fixed wait
        read = table_reader(stack.emulator.dynamodb(), "Orders")
        # each DLQ's letters, explained by its own function's log group
        explained = {consumer.function: explain_dead_letters(stack, consumer, read) for consumer in queues}
        chaos_logged = {consumer.function: chaos_lines(stack, consumer) for consumer in queues}
        ingress_dead = (
            list_dead_letters(stack.emulator.sqs(), stack.outputs["IngressDLQUrl"], limit=10_000)
            if topology == "eventbridge"
            else []
        )
        redriven: dict[str, tuple[RedriveReport, RedriveReport]] = {}
        if rate:
            # And a redrive of each DLQ to its own queue deletes the already-stored letters, sending back the others
            redriven = {consumer.function: redrive_to_source(stack, consumer, read) for consumer in queues}
            wait_until(lambda: drained(stack), "the redriven messages are processed", timeout=300)
            phases["redriven"] = time.monotonic() - began
            after_redrive = items(stack)
            left = {consumer.function: dead_letters(stack, consumer) for consumer in queues}
        # And once the pipe has published what the last writes stored
        wait_until(pipe_idle(stack), "the pipe to be idle", timeout=120, interval=0.5)
        phases["pipe idle"] = time.monotonic() - began
        stored = items(stack)
        stream = stream_images(stack)
        received = all_messages(stack, subscriber)
        pipe_dead = all_messages(stack, stack.outputs["OutboxDLQUrl"])
        pipe_stats = stack.pipes[0].stats.snapshot()
        pipe_faults = {kind: count for kind, count in stack.faults().items() if kind in PIPE_FAULT_KINDS}
        # And once the payment service has handled every order event, its dead letters redriven
        payments = settle_payments(stack)
        phases["payments settled"] = time.monotonic() - began
        # And once the Notifier has e-mailed every event, its dead letters redriven
        mail = settle_notifications(stack)
        phases["e-mails settled"] = time.monotonic() - began
        all_faults = stack.faults()

    letters = [entry for entries in explained.values() for entry in entries]
    by_dlq = {function: len(entries) for function, entries in explained.items()}
    redrives = {function: (report.deleted_stored, report.moved) for function, (_, report) in redriven.items()}
    print(
        f"\ninvariant at chaos {rate} ({topology}), {time.monotonic() - began:.0f} s: {sum(faults.values())} faults "
        f"before the redrive, lines naming one by function {chaos_logged}; {verdict.stored} stored "
        f"({verdict.confirmed} CONFIRMED, {verdict.cancelled} CANCELLED), {verdict.awaiting} awaiting their order; "
        f"letters by DLQ {by_dlq}: {verdict.valid_in_dlq} orders and {verdict.cancels_in_dlq} cancellations, "
        f"{dict(sorted(verdict.rejected_by_reason.items()))}; {len(refused)} refused by the bus; "
        f"redrive by DLQ (deleted as stored, moved) {redrives}; seconds at the end of each phase "
        f"{ {phase: round(at) for phase, at in phases.items()} }"
    )
    # Then every valid order is stored exactly once with its data, or in a DLQ with its body
    expected = len(plan.unique_valid)
    assert verdict.missing == []  # a valid order or a cancellation refused by the bus would be listed here
    assert verdict.stored + verdict.valid_in_dlq == expected
    assert verdict.data_changed == []
    # cancelled if and only if cancelled (or its cancellation is in a DLQ), never lost
    assert verdict.not_confirmed == []
    assert verdict.cancels_lost == []
    assert len(final) == verdict.stored + verdict.awaiting  # nothing else, nothing twice
    assert verdict.unexpected_items == 0  # no invalid order was stored
    _check_rejected(plan, refused, letters, verdict, through_bus=topology == "eventbridge")
    if topology == "eventbridge":
        _check_routing(plan, refused, explained, ingress_dead)
    _check_explained(plan, letters, final)
    # no stored data was ever overwritten, and no order went back: CANCELLED is final
    for snapshot in snapshots:
        for key, item in snapshot.items():
            assert moved_forward_only(item, final[key]) == [], (key, _state(item), _state(final[key]))
            if item["status"]["S"] == "CANCELLED":
                assert final[key] == item
    if rate == 0:
        assert verdict.stored == expected
        assert verdict.valid_in_dlq == 0
        assert verdict.cancelled == len(plan.cancels)
        # exactly the rejected messages the bus took, each with its reason (the DLQ is at-least-once: a batch
        # retried after a slow invocation may send one twice, never a different one)
        assert {(entry.letter.body, entry.error_code) for entry in letters} == {
            (message.body, message.expected_code)
            for index, message in enumerate(plan.messages)
            if message.kind in REJECTED and index not in refused
        }
        assert faults == {}
        assert all(lines == 0 for lines in chaos_logged.values())
    else:
        assert sum(faults.values()) > 0
        # faults struck every function: each logged failures that name the injected fault
        assert all(lines > 0 for lines in chaos_logged.values()), chaos_logged
        for function, (dry, report) in redriven.items():
            _check_redrive(explained[function], dry, report, left[function])
        # the redrives touched no stored order: only the events they sent back could change one
        sent_back = {(m.order_id, m.created_at) for m in (_message(plan, e.letter.body) for e in letters
                                                           if not e.already_stored)}  # fmt: skip
        for key, item in final.items():
            if key not in sent_back:
                assert after_redrive[key] == item, key

    # And the outbox kept its promise: what the pipe did, and what the subscriber received
    _check_outbox(rate, topology, stored=stored, stream=stream, received=received, pipe_dead=pipe_dead,
                  pipe_stats=pipe_stats, pipe_faults=pipe_faults)  # fmt: skip
    _check_payments(rate, payments)
    _check_mail(rate, mail, all_faults)


def _check_payments(rate: float, payments: PaymentsSettled) -> None:
    """Checked against the provider's ledger: every CONFIRMED order charged exactly once, every CANCELLED
    one net zero (cancellations were sent before, during and after payment), nothing else charged; every
    payment dead letter carried its reason, and none was left."""
    verdict = payments.verdict
    print(
        f"payments at chaos {rate}: {verdict.charges} charged, {verdict.refunds} refunded, {verdict.declines} "
        f"declined; provider faults {dict(sorted(payments.provider_faults.items()))}, {payments.function_faults} "
        f"function log lines naming a fault; {len(payments.letters)} dead letters over {payments.rounds} round(s)"
    )
    assert verdict.problems() == []
    assert payments.left == 0
    assert all(entry.reason_source in {"attributes", "logs"} for entry in payments.letters), [
        entry.to_json() for entry in payments.letters if entry.reason_source == "unknown"
    ]
    if rate:
        assert sum(payments.provider_faults.values()) > 0
    else:
        assert payments.provider_faults == {}
        assert payments.letters == []


#: The faults that can interrupt an attempt after it claimed an e-mail: an environment killed or timed out.
INTERRUPTIONS = {"kill_before_write", "kill_after_write", "kill_after_send", "handler_timeout"}


def _check_mail(rate: float, mail: NotificationsSettled, faults: dict[str, int]) -> None:
    """Checked against what SES sent: no event e-mailed twice; every capture, refund and cancellation
    e-mailed, unless the Notifier reported it uncertain, which only an interruption can cause; nothing
    else e-mailed; every notification dead letter carried its reason, and none was left."""
    verdict = mail.verdict
    print(
        f"e-mails at chaos {rate}: {verdict.sent} sent {dict(sorted(verdict.by_kind.items()))}, "
        f"{len(verdict.uncertain)} uncertain; {mail.function_faults} Notifier log lines naming a fault; "
        f"{len(mail.letters)} dead letters over {mail.rounds} round(s); interruptions "
        f"{ {kind: count for kind, count in faults.items() if kind in INTERRUPTIONS} }"
    )
    assert verdict.problems() == [], json.dumps(mail.diagnosis, indent=1, default=str)
    assert verdict.by_kind["confirmation"] > 0
    assert mail.left == 0
    assert all(entry.reason_source in {"attributes", "logs"} for entry in mail.letters), [
        entry.to_json() for entry in mail.letters if entry.reason_source == "unknown"
    ]
    assert len(verdict.uncertain) <= sum(count for kind, count in faults.items() if kind in INTERRUPTIONS)
    if not rate:
        assert verdict.uncertain == []
        assert mail.letters == []


def _check_rejected(
    plan: TrafficPlan, refused: dict[int, str], letters: list[Explained], verdict: Verdict, *, through_bus: bool
) -> None:
    """Every malformed or invalid message is in a DLQ with its reason: the handler's attributes, or, when chaos
    failed every one of its DLQ sends and SQS moved it, the reason it logged; or the bus refused it, as
    EventBridge does a detail that is not a JSON object: then it was never sent, and is counted as refused."""
    assert verdict.rejected_missing == 0
    reasons = {(entry.letter.body, entry.error_code) for entry in letters}
    for index, message in enumerate(plan.messages):
        if index in refused:
            assert message.kind == "malformed", (index, message, refused[index])
            assert refused[index].startswith("MalformedDetail"), refused[index]
        elif message.kind in REJECTED:
            assert (message.body, message.expected_code) in reasons
    # through a bus, every body that is not even JSON, or JSON but not an object, was refused (the plan has
    # some); a queue takes any body: nothing is refused, and the function rejects them all to the DLQ
    not_objects = {index for index, message in enumerate(plan.messages) if not _is_json_object(message.body)}
    assert not_objects
    if through_bus:
        assert not_objects <= set(refused)
    else:
        assert refused == {}
    assert verdict.rejected_by_reason["refused by the bus: MalformedDetail"] == len(refused)


def _check_routing(
    plan: TrafficPlan, refused: dict[int, str], explained: dict[str, list[Explained]], ingress_dead: list[Any]
) -> None:
    """Behind the bus, each function got only the detail-type its rule routes: each DLQ holds only those
    events; and nothing went to the ingress's DLQ. Every body the bus took is OrderCreated (a rejected one
    too: it names no eventType) or OrderCancelled, both routed, and faults do not strike the bus's delivery
    to its queues (only the functions and the pipe's target): nothing was unrouted or undeliverable."""
    routed = {"OrderProcessor": "OrderCreated", "OrderCancellationProcessor": "OrderCancelled"}
    for function, entries in explained.items():
        assert {_routed_type(entry.letter.body) for entry in entries} <= {routed[function]}, function
    assert {_routed_type(m.body) for n, m in enumerate(plan.messages) if n not in refused} == set(ROUTED_EVENTS)
    assert [letter.body for letter in ingress_dead] == []


def _check_explained(plan: TrafficPlan, letters: list[Explained], final: dict[Key, Item]) -> None:
    """Every dead letter is explained; those SQS moved, by their function's logs for their message id; and a
    letter is flagged alreadyStored exactly when the table holds its event."""
    assert all(entry.reason_source in {"attributes", "logs"} for entry in letters), [
        entry.to_json() for entry in letters if entry.reason_source == "unknown"
    ]
    assert all(entry.reason_source == "logs" for entry in letters if entry.letter.moved_by == "sqs")
    for entry in letters:
        message = _message(plan, entry.letter.body)
        item = final.get((message.order_id or "", message.created_at or ""))
        status = item["status"]["S"] if item is not None else None
        if message.kind == "valid":  # the order is stored (a tombstone is not its order)
            assert entry.already_stored == (status not in {None, "AWAITING_ORDER"}), entry.to_json()
        elif message.kind == "cancel":  # the order's only cancellation: applied, or recorded awaiting its order
            assert entry.already_stored == (status in {"CANCELLED", "AWAITING_ORDER"}), entry.to_json()
        else:
            assert entry.already_stored is None


def _check_redrive(explained: list[Explained], dry: RedriveReport, report: RedriveReport, left: list[Any]) -> None:
    """A dry-run redrive and the real one both delete exactly the DLQ's already-stored letters."""
    stale = sum(1 for entry in explained if entry.already_stored)
    assert dry.deleted_stored == report.deleted_stored == stale
    assert dry.would_move == [] or len(dry.would_move) >= report.moved
    assert sorted(report.stored_ids) == sorted(entry.letter.message_id for entry in explained if entry.already_stored)
    assert not {letter.message_id for letter in left} & set(report.stored_ids)  # deleted, not sent back


def _check_outbox(
    rate: float,
    topology: str,
    *,
    stored: dict[Key, Item],
    stream: dict[Key, list[Item]],
    received: list[dict[str, Any]],
    pipe_dead: list[dict[str, Any]],
    pipe_stats: dict[str, Any],
    pipe_faults: dict[str, int],
) -> None:
    """Every stored transition reached the bus at least once; nothing was published for a non-transition;
    every duplicate carries the same event id; the pipe dead-lettered nothing."""
    copies = Counter(str(event["detail"].get("eventId")) for event in received)
    duplicates = {event_id: count for event_id, count in copies.items() if count > 1}
    print(
        f"outbox at chaos {rate} ({topology}): faults injected into the pipe {dict(sorted(pipe_faults.items()))}; "
        f"{len(received)} events received for {len(copies)} event ids; {len(duplicates)} event ids received more "
        f"than once ({len(received) - len(copies)} extra copies; ids by copies received: "
        f"{dict(sorted(Counter(duplicates.values()).items()))}); pipe {pipe_stats}"
    )
    problems = outbox_problems(stored, stream, received)
    if pipe_dead:  # retries ran out: each failure record names the stream records it gave up
        problems["the pipe dead-lettered records"] = [
            f"{letter['context']['condition']}: {json.dumps(letter['DDBStreamBatchInfo'])}" for letter in pipe_dead
        ]
    assert dict(problems) == {}
    assert len(copies) == len(stored_transitions(stored, stream, defaultdict(list)))
    assert pipe_stats["dead_lettered"] == pipe_stats["discarded"] == 0
    if rate == 0:
        assert pipe_faults == {}
        assert duplicates == {}  # without faults, each transition is published once
    else:  # about 75 events at 0.15 or more each: some certainly meet a fault
        assert sum(pipe_faults.values()) > 0
        assert pipe_stats["failed"] > 0  # the runner saw them, and retried


def test_a_crash_after_the_write_redelivers_the_order_as_a_duplicate() -> None:
    # Given a function that dies right after every successful write. The visibility timeout
    # leaves room for the batching window (1 s here) and a cold start: with less, the redelivered
    # message can reappear while its batch waits, and is (rightly) skipped twice.
    options = StackOptions(
        port=0, chaos_rate=1.0, chaos_only=("kill_after_write",), visibility_timeout=30, function_timeout=5,
        batching_window=1,
    )  # fmt: skip
    plan = plan_traffic(1, seed=3, duplicate_rate=0, malformed_rate=0, invalid_rate=0, run="crash")
    with LocalStack(options) as stack:
        sqs = stack.emulator.sqs()
        orders = mapping_of(stack, stack.outputs["QueueUrl"])
        send(sqs, stack.outputs["QueueUrl"], plan.messages)
        # When the batch is redelivered after the crash
        wait_until(lambda: drained(stack, [orders]) and orders.stats.deleted, "the redelivery deleted", timeout=120)
        stats = orders.stats
        stored = items(stack)
        dead = list_dead_letters(sqs, stack.outputs["DLQUrl"])
        faults = stack.faults()
    # Then it was written once, recognised as a duplicate, and deleted. The rate strikes every function:
    # the payment service's, which consumes the order's OrderConfirmed, dies after its writes too, and the
    # journal does not say whose process died, so this function's crashes are counted by its mapping.
    assert set(faults) == {"kill_after_write"}
    assert stats.crashes == 1
    assert faults["kill_after_write"] >= stats.crashes
    assert stats.handler_metrics["DuplicatesSkipped"] == 1
    assert stats.deleted == 1
    [item] = stored.values()
    assert item["status"] == {"S": "CONFIRMED"}
    assert dead == []
