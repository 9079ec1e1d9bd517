"""``handler_cost``: our handler's own CPU per record against a bare handler written as the tutorial's.

Both run in this process on the same batches of 10 new, valid orders, and write to the same
in-process store double (:class:`StoreDouble`, a fake DynamoDB client): no boto3, no
network, no emulator, so only each handler's own Python is measured. Ours is
``orderflow.handler.lambda_handler`` as deployed (Powertools Logger, Metrics and Tracer,
pydantic validation, the lifecycle, the metrics, the thread pool), its runtime built by
``orderflow.composition.build_runtime`` around the doubles. The bare one
(:func:`tutorial_handler`) is the tutorial's TypeScript handler in Python: ``json.loads``,
its four checks and enrichment, a conditional ``PutItem``, its two log lines, a partial
batch response.
"""

from __future__ import annotations

import contextlib
import cProfile
import gc
import io
import json
import os
import pstats
import statistics
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

#: A full batch: the stack's BatchSize.
RECORDS_PER_BATCH = 10
TABLE_NAME = "Orders"
DLQ_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/OrderCreatedDLQ"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:OrderCreatedQueue"
#: The function's environment as the stack sets it (infra/processor.py), tracing off as the
#: local stack runs it (no X-Ray daemon here), logs at Powertools' default level.
ENVIRONMENT = {
    "TABLE_NAME": TABLE_NAME,
    "DLQ_URL": DLQ_URL,
    "MAX_RECEIVE_COUNT": "5",
    "POWERTOOLS_SERVICE_NAME": "order-processor",
    "POWERTOOLS_METRICS_NAMESPACE": "Orderflow",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "AWS_LAMBDA_FUNCTION_NAME": "OrderProcessor",
    "AWS_DEFAULT_REGION": "us-east-1",
}
#: Read by Powertools on every flush or log line; a developer's shell may set them, Lambda does not.
UNSET = ("POWERTOOLS_DEV", "POWERTOOLS_DEBUG", "POWERTOOLS_METRICS_DISABLED", "POWERTOOLS_LOGGER_LOG_EVENT")
#: The tutorial's TTL: 90 days.
TTL_SECONDS = 90 * 24 * 60 * 60


@dataclass
class ProfileRow:
    """One function of our handler's profile, per record."""

    function: str
    calls: float  # calls per record
    own_us: float  # CPU in the function itself, per record (under the profiler: inflated)
    cumulative_us: float  # CPU in it and what it calls, per record
    share: float  # own CPU as a share of the whole profile


@dataclass
class HandlerCostResult:
    """CPU per record (µs) of our handler and of the bare one, best round each, and their ratio."""

    ours_us: float
    bare_us: float
    ratio: float  # ours_us / bare_us
    #: Ours again on the same batches from a FIFO queue: Powertools' FIFO processor takes the
    #: records one by one in the handler's thread, so this is ours without the thread pool.
    ours_fifo_us: float
    rounds: int
    batches: int  # per side and round
    records_per_batch: int
    #: Every round's CPU per record, by side, in the order of the rounds.
    rounds_us: dict[str, list[float]]
    #: What each side wrote to stdout per record (log lines, and ours its metrics), discarded.
    stdout_bytes: dict[str, float]
    #: The top of our handler's profile (``profile=N``), most own CPU first.
    profile: list[ProfileRow] = field(default_factory=list)

    def median_us(self, side: str) -> float:
        return statistics.median(self.rounds_us[side])


class StoreDouble:
    """A fake DynamoDB client: ``put_item``, ``update_item`` and ``get_item`` on a dict, with the
    conditions our store adapter (``orderflow.adapters.dynamodb_store``) makes, answered as DynamoDB does.

    - ``attribute_not_exists(orderId)`` on ``put_item``: refused with
      ``ConditionalCheckFailedException`` when the key is stored, the stored item in the error
      (``ReturnValuesOnConditionCheckFailure=ALL_OLD``);
    - ``#status = :expected`` on ``update_item`` with ``SET #a0 = :v0, ...``: refused likewise
      when the item is missing or its status differs.

    Any other condition raises ``NotImplementedError``: a new write must be modelled here, not
    silently accepted. Writes of an order id in ``failing`` fail as throttled. Thread-safe.
    """

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.writes = 0  # attempted put_item and update_item calls
        self.failing: set[str] = set()
        self._lock = threading.Lock()

    def put_item(
        self,
        *,
        TableName: str,  # noqa: N803 - boto3's keyword arguments
        Item: dict[str, Any],  # noqa: N803
        ConditionExpression: str | None = None,  # noqa: N803
        ReturnValuesOnConditionCheckFailure: str = "NONE",  # noqa: N803
    ) -> dict[str, Any]:
        key = (Item["orderId"]["S"], Item["createdAt"]["S"])
        if ConditionExpression not in (None, "attribute_not_exists(orderId)"):
            raise NotImplementedError(f"condition not modelled by the store double: {ConditionExpression}")
        with self._lock:
            self.writes += 1
            self._refuse_failing("PutItem", key)
            if ConditionExpression is not None and key in self.items:
                self._refuse("PutItem", self.items[key], ReturnValuesOnConditionCheckFailure)
            self.items[key] = Item
        return {}

    def update_item(
        self,
        *,
        TableName: str,  # noqa: N803 - boto3's keyword arguments
        Key: dict[str, Any],  # noqa: N803
        UpdateExpression: str,  # noqa: N803
        ConditionExpression: str,  # noqa: N803
        ExpressionAttributeNames: dict[str, str],  # noqa: N803
        ExpressionAttributeValues: dict[str, Any],  # noqa: N803
        ReturnValuesOnConditionCheckFailure: str = "NONE",  # noqa: N803
    ) -> dict[str, Any]:
        if ConditionExpression != "#status = :expected" or not UpdateExpression.startswith("SET "):
            raise NotImplementedError(f"update not modelled by the store double: {UpdateExpression}")
        key = (Key["orderId"]["S"], Key["createdAt"]["S"])
        changes = {}
        for assignment in UpdateExpression.removeprefix("SET ").split(", "):
            name, value = assignment.split(" = ")
            changes[ExpressionAttributeNames[name]] = ExpressionAttributeValues[value]
        with self._lock:
            self.writes += 1
            self._refuse_failing("UpdateItem", key)
            current = self.items.get(key)
            if (
                current is None
                or current.get(ExpressionAttributeNames["#status"]) != ExpressionAttributeValues[":expected"]
            ):
                self._refuse("UpdateItem", current, ReturnValuesOnConditionCheckFailure)
            self.items[key] = {**cast("dict[str, Any]", current), **changes}
        return {}

    def get_item(self, *, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:  # noqa: N803
        with self._lock:
            item = self.items.get((Key["orderId"]["S"], Key["createdAt"]["S"]))
        return {"Item": item} if item is not None else {}

    def _refuse_failing(self, operation: str, key: tuple[str, str]) -> None:
        if key[0] in self.failing:
            error = {"Code": "ProvisionedThroughputExceededException", "Message": "injected by the bench's store"}
            raise ClientError({"Error": error}, operation)  # type: ignore[typeddict-item]

    @staticmethod
    def _refuse(operation: str, current: dict[str, Any] | None, return_values: str) -> None:
        response: dict[str, Any] = {
            "Error": {"Code": "ConditionalCheckFailedException", "Message": "The conditional request failed"}
        }
        if current is not None and return_values == "ALL_OLD":
            response["Item"] = current
        raise ClientError(response, operation)  # type: ignore[arg-type]


class QueueDouble:
    """A fake SQS client for the dead letter queue and the retries' visibility: it keeps the calls."""

    def __init__(self) -> None:
        self.meta = SimpleNamespace(endpoint_url="https://sqs.us-east-1.amazonaws.com")
        self.sent: list[dict[str, Any]] = []
        self.postponed: list[dict[str, Any]] = []

    def send_message(self, **request: Any) -> dict[str, Any]:
        self.sent.append(request)
        return {"MessageId": str(uuid.uuid4())}

    def change_message_visibility(self, **request: Any) -> dict[str, Any]:
        self.postponed.append(request)
        return {}


class LambdaContext:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name = "OrderProcessor"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:OrderProcessor"
    aws_request_id = "6f6c6f6c-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/OrderProcessor"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def tutorial_handler(dynamodb: Any, table_name: str = TABLE_NAME) -> Handler:
    """The tutorial's handler, in Python and written to cost as little as it can.

    Per record, as the tutorial's TypeScript: parse the body, log it, its four checks, enrich
    it (status, processedAt, itemCount, sqsMessageId, ttl), ``PutItem`` if its ``orderId`` is
    absent, log success; a ``ConditionalCheckFailedException`` is a duplicate, skipped; any
    other failure is reported in ``batchItemFailures``. The client is made once, outside
    (module level in the tutorial: here, the caller's); values are serialized to DynamoDB's
    JSON as boto3's resource layer (the tutorial's DocumentClient) would do.
    """
    serialize = TypeSerializer().serialize

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            message_id = record["messageId"]
            try:
                order = json.loads(record["body"], parse_float=Decimal)
                order_id = order["orderId"]
                print(
                    f"Processing order: {order_id}",
                    json.dumps(
                        {
                            "customerId": order.get("customerId"),
                            "totalAmount": str(order.get("totalAmount")),
                            "itemCount": len(order.get("items") or ()),
                        }
                    ),
                )
                _validate_order(order)
                now = datetime.now(UTC)
                order.update(
                    status="CONFIRMED",
                    processedAt=now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    itemCount=len(order["items"]),
                    sqsMessageId=message_id,
                    ttl=int(now.timestamp()) + TTL_SECONDS,
                )
                dynamodb.put_item(
                    TableName=table_name,
                    Item={name: serialize(value) for name, value in order.items()},
                    ConditionExpression="attribute_not_exists(orderId)",
                )
                print(f"Order {order_id} saved successfully.")
            except ClientError as error:
                if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    print(f"Duplicate order detected: {message_id}. Skipping.")
                    continue
                print(f"Failed to process message {message_id}: {error}")
                failures.append({"itemIdentifier": message_id})
            except (ValueError, KeyError, TypeError) as error:  # not JSON, not an object, a failed check
                print(f"Failed to process message {message_id}: {error!r}")
                failures.append({"itemIdentifier": message_id})
        return {"batchItemFailures": failures}

    return handler


def _validate_order(order: dict[str, Any]) -> None:
    """The tutorial's ``validateOrder``."""
    if not order.get("orderId"):
        raise ValueError("Missing orderId")
    if not order.get("customerId"):
        raise ValueError("Missing customerId")
    if not order.get("items"):
        raise ValueError("Empty items")
    if not order.get("totalAmount", 0) > 0:
        raise ValueError("Invalid totalAmount")


class _Discard(io.TextIOBase):
    """Stdout for both handlers while measured: what is written is counted and dropped."""

    def __init__(self) -> None:
        self.chars = 0

    def write(self, text: str) -> int:
        self.chars += len(text)
        return len(text)

    def writable(self) -> bool:
        return True


@contextlib.contextmanager
def environment(values: Mapping[str, str] = ENVIRONMENT, unset: tuple[str, ...] = UNSET) -> Iterator[None]:
    """``os.environ`` with ``values`` set and ``unset`` removed, restored as it was on exit."""
    saved = {name: os.environ.get(name) for name in (*values, *unset)}
    os.environ.update(values)
    for name in unset:
        os.environ.pop(name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class Sides:
    """Both handlers wired to the same doubles, and the sink their stdout goes to."""

    ours: Handler
    bare: Handler
    store: StoreDouble
    queue: QueueDouble
    stdout: _Discard


@contextlib.contextmanager
def sides() -> Iterator[Sides]:
    """Our handler and the tutorial's on one store double, stdout discarded for both, env set.

    Our handler's runtime is ``build_runtime`` around the doubles, put in place of
    ``orderflow.handler._runtime`` (as tests/functional/conftest.py does); its logger logs at
    INFO (Powertools' default) into the same sink as ``print``. All of it is undone on exit.
    """
    with environment():
        from orderflow import handler as ours  # after the env: a first import reads it
        from orderflow.composition import Settings, build_runtime

        store, queue, sink = StoreDouble(), QueueDouble(), _Discard()
        runtime = build_runtime(Settings(table_name=TABLE_NAME, dlq_url=DLQ_URL), dynamodb=store, sqs=queue)  # type: ignore[arg-type]
        saved_runtime = ours._runtime
        log_handler = cast("Any", ours.logger.registered_handler)
        saved_level = ours.logger.log_level
        ours._runtime = lambda: runtime
        saved_stream = log_handler.setStream(sink)
        ours.logger.setLevel("INFO")
        try:
            with contextlib.redirect_stdout(sink):
                yield Sides(
                    ours=ours.lambda_handler, bare=tutorial_handler(store), store=store, queue=queue, stdout=sink
                )
        finally:
            ours.logger.setLevel(saved_level)
            log_handler.setStream(saved_stream)
            ours._runtime = saved_runtime


def batches(count: int, *, run: str, size: int = RECORDS_PER_BATCH, fifo: bool = False) -> list[dict[str, Any]]:
    """``count`` SQS events of ``size`` new, valid orders each; ``run`` makes their ids unique.

    The orders are the same from run to run (one seed), only their ids differ: every run
    writes new orders, and every side gets the same work. ``fifo``: as from a FIFO queue,
    each order its own message group.
    """
    from orderflow_local.ops.traffic import plan_traffic

    plan = plan_traffic(count * size, seed=27, duplicate_rate=0, malformed_rate=0, invalid_rate=0, run=run)
    records = [record(message.body, group=message.order_id if fifo else None) for message in plan.messages]
    return [{"Records": records[start : start + size]} for start in range(0, len(records), size)]


def record(body: str, *, message_id: str | None = None, group: str | None = None) -> dict[str, Any]:
    """One SQS record of an event, as Lambda delivers it (from a FIFO queue, given the message ``group``)."""
    now_ms = str(int(time.time() * 1000))
    message_id = message_id or str(uuid.uuid4())
    attributes = {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": now_ms,
        "SenderId": "AIDAIENQZJOLO23YVJ4VO",
        "ApproximateFirstReceiveTimestamp": now_ms,
    }
    if group is not None:
        attributes |= {"MessageGroupId": group, "MessageDeduplicationId": message_id, "SequenceNumber": "1"}
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{uuid.uuid4()}",
        "body": body,
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN + (".fifo" if group is not None else ""),
        "awsRegion": "us-east-1",
    }


def run_batches(handler: Handler, events: list[dict[str, Any]]) -> None:
    """Invoke ``handler`` with each event; ``RuntimeError`` if it reports a record failed
    (the bench measures stored writes)."""
    context = LambdaContext()
    for event in events:
        failed = handler(event, context)["batchItemFailures"]
        if failed:
            raise RuntimeError(f"{len(failed)} record(s) failed in the benchmark: {failed[:3]}")


def cpu_per_record(
    handler: Handler, events: list[dict[str, Any]], clock: Callable[[], float] = time.process_time
) -> float:
    """CPU seconds per record that ``handler`` spends on ``events``: ``clock`` (by default the
    process's CPU time, so that every thread counts, a thread pool's too) around them."""
    gc.collect()  # what earlier work left is not collected on this side's time
    started = clock()
    run_batches(handler, events)
    spent = clock() - started
    return spent / sum(len(event["Records"]) for event in events)


#: The sides, in the order of the first round (later rounds rotate it, so that none is always first).
SIDES = ("ours", "bare", "ours_fifo")


def handler_cost(
    *,
    batches_per_round: int = 50,
    rounds: int = 9,
    profile: int = 0,
    progress: Callable[[str], None] = lambda _: None,
) -> HandlerCostResult:
    """Our handler's CPU per record against the tutorial's, on the same batches of new orders.

    A warm-up batch each first (the cold start metric, the first validation, the thread
    pool), then ``rounds`` rounds; in each, every side (ours, the bare handler, ours on a FIFO
    queue) runs ``batches_per_round`` batches of its own new orders, the order of the sides
    rotating from round to round. CPU is ``time.process_time()`` around a side's batches, so
    our thread pool's threads count. Each side's figure is its best round: the machine's
    other work only ever adds. Every record must be stored, one write each: the store is
    checked after each side's batches, then emptied (a store that grew through the run would
    make each garbage collection slower than the last). ``profile=N`` then profiles our
    handler on as many batches and keeps the top N functions.
    """
    measured: dict[str, list[float]] = {side: [] for side in SIDES}
    written = dict.fromkeys(SIDES, 0)
    with sides() as both:
        handlers = {"ours": both.ours, "bare": both.bare, "ours_fifo": both.ours}
        for side, handler in handlers.items():
            run_batches(handler, batches(1, run=f"warm-{side}", fifo=side == "ours_fifo"))
        both.store.items.clear()
        for round_ in range(rounds):
            for side in SIDES[round_ % len(SIDES) :] + SIDES[: round_ % len(SIDES)]:
                events = batches(batches_per_round, run=f"{side}-{round_:03d}", fifo=side == "ours_fifo")
                before, writes = both.stdout.chars, both.store.writes
                measured[side].append(cpu_per_record(handlers[side], events) * 1e6)
                written[side] += both.stdout.chars - before
                _check_stored(both.store, events, both.store.writes - writes)
            progress(
                f"round {round_ + 1}/{rounds}: "
                + ", ".join(f"{side} {spent[-1]:.0f} µs" for side, spent in measured.items())
                + " CPU per record"
            )
        top = profile_ours(both.ours, batches(batches_per_round, run="profile"), top=profile) if profile else []
    records = rounds * batches_per_round * RECORDS_PER_BATCH
    best = {side: min(spent) for side, spent in measured.items()}
    return HandlerCostResult(
        ours_us=best["ours"],
        bare_us=best["bare"],
        ratio=best["ours"] / best["bare"],
        ours_fifo_us=best["ours_fifo"],
        rounds=rounds,
        batches=batches_per_round,
        records_per_batch=RECORDS_PER_BATCH,
        rounds_us=measured,
        stdout_bytes={side: chars / records for side, chars in written.items()},
        profile=top,
    )


def _check_stored(store: StoreDouble, events: list[dict[str, Any]], writes: int) -> None:
    """Every record of ``events`` is an order in ``store``, written once; then ``store`` is emptied."""
    expected = sum(len(event["Records"]) for event in events)
    if len(store.items) != expected or writes != expected:
        raise RuntimeError(f"the store holds {len(store.items)} orders after {writes} writes, not {expected}")
    store.items.clear()


def profile_ours(handler: Handler, events: list[dict[str, Any]], *, top: int) -> list[ProfileRow]:
    """cProfile of ``handler`` on ``events``, its thread pool's threads included (from Python 3.12,
    its records in one thread: see ``ProfiledPool``): the ``top`` functions by own CPU
    (``time.thread_time``: a thread waiting costs nothing), per record."""
    import orderflow.batch

    profilers: dict[int, cProfile.Profile] = {}
    pool = orderflow.batch._pool()

    class ProfiledPool:
        """The handler's pool, each record's work under its thread's own profiler.

        From Python 3.12 cProfile runs on ``sys.monitoring``: one profiler at a time in the
        process, so a second thread's cannot start ("Another profiling tool is already
        active"). There the records run one after another in the profiled thread: the same
        work per record, without the pool's hand-offs.
        """

        @staticmethod
        def map(work: Callable[[Any], Any], items: list[Any]) -> Iterator[Any]:
            if sys.version_info >= (3, 12):
                return iter([work(item) for item in items])

            def profiled(item: Any) -> Any:
                profiler = profilers.setdefault(threading.get_ident(), cProfile.Profile(time.thread_time))
                profiler.enable()
                try:
                    return work(item)
                finally:
                    profiler.disable()

            return pool.map(profiled, items)

    main = cProfile.Profile(time.thread_time)
    saved = orderflow.batch._pool
    orderflow.batch._pool = lambda: ProfiledPool  # type: ignore[assignment]
    gc.collect()
    try:
        main.enable()
        run_batches(handler, events)
        main.disable()
    finally:
        orderflow.batch._pool = saved
    stats = pstats.Stats(main)
    for profiler in profilers.values():
        stats.add(profiler)
    records = sum(len(event["Records"]) for event in events)
    entries = cast("dict[tuple[str, int, str], tuple[int, int, float, float, Any]]", stats.stats)  # type: ignore[attr-defined]
    total = sum(own for _, _, own, _, _ in entries.values()) or 1.0
    ranked = sorted(entries.items(), key=lambda entry: entry[1][2], reverse=True)[:top]
    return [
        ProfileRow(
            function=_function_name(where),
            calls=calls / records,
            own_us=own * 1e6 / records,
            cumulative_us=cumulative * 1e6 / records,
            share=own / total,
        )
        for where, (_, calls, own, cumulative, _) in ranked
    ]


def _function_name(where: tuple[str, int, str]) -> str:
    """``package/module.py:line(function)``, the path cut to its last three parts."""
    filename, line, function = where
    if filename == "~":  # a built-in
        return function
    return f"{'/'.join(filename.split(os.sep)[-3:])}:{line}({function})"
