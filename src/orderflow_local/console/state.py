"""What the console shows, read from the running stack: the map's live numbers, the alarms, the
dashboard, the dead letters (and their redrive), and orders with their payment and e-mails.

It reads what `orderflow up` already holds in its process (the metrics the alarms are evaluated
on, the alarms' states, the functions' pools), so a page left open costs the pipeline little; the
rest it asks the embedded AWS, as `orderflow dlq`, `orderflow orders` and `orderflow mail` do.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from orderflow_local.cloudwatch.alarms import COMPARISON_SYMBOLS
from orderflow_local.cloudwatch.metrics import dimensions_of
from orderflow_local.console import dashboard as dashboards
from orderflow_local.console.topology import Topology, build

if TYPE_CHECKING:
    from collections.abc import Callable

    from orderflow_local.cloudwatch.alarms import AlarmSpec, Evaluation
    from orderflow_local.stack.deploy import DeployedQueue, DeployedStack
    from orderflow_local.stack.local_stack import LocalStack

#: How long a table's item count is reused (DescribeTable on every tick would be a call per table).
TABLE_COUNT_TTL = 5.0
#: How long the console hides the dead letters it lists (as `dlq list` does, but short: the page
#: lists them again when their depth changes, and a redrive must find them soon).
LIST_HIDE_SECONDS = 2
#: How long a listing of the dead letters is reused (pages and tabs asking at once share one).
LIST_REUSE_SECONDS = 2.0
#: How many of an alarm's periods its chart shows.
ALARM_POINTS = 20
#: The GSI the orders table is read by customer through (infra/orders.py).
CUSTOMER_INDEX = "CustomerIndex"


class ConsoleError(Exception):
    """A request the console cannot answer: its message is the page's one line; ``status`` its HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class AlarmHistory:
    """When each alarm last changed state (the console's start for one that has not)."""

    since: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.time)

    def changed(self, name: str, at: float) -> None:
        self.since[name] = at

    def of(self, name: str) -> float:
        return self.since.get(name, self.started)


class ConsoleState:
    """The console's reads and actions on ``stack`` (a started :class:`LocalStack`)."""

    def __init__(self, stack: LocalStack) -> None:
        if stack.deployed is None:
            raise ValueError("the stack is not deployed")
        self.stack = stack
        self.deployed: DeployedStack = stack.deployed
        provider = stack.payment_provider
        self.topology: Topology = build(self.deployed, provider_url=provider.url if provider else None)
        self.alarm_history = AlarmHistory()
        self._table_counts: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()
        self._dashboards, self.dashboard_problem = _dashboards_of(self.deployed)
        self._clients: dict[str, Any] = {}
        #: One reader of a DLQ at a time: a listing hides its letters while it reads, and a redrive
        #: running meanwhile would take the hidden ones for a drained queue.
        self._dlq_locks: dict[str, threading.Lock] = {}
        #: The last listing and when (monotonic): pages asking within LIST_REUSE_SECONDS share it, as
        #: each listing counts one more receive of every letter in SQS.
        self._listed: tuple[float, dict[str, Any]] | None = None
        self._mail: list[Any] = []
        self._mail_lock = threading.Lock()

    # --- clients (administrator credentials, made once per service, shared by threads: boto3's
    # clients are thread-safe: https://boto3.amazonaws.com/v1/documentation/api/latest/guide/clients.html)

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self.stack.emulator.client(service)
            return self._clients[service]

    @property
    def period_scale(self) -> float:
        monitor = self.stack.alarm_monitor
        return monitor.period_scale if monitor is not None else self.stack.options.alarm_period_scale

    @property
    def alarms(self) -> list[AlarmSpec]:
        monitor = self.stack.alarm_monitor
        return list(monitor.alarms) if monitor is not None else []

    # --- the map --------------------------------------------------------------------------

    def overview(self) -> dict[str, Any]:
        return {
            "stack": self.deployed.spec.stack_name,
            "endpoint": self.stack.endpoint,
            "periodScale": self.period_scale,
            **self.topology.to_json(),
        }

    def live(self) -> dict[str, Any]:
        """Each node's numbers now, and each alarm's state."""
        nodes: dict[str, dict[str, Any]] = {}
        for node in self.topology.of_kind("queue", "dlq"):
            nodes[node.id] = self._queue_numbers(self.deployed.queues[node.id])
        running = {pool.config.name: pool.running for pool in self.stack.pools}
        store = self.stack.metrics
        for node in self.topology.of_kind("function"):
            dimensions = dimensions_of({"FunctionName": node.name})
            nodes[node.id] = {
                "invocations": int(store.total("AWS/Lambda", "Invocations", dimensions)),
                "errors": int(store.total("AWS/Lambda", "Errors", dimensions)),
                "throttles": int(store.total("AWS/Lambda", "Throttles", dimensions)),
                "running": running.get(node.name, 0),
            }
        for node in self.topology.of_kind("table"):
            count = self._item_count(node.name)
            if count is not None:
                nodes[node.id] = {"items": count}
        monitor = self.stack.alarm_monitor
        states = dict(monitor.states) if monitor is not None else {}
        return {"at": round(time.time() * 1000), "nodes": nodes, "alarms": states}

    def _queue_numbers(self, queue: DeployedQueue) -> dict[str, int]:
        """The queue's depth and in-flight count: the alarm monitor's newest sample (taken every second
        or so), else SQS's answer."""
        store = self.stack.metrics
        dimensions = dimensions_of({"QueueName": queue.name})
        visible = store.latest("AWS/SQS", "ApproximateNumberOfMessagesVisible", dimensions)
        hidden = store.latest("AWS/SQS", "ApproximateNumberOfMessagesNotVisible", dimensions)
        if visible is not None and hidden is not None and time.time() - visible[0] < 5:
            return {"depth": int(visible[1]), "inFlight": int(hidden[1])}
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=queue.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return {
            "depth": int(attributes.get("ApproximateNumberOfMessages", 0)),
            "inFlight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        }

    def _item_count(self, table: str) -> int | None:
        cached = self._table_counts.get(table)
        if cached is not None and time.monotonic() - cached[0] < TABLE_COUNT_TTL:
            return cached[1]
        try:
            count = int(self.client("dynamodb").describe_table(TableName=table)["Table"].get("ItemCount", 0))
        except Exception:  # noqa: BLE001 - a number on the map is not worth an error page
            return None
        self._table_counts[table] = (time.monotonic(), count)
        return count

    # --- alarms and the dashboard ---------------------------------------------------------------

    def alarm_list(self) -> list[dict[str, Any]]:
        monitor = self.stack.alarm_monitor
        if monitor is None:
            return []
        now = time.time()
        found = []
        for alarm in monitor.alarms:
            evaluation: Evaluation | None = monitor.evaluations.get(alarm.name)
            local_period = alarm.period / monitor.period_scale
            points = self.stack.metrics.series(
                alarm.namespace, alarm.metric_name, alarm.dimensions, alarm.statistic,
                local_period, now - ALARM_POINTS * local_period, now,
            )  # fmt: skip
            dimensions = ",".join(f"{name}={value}" for name, value in alarm.dimensions)
            found.append(
                {
                    "name": alarm.name,
                    "state": monitor.states.get(alarm.name, "INSUFFICIENT_DATA"),
                    "reason": evaluation.reason if evaluation else "not evaluated yet",
                    "since": round(self.alarm_history.of(alarm.name) * 1000),
                    "metric": f"{alarm.namespace}/{alarm.metric_name}" + (f"[{dimensions}]" if dimensions else ""),
                    "statistic": alarm.statistic,
                    "period": alarm.period,
                    "localPeriod": local_period,
                    "threshold": alarm.threshold,
                    "comparison": COMPARISON_SYMBOLS.get(alarm.comparison, alarm.comparison),
                    "evaluationPeriods": alarm.evaluation_periods,
                    "unit": self.stack.metrics.unit(alarm.namespace, alarm.metric_name, alarm.dimensions),
                    "description": alarm.description,
                    "points": [[round(at * 1000), value] for at, value in points],
                }
            )
        return found

    def dashboard(self) -> dict[str, Any]:
        if not self._dashboards:
            return {"name": None, "periodScale": self.period_scale, "widgets": [], "problem": self.dashboard_problem}
        return dashboards.render(self._dashboards[0], self.stack.metrics, self.alarms, period_scale=self.period_scale)

    # --- dead letters -----------------------------------------------------------------------------

    def _dead_letter_queues(self) -> list[tuple[DeployedQueue, DeployedQueue | None]]:
        """Each DLQ with the queue whose redrive policy names it (None: a pipe's or a rule's only)."""
        sources: dict[str, DeployedQueue] = {}
        for queue in self.deployed.queues.values():
            policy = queue.attributes.get("RedrivePolicy")
            if policy:
                sources[str(json.loads(policy).get("deadLetterTargetArn"))] = queue
        return [(self.deployed.queues[node.id], sources.get(self.deployed.queues[node.id].arn))
                for node in self.topology.of_kind("dlq")]  # fmt: skip

    def _dead_letter_queue(self, name: str) -> tuple[DeployedQueue, DeployedQueue | None]:
        for dlq, source in self._dead_letter_queues():
            if dlq.name == name:
                return dlq, source
        raise ConsoleError(f"no dead letter queue {name} in this stack", 404)

    def _dlq_lock(self, name: str) -> threading.Lock:
        with self._lock:
            return self._dlq_locks.setdefault(name, threading.Lock())

    def dead_letters(self, *, fresh: bool = False) -> dict[str, Any]:
        """Every DLQ with its letters explained (`orderflow dlq list --json`'s entries). A listing less
        than LIST_REUSE_SECONDS old is answered again unless ``fresh``: each one receives every letter."""
        listed = self._listed
        if not fresh and listed is not None and time.monotonic() - listed[0] < LIST_REUSE_SECONDS:
            return listed[1]
        from orderflow_local.ops.dlq import explain, in_flight, list_dead_letters, visible

        sqs = self.client("sqs")
        queues = []
        for dlq, source in self._dead_letter_queues():
            with self._dlq_lock(dlq.name):
                hidden = in_flight(sqs, dlq.url)
                letters = list_dead_letters(sqs, dlq.url, limit=100, hide_for=LIST_HIDE_SECONDS)
                depth = max(visible(sqs, dlq.url), len(letters))
            consumer = self._consumer(source)
            explained = explain(letters, logs=self._log_reader(consumer), read_item=self._order_reader(consumer))
            queues.append(
                {
                    "id": dlq.logical_id,
                    "name": dlq.name,
                    "depth": depth,
                    "inFlight": hidden,
                    "source": source.name if source else None,
                    "letters": [entry.to_json() for entry in explained],
                }
            )
        answer = {"queues": queues}
        self._listed = (time.monotonic(), answer)
        return answer

    def redrive(self, queue_name: str, *, dry_run: bool, include_rejected: bool = False) -> dict[str, Any]:
        """`orderflow dlq redrive`'s rules, on one of the stack's DLQs, back to the queue whose redrive policy
        names it; with ``dry_run``, what it would do."""
        from orderflow_local.ops.dlq import redrive

        dlq, source = self._dead_letter_queue(queue_name)
        if source is None:
            raise ConsoleError(
                f"{queue_name} has no source queue to send its letters back to (a pipe's or a rule's DLQ): "
                "see docs/operations.md"
            )
        with self._dlq_lock(dlq.name):
            report = redrive(
                self.client("sqs"),
                dlq_url=dlq.url,
                source_url=source.url,
                read_item=self._order_reader(self._consumer(source)),
                include_rejected=include_rejected,
                dry_run=dry_run,
                sleep=lambda seconds: None if dry_run else time.sleep(seconds),
            )
        self._listed = None  # the next listing reads what the redrive left
        verb = "would move" if dry_run else "moved"
        moved = len(report.would_move) if dry_run else report.moved
        summary = f"{verb} {moved} to {source.name}"
        if report.deleted_stored:
            summary += f"; {'would delete' if dry_run else 'deleted'} {report.deleted_stored} already stored"
        if report.skipped:
            summary += (
                f"; {len(report.skipped)} skipped ({report.skipped_rejected} rejected by the handler, "
                f"{report.skipped_capped} redriven too often already)"
            )
        return {
            "queue": queue_name,
            "dryRun": dry_run,
            "includeRejected": include_rejected,
            "moved": report.moved,
            "wouldMove": report.would_move,
            "deletedStored": report.deleted_stored,
            "skipped": [[message_id, why] for message_id, why in report.skipped],
            "message": summary + ".",
        }

    def purge(self, queue_name: str) -> dict[str, Any]:
        """Delete every message in a dead letter queue (SQS PurgeQueue); how many it held."""
        from orderflow_local.ops.dlq import depth

        dlq, _source = self._dead_letter_queue(queue_name)
        sqs = self.client("sqs")
        with self._dlq_lock(dlq.name):
            held, _in_flight = depth(sqs, dlq.url)
            sqs.purge_queue(QueueUrl=dlq.url)
        self._listed = None
        return {"queue": queue_name, "purged": held, "message": f"purged {queue_name}: {held} message(s) deleted."}

    def _consumer(self, source: DeployedQueue | None) -> Any | None:
        """The function the event source mapping on ``source`` invokes."""
        if source is None:
            return None
        for mapping in self.deployed.spec.mappings:
            if mapping.source_queue == source.logical_id:
                return self.deployed.spec.functions[mapping.function]
        return None

    def _log_reader(self, function: Any | None) -> Any | None:
        from orderflow_local.ops.dlq import FunctionLogReader

        if function is None or not function.log_group or not self.stack.options.function_logs:
            return None
        return FunctionLogReader(self.client("logs"), function.log_group)

    def _order_reader(self, function: Any | None) -> Callable[[str, str], dict[str, Any] | None] | None:
        """Reads an order by key, for the consumer that stores orders (its TABLE_NAME): its letters that
        are already stored are said so, and a redrive deletes them."""
        from orderflow_local.ops.dlq import table_reader

        if function is None:
            return None
        table = self.deployed.function_environment(function).get("TABLE_NAME")
        if table is None or table not in self.deployed.tables.values():
            return None
        return table_reader(self.client("dynamodb"), table)

    # --- orders --------------------------------------------------------------------------------

    def orders(self, *, order_id: str | None = None, customer_id: str | None = None) -> dict[str, Any]:
        from boto3.dynamodb.types import TypeDeserializer

        table = self.deployed.outputs().get("TableName")
        if table is None:
            raise ConsoleError("this stack has no orders table (no TableName output)", 404)
        dynamodb = self.client("dynamodb")
        if order_id:
            answer = dynamodb.query(
                TableName=table,
                KeyConditionExpression="orderId = :id",
                ExpressionAttributeValues={":id": {"S": order_id}},
            )
        elif customer_id:
            answer = dynamodb.query(
                TableName=table,
                IndexName=CUSTOMER_INDEX,
                KeyConditionExpression="customerId = :c",
                ExpressionAttributeValues={":c": {"S": customer_id}},
                ScanIndexForward=False,
                Limit=50,
            )
        else:
            raise ConsoleError("give an order id or a customer id")
        deserializer = TypeDeserializer()
        items = [
            {key: _plain(deserializer.deserialize(value)) for key, value in item.items()} for item in answer["Items"]
        ]
        if not items:
            wanted = f"order {order_id}" if order_id else f"orders for customer {customer_id}"
            raise ConsoleError(f"no {wanted} in {table}", 404)
        payments = self._payments(items)
        mails = self.sent_mail()
        return {"orders": [self._order(item, payments, mails) for item in items]}

    def _payments(self, items: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
        from boto3.dynamodb.types import TypeDeserializer

        tables = {
            self.deployed.function_environment(function).get("PAYMENTS_TABLE")
            for function in self.deployed.spec.functions.values()
        } & set(self.deployed.tables.values())
        if not tables:
            return {}
        table = tables.pop()
        deserializer = TypeDeserializer()
        keys = [{"orderId": {"S": item["orderId"]}, "createdAt": {"S": item["createdAt"]}} for item in items][:100]
        answer = self.client("dynamodb").batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True}})
        found = {}
        for payment in answer["Responses"].get(table, []):
            plain = {key: _plain(deserializer.deserialize(value)) for key, value in payment.items()}
            found[(plain["orderId"], plain["createdAt"])] = plain
        return found

    def sent_mail(self) -> list[Any]:
        """Every e-mail SES sent, parsed, oldest first: the ones not seen before are asked for and parsed,
        the rest kept (SES's list only grows)."""
        from orderflow_local.ops.mail import MailFetchError, fetch_sent, parse_sent

        if not self.deployed.spec.email_identities:
            return []
        with self._mail_lock:
            with contextlib.suppress(MailFetchError):  # the emulator is stopping: what was read so far
                self._mail.extend(parse_sent(entry) for entry in fetch_sent(self.stack.endpoint, start=len(self._mail)))
            return list(self._mail)

    def _order(
        self, item: dict[str, Any], payments: dict[tuple[str, str], dict[str, Any]], mails: list[Any]
    ) -> dict[str, Any]:
        payment = payments.get((item["orderId"], item["createdAt"]))
        emails = [
            {
                "id": mail.id,
                "subject": mail.subject,
                "notification": mail.kind,
                "at": _iso(mail.sent_at),
                "to": list(mail.to),
            }
            for mail in mails
            if mail.order_id == item["orderId"]
        ]
        history = [{"at": item.get("createdAt"), "event": "created", "detail": "the order's createdAt"}]
        if item.get("processedAt"):
            history.append({"at": item["processedAt"], "event": "stored", "detail": "by the order service"})
        if item.get("statusChangedAt"):
            detail = f"version {item.get('version')}"
            if item.get("cancellationReason"):
                detail += f": {item['cancellationReason']}"
            history.append({"at": item["statusChangedAt"], "event": str(item.get("status")), "detail": detail})
        if payment and payment.get("chargedAt"):
            declined = payment.get("declineCode")
            history.append(
                {"at": payment["chargedAt"], "event": "payment declined" if declined else "payment captured",
                 "detail": declined or f"{payment.get('amount')} {payment.get('currency')}, {payment.get('chargeId')}"}
            )  # fmt: skip
        if payment and payment.get("refundedAt"):
            history.append(
                {"at": payment["refundedAt"], "event": "payment refunded", "detail": payment.get("refundId")}
            )
        if payment and not payment.get("chargedAt") and not payment.get("refundedAt"):
            history.append({"at": payment.get("updatedAt"), "event": f"payment {payment.get('status')}", "detail": ""})
        history.extend({"at": email["at"], "event": f"e-mail: {email['notification']}", "detail": email["subject"]}
                       for email in emails)  # fmt: skip
        history.sort(key=lambda entry: str(entry["at"] or ""))
        return {
            "orderId": item["orderId"],
            "createdAt": item.get("createdAt"),
            "customerId": item.get("customerId"),
            "customerEmail": item.get("customerEmail"),
            "status": item.get("status"),
            "version": item.get("version"),
            "total": item.get("totalAmount", item.get("total")),
            "currency": item.get("currency"),
            "items": item.get("items", []),
            "history": history,
            "payment": payment,
            "emails": emails,
            "item": item,
        }


def _dashboards_of(deployed: DeployedStack) -> tuple[list[dashboards.Dashboard], str | None]:
    """The template's dashboards, or none and why (a body the local resolver cannot read: the map and
    everything else still work)."""
    try:
        return dashboards.dashboards(deployed), None
    except Exception as exc:  # noqa: BLE001 - a dashboard not drawn is said on its page, never fatal
        return [], f"the template's dashboard cannot be drawn locally: {exc}"


def _iso(moment: datetime | None) -> str | None:
    """``moment`` in UTC, ISO 8601 with milliseconds, as the orders' times are written."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    """A DynamoDB value as JSON takes it: Decimals as int or float, sets as sorted lists."""
    from decimal import Decimal

    from boto3.dynamodb.types import Binary

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(inner) for inner in value]
    if isinstance(value, set | frozenset):
        return sorted(_plain(inner) for inner in value)
    if isinstance(value, Binary):
        value = bytes(value)  # type: ignore[call-overload]  # Binary defines __bytes__; boto3's stubs do not say so
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
