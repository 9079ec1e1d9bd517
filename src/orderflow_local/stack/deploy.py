"""Deploy the template's queues, tables (with their streams), topics, EventBridge buses, archives and
rules, SES e-mail identities, the roles, log groups and alarms into the emulator; pipes are resolved and
registered in moto's pipes backend (so `aws pipes describe-pipe` answers as on AWS), not started: the
local pipe runner moves their records."""

from __future__ import annotations

import contextlib
import functools
import json
import secrets
import string
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orderflow_local.cloudwatch.alarms import AlarmSpec, create_alarms
from orderflow_local.emulator import ACCOUNT_ID, CREDENTIALS, REGION
from orderflow_local.stack.template import (
    STACK_ID,
    FunctionSpec,
    RuleSpec,
    SecretSpec,
    StackSpec,
    SubscriptionSpec,
    TemplateError,
    resolve,
)

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

PSEUDO = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": STACK_ID,
}

#: Queue properties applied as SQS attributes (KMS and tags have no local effect).
_QUEUE_ATTRIBUTES = {
    "VisibilityTimeout": "VisibilityTimeout",
    "MessageRetentionPeriod": "MessageRetentionPeriod",
    "DelaySeconds": "DelaySeconds",
    "MaximumMessageSize": "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
    "FifoQueue": "FifoQueue",
    "ContentBasedDeduplication": "ContentBasedDeduplication",
}


@dataclass
class DeployedQueue:
    logical_id: str
    name: str
    url: str
    arn: str
    attributes: dict[str, str]


@dataclass
class DeployedStack:
    """The local resources, addressable by the template's logical ids."""

    spec: StackSpec
    queues: dict[str, DeployedQueue] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)  # logical id -> table name
    roles: dict[str, str] = field(default_factory=dict)  # logical id -> role ARN
    topics: dict[str, str] = field(default_factory=dict)  # logical id -> topic ARN
    log_groups: dict[str, str] = field(default_factory=dict)  # logical id -> log group name
    #: The template's alarms, their dimensions resolved to the local resources.
    alarms: list[AlarmSpec] = field(default_factory=list)
    #: Table logical id -> its stream's ARN (DescribeTable's LatestStreamArn), for tables with a stream.
    streams: dict[str, str] = field(default_factory=dict)
    buses: dict[str, str] = field(default_factory=dict)  # logical id -> event bus ARN
    archives: dict[str, str] = field(default_factory=dict)  # logical id -> archive ARN
    rules: dict[str, str] = field(default_factory=dict)  # logical id -> rule ARN
    #: Pipe logical id -> the pipe's template properties with every intrinsic resolved to the
    #: local resources (Source: the stream's ARN, Target: the bus's, RoleArn, DeadLetterConfig.Arn),
    #: what the local pipe runner is started from. Nothing runs them at deploy; each is registered
    #: in moto's pipes backend (configuration only) when deploy() is given an EventBridge client.
    pipes: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Rule targets not created locally ("RuleLogicalId/TargetId: ARN"): only SQS targets are.
    skipped_targets: list[str] = field(default_factory=list)
    #: Secret logical id -> (its ARN, its value).
    secrets: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: SES identity logical id -> the identity's ARN, for the identities created (given an SES v2 client).
    email_identities: dict[str, str] = field(default_factory=dict)
    #: Environment variables replaced in every function that has them: the local stand-in for an
    #: external service (``PAYMENT_API_URL``: the embedded payment provider's URL).
    environment_overrides: dict[str, str] = field(default_factory=dict)

    @property
    def pseudo(self) -> dict[str, str]:
        """The pseudo parameters, AWS::StackName the template's stack's."""
        return {**PSEUDO, "AWS::StackName": self.spec.stack_name}

    def lookup(self, logical_id: str, attribute: str | None) -> str:
        if logical_id in self.queues:
            queue = self.queues[logical_id]
            return {None: queue.url, "Arn": queue.arn, "QueueName": queue.name, "QueueUrl": queue.url}[attribute]
        if logical_id in self.tables:
            name = self.tables[logical_id]
            arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"
            if attribute == "StreamArn":
                if logical_id not in self.streams:
                    raise TemplateError(f"{logical_id}.StreamArn: the table has no StreamSpecification")
                return self.streams[logical_id]
            return {None: name, "Arn": arn}[attribute]
        if logical_id in self.spec.buses:
            name = self.spec.buses[logical_id].name
            arn = self.buses.get(logical_id, _events_arn(f"event-bus/{name}"))
            return {None: name, "Name": name, "Arn": arn}[attribute]
        if logical_id in self.spec.archives:
            name = self.spec.archives[logical_id].name
            return {None: name, "ArchiveName": name, "Arn": _events_arn(f"archive/{name}")}[attribute]
        if logical_id in self.spec.rules:
            rule = self.spec.rules[logical_id]
            bus = self.rule_bus_name(rule)
            arn = self.rules.get(logical_id) or _events_arn(
                f"rule/{rule.name}" if bus == "default" else f"rule/{bus}/{rule.name}"
            )
            # CloudFormation's Ref of a rule on a custom bus is "BUS|RULE".
            return {None: rule.name if bus == "default" else f"{bus}|{rule.name}", "Arn": arn}[attribute]
        if logical_id in self.spec.pipes:
            name = self.spec.pipes[logical_id].name
            return {None: name, "Arn": f"arn:aws:pipes:{REGION}:{ACCOUNT_ID}:pipe/{name}"}[attribute]
        if logical_id in self.spec.functions:
            name = self.spec.functions[logical_id].name
            arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
            return {None: name, "Arn": arn}[attribute]
        if logical_id in self.spec.topics:
            arn = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{self.spec.topics[logical_id].name}"
            return {None: arn, "TopicArn": arn, "TopicName": self.spec.topics[logical_id].name}[attribute]
        if logical_id in self.spec.roles:
            name = self.spec.roles[logical_id].name
            return {None: name, "Arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"}[attribute]
        if logical_id in self.spec.email_identities:  # CloudFormation's Ref of an identity is its name
            if attribute is not None:  # its DKIM records' names and values: no local counterpart
                raise TemplateError(f"{logical_id}.{attribute} has no local counterpart")
            return self.spec.email_identities[logical_id].name
        if logical_id in self.secrets:  # CloudFormation's Ref of a secret is its ARN
            return {None: self.secrets[logical_id][0], "Id": self.secrets[logical_id][0]}[attribute]
        placeholder = _arn_of_not_emulated(self.spec.resources.get(logical_id), logical_id, attribute)
        if placeholder is None:
            raise TemplateError(f"{logical_id}.{attribute or 'Ref'} has no local counterpart")
        return placeholder

    def rule_bus_name(self, rule: RuleSpec) -> str:
        """The name of the bus ``rule`` is on (``EventBusName`` is a name or an ARN; default: ``default``)."""
        bus = rule.properties.get("EventBusName")
        if bus is None:
            return "default"
        resolved = str(resolve(bus, self.lookup, pseudo=self.pseudo))
        return resolved.rsplit("/", 1)[1] if resolved.startswith("arn:") else resolved

    def role_of(self, function: FunctionSpec) -> str | None:
        """The ARN of the function's execution role, once deployed."""
        return self.roles.get(function.role) if function.role else None

    def function_environment(self, function: FunctionSpec) -> dict[str, str]:
        resolved = resolve(function.environment, self.lookup, pseudo=self.pseudo)
        return {key: self.environment_overrides.get(key, str(value)) for key, value in resolved.items()}

    def secret_value(self, arn_or_name: str) -> str | None:
        """The value of the stack's secret with this ARN or name (None: not one of the stack's)."""
        for logical_id, (arn, value) in self.secrets.items():
            if arn_or_name in {arn, self.spec.secrets[logical_id].name}:
                return value
        return None

    def outputs(self) -> dict[str, str]:
        """The template's outputs resolved to the local resources; one naming a resource with no local
        counterpart (another template's bucket) is left out, not fatal."""
        resolved = {}
        for name, output in self.spec.outputs.items():
            try:
                resolved[name] = str(resolve(output["Value"], self.lookup, pseudo=self.pseudo))
            except (TemplateError, KeyError):
                continue
        return resolved

    def queue_by_name(self, name: str) -> DeployedQueue:
        for queue in self.queues.values():
            if queue.name == name:
                return queue
        raise KeyError(name)


def _events_arn(resource: str) -> str:
    return f"arn:aws:events:{REGION}:{ACCOUNT_ID}:{resource}"


def _arn_of_not_emulated(resource: dict[str, Any] | None, logical_id: str, attribute: str | None) -> str | None:
    """The ARN a policy names for a resource with no local counterpart (the key, the log group).

    Nothing local checks access to them; the ARN only has to be the one AWS would give, so a
    policy that names it resolves and the rest of the policy is enforced.
    """
    if resource is None or attribute != "Arn":
        return None
    kind, properties = resource["Type"], resource.get("Properties", {})
    if kind == "AWS::KMS::Key":
        return f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{uuid.uuid5(uuid.NAMESPACE_URL, logical_id)}"
    if kind == "AWS::Logs::LogGroup":
        name = properties.get("LogGroupName", logical_id)
        return f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}:*"
    return None


def deploy(
    spec: StackSpec,
    *,
    sqs: SQSClient,
    dynamodb: DynamoDBClient,
    iam: IAMClient | None = None,
    sns: SNSClient | None = None,
    logs: CloudWatchLogsClient | None = None,
    cloudwatch: CloudWatchClient | None = None,
    events: Any | None = None,
    pipes: Any | None = None,
    secretsmanager: Any | None = None,
    sesv2: Any | None = None,
) -> DeployedStack:
    """Create the queues and tables (and their streams) of ``spec`` in the emulator; its topics and
    subscriptions given ``sns``, its event buses, archives and rules given ``events`` (an
    EventBridge client), its roles given ``iam``, its log groups given ``logs``, its alarms given
    ``cloudwatch``. Its pipes are resolved into ``DeployedStack.pipes`` and, given ``pipes`` (an
    EventBridge Pipes client; by default one beside ``events``), registered with CreatePipe; none
    is started. Its secrets are created given ``secretsmanager``, its SES e-mail identities given
    ``sesv2`` (an SES v2 client: moto marks them verified, so the stack's functions can send from
    them at once)."""
    stack = DeployedStack(spec)
    if sesv2 is not None:
        for logical_id, identity in spec.email_identities.items():
            stack.email_identities[logical_id] = _create_email_identity(identity.name, sesv2)
    if secretsmanager is not None:
        for logical_id, secret in spec.secrets.items():
            stack.secrets[logical_id] = _create_secret(secret, secretsmanager)
    for logical_id in spec.queues:
        _create_queue(stack, logical_id, sqs)
    for logical_id, table in spec.tables.items():
        stream_arn = _create_table({**table.properties, "TableName": table.name}, dynamodb)
        stack.tables[logical_id] = table.name
        if stream_arn is not None:
            stack.streams[logical_id] = stream_arn
    if sns is not None:  # without it (a benchmark of the table alone), no topic is created
        for logical_id, topic in spec.topics.items():
            attributes = {"FifoTopic": "true"} if topic.fifo else {}
            if topic.properties.get("ContentBasedDeduplication"):
                attributes["ContentBasedDeduplication"] = "true"
            stack.topics[logical_id] = sns.create_topic(Name=topic.name, Attributes=attributes)["TopicArn"]
        for subscription in spec.subscriptions:
            _subscribe(stack, subscription, sns)
    if events is not None:
        _create_event_resources(stack, events)
    if iam is not None:
        for logical_id in spec.roles:
            stack.roles[logical_id] = _create_role(stack, logical_id, iam)
    if logs is not None:
        for logical_id, group in _log_groups(spec).items():
            _create_log_group(group, logs)
            stack.log_groups[logical_id] = str(group["LogGroupName"])
    stack.alarms = [
        AlarmSpec.from_properties(logical_id, resolve(properties, stack.lookup, pseudo=stack.pseudo))
        for logical_id, properties in _alarm_properties(spec).items()
    ]
    if cloudwatch is not None:
        create_alarms(stack.alarms, cloudwatch)
    stack.pipes = {
        logical_id: resolve(pipe.properties, stack.lookup, pseudo=stack.pseudo)
        for logical_id, pipe in spec.pipes.items()
    }
    if pipes is None and events is not None and stack.pipes:
        pipes = _client_beside(events, "pipes")
    if pipes is not None:
        for logical_id, properties in stack.pipes.items():
            _register_pipe(spec.pipes[logical_id].name, properties, pipes)
    return stack


def _create_secret(secret: SecretSpec, secretsmanager: Any) -> tuple[str, str]:
    """CreateSecret with the template's ``SecretString``, or a value made as its ``GenerateSecretString``
    asks (length, punctuation; a ``SecretStringTemplate`` gets the value under ``GenerateStringKey``)."""
    properties = secret.properties
    value = properties.get("SecretString")
    if not isinstance(value, str):
        generate = properties.get("GenerateSecretString") or {}
        length = int(generate.get("PasswordLength", 32))
        alphabet = string.ascii_letters + string.digits
        if not generate.get("ExcludePunctuation"):
            alphabet += "!#$%&()*+,-.:;<=>?@[]^_{|}~"
        excluded = set(str(generate.get("ExcludeCharacters", "")))
        alphabet = "".join(char for char in alphabet if char not in excluded)
        value = "".join(secrets.choice(alphabet) for _ in range(length))
        if "SecretStringTemplate" in generate and "GenerateStringKey" in generate:
            value = json.dumps({**json.loads(generate["SecretStringTemplate"]), generate["GenerateStringKey"]: value})
    request = {"Name": secret.name, "SecretString": value}
    if "Description" in properties:
        request["Description"] = str(properties["Description"])
    return str(secretsmanager.create_secret(**request)["ARN"]), value


def _create_email_identity(identity: str, sesv2: Any) -> str:
    """CreateEmailIdentity (an address or a domain); the identity's ARN, as IAM policies name it."""
    with contextlib.suppress(sesv2.exceptions.AlreadyExistsException):
        sesv2.create_email_identity(EmailIdentity=identity)
    return f"arn:aws:ses:{sesv2.meta.region_name}:{ACCOUNT_ID}:identity/{identity}"


def _client_beside(client: Any, service: str) -> Any:
    """A client of ``service`` on the same emulator endpoint and region as ``client``, as the administrator."""
    import boto3

    session = boto3.Session(
        region_name=client.meta.region_name,
        aws_access_key_id=CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=CREDENTIALS["aws_secret_access_key"],
    )
    return session.client(service, endpoint_url=client.meta.endpoint_url, config=client.meta.config)  # type: ignore[call-overload]


#: CreatePipe parameters taken from the template as they are (CloudFormation's names are the API's).
#: Logging and the KMS key have no local effect.
_PIPE_PROPERTIES = ("Description", "DesiredState", "RoleArn", "Source", "SourceParameters", "Target",
                    "TargetParameters", "Tags")  # fmt: skip


def _register_pipe(name: str, properties: dict[str, Any], pipes: Any) -> None:
    """CreatePipe in moto, so that the Pipes API (list-pipes, describe-pipe) answers as on AWS.

    moto keeps a pipe as configuration only: the local pipe runner reads the stream. moto
    reports a new pipe RUNNING whatever its DesiredState, so a STOPPED one is stopped, as AWS
    creates it (https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_CreatePipe.html).
    """
    request = {key: properties[key] for key in _PIPE_PROPERTIES if key in properties}
    pipes.create_pipe(Name=name, **request)
    if request.get("DesiredState") == "STOPPED":
        pipes.stop_pipe(Name=name)


def _create_event_resources(stack: DeployedStack, events: Any) -> None:
    """The buses, then their archives, then the rules and their SQS targets.

    The buses' KMS keys and dead letter configurations have no local counterpart.
    """
    for logical_id, bus in stack.spec.buses.items():
        request: dict[str, Any] = {"Name": bus.name}
        if "Description" in bus.properties:
            request["Description"] = str(bus.properties["Description"])
        stack.buses[logical_id] = events.create_event_bus(**request)["EventBusArn"]
    for logical_id, archive in stack.spec.archives.items():
        properties = resolve(archive.properties, stack.lookup, pseudo=stack.pseudo)
        request = {"ArchiveName": archive.name, "EventSourceArn": str(properties["SourceArn"])}
        if "EventPattern" in properties:
            request["EventPattern"] = _json_text(properties["EventPattern"])
        if "RetentionDays" in properties:
            request["RetentionDays"] = int(properties["RetentionDays"])
        if "Description" in properties:
            request["Description"] = str(properties["Description"])
        stack.archives[logical_id] = events.create_archive(**request)["ArchiveArn"]
    for logical_id, rule in stack.spec.rules.items():
        _put_rule(stack, logical_id, rule, events)


#: Rule target properties passed to PutTargets as they are (the template's names are the API's).
_TARGET_PROPERTIES = ("Id", "Arn", "RoleArn", "Input", "InputPath", "InputTransformer", "SqsParameters",
                      "DeadLetterConfig", "RetryPolicy")  # fmt: skip


def _put_rule(stack: DeployedStack, logical_id: str, rule: RuleSpec, events: Any) -> None:
    properties = resolve(rule.properties, stack.lookup, pseudo=stack.pseudo)
    bus = stack.rule_bus_name(rule)
    request: dict[str, Any] = {"Name": rule.name, "EventBusName": bus, "State": properties.get("State", "ENABLED")}
    for name in ("Description", "ScheduleExpression", "RoleArn"):
        if name in properties:
            request[name] = str(properties[name])
    if "EventPattern" in properties:
        request["EventPattern"] = _json_text(properties["EventPattern"])
    stack.rules[logical_id] = events.put_rule(**request)["RuleArn"]
    targets = []
    for target in properties.get("Targets", []):
        arn = str(target.get("Arn", ""))
        if not arn.startswith("arn:aws:sqs:"):
            stack.skipped_targets.append(f"{logical_id}/{target.get('Id')}: {arn}")
            continue
        targets.append({name: target[name] for name in _TARGET_PROPERTIES if name in target})
    if targets:
        events.put_targets(Rule=rule.name, EventBusName=bus, Targets=targets)


def _json_text(value: object) -> str:
    """A JSON document property as the API takes it: text (the template may hold an object)."""
    return value if isinstance(value, str) else json.dumps(value)


def _log_groups(spec: StackSpec) -> dict[str, dict[str, Any]]:
    """Every log group: the template's, and Lambda's default one for a function that names none."""
    groups = {
        logical_id: resource.get("Properties", {})
        for logical_id, resource in spec.resources.items()
        if resource["Type"] == "AWS::Logs::LogGroup" and "LogGroupName" in resource.get("Properties", {})
    }
    named = {str(group["LogGroupName"]) for group in groups.values()}
    for function in spec.functions.values():
        if function.log_group not in named:
            groups[f"{function.logical_id}DefaultLogGroup"] = {"LogGroupName": function.log_group}
    return groups


def _create_log_group(properties: dict[str, Any], logs: CloudWatchLogsClient) -> None:
    name = str(properties["LogGroupName"])
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=name)
    if "RetentionInDays" in properties:
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(properties["RetentionInDays"]))


def _alarm_properties(spec: StackSpec) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource.get("Properties", {})
        for logical_id, resource in spec.resources.items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }


#: Subscription properties applied as SNS subscription attributes (JSON documents as text).
_SUBSCRIPTION_ATTRIBUTES = ("RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy")


def _subscribe(stack: DeployedStack, subscription: SubscriptionSpec, sns: SNSClient) -> None:
    attributes = {}
    for name in _SUBSCRIPTION_ATTRIBUTES:
        if name in subscription.properties:
            value = resolve(subscription.properties[name], stack.lookup, pseudo=stack.pseudo)
            attributes[name] = json.dumps(value) if isinstance(value, dict) else _attribute_value(value)
    sns.subscribe(
        TopicArn=stack.topics[subscription.topic],
        Protocol="sqs",
        Endpoint=stack.queues[subscription.queue].arn,
        Attributes=attributes,
        ReturnSubscriptionArn=True,
    )


def _create_role(stack: DeployedStack, logical_id: str, iam: IAMClient) -> str:
    """The role, its inline policies and its policies, with intrinsics resolved to local ARNs."""
    role = stack.spec.roles[logical_id]
    properties = role.properties
    # The trust policy's conditions can name the account and the resource (aws:SourceArn).
    trust = resolve(properties.get("AssumeRolePolicyDocument", {}), stack.lookup, pseudo=stack.pseudo)
    arn = iam.create_role(
        RoleName=role.name,
        AssumeRolePolicyDocument=json.dumps(trust),
        MaxSessionDuration=int(properties.get("MaxSessionDuration", 3600)),
    )["Role"]["Arn"]
    for name, document in role.policies:
        resolved = resolve(document, stack.lookup, pseudo=stack.pseudo)
        iam.put_role_policy(RoleName=role.name, PolicyName=name, PolicyDocument=json.dumps(resolved))
    for policy_arn in resolve(properties.get("ManagedPolicyArns", []), stack.lookup, pseudo=stack.pseudo):
        _attach_policy(iam, logical_id, role.name, str(policy_arn))
    return str(arn)


#: Where an AWS managed policy's ARN starts (arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole).
_AWS_MANAGED = "arn:aws:iam::aws:policy/"


def _attach_policy(iam: IAMClient, logical_id: str, role_name: str, policy_arn: str) -> None:
    """Attach ``policy_arn``; an AWS managed policy the emulator does not hold (moto loads none unless
    told to, and loading its 1,500 costs every start seconds) is given to the role inline, with
    the document moto ships for it, so the role allows what it allows on AWS."""
    try:
        iam.attach_role_policy(RoleName=role_name, PolicyArn=policy_arn)
        return
    except iam.exceptions.NoSuchEntityException:
        document = _aws_managed_policy(policy_arn) if policy_arn.startswith(_AWS_MANAGED) else None
        if document is None:
            raise TemplateError(f"{logical_id}: its managed policy {policy_arn} is not known locally") from None
    iam.put_role_policy(
        RoleName=role_name, PolicyName=policy_arn.rsplit("/", 1)[-1], PolicyDocument=json.dumps(document)
    )


@functools.cache
def _aws_managed_policies() -> dict[str, Any]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    policies: dict[str, Any] = json.loads(aws_managed_policies_data)
    return policies


def _aws_managed_policy(policy_arn: str) -> Any | None:
    """The document of the AWS managed policy ``policy_arn`` (None: not one moto knows)."""
    policy = _aws_managed_policies().get(policy_arn.rsplit("/", 1)[-1])
    return policy["Document"] if policy else None


def _create_queue(stack: DeployedStack, logical_id: str, sqs: SQSClient, seen: frozenset[str] = frozenset()) -> None:
    if logical_id in stack.queues:
        return
    if logical_id in seen:
        raise TemplateError(f"queues redrive to each other in a cycle through {logical_id}")
    spec = stack.spec.queues[logical_id]
    attributes: dict[str, str] = {
        attribute: _attribute_value(spec.properties[prop])
        for prop, attribute in _QUEUE_ATTRIBUTES.items()
        if prop in spec.properties
    }
    redrive = spec.properties.get("RedrivePolicy")
    if redrive:
        target = redrive["deadLetterTargetArn"]
        if isinstance(target, dict) and "Fn::GetAtt" in target:
            _create_queue(stack, target["Fn::GetAtt"][0], sqs, seen | {logical_id})
        resolved = resolve(redrive, stack.lookup, pseudo=stack.pseudo)
        attributes["RedrivePolicy"] = json.dumps(resolved)
    url = sqs.create_queue(QueueName=spec.name, Attributes=attributes)["QueueUrl"]  # type: ignore[arg-type]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stack.queues[logical_id] = DeployedQueue(logical_id, spec.name, url, arn, attributes)


def _attribute_value(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def create_table(properties: dict[str, Any], dynamodb: DynamoDBClient) -> None:
    """Create a table from its template properties (keys, GSIs, billing mode, TTL, stream)."""
    _create_table(properties, dynamodb)


def _create_table(properties: dict[str, Any], dynamodb: DynamoDBClient) -> str | None:
    """Create the table; its stream's ARN when it has one (moto makes one shard and keeps every record)."""
    request: dict[str, Any] = {
        "TableName": properties["TableName"],
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "BillingMode": properties.get("BillingMode", "PROVISIONED"),
    }
    if request["BillingMode"] == "PROVISIONED":
        request["ProvisionedThroughput"] = properties["ProvisionedThroughput"]
    if properties.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
    stream = properties.get("StreamSpecification")
    if stream:  # CloudFormation's has only the view type; the API's also says it is on
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    created = dynamodb.create_table(**request)["TableDescription"]
    ttl = properties.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb.update_time_to_live(
            TableName=properties["TableName"],
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
        )
    stream_arn = created.get("LatestStreamArn")
    return str(stream_arn) if stream_arn else None
