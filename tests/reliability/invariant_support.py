"""What tests/reliability/test_invariant.py reads from a running stack, whatever its topology.

A stack has one consumer per event source mapping: a queue, the DLQ its redrive policy names,
and a function with its own log group. The SQS ingress (standard or FIFO) has one, OrderProcessor;
the EventBridge ingress (``-c ingress=eventbridge``) two, OrderProcessor for OrderCreated and
OrderCancellationProcessor for OrderCancelled, each behind a rule of the ``OrderIngress`` bus.
The test sends, drains, explains and redrives through every consumer the stack has, so one test
checks every topology.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orderflow_local.ops.dlq import FunctionLogReader, explain, list_dead_letters, redrive
from orderflow_local.ops.mail import read_mail
from orderflow_local.ops.notifications import scan_claims, uncertain_events, verify_mail
from orderflow_local.ops.payments import scan_items, verify_payments
from orderflow_local.ops.traffic import send
from tests.support import wait_until

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from orderflow_local.lambda_runtime.esm import EventSourceMapping
    from orderflow_local.ops.dlq import DeadLetter, Explained, RedriveReport
    from orderflow_local.ops.notifications import MailVerdict
    from orderflow_local.ops.payments import PaymentVerdict
    from orderflow_local.ops.traffic import TrafficPlan
    from orderflow_local.stack import LocalStack

Key = tuple[str, str]
Item = dict[str, Any]

#: A status only moves forward: from these, to CANCELLED.
FORWARD = {"AWAITING_ORDER": {"AWAITING_ORDER", "CANCELLED"}, "CONFIRMED": {"CONFIRMED", "CANCELLED"},
           "CANCELLED": {"CANCELLED"}}  # fmt: skip
#: What every stored transition sets (orderflow.domain.lifecycle.transition).
TRANSITION_ATTRIBUTES = {"status", "version", "domainEvent", "eventId", "statusChangedAt"}
#: What every fault injected into a function's AWS call says (orderflow_local.lambda_runtime.chaos).
CHAOS_MESSAGE = "injected by orderflow chaos"
#: How long the pipe must read nothing new, with nothing in flight, to count as idle (it polls 4 times a second).
PIPE_QUIET_SECONDS = 2.0


# --- the consumers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Consumer:
    """One event source mapping: its queue, that queue's DLQ, and the function's name and log group."""

    function: str
    log_group: str
    queue_url: str
    dlq_url: str


def consumers(stack: LocalStack) -> list[Consumer]:
    """Every consumer of what producers send, OrderProcessor first: the mappings whose queue is the order
    queue or a target of the ingress bus's rules (a consumer of the order events bus, as the payment
    service's, is downstream of the outbox: not one of these). Each queue's DLQ is read from its redrive
    policy, as SQS applies it, not assumed from an output's name."""
    assert stack.deployed is not None
    sqs = stack.emulator.sqs()
    fed = _ingress_queue_arns(stack)
    found = []
    for mapping in stack.deployed.spec.mappings:
        queue = stack.deployed.queues[mapping.source_queue]
        if queue.arn not in fed:
            continue
        function = stack.deployed.spec.functions[mapping.function]
        policy = sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["RedrivePolicy"])["Attributes"]
        dlq_name = json.loads(policy["RedrivePolicy"])["deadLetterTargetArn"].rsplit(":", 1)[-1]
        dlq_url = sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"]
        found.append(Consumer(function.name, function.log_group, queue.url, dlq_url))
    return sorted(found, key=lambda consumer: consumer.function != "OrderProcessor")


def _ingress_queue_arns(stack: LocalStack) -> set[str]:
    """The queues producers' events reach: the order queue, and every target of the ingress bus's rules."""
    sqs, events = stack.emulator.sqs(), stack.emulator.events()
    attributes = sqs.get_queue_attributes(QueueUrl=stack.outputs["QueueUrl"], AttributeNames=["QueueArn"])
    arns = {attributes["Attributes"]["QueueArn"]}
    bus = stack.outputs.get("IngressBusName")
    if bus is not None:
        for rule in events.list_rules(EventBusName=bus)["Rules"]:
            targets = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
            arns.update(target["Arn"] for target in targets)
    return arns


def waiting(stack: LocalStack, mappings: list[EventSourceMapping] | None = None) -> int:
    """Messages on the mappings' queues (every mapping's by default: the downstream consumers' too, whose
    writes are not the test's, but a drained stack has nothing left to do), visible or in flight, plus the
    batches the mappings hold."""
    sqs = stack.emulator.sqs()
    mappings = stack.mappings if mappings is None else mappings
    total = sum(mapping.stats.in_flight for mapping in mappings)
    for mapping in mappings:
        attributes = sqs.get_queue_attributes(
            QueueUrl=mapping.config.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        total += sum(int(value) for value in attributes.values())
    return total


def drained(stack: LocalStack, mappings: list[EventSourceMapping] | None = None) -> bool:
    """Nothing waits on the mappings' queues (every mapping's by default) and none has a batch in flight."""
    return waiting(stack, mappings) == 0


def mapping_of(stack: LocalStack, queue_url: str) -> EventSourceMapping:
    """The event source mapping that polls ``queue_url``."""
    return next(mapping for mapping in stack.mappings if mapping.config.queue_url == queue_url)


def send_traffic(stack: LocalStack, plan: TrafficPlan) -> dict[int, str]:
    """Send the plan as a producer of this stack does: on the ingress bus when it has one, else to
    the order queue. What the bus refused, by the message's index (empty without a bus)."""
    refused: dict[int, str] = {}
    bus = stack.outputs.get("IngressBusName")
    sqs = stack.emulator.sqs()
    if bus is None:
        send(sqs, stack.outputs["QueueUrl"], plan.messages)
    else:
        send(sqs, stack.outputs["QueueUrl"], plan.messages, events=stack.emulator.events(), bus_name=bus,
             refused=refused)  # fmt: skip
    return refused


def snapshots_until_drained(stack: LocalStack, *, timeout: float) -> list[dict[Key, Item]]:
    """The table, every second, until every queue has been drained for 3 seconds in a row."""
    deadline = time.monotonic() + timeout
    snapshots: list[dict[Key, Item]] = []
    quiet = 0
    while quiet < 3 and time.monotonic() < deadline:
        time.sleep(1)
        snapshots.append(items(stack))
        quiet = quiet + 1 if drained(stack) else 0
    assert quiet >= 3, f"the queues did not drain in {timeout:g} s ({waiting(stack)} messages waiting)"
    return snapshots


def explain_dead_letters(
    stack: LocalStack, consumer: Consumer, read_item: Callable[[str, str], Any]
) -> list[Explained]:
    """Every letter in the consumer's DLQ, explained by the function's own log group."""
    dead = list_dead_letters(stack.emulator.sqs(), consumer.dlq_url, limit=10_000)
    return explain(dead, logs=FunctionLogReader(stack.emulator.logs(), consumer.log_group), read_item=read_item)


def redrive_to_source(
    stack: LocalStack, consumer: Consumer, read_item: Callable[[str, str], Any]
) -> tuple[RedriveReport, RedriveReport]:
    """A dry-run redrive of the consumer's DLQ to its own queue, then the real one."""
    queues = {"dlq_url": consumer.dlq_url, "source_url": consumer.queue_url}
    dry = redrive(stack.emulator.sqs(), **queues, read_item=read_item, dry_run=True, rate=1000)
    return dry, redrive(stack.emulator.sqs(), **queues, read_item=read_item, rate=1000)


def dead_letters(stack: LocalStack, consumer: Consumer) -> list[DeadLetter]:
    return list_dead_letters(stack.emulator.sqs(), consumer.dlq_url, limit=10_000)


def chaos_lines(stack: LocalStack, consumer: Consumer) -> int:
    """How many lines in the consumer's log group name an injected fault (its functions' failures, logged
    with the fault's message: a kill or a timeout logs none). Flush the stack's function logs first."""
    return len(FunctionLogReader(stack.emulator.logs(), consumer.log_group).lines(CHAOS_MESSAGE))


# --- the table -------------------------------------------------------------------------------


def items(stack: LocalStack) -> dict[Key, Item]:
    """Every item in Orders, by key."""
    dynamodb = stack.emulator.dynamodb()
    found: dict[Key, Item] = {}
    request: dict[str, Any] = {"TableName": "Orders"}
    while True:
        page = dynamodb.scan(**request)
        for item in page["Items"]:
            found[(item["orderId"]["S"], item["createdAt"]["S"])] = item
        if "LastEvaluatedKey" not in page:
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def moved_forward_only(before: Item, after: Item) -> list[str]:
    """What changed from ``before`` to ``after`` that the state machine forbids."""
    problems = []
    was, now = before["status"]["S"], after["status"]["S"]
    if now not in FORWARD[was]:
        problems.append(f"status {was} -> {now}")
    # a transition rewrites the outbox's attributes (docs/events.md), with a higher version; a tombstone's
    # expiry is reset when its order completes it; nothing else is rewritten
    rewritable = TRANSITION_ATTRIBUTES | ({"ttl"} if was == "AWAITING_ORDER" else set())
    problems += [
        f"{name} changed" for name, value in before.items() if name not in rewritable and after.get(name) != value
    ]
    if now != was and int(after["version"]["N"]) <= int(before["version"]["N"]):
        problems.append(f"version {before['version']['N']} -> {after['version']['N']} with status {was} -> {now}")
    return problems


def stream_images(stack: LocalStack) -> dict[Key, list[Item]]:
    """Every item image the Orders table's stream recorded (each a stored write), by key, in stream order."""
    stream_arn = stack.emulator.dynamodb().describe_table(TableName="Orders")["Table"]["LatestStreamArn"]
    streams = stack.emulator.client("dynamodbstreams")
    images: dict[Key, list[Item]] = defaultdict(list)
    shards = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    for shard in shards:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            for record in page["Records"]:
                image = record["dynamodb"].get("NewImage")
                if record["eventName"] in {"INSERT", "MODIFY"} and image:
                    key = (image["orderId"]["S"], image["createdAt"]["S"])
                    images[key].append({**image, "_sequenceNumber": record["dynamodb"]["SequenceNumber"]})
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return images


# --- the outbox ------------------------------------------------------------------------------


def subscribe(stack: LocalStack) -> str:
    """A queue that gets every event on the order events bus, through a rule of its own (as a consumer's)."""
    sqs, events = stack.emulator.sqs(), stack.emulator.events()
    name = f"invariant-subscriber-{uuid.uuid4().hex[:8]}"
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = stack.outputs["OrderEventsBusName"]
    events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps({"source": ["orderflow.orders"]}))
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "subscriber", "Arn": queue_arn}])
    return str(queue_url)


def pipe_idle(stack: LocalStack) -> Callable[[], bool]:
    """True once every queue is drained and the pipe has had nothing in flight and read nothing
    new for PIPE_QUIET_SECONDS (every record the last writes made is then published or dead-lettered)."""
    seen: dict[str, Any] = {"read": None, "since": time.monotonic()}

    def idle() -> bool:
        stats = [pipe.stats.snapshot() for pipe in stack.pipes]
        read = [entry["records_read"] for entry in stats]
        if not drained(stack) or any(entry["in_flight"] for entry in stats) or read != seen["read"]:
            seen.update(read=read, since=time.monotonic())
            return False
        return time.monotonic() - seen["since"] >= PIPE_QUIET_SECONDS

    return idle


def all_messages(stack: LocalStack, queue_url: str) -> list[dict[str, Any]]:
    """Every message on ``queue_url`` (JSON bodies), read and deleted until the queue is empty."""
    sqs = stack.emulator.sqs()
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
            "Messages", []
        )
        if not messages:
            attributes = sqs.get_queue_attributes(
                QueueUrl=queue_url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            if all(value == "0" for value in attributes.values()):
                return bodies
            continue
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def _detail_problems(detail: dict[str, Any], image: Item) -> list[str]:
    """How ``detail`` differs from what the item ``image`` (a stored transition) publishes."""
    expected = {
        "eventId": image["eventId"]["S"],
        "orderId": image["orderId"]["S"],
        "createdAt": image["createdAt"]["S"],
        "customerId": image["customerId"]["S"],
        "status": image["status"]["S"],
        "totalAmount": image["totalAmount"]["N"],
        "currency": image["currency"]["S"],
        "version": int(image["version"]["N"]),
        "occurredAt": image["statusChangedAt"]["S"],
    }
    found = {**detail, "version": int(detail.get("version", -1))}
    return [f"{name}: {found.get(name)!r} != {value!r}" for name, value in expected.items() if found.get(name) != value]


def stored_transitions(
    final: Mapping[Key, Item], stream: Mapping[Key, list[Item]], problems: dict[str, list[str]]
) -> dict[str, Item]:
    """Each stored item's transitions, by event id: its own, and, for a CANCELLED order that was
    CONFIRMED first, that confirmation (a tombstone completed by its late create never was: it
    publishes v2 only). Records in ``problems`` a cancelled order that was both or neither."""
    transitions: dict[str, Item] = {}
    for key, item in final.items():
        statuses = [image["status"]["S"] for image in stream.get(key, [])]
        if "eventId" in item:
            transitions[item["eventId"]["S"]] = item
        if item["status"]["S"] == "CANCELLED":
            confirmed = [image for image in stream.get(key, []) if image["status"]["S"] == "CONFIRMED"]
            if bool(confirmed) == ("AWAITING_ORDER" in statuses):
                problems["a cancelled order was CONFIRMED or a tombstone, one of them"].append(f"{key}: {statuses}")
            for image in confirmed:
                transitions[image["eventId"]["S"]] = image
    return transitions


def outbox_problems(
    final: Mapping[Key, Item], stream: Mapping[Key, list[Item]], events: list[dict[str, Any]]
) -> dict[str, list[str]]:
    """Every way the events on the bus break the outbox's promise, by clause (empty lists: kept)."""
    problems: dict[str, list[str]] = defaultdict(list)
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_id[str(event["detail"].get("eventId"))].append(event)
    transitions = stored_transitions(final, stream, problems)
    # every stored transition reached the bus at least once, as the item's detail-type and version
    for event_id, image in transitions.items():
        arrived = by_id.get(event_id, [])
        if not arrived:
            problems["a stored transition never reached the bus"].append(
                f"{event_id} ({image['domainEvent']['S']} v{image['version']['N']}, stream record "
                f"{image.get('_sequenceNumber', 'of the final item')})"
            )
        for event in arrived:
            wrong = _detail_problems(event["detail"], image)
            published_as = (event["source"], event["detail-type"])
            if published_as != ("orderflow.orders", image["domainEvent"]["S"]):
                wrong.append(f"published as {published_as}, stored {image['domainEvent']['S']}")
            if wrong:
                problems["an event differs from its stored transition"].append(f"{event_id}: {wrong}")
    # nothing published for a non-transition: an order not in the table, an AWAITING_ORDER-only item, ...
    for event_id, arrived in by_id.items():
        if event_id in transitions:
            continue
        detail = arrived[0]["detail"]
        item = final.get((str(detail.get("orderId")), str(detail.get("createdAt"))))
        problems["an event for no stored transition"].append(
            f"{event_id} ({arrived[0]['detail-type']}): the table holds "
            + ("nothing" if item is None else f"{item['status']['S']} v{item['version']['N']}")
        )
    # every duplicate carries the same event id, and the same detail
    for event_id, arrived in by_id.items():
        if len({(event["detail-type"], json.dumps(event["detail"], sort_keys=True)) for event in arrived}) > 1:
            problems["duplicates differ"].append(f"{event_id}: {[event['detail'] for event in arrived]}")
    return problems


# --- the payments ----------------------------------------------------------------------------


def _explained(stack: LocalStack, dead: list[DeadLetter], logs: FunctionLogReader) -> list[Explained]:
    """The letters explained by their function's logs, waiting up to 10 s for the lines of the last
    invocations to arrive (an environment's lines reach the log group after it ends, as on AWS)."""
    deadline = time.monotonic() + 10
    while True:
        for function_logs in stack.function_logs:
            function_logs.flush()
        found = explain(dead, logs=FunctionLogReader(stack.emulator.logs(), logs.group), read_item=None)
        if all(entry.reason_source != "unknown" for entry in found) or time.monotonic() > deadline:
            return found
        time.sleep(1)


@dataclass
class PaymentsSettled:
    """The payment service's state once nothing is left to do: the verdict against the provider's ledger,
    every dead letter it had (explained), the redrive rounds it took, and the provider's faults."""

    verdict: PaymentVerdict
    letters: list[Explained]
    rounds: int
    #: Letters still in PaymentDLQ when the rounds ran out (none, if it settled).
    left: int
    provider_faults: dict[str, int]
    function_faults: int


def redrive_rounds(
    stack: LocalStack, queue_url: str, dlq_url: str, logs: FunctionLogReader, *, rounds: int
) -> tuple[list[Explained], int, int]:
    """Drain every queue, then explain the letters in ``dlq_url`` and move them back to ``queue_url`` (as an
    operator's redrive would), until none is left or ``rounds`` ran out: (the letters, explained; the rounds
    taken; the letters left)."""
    sqs = stack.emulator.sqs()
    letters: list[Explained] = []
    done = 0
    for done in range(1, rounds + 1):  # noqa: B007 - the count is reported
        wait_until(lambda: drained(stack), "the services to be idle", timeout=300)
        dead = list_dead_letters(sqs, dlq_url, limit=10_000)
        if not dead:
            break
        letters += _explained(stack, dead, logs)
        while messages := sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
            "Messages"
        ):
            for message in messages:
                sqs.send_message(QueueUrl=queue_url, MessageBody=message["Body"])
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
    return letters, done, len(list_dead_letters(sqs, dlq_url, limit=10_000))


def settle_payments(stack: LocalStack, *, rounds: int = 4) -> PaymentsSettled:
    """Let the payment service finish: drain every queue, then explain and move PaymentDLQ's letters back
    to PaymentQueue (as an operator's redrive would), until none is left; then check the ledger."""
    assert stack.payment_provider is not None
    logs = FunctionLogReader(stack.emulator.logs(), "/aws/lambda/PaymentProcessor")
    letters, done, left = redrive_rounds(
        stack, stack.outputs["PaymentQueueUrl"], stack.outputs["PaymentDLQUrl"], logs, rounds=rounds
    )
    dynamodb = stack.emulator.dynamodb()
    verdict = verify_payments(
        stack.payment_provider.ledger(),
        scan_items(dynamodb, "Orders"),
        payments=scan_items(dynamodb, stack.outputs["PaymentsTableName"]),
    )
    for function_logs in stack.function_logs:
        function_logs.flush()
    return PaymentsSettled(
        verdict=verdict,
        letters=letters,
        rounds=done,
        left=left,
        provider_faults=dict(stack.payment_provider.faults()),
        function_faults=len(logs.lines(CHAOS_MESSAGE)),
    )


@dataclass
class NotificationsSettled:
    """The notification service's state once nothing is left to do: what SES sent checked against the
    ledger and the orders, every dead letter it had (explained), and the redrive rounds it took."""

    verdict: MailVerdict
    letters: list[Explained]
    rounds: int
    #: Letters still in NotificationDLQ when the rounds ran out (none, if it settled).
    left: int
    function_faults: int
    #: For each order whose e-mail is missing: its claims and the Notifier's lines about it.
    diagnosis: dict[str, Any] = field(default_factory=dict)


def settle_notifications(stack: LocalStack, *, rounds: int = 4) -> NotificationsSettled:
    """Let the Notifier finish (after the payments: their redriven letters publish events it e-mails),
    its dead letters redriven, then check what SES sent."""
    assert stack.payment_provider is not None
    logs = FunctionLogReader(stack.emulator.logs(), "/aws/lambda/Notifier")
    letters, done, left = redrive_rounds(
        stack, stack.outputs["NotificationQueueUrl"], stack.outputs["NotificationDLQUrl"], logs, rounds=rounds
    )
    for function_logs in stack.function_logs:
        function_logs.flush()
    mails, orders = read_mail(stack.endpoint), scan_items(stack.emulator.dynamodb(), "Orders")
    verdict = verify_mail(
        mails, stack.payment_provider.ledger(), orders, uncertain=uncertain_events(stack.emulator.logs())
    )
    missing = verdict.captures_not_emailed + verdict.refunds_not_emailed + verdict.cancellations_not_emailed
    claims = scan_claims(stack.emulator.dynamodb(), "Notifications") if missing else {}
    diagnosis = {
        order_id: {
            # the order's items as stored (the expected event ids are made from their keys and versions),
            # every e-mail SES holds for it, and the Notifier's claims: which of the three disagrees
            "orders": [
                {key: item.get(key) for key in ("createdAt", "status", "version", "eventId", "customerEmail")}
                for (stored, _), item in orders.items()
                if stored == order_id
            ],
            "mails": [
                {"id": mail.id, "kind": mail.kind, "event_id": mail.event_id, "to": mail.to}
                for mail in mails
                if mail.order_id == order_id
            ],
            "claims": [claim for (claimed, _), claim in claims.items() if claimed == order_id],
            "lines": [
                {key: line.get(key) for key in ("timestamp", "level", "message", "action", "event_id", "message_id",
                                                "function_request_id", "error", "answer")}
                for line in logs.lines(order_id)
            ],
        }
        for order_id in missing
    }  # fmt: skip
    return NotificationsSettled(
        verdict=verdict, letters=letters, rounds=done, left=left, function_faults=len(logs.lines(CHAOS_MESSAGE)),
        diagnosis=diagnosis,
    )  # fmt: skip
