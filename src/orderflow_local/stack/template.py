"""Read the synthesized CloudFormation template: the local stack's single source of truth.

Only the resources the local stack runs are read (queues, table, function, event source
mapping, the function's role and its policies, SNS topics and their queue subscriptions,
log groups, alarms, EventBridge buses, archives and rules, SES e-mail identities, and pipes as
configuration for the local pipe runner); intrinsics in the properties it uses are resolved to the local
resources. Everything else (KMS, the dashboard, the alarm topic's e-mail) has no local
counterpart and is reported as such, never silently pretended.

Any app's synthesized template is read the same way (`orderflow up --template`): the names
CloudFormation would generate use that template's stack's name, a function's code is the asset
folder its ``aws:asset:path`` metadata names, and a function that cannot run here (not Python 3,
its asset gone) is refused in one line naming it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

#: Our app's stack (its template is ``OrderProcessingStack.template.json``); another template's
#: generated names use its own stack's name (:func:`stack_name_of`).
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
        "AWS::SecretsManager::Secret",
        "AWS::SES::EmailIdentity",
    }
)
#: Why a resource type the local stack does not create is skipped (shown by `orderflow up`).
SKIP_REASONS = {
    "AWS::KMS::Key": "no local effect",
    "AWS::KMS::Alias": "no local effect",
    "AWS::CloudWatch::Dashboard": "nothing to draw locally",
    "AWS::SQS::QueuePolicy": "resource policies are not enforced",
    "AWS::SNS::TopicPolicy": "resource policies are not enforced",
    "AWS::Lambda::Permission": "resource policies are not enforced",
    "AWS::CDK::Metadata": "CDK's own bookkeeping",
}
#: Longest names AWS allows (CloudFormation cuts the names it generates to them).
_RULE_NAME_LIMIT = 64
_ARCHIVE_NAME_LIMIT = 48
_QUEUE_NAME_LIMIT = 80
_FUNCTION_NAME_LIMIT = 64
_TABLE_NAME_LIMIT = 255
#: The CDK's metadata naming the folder under cdk.out that a function's code asset was staged in
#: (written by `cdk synth`, https://docs.aws.amazon.com/cdk/v2/guide/assets.html).
ASSET_PATH_METADATA = "aws:asset:path"


class TemplateError(RuntimeError):
    """The template is missing, cannot be synthesized, or uses something the local stack cannot run."""


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    properties: dict[str, Any]
    stack_name: str = STACK_ID

    @property
    def name(self) -> str:
        # CloudFormation names a queue without QueueName "<stack>-<logical id>-<suffix>" (".fifo" kept).
        fifo = ".fifo" if self.fifo else ""
        generated = f"{self.stack_name}-{self.logical_id}"[: _QUEUE_NAME_LIMIT - len(fifo)] + fifo
        return str(self.properties.get("QueueName") or generated)

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
    stack_name: str = STACK_ID

    @property
    def name(self) -> str:
        # CloudFormation names a table without TableName "<stack>-<logical id>-<suffix>".
        return str(self.properties.get("TableName") or f"{self.stack_name}-{self.logical_id}"[:_TABLE_NAME_LIMIT])


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
    #: The folder its code is in, from its ``aws:asset:path`` metadata (None: none named; the
    #: handler is found as our own stack's is, on the path of the process running `orderflow up`).
    code_path: Path | None = None


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
    stack_name: str = STACK_ID

    @property
    def name(self) -> str:
        # CloudFormation names a topic without TopicName "<stack>-<logical id>-<suffix>".
        fifo = ".fifo" if self.fifo else ""
        generated = f"{self.stack_name}-{self.logical_id}"[: 256 - len(fifo)] + fifo
        return str(self.properties.get("TopicName") or generated)

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
    stack_name: str = STACK_ID

    @property
    def name(self) -> str:
        # CloudFormation names an archive without ArchiveName after the stack and logical id.
        generated = f"{self.stack_name}-{self.logical_id}"[:_ARCHIVE_NAME_LIMIT]
        return str(self.properties.get("ArchiveName") or generated)


@dataclass(frozen=True)
class RuleSpec:
    """An ``AWS::Events::Rule`` and its targets (intrinsics unresolved)."""

    logical_id: str
    properties: dict[str, Any]
    stack_name: str = STACK_ID

    @property
    def name(self) -> str:
        return str(self.properties.get("Name") or f"{self.stack_name}-{self.logical_id}"[:_RULE_NAME_LIMIT])

    @property
    def targets(self) -> list[dict[str, Any]]:
        return list(self.properties.get("Targets", []))


@dataclass(frozen=True)
class PipeSpec:
    """An ``AWS::Pipes::Pipe``. moto keeps pipes only as configuration: nothing is created for it
    at deploy; the local pipe runner (orderflow_local.lambda_runtime.pipes) runs it."""

    logical_id: str
    properties: dict[str, Any]
    stack_name: str = STACK_ID

    @property
    def name(self) -> str:
        return str(self.properties.get("Name") or f"{self.stack_name}-{self.logical_id}"[:_RULE_NAME_LIMIT])


@dataclass(frozen=True)
class SecretSpec:
    """An ``AWS::SecretsManager::Secret``: created in the emulator with its ``SecretString``, or with a
    value generated as ``GenerateSecretString`` asks (its KMS key has no local effect)."""

    logical_id: str
    properties: dict[str, Any]
    stack_name: str = STACK_ID

    @property
    def name(self) -> str:
        return str(self.properties.get("Name") or f"{self.stack_name}-{self.logical_id}")


@dataclass(frozen=True)
class EmailIdentitySpec:
    """An ``AWS::SES::EmailIdentity``: an address or a domain, created in the emulator (where moto
    marks it verified at once, as AWS does only once its mail or its DNS records are confirmed).
    Its DKIM, feedback and configuration set properties have no local effect."""

    logical_id: str
    properties: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.properties["EmailIdentity"])


@dataclass(frozen=True)
class RoleSpec:
    """An IAM role, with the policies attached to it (inline ones and ``AWS::IAM::Policy`` resources)."""

    logical_id: str
    properties: dict[str, Any]
    #: (policy name, document with intrinsics unresolved)
    policies: list[tuple[str, Any]] = field(default_factory=list)
    stack_name: str = STACK_ID

    @property
    def name(self) -> str:
        # CloudFormation names a role without RoleName "<stack>-<logical id>-<suffix>", at most 64 characters.
        return str(self.properties.get("RoleName") or f"{self.stack_name}-{self.logical_id}"[:64])


@dataclass(frozen=True)
class StackSpec:
    """What the local stack creates and runs, read from the template."""

    queues: dict[str, QueueSpec]
    tables: dict[str, TableSpec]
    functions: dict[str, FunctionSpec]
    mappings: list[MappingSpec]
    outputs: dict[str, Any]
    #: The type of every resource not created locally, once per resource, sorted (see :func:`skipped_summary`).
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
    secrets: dict[str, SecretSpec] = field(default_factory=dict)
    #: The SES identities (e-mail addresses or domains) the stack sends from.
    email_identities: dict[str, EmailIdentitySpec] = field(default_factory=dict)
    #: The stack's name, which CloudFormation puts in the names it generates (AWS::StackName).
    stack_name: str = STACK_ID


def stack_name_of(path: Path, template: dict[str, Any]) -> str:
    """The name of the stack ``template`` (read from ``path``) is for.

    In a cloud assembly (`cdk synth`'s cdk.out, with its manifest.json) a stack's template is
    ``<artifact id>.template.json``, and the manifest gives the stack's name (``stackName`` when it
    is not the artifact id). A template taken out of its assembly is known by its resources'
    ``aws:cdk:path`` metadata (``<stack>/<construct>/...``). Failing both, our own stack's name:
    a hand-written template is named as ours.
    https://docs.aws.amazon.com/cdk/v2/guide/apps.html#apps-cloud-assembly
    """
    name = path.name.removesuffix(".template.json")
    if name and name != path.name and (path.parent / "manifest.json").is_file():
        try:
            manifest = json.loads((path.parent / "manifest.json").read_text())
        except (OSError, json.JSONDecodeError):
            manifest = {}
        for artifact_id, artifact in manifest.get("artifacts", {}).items():
            properties = artifact.get("properties", {})
            if artifact.get("type") == "aws:cloudformation:stack" and properties.get("templateFile") == path.name:
                return str(properties.get("stackName") or artifact_id)
    for resource in template.get("Resources", {}).values():
        construct_path = resource.get("Metadata", {}).get("aws:cdk:path") if isinstance(resource, dict) else None
        if isinstance(construct_path, str) and "/" in construct_path:
            return construct_path.split("/", 1)[0]
    return STACK_ID


def skipped_summary(not_emulated: list[str]) -> str:
    """What is not run locally, by type with counts and why: ``2 AWS::KMS::Key (no local effect), ...``."""
    counted = Counter(not_emulated)
    return ", ".join(
        f"{count} {kind} ({SKIP_REASONS.get(kind, 'not emulated')})" for kind, count in sorted(counted.items())
    )


def load_template(path: Path) -> StackSpec:
    """Parse ``path`` (a synthesized template) into the resources the local stack runs."""
    # `make synth` writes ours; another app's <Stack>.template.json comes from its own `cdk synth`
    ours = not path.name.endswith(".template.json") or path.name == f"{STACK_ID}.template.json"
    try:
        template = json.loads(path.read_text())
    except FileNotFoundError:
        raise TemplateError(f"{path} does not exist: run `{'make' if ours else 'cdk'} synth`") from None
    except json.JSONDecodeError as exc:
        hint = ": run `make synth` again" if ours else ""
        raise TemplateError(f"{path} is not valid JSON ({exc}){hint}") from None
    resources: dict[str, dict[str, Any]] = template.get("Resources", {})
    stack = stack_name_of(path, template)
    queues = {
        key: QueueSpec(key, value.get("Properties", {}), stack)
        for key, value in resources.items()
        if value["Type"] == "AWS::SQS::Queue"
    }
    tables = {
        key: TableSpec(key, value.get("Properties", {}), stack)
        for key, value in resources.items()
        if value["Type"] == "AWS::DynamoDB::Table"
    }
    functions = {
        key: _function(key, value, resources, stack, path.parent)
        for key, value in resources.items()
        if value["Type"] == "AWS::Lambda::Function"
    }
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
        key: TopicSpec(key, value.get("Properties", {}), stack)
        for key, value in resources.items()
        if value["Type"] == "AWS::SNS::Topic"
    }
    not_emulated = sorted(value["Type"] for value in resources.values() if value["Type"] not in EMULATED_TYPES)
    return StackSpec(
        queues,
        tables,
        functions,
        mappings,
        template.get("Outputs", {}),
        not_emulated,
        roles=_roles(resources, stack),
        topics=topics,
        subscriptions=_subscriptions(resources, topics, queues),
        resources=resources,
        buses={key: BusSpec(key, props) for key, props in _of_type(resources, "AWS::Events::EventBus").items()},
        archives={
            key: ArchiveSpec(key, props, stack) for key, props in _of_type(resources, "AWS::Events::Archive").items()
        },
        rules={key: RuleSpec(key, props, stack) for key, props in _of_type(resources, "AWS::Events::Rule").items()},
        pipes={key: PipeSpec(key, props, stack) for key, props in _of_type(resources, "AWS::Pipes::Pipe").items()},
        secrets={
            key: SecretSpec(key, props, stack)
            for key, props in _of_type(resources, "AWS::SecretsManager::Secret").items()
        },
        email_identities=_email_identities(resources),
        stack_name=stack,
    )


def _function(
    key: str, resource: dict[str, Any], resources: dict[str, dict[str, Any]], stack: str, folder: Path
) -> FunctionSpec:
    """A function the local stack can run: Python (no container runtime here), its code where the template says."""
    props = resource["Properties"]
    runtime = str(props.get("Runtime", ""))
    if not runtime.startswith("python3."):
        shown = runtime or f"none (PackageType {props.get('PackageType', 'Image')})"
        raise TemplateError(
            f"{key}: runtime {shown} cannot run locally: only python3.x functions do "
            "(others need Lambda's container images, and so Docker, which orderflow does not use)"
        )
    # CloudFormation names a function without FunctionName "<stack>-<logical id>-<suffix>".
    name = str(props.get("FunctionName") or f"{stack}-{key}"[:_FUNCTION_NAME_LIMIT])
    return FunctionSpec(
        logical_id=key,
        name=name,
        handler=str(props["Handler"]),
        timeout=int(props.get("Timeout", 3)),
        memory_size=int(props.get("MemorySize", 128)),
        runtime=runtime,
        environment=dict(props.get("Environment", {}).get("Variables", {})),
        role=_logical_target(props["Role"], "Role", key) if isinstance(props.get("Role"), dict) else None,
        log_group=_log_group(props, resources, name),
        code_path=_code_path(key, resource, folder),
    )


def _code_path(key: str, resource: dict[str, Any], folder: Path) -> Path | None:
    """The function's asset folder (``aws:asset:path``, relative to the template's folder), which must exist."""
    asset = resource.get("Metadata", {}).get(ASSET_PATH_METADATA)
    if not asset:
        return None
    code = (folder / str(asset)).resolve()
    if not code.is_dir():
        raise TemplateError(f"{key}: its code asset {code} is not there: synthesize the app again (`cdk synth`)")
    return code


def _email_identities(resources: dict[str, dict[str, Any]]) -> dict[str, EmailIdentitySpec]:
    """The template's SES identities; one whose ``EmailIdentity`` is not a plain name is refused in one line."""
    found = {}
    for key, props in _of_type(resources, "AWS::SES::EmailIdentity").items():
        identity = props.get("EmailIdentity")
        if not isinstance(identity, str) or not identity.strip():
            raise TemplateError(f"{key}: its EmailIdentity must be an address or a domain, got {identity!r}")
        found[key] = EmailIdentitySpec(key, props)
    return found


def _of_type(resources: dict[str, dict[str, Any]], resource_type: str) -> dict[str, dict[str, Any]]:
    """The properties of every resource of ``resource_type``, by logical id."""
    return {key: value.get("Properties", {}) for key, value in resources.items() if value["Type"] == resource_type}


def _log_group(function: dict[str, Any], resources: dict[str, dict[str, Any]], name: str) -> str:
    """The function's log group: its LoggingConfig's (a name, or a Ref to a LogGroup here), else /aws/lambda/NAME."""
    configured = function.get("LoggingConfig", {}).get("LogGroup")
    if isinstance(configured, str):
        return configured
    if isinstance(configured, dict) and "Ref" in configured:
        group = resources.get(configured["Ref"], {}).get("Properties", {}).get("LogGroupName")
        if isinstance(group, str):
            return group
    return f"/aws/lambda/{name}"


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


def _roles(resources: dict[str, dict[str, Any]], stack: str) -> dict[str, RoleSpec]:
    roles = {}
    for key, value in resources.items():
        if value["Type"] == "AWS::IAM::Role":
            props = value.get("Properties", {})
            inline = [(str(policy["PolicyName"]), policy["PolicyDocument"]) for policy in props.get("Policies", [])]
            roles[key] = RoleSpec(key, props, inline, stack)
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
