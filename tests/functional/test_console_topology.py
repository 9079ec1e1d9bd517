"""The console's map of each stack variant, deployed into the embedded AWS: every queue, function,
table, pipe, bus and rule, the edges the template wires, and columns that read left to right."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from orderflow_local.console.topology import PRODUCERS, PROVIDER, Topology, build
from orderflow_local.emulator import Emulator
from orderflow_local.stack.deploy import deploy
from orderflow_local.stack.template import load_template

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.synth import Synthesized

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def aws() -> Iterator[Emulator]:
    """An emulator of its own per test: each deploys a whole stack, whose names would collide."""
    with Emulator(port=0) as running:
        yield running


def topology_of(aws: Emulator, template: Path, *, provider_url: str | None = None) -> Topology:
    deployed = deploy(
        load_template(template),
        sqs=aws.sqs(),
        dynamodb=aws.dynamodb(),
        sns=aws.sns(),
        events=aws.events(),
        secretsmanager=aws.client("secretsmanager"),
        sesv2=aws.client("sesv2"),
    )
    return build(deployed, provider_url=provider_url)


def edges(topology: Topology) -> set[tuple[str, str, str]]:
    """(from, to, kind) by node name, which the tests know (the ids are CDK's logical ids)."""
    names = {node.id: node.name for node in topology.nodes}
    return {(names[edge.source], names[edge.target], edge.kind) for edge in topology.edges}


def column(topology: Topology, name: str) -> int:
    (node,) = [node for node in topology.nodes if node.name == name]
    return node.column


def kinds(topology: Topology) -> dict[str, str]:
    return {node.name: node.kind for node in topology.nodes}


def test_the_default_stack_is_drawn_from_producers_to_the_services_that_react(
    aws: Emulator, synthesized: Synthesized
) -> None:
    topology = topology_of(aws, synthesized({"stage": "dev"}), provider_url="http://127.0.0.1:1")
    found = edges(topology)
    assert {
        ("producers", "OrderCreatedQueue", "flow"),
        ("OrderCreatedQueue", "OrderProcessor", "flow"),
        ("OrderCreatedQueue", "OrderCreatedDLQ", "dlq"),
        ("OrderProcessor", "OrderCreatedDLQ", "dlq"),  # the handler's own rejections (DLQ_URL)
        ("OrderProcessor", "Orders", "flow"),
        ("Orders", "Orders stream", "flow"),
        ("Orders stream", "OrderOutbox", "flow"),
        ("OrderOutbox", "OrderDomainEvents", "flow"),
        ("OrderOutbox", "OrderOutboxDLQ", "dlq"),
        ("OrderDomainEvents", "OrderEventsToPayments", "flow"),
        ("OrderEventsToPayments", "PaymentQueue", "flow"),
        ("PaymentQueue", "PaymentProcessor", "flow"),
        ("PaymentProcessor", "Payments", "flow"),
        ("PaymentProcessor", "payment provider", "flow"),
        ("PaymentProcessor", "OrderDomainEvents", "flow"),  # it publishes what it did
        ("OrderDomainEvents", "DomainEventsToNotifications", "flow"),
        ("NotificationQueue", "Notifier", "flow"),
        ("Notifier", "orders@orderflow.example", "flow"),
    } <= found
    assert kinds(topology)["OrderCreatedDLQ"] == "dlq"
    assert kinds(topology)["PaymentQueue"] == "queue"
    # the map reads left to right along the pipeline; the Notifier's read of Orders does not drag it right
    path = ["producers", "OrderCreatedQueue", "OrderProcessor", "Orders", "OrderOutbox", "OrderDomainEvents",
            "OrderEventsToPayments", "PaymentQueue", "PaymentProcessor"]  # fmt: skip
    assert [column(topology, name) for name in path] == sorted({column(topology, name) for name in path})
    assert column(topology, "OrderCreatedDLQ") == column(topology, "OrderProcessor") + 1  # right of all that send to it
    # only the ingress is fed by producers; the alarm topic is fed by the alarms
    assert {edge.target for edge in topology.edges if edge.source == PRODUCERS} == {
        node.id for node in topology.nodes if node.name == "OrderCreatedQueue"
    }
    assert any(node.kind == "alarms" for node in topology.nodes)
    assert len({node.id for node in topology.nodes}) == len(topology.nodes)
    (provider,) = [node for node in topology.nodes if node.id == PROVIDER]
    assert provider.detail == "http://127.0.0.1:1"  # the embedded provider's URL, not the template's


def test_a_fifo_fanout_stack_draws_the_topic_and_its_subscriptions(aws: Emulator, synthesized: Synthesized) -> None:
    topology = topology_of(aws, synthesized({"stage": "dev", "fifo": "true", "fanout": "true"}))
    found = edges(topology)
    topics = [node for node in topology.nodes if node.kind == "topic" and node.detail == "FIFO"]
    assert len(topics) == 1
    assert ("producers", topics[0].name, "flow") in found
    assert (topics[0].name, "OrderCreatedQueue.fifo", "flow") in found
    queue = next(node for node in topology.nodes if node.name == "OrderCreatedQueue.fifo")
    assert queue.detail == "FIFO"


def test_eventbridge_ingress_puts_the_ingress_bus_first(aws: Emulator, synthesized: Synthesized) -> None:
    topology = topology_of(aws, synthesized({"stage": "dev", "ingress": "eventbridge"}))
    buses = [node.name for node in topology.nodes if node.kind == "bus"]
    fed = {edge.target for edge in topology.edges if edge.source == PRODUCERS}
    names = {node.id: node.name for node in topology.nodes}
    assert {names[target] for target in fed} <= set(buses)
    assert column(topology, "OrderCreatedQueue") > min(column(topology, names[target]) for target in fed)


def test_a_foreign_template_is_drawn_by_what_it_has(aws: Emulator, run_dir: Path) -> None:
    from tests.foreign_app.app import synthesized_once

    topology = topology_of(aws, synthesized_once(run_dir))
    assert topology.nodes
    assert topology.edges
    functions = [node for node in topology.nodes if node.kind == "function"]
    assert functions
    fed_by_mapping = {edge.target for edge in topology.edges if "event source mapping" in edge.label}
    assert fed_by_mapping <= {node.id for node in functions}
