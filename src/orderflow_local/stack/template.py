"""Read the synthesized CloudFormation template: the local stack's single source of truth.

Only the resources the local stack runs are read (queues, table, function, event source
mapping, the function's role and its policies, SNS topics and their queue subscriptions,
log groups, alarms, EventBridge buses, archives and rules, and pipes as configuration for
the local pipe runner); intrinsics in the properties it uses are resolved to the local
resources. Everything else (KMS, the dashboard, the alarm topic's e-mail) has no local
counterpart and is reported as such, never silently pretended.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

STACK_ID = "OrderProcessingStack"
EMULATED_TYPES = frozenset(
    {
        "AWS::SQS::Queue",
        "AWS::DynamoDB::Table",
        "AWS::Lambda::Function",
        "AWS::Lambda::EventSourceMapping",
        "AWS::IAM::Role",
        "AWS::IAM::Policy",
        "AWS::SNS::Topic",
        "AWS::SNS::Subscription",
        "AWS::Logs::LogGroup",
        "AWS::CloudWatch::Alarm",
        "AWS::Events::EventBus",
        "AWS::Events::Archive",
        "AWS::Events::Rule",
        "AWS::Pipes::Pipe",
    }
)
#: Longest names AWS allows (CloudFormation cuts the names it generates to them).
_RULE_NAME_LIMIT = 64
_ARCHIVE_NAME_LIMIT = 48


class TemplateError(RuntimeError):
    """The template is missing, cannot be synthesized, or uses something the local stack cannot run."""


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    properties: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.properties["QueueName"])

    @property
    def fifo(self) -> bool:
        return bool(self.properties.get("FifoQueue", False))

    @property
    def visibility_timeout(self) -> int:
        return int(self.properties.get("VisibilityTimeout", 30))


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    properties: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.properties["TableName"])


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    handler: str
    timeout: int
    memory_size: int
    runtime: str
    environment: dict[str, Any]
    #: Logical id of its execution role (None: the role is not in this template).
    role: str | None = None
    #: The CloudWatch Logs group it writes to (``LoggingConfig.LogGroup``, else Lambda's default).
    log_group: str = ""


@dataclass(frozen=True)
class MappingSpec:
    logical_id: str
    source_queue: str  # logical id of the queue
    function: str  # logical id of the function
    batch_size: int
    batching_window: int
    report_batch_item_failures: bool
    max_concurrency: int | None


@dataclass(frozen=True)
class TopicSpec:
    logical_id: str
    properties: dict[str, Any]

    @property
    def name(self) -> str:
        # CloudFormation names a topic without TopicName "<stack>-<logical id>-<suffix>".
        fifo = ".fifo" if self.fifo else ""
        return str(self.properties.get("TopicName") or f"{STACK_ID}-{self.logical_id}"[: 256 - len(fifo)] + fifo)

    @property
    def fifo(self) -> bool:
        return bool(self.properties.get("FifoTopic", False))


@dataclass(frozen=True)
class SubscriptionSpec:
    """A topic's subscription of one of the stack's queues."""

    logical_id: str
    topic: str  # logical id
    queue: str  # logical id
    properties: dict[str, Any]


@dataclass(frozen=True)
class BusSpec:
    """An ``AWS::Events::EventBus``: created in the emulator (its KMS key has no local effect)."""

    logical_id: str
    properties: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.properties["Name"])


@dataclass(frozen=True)
class ArchiveSpec:
    """An ``AWS::Events::Archive`` of one of the stack's buses (or another bus, by ARN)."""

    logical_id: str
    properties: dict[str, Any]

    @property
    def name(self) -> str:
        # CloudFormation names an archive without ArchiveName after the stack and logical id.
        return str(self.properties.get("ArchiveName") or f"{STACK_ID}-{self.logical_id}"[:_ARCHIVE_NAME_LIMIT])


@dataclass(frozen=True)
class RuleSpec:
    """An ``AWS::Events::Rule`` and its targets (intrinsics unresolved)."""

    logical_id: str
    properties: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.properties.get("Name") or f"{STACK_ID}-{self.logical_id}"[:_RULE_NAME_LIMIT])

    @property
    def targets(self) -> list[dict[str, Any]]:
        return list(self.properties.get("Targets", []))


@dataclass(frozen=True)
class PipeSpec:
    """An ``AWS::Pipes::Pipe``. moto keeps pipes only as configuration: nothing is created for it
    at deploy; the local pipe runner (orderflow_local.lambda_runtime.pipes) runs it."""

    logical_id: str
    properties: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.properties.get("Name") or f"{STACK_ID}-{self.logical_id}"[:_RULE_NAME_LIMIT])


@dataclass(frozen=True)
class RoleSpec:
    """An IAM role, with the policies attached to it (inline ones and ``AWS::IAM::Policy`` resources)."""

    logical_id: str
    properties: dict[str, Any]
    #: (policy name, document with intrinsics unresolved)
    policies: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        # CloudFormation names a role without RoleName "<stack>-<logical id>-<suffix>", at most 64 characters.
        return str(self.properties.get("RoleName") or f"{STACK_ID}-{self.logical_id}"[:64])


@dataclass(frozen=True)
class StackSpec:
    """What the local stack creates and runs, read from the template."""

    queues: dict[str, QueueSpec]
    tables: dict[str, TableSpec]
    functions: dict[str, FunctionSpec]
    mappings: list[MappingSpec]
    outputs: dict[str, Any]
    not_emulated: list[str] = field(default_factory=list)
    roles: dict[str, RoleSpec] = field(default_factory=dict)
    topics: dict[str, TopicSpec] = field(default_factory=dict)
    subscriptions: list[SubscriptionSpec] = field(default_factory=list)
    #: Every resource's type and properties, for the ARNs of resources with no local counterpart.
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    buses: dict[str, BusSpec] = field(default_factory=dict)
    archives: dict[str, ArchiveSpec] = field(default_factory=dict)
    rules: dict[str, RuleSpec] = field(default_factory=dict)
    pipes: dict[str, PipeSpec] = field(default_factory=dict)


def load_template(path: Path) -> StackSpec:
    """Parse ``path`` (a synthesized template) into the resources the local stack runs."""
    try:
        template = json.loads(path.read_text())
    except FileNotFoundError:
        raise TemplateError(f"{path} does not exist: run `make synth`") from None
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{path} is not valid JSON ({exc}): run `make synth` again") from None
    resources: dict[str, dict[str, Any]] = template.get("Resources", {})
    queues = {
        key: QueueSpec(key, value.get("Properties", {}))
        for key, value in resources.items()
        if value["Type"] == "AWS::SQS::Queue"
    }
    tables = {
        key: TableSpec(key, value.get("Properties", {}))
        for key, value in resources.items()
        if value["Type"] == "AWS::DynamoDB::Table"
    }
    functions = {}
    for key, value in resources.items():
        if value["Type"] != "AWS::Lambda::Function":
            continue
        props = value["Properties"]
        functions[key] = FunctionSpec(
            logical_id=key,
            name=str(props.get("FunctionName", key)),
            handler=str(props["Handler"]),
            timeout=int(props.get("Timeout", 3)),
            memory_size=int(props.get("MemorySize", 128)),
            runtime=str(props.get("Runtime", "")),
            environment=dict(props.get("Environment", {}).get("Variables", {})),
            role=_logical_target(props["Role"], "Role", key) if isinstance(props.get("Role"), dict) else None,
            log_group=_log_group(props, resources),
        )
    mappings = []
    for key, value in resources.items():
        if value["Type"] != "AWS::Lambda::EventSourceMapping":
            continue
        props = value["Properties"]
        source = _logical_target(props.get("EventSourceArn"), "EventSourceArn", key)
        target = _logical_target(props.get("FunctionName"), "FunctionName", key)
        if source not in queues:
            raise TemplateError(f"{key}: only SQS event sources run locally, not {source}")
        mappings.append(
            MappingSpec(
                logical_id=key,
                source_queue=source,
                function=target,
                batch_size=int(props.get("BatchSize", 10)),
                batching_window=int(props.get("MaximumBatchingWindowInSeconds", 0)),
                report_batch_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                max_concurrency=props.get("ScalingConfig", {}).get("MaximumConcurrency"),
            )
        )
    topics = {
        key: TopicSpec(key, value.get("Properties", {}))
        for key, value in resources.items()
        if value["Type"] == "AWS::SNS::Topic"
    }
    not_emulated = sorted({value["Type"] for value in resources.values()} - EMULATED_TYPES)
    return StackSpec(
        queues,
        tables,
        functions,
        mappings,
        template.get("Outputs", {}),
        not_emulated,
        roles=_roles(resources),
        topics=topics,
        subscriptions=_subscriptions(resources, topics, queues),
        resources=resources,
        buses={key: BusSpec(key, props) for key, props in _of_type(resources, "AWS::Events::EventBus").items()},
        archives={key: ArchiveSpec(key, props) for key, props in _of_type(resources, "AWS::Events::Archive").items()},
        rules={key: RuleSpec(key, props) for key, props in _of_type(resources, "AWS::Events::Rule").items()},
        pipes={key: PipeSpec(key, props) for key, props in _of_type(resources, "AWS::Pipes::Pipe").items()},
    )


def _of_type(resources: dict[str, dict[str, Any]], resource_type: str) -> dict[str, dict[str, Any]]:
    """The properties of every resource of ``resource_type``, by logical id."""
    return {key: value.get("Properties", {}) for key, value in resources.items() if value["Type"] == resource_type}


def _log_group(function: dict[str, Any], resources: dict[str, dict[str, Any]]) -> str:
    """The function's log group: its LoggingConfig's (a name, or a Ref to a LogGroup here), else /aws/lambda/NAME."""
    configured = function.get("LoggingConfig", {}).get("LogGroup")
    if isinstance(configured, str):
        return configured
    if isinstance(configured, dict) and "Ref" in configured:
        group = resources.get(configured["Ref"], {}).get("Properties", {}).get("LogGroupName")
        if isinstance(group, str):
            return group
    return f"/aws/lambda/{function.get('FunctionName', 'function')}"


def _subscriptions(
    resources: dict[str, dict[str, Any]], topics: dict[str, TopicSpec], queues: dict[str, QueueSpec]
) -> list[SubscriptionSpec]:
    found = []
    for key, value in resources.items():
        if value["Type"] != "AWS::SNS::Subscription":
            continue
        props = value["Properties"]
        topic = _logical_target(props.get("TopicArn"), "TopicArn", key)
        if props.get("Protocol") != "sqs":
            continue  # e-mail and the like: nothing to deliver locally
        queue = _logical_target(props.get("Endpoint"), "Endpoint", key)
        if topic not in topics or queue not in queues:
            raise TemplateError(f"{key}: only this stack's topics and queues can be subscribed locally")
        found.append(SubscriptionSpec(key, topic, queue, props))
    return found


def _roles(resources: dict[str, dict[str, Any]]) -> dict[str, RoleSpec]:
    roles = {}
    for key, value in resources.items():
        if value["Type"] == "AWS::IAM::Role":
            props = value.get("Properties", {})
            inline = [(str(policy["PolicyName"]), policy["PolicyDocument"]) for policy in props.get("Policies", [])]
            roles[key] = RoleSpec(key, props, inline)
    for key, value in resources.items():
        if value["Type"] != "AWS::IAM::Policy":
            continue
        props = value.get("Properties", {})
        for role in props.get("Roles", []):
            target = _logical_target(role, "Roles", key)
            if target not in roles:
                raise TemplateError(f"{key} attaches to {target}, which is not a role of this stack")
            roles[target].policies.append((str(props.get("PolicyName", key)), props["PolicyDocument"]))
    return roles


def _logical_target(value: Any, name: str, owner: str) -> str:
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    raise TemplateError(f"{owner}.{name} must reference a resource of this stack, got {value!r}")


Lookup = Callable[[str, str | None], str]


def resolve(value: Any, lookup: Lookup, *, pseudo: dict[str, str]) -> Any:
    """Resolve CloudFormation intrinsics in ``value``.

    ``lookup(logical_id, attribute)`` answers ``Ref`` (attribute None) and ``Fn::GetAtt``.
    """
    if isinstance(value, list):
        return [resolve(item, lookup, pseudo=pseudo) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1 or not next(iter(value)).startswith(("Ref", "Fn::")):
        return {key: resolve(item, lookup, pseudo=pseudo) for key, item in value.items()}
    ((function, argument),) = value.items()
    if function == "Ref":
        return pseudo[argument] if argument in pseudo else lookup(argument, None)
    if function == "Fn::GetAtt":
        logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
        return lookup(logical_id, attribute)
    if function == "Fn::Join":
        separator, items = argument
        return separator.join(str(resolve(item, lookup, pseudo=pseudo)) for item in items)
    if function == "Fn::Select":
        index, items = argument
        return resolve(items, lookup, pseudo=pseudo)[int(index)]
    if function == "Fn::Sub":
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        names = {**pseudo, **{key: resolve(item, lookup, pseudo=pseudo) for key, item in variables.items()}}
        return _substitute(text, names, lookup)
    raise TemplateError(f"the local stack cannot resolve {function}")


def _substitute(text: str, names: dict[str, str], lookup: Lookup) -> str:
    out, rest = "", text
    while "${" in rest:
        before, _, after = rest.partition("${")
        name, _, rest = after.partition("}")
        if name in names:
            out += before + str(names[name])
        elif "." in name:
            logical_id, attribute = name.split(".", 1)
            out += before + lookup(logical_id, attribute)
        else:
            out += before + lookup(name, None)
    return out + rest
