"""The stack as a map: its resources as nodes, what flows between them as edges, read from the
deployed template alone, so a foreign template's stack is drawn by what it has.

Edges come from what the template wires: event source mappings (queue to function), redrive
policies (queue to its DLQ), the functions' environment (a variable naming a table, a queue, a bus,
an SES identity or the payment API: the function writes or calls it), DynamoDB streams to the pipes
that read them, pipes to their targets, rules on a bus to their targets, SNS subscriptions, and the
dead letter configurations of pipes and rule targets. Producers feed what nothing in the stack feeds.
Each node's column is its longest distance from a producer: the page draws each column as a row,
top down, as an order goes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from orderflow_local.stack.template import resolve

if TYPE_CHECKING:
    from orderflow_local.stack.deploy import DeployedStack

#: The producers' node: what sends into the stack from outside.
PRODUCERS = "producers"
#: The stack's CloudWatch alarms' node: what publishes to the topics their actions name.
ALARMS = "alarms"
#: The embedded payment provider's node, and the variable that names it to a function.
PROVIDER = "payment-provider"
PAYMENT_API_URL = "PAYMENT_API_URL"


@dataclass(frozen=True)
class Node:
    id: str
    kind: str  # producer, alarms, queue, dlq, function, table, stream, pipe, bus, rule, topic, email, provider
    name: str
    column: int = 0
    detail: str | None = None


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str
    kind: str = "flow"  # or "dlq": to a dead letter queue

    def to_json(self) -> dict[str, str]:
        return {"from": self.source, "to": self.target, "label": self.label, "kind": self.kind}


@dataclass(frozen=True)
class Topology:
    nodes: list[Node]
    edges: list[Edge]

    def to_json(self) -> dict[str, Any]:
        return {"nodes": [asdict(node) for node in self.nodes], "edges": [edge.to_json() for edge in self.edges]}

    def of_kind(self, *kinds: str) -> list[Node]:
        return [node for node in self.nodes if node.kind in kinds]


def build(deployed: DeployedStack, *, provider_url: str | None = None) -> Topology:
    """The map of ``deployed`` (``provider_url``: the embedded payment provider's, when it runs)."""
    spec = deployed.spec
    nodes: dict[str, Node] = {}
    edges: list[Edge] = []
    by_identifier: dict[str, str] = {}  # a URL, ARN or name -> its node's id

    dead_letter_targets = _dead_letter_queue_arns(deployed)
    for logical_id, queue in deployed.queues.items():
        is_dlq = queue.arn in dead_letter_targets
        detail = "FIFO" if spec.queues[logical_id].fifo else None
        nodes[logical_id] = Node(logical_id, "dlq" if is_dlq else "queue", queue.name, detail=detail)
        by_identifier.update({queue.url: logical_id, queue.arn: logical_id, queue.name: logical_id})
    for logical_id, table in deployed.tables.items():
        nodes[logical_id] = Node(logical_id, "table", table)
        by_identifier.update(
            {table: logical_id, f"arn:aws:dynamodb:{_region_account(deployed)}:table/{table}": logical_id}
        )
    for logical_id, stream_arn in deployed.streams.items():
        stream_id = f"{logical_id}.Stream"
        nodes[stream_id] = Node(stream_id, "stream", f"{deployed.tables[logical_id]} stream")
        by_identifier[stream_arn] = stream_id
        edges.append(Edge(logical_id, stream_id, "DynamoDB stream"))
    for logical_id, function in spec.functions.items():
        nodes[logical_id] = Node(
            logical_id, "function", function.name, detail=f"{function.runtime}, {function.timeout} s"
        )
        by_identifier.update({function.name: logical_id, deployed.lookup(logical_id, "Arn"): logical_id})
    for logical_id, bus_arn in deployed.buses.items():
        nodes[logical_id] = Node(logical_id, "bus", spec.buses[logical_id].name)
        by_identifier.update({bus_arn: logical_id, spec.buses[logical_id].name: logical_id})
    for logical_id, topic in spec.topics.items():
        arn = deployed.topics.get(logical_id) or deployed.lookup(logical_id, None)
        nodes[logical_id] = Node(logical_id, "topic", topic.name, detail="FIFO" if topic.fifo else None)
        by_identifier[arn] = logical_id
    for logical_id, identity in spec.email_identities.items():
        nodes[logical_id] = Node(logical_id, "email", identity.name, detail="SES identity")
        by_identifier[identity.name] = logical_id

    for mapping in spec.mappings:
        edges.append(Edge(mapping.source_queue, mapping.function, f"event source mapping, batch {mapping.batch_size}"))
    for logical_id, queue in deployed.queues.items():
        dlq = _redrive_target(queue.attributes)
        if dlq in by_identifier:
            receives = json.loads(queue.attributes["RedrivePolicy"]).get("maxReceiveCount")
            edges.append(Edge(logical_id, by_identifier[dlq], f"after {receives} receives", "dlq"))
    for logical_id, function in spec.functions.items():
        for variable, value in sorted(deployed.function_environment(function).items()):
            if variable == PAYMENT_API_URL:  # the payment API: the embedded provider's URL, or the template's
                nodes.setdefault(PROVIDER, Node(PROVIDER, "provider", "payment provider", detail=provider_url or value))
                by_identifier[value] = PROVIDER
            target = by_identifier.get(value)
            if target is not None and target != logical_id:
                edges.append(Edge(logical_id, target, variable, "dlq" if nodes[target].kind == "dlq" else "flow"))
    for logical_id, properties in deployed.pipes.items():
        name = spec.pipes[logical_id].name
        nodes[logical_id] = Node(logical_id, "pipe", name, detail="EventBridge pipe")
        source, target = (
            by_identifier.get(str(properties.get("Source"))),
            by_identifier.get(str(properties.get("Target"))),
        )
        if source:
            edges.append(Edge(source, logical_id, "records"))
        if target:
            edges.append(Edge(logical_id, target, "events"))
        stream = properties.get("SourceParameters", {}).get("DynamoDBStreamParameters", {})
        failed = by_identifier.get(str(stream.get("DeadLetterConfig", {}).get("Arn")))
        if failed:
            edges.append(Edge(logical_id, failed, "failed records", "dlq"))
    for logical_id, rule in spec.rules.items():
        properties = resolve(rule.properties, deployed.lookup, pseudo=deployed.pseudo)
        nodes[logical_id] = Node(logical_id, "rule", rule.name, detail=_pattern_detail(properties.get("EventPattern")))
        bus = by_identifier.get(deployed.rule_bus_name(rule))
        if bus:
            edges.append(Edge(bus, logical_id, "matches"))
        for target in properties.get("Targets", []):
            found = by_identifier.get(str(target.get("Arn")))
            if found:
                edges.append(Edge(logical_id, found, str(target.get("Id", "target"))))
            undelivered = by_identifier.get(str(target.get("DeadLetterConfig", {}).get("Arn")))
            if undelivered:
                edges.append(Edge(logical_id, undelivered, "undeliverable", "dlq"))
    for subscription in spec.subscriptions:
        edges.append(Edge(subscription.topic, subscription.queue, "subscription"))
    actions = {
        by_identifier[str(arn)]
        for alarm in deployed.alarms
        for key in ("AlarmActions", "OKActions", "InsufficientDataActions")
        for arn in alarm.properties.get(key, [])
        if str(arn) in by_identifier
    }
    if actions:
        nodes[ALARMS] = Node(ALARMS, "alarms", f"{len(deployed.alarms)} alarms", detail="CloudWatch alarm actions")
        edges.extend(Edge(ALARMS, topic, "state changes") for topic in sorted(actions))

    fed = {edge.target for edge in edges}
    entries = [node.id for node in nodes.values() if node.kind in {"queue", "topic", "bus"} and node.id not in fed]
    if entries:
        nodes[PRODUCERS] = Node(PRODUCERS, "producer", "producers", detail="orderflow send, SDKs, the AWS CLI")
        edges[:0] = [Edge(PRODUCERS, entry, "send") for entry in entries]
    columns = _columns(list(nodes), edges)
    placed = [
        Node(node.id, node.kind, node.name, columns[node.id], node.detail)
        for node in sorted(
            nodes.values(), key=lambda node: (columns[node.id], _KIND_ORDER.get(node.kind, 9), node.name)
        )
    ]
    return Topology(placed, edges)


#: Within a column: what flows first, dead letter queues last.
_KIND_ORDER = {"producer": 0, "alarms": 0, "topic": 1, "queue": 2, "function": 3, "table": 4, "stream": 5, "pipe": 6,
               "bus": 7, "rule": 8, "email": 9, "provider": 9, "dlq": 10}  # fmt: skip


def _columns(ids: list[str], edges: list[Edge]) -> dict[str, int]:
    """Each node's longest distance from a node nothing feeds, over the flow edges (a cycle is cut where
    it closes); a dead letter queue sits one column right of what sends to it."""
    following: dict[str, list[str]] = {node: [] for node in ids}
    for edge in edges:
        if edge.kind == "flow":
            following[edge.source].append(edge.target)
    depth: dict[str, int] = {}
    fed = {edge.target for edge in edges if edge.kind == "flow"}

    def visit(node: str, at: int, path: frozenset[str]) -> None:
        if depth.get(node, -1) >= at:
            return
        depth[node] = at
        for after in following[node]:
            if after not in path:
                visit(after, at + 1, path | {after})

    for root in ids:
        if root not in fed:
            visit(root, 0, frozenset({root}))
    for node in ids:
        depth.setdefault(node, 0)
    for edge in edges:
        if edge.kind == "dlq" and edge.target not in fed:
            depth[edge.target] = max(depth[edge.target], depth[edge.source] + 1)
    return depth


def _dead_letter_queue_arns(deployed: DeployedStack) -> set[str]:
    """The ARNs of every queue the template uses as a dead letter queue: a redrive policy's target, a
    pipe's or a rule target's dead letter configuration."""
    arns = {_redrive_target(queue.attributes) for queue in deployed.queues.values()}
    for properties in deployed.pipes.values():
        stream = properties.get("SourceParameters", {}).get("DynamoDBStreamParameters", {})
        arns.add(str(stream.get("DeadLetterConfig", {}).get("Arn")))
    for rule in deployed.spec.rules.values():
        for target in resolve(rule.properties, deployed.lookup, pseudo=deployed.pseudo).get("Targets", []):
            arns.add(str(target.get("DeadLetterConfig", {}).get("Arn")))
    for subscription in deployed.spec.subscriptions:
        policy = subscription.properties.get("RedrivePolicy")
        if isinstance(policy, dict):
            arns.add(str(resolve(policy, deployed.lookup, pseudo=deployed.pseudo).get("deadLetterTargetArn")))
    return {arn for arn in arns if arn.startswith("arn:")}


def _redrive_target(attributes: dict[str, str]) -> str:
    try:
        return str(json.loads(attributes.get("RedrivePolicy") or "{}").get("deadLetterTargetArn", ""))
    except ValueError:
        return ""


def _region_account(deployed: DeployedStack) -> str:
    pseudo = deployed.pseudo
    return f"{pseudo.get('AWS::Region', '')}:{pseudo.get('AWS::AccountId', '')}"


def _pattern_detail(pattern: Any) -> str | None:
    """A rule's pattern in a few words: its detail types, else its sources."""
    if isinstance(pattern, str):
        try:
            pattern = json.loads(pattern)
        except ValueError:
            return None
    if not isinstance(pattern, dict):
        return None
    for key in ("detail-type", "source"):
        values = pattern.get(key)
        if isinstance(values, list) and all(isinstance(value, str) for value in values):
            return ", ".join(values)
    return None
