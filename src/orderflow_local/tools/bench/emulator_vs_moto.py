"""``emulator``: our emulator's conditional ``PutItem`` rate and CPU against stock moto's, side by side,
with requests signed ahead of time (``signed_put_items``) and replayed over kept-alive connections (``replay``)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orderflow_local.emulator import Emulator
from orderflow_local.tools.bench.throughput import CEILING_THREADS

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass
class EmulatorResult:
    """Conditional PutItem of a stored order: our emulator against stock moto, best over thread counts."""

    ours: float
    ours_threads: int
    stock: float
    stock_threads: int
    ratio: float
    rounds: int
    calls: int
    #: Every rate measured: {"ours"|"stock": {threads: calls/s}}, best of the rounds.
    rates: dict[str, dict[int, float]]
    #: The emulator process's own CPU per PutItem (ms), least over the rounds: what the server
    #: spends, apart from the client that shares this machine's cores.
    ours_cpu_ms: float = 0.0
    stock_cpu_ms: float = 0.0

    @property
    def cpu_ratio(self) -> float:
        """How many more PutItems ours takes per CPU second than stock moto."""
        return self.stock_cpu_ms / self.ours_cpu_ms if self.ours_cpu_ms else 0.0


def stored_order() -> dict[str, Any]:
    """A stored order as the pipeline writes it (DynamoDB JSON), for the emulator benchmark.

    Built the pipeline's way, so it cannot drift from what the function stores: a generated
    order (the one with the most line items of a seeded plan), confirmed by the domain, and
    serialized as the store serializes it. The key fields are left to the caller.
    """
    from datetime import UTC, datetime
    from decimal import Decimal

    from boto3.dynamodb.types import TypeSerializer

    from orderflow.domain.enrichment import confirm
    from orderflow.domain.models import OrderCreated
    from orderflow_local.ops.traffic import plan_traffic

    plan = plan_traffic(20, seed=1, duplicate_rate=0, malformed_rate=0, invalid_rate=0, run="bench")
    orders = [OrderCreated.model_validate(json.loads(m.body, parse_float=Decimal)) for m in plan.messages]
    order = max(orders, key=lambda candidate: len(candidate.items))
    confirmed = confirm(order, sqs_message_id=str(uuid.UUID(int=1)), now=datetime(2026, 4, 20, 14, 30, 1, tzinfo=UTC))
    serializer = TypeSerializer()
    return {
        name: serializer.serialize(value)
        for name, value in confirmed.to_item().items()
        if name not in ("orderId", "createdAt")
    }


def signed_put_items(endpoint: str, table: str, item: dict[str, Any], count: int) -> list[tuple[bytes, dict[str, str]]]:
    """``count`` conditional PutItem requests of ``item``, each under a new key, signed (SigV4) ahead of time.

    Each is the JSON body and the headers boto3 would send for
    ``put_item(TableName=table, Item=..., ConditionExpression="attribute_not_exists(orderId)")``.
    """
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from orderflow_local.emulator import CREDENTIALS, REGION

    signer = SigV4Auth(
        Credentials(CREDENTIALS["aws_access_key_id"], CREDENTIALS["aws_secret_access_key"]), "dynamodb", REGION
    )
    signed = []
    for n in range(count):
        body = json.dumps(
            {
                "TableName": table,
                "Item": {**item, "orderId": {"S": f"ORD-{n}"}, "createdAt": {"S": "2026-04-20T14:30:00Z"}},
                "ConditionExpression": "attribute_not_exists(orderId)",
            }
        ).encode()
        request = AWSRequest(
            "POST",
            f"{endpoint}/",
            data=body,
            headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.PutItem"},
        )
        signer.add_auth(request)
        signed.append((body, dict(request.headers.items())))
    return signed


def replay(port: int, requests: list[tuple[bytes, dict[str, str]]], threads: int) -> float:
    """Send ``requests`` from ``threads`` threads over kept-alive HTTP connections; calls per second.

    A connection the server closes (stock moto closes every one) is opened again. Every answer
    must be 200: a refused or failed call raises, with the server's answer.
    """
    import concurrent.futures
    import http.client

    def send(share: list[tuple[bytes, dict[str, str]]]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for body, headers in share:
                connection.request("POST", "/", body=body, headers=headers)
                response = connection.getresponse()
                answer = response.read()
                if response.status != 200:
                    raise RuntimeError(f"PutItem answered {response.status}: {answer[:300]!r}")
                if response.will_close:
                    connection.close()  # the next request opens a new connection
        finally:
            connection.close()

    shares = [requests[offset::threads] for offset in range(threads)]
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, shares))
    return len(requests) / (time.perf_counter() - started)


def emulator(*, calls: int = 2000, rounds: int = 2, progress: Callable[[str], None] = lambda _: None) -> EmulatorResult:
    """Our emulator's PutItem rate against stock moto's, side by side, each in a process of its own.

    Stock is moto's own ``ThreadedMotoServer`` from this venv, unpatched. Ours is the emulator as
    ``orderflow up`` runs it: moto's app with our patches (orderflow_local.emulator.patches), IAM
    enforced, served by granian. The load is the same for both: conditional PutItems of a
    stored order, signed before the clock starts and replayed over kept-alive connections from
    each of :data:`CEILING_THREADS` client threads (:func:`replay`), so that the client costs
    little of the shared cores. Each round measures both, alternating; each rate is the best
    over the thread counts and the rounds. Every write must land (the table's count is checked).
    """
    from orderflow_local.stack.deploy import create_table
    from orderflow_local.stack.synthesis import ensure_template, template_for
    from orderflow_local.stack.template import load_template

    spec = load_template(ensure_template(template_for({}), context={}, progress=progress))
    [table] = [table for table in spec.tables.values() if table.name == "Orders"]  # not the payment service's
    item = stored_order()
    rates: dict[str, dict[int, float]] = {"ours": {}, "stock": {}}
    cpu_ms: dict[str, float] = {}
    for round_ in range(1, rounds + 1):
        for label in ("stock", "ours"):
            progress(f"round {round_}/{rounds}: {label} moto, {calls} conditional PutItems per thread count")
            patched = label == "ours"  # as `orderflow up` runs it: patched, IAM enforced for role sessions
            with Emulator(port=0, own_process=True, patched=patched, enforce_iam=patched) as server:
                dynamodb = server.dynamodb()
                spent = 0.0
                for threads in CEILING_THREADS:
                    name = f"Ceiling{threads}"
                    create_table({**table.properties, "TableName": name}, dynamodb)
                    requests = signed_put_items(server.endpoint, name, item, calls)
                    before = server.cpu_seconds()
                    rate = replay(server.port, requests, threads)
                    after = server.cpu_seconds()
                    stored = dynamodb.describe_table(TableName=name)["Table"]["ItemCount"]
                    if stored != calls:
                        raise RuntimeError(f"{label} moto stored {stored} of {calls} PutItems")
                    rates[label][threads] = max(rate, rates[label].get(threads, 0.0))
                    if before is not None and after is not None:
                        spent += after - before
            per_call = spent * 1000 / (calls * len(CEILING_THREADS))
            if per_call:
                cpu_ms[label] = min(per_call, cpu_ms.get(label, per_call))
    ours_threads = max(rates["ours"], key=lambda threads: rates["ours"][threads])
    stock_threads = max(rates["stock"], key=lambda threads: rates["stock"][threads])
    ours, stock = rates["ours"][ours_threads], rates["stock"][stock_threads]
    return EmulatorResult(
        ours=ours,
        ours_threads=ours_threads,
        stock=stock,
        stock_threads=stock_threads,
        ratio=ours / stock,
        rounds=rounds,
        calls=calls,
        rates=rates,
        ours_cpu_ms=cpu_ms.get("ours", 0.0),
        stock_cpu_ms=cpu_ms.get("stock", 0.0),
    )
