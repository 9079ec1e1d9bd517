"""An ``AWS::Pipes::Pipe`` from a DynamoDB stream to an event bus, read and checked as AWS would.

:meth:`PipeConfig.from_properties` takes the pipe's CloudFormation properties with every
intrinsic already resolved. It refuses, in one line naming the pipe, what AWS would refuse (the
ranges of the Pipes API reference) and what the local runner does not run (any other source or
target, an enrichment, an SNS dead-letter target, a global endpoint).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from orderflow_local.lambda_runtime.pipe_transform import JsonPathError, check_pattern, check_template, parse_path

STREAM_ARN = re.compile(r"^arn:aws[a-z-]*:dynamodb:([a-z0-9-]+):(\d{12}):table/([^/]+)/stream/(.+)$")
BUS_ARN = re.compile(r"^arn:aws[a-z-]*:events:([a-z0-9-]+):(\d{12}):event-bus/([^/]+)$")
QUEUE_ARN = re.compile(r"^arn:aws[a-z-]*:sqs:([a-z0-9-]+):(\d{12}):([^:/]+)$")
#: The largest batch each target takes (Pipes' batching table); ours is the event bus.
BUS_MAX_BATCH = 10
MAX_FILTERS = 5  # FilterCriteria.Filters: at most 5 (Pipes API reference)
MAX_PATTERN_LENGTH = 4096
MAX_TEMPLATE_LENGTH = 8192
_STREAM_KEYS = {
    "BatchSize",
    "DeadLetterConfig",
    "MaximumBatchingWindowInSeconds",
    "MaximumRecordAgeInSeconds",
    "MaximumRetryAttempts",
    "OnPartialBatchItemFailure",
    "ParallelizationFactor",
    "StartingPosition",
}
_BUS_KEYS = {"DetailType", "Source", "Resources", "Time", "EndpointId"}
#: Accepted and ignored: they change nothing the runner does.
_IGNORED_PIPE_KEYS = {"Name", "Description", "Tags", "LogConfiguration", "KmsKeyIdentifier"}


class PipeConfigurationError(ValueError):
    """AWS would refuse this pipe, or the local runner does not run it."""


@dataclass(frozen=True)
class PipeConfig:
    """One pipe: a DynamoDB stream, its polling and error handling, and an event bus target."""

    name: str
    source_arn: str
    target_arn: str
    starting_position: str
    batch_size: int = 1
    batching_window: int = 0
    maximum_retry_attempts: int = -1  # -1: until the record expires (locally: until stopped)
    maximum_record_age: int = -1  # -1: no limit
    bisect_on_failure: bool = False
    parallelization_factor: int = 1
    dead_letter_arn: str | None = None
    filters: tuple[str, ...] = ()
    input_template: str | None = None
    event_source: str | None = None
    detail_type: str | None = None
    resources: tuple[str, ...] = ()
    time: str | None = None
    role_arn: str | None = None
    desired_state: str = "RUNNING"

    @classmethod
    def from_properties(cls, name: str, properties: dict[str, Any]) -> PipeConfig:
        """Read a pipe's resolved CloudFormation properties, refusing what AWS would refuse."""

        def fail(message: str) -> PipeConfigurationError:
            return PipeConfigurationError(f"pipe {name}: {message}")

        unknown = set(properties) - {
            "Source",
            "SourceParameters",
            "Target",
            "TargetParameters",
            "RoleArn",
            "DesiredState",
            "Enrichment",
            "EnrichmentParameters",
            *_IGNORED_PIPE_KEYS,
        }
        if unknown:
            raise fail(f"unknown properties {', '.join(sorted(unknown))}")
        if properties.get("Enrichment") or properties.get("EnrichmentParameters"):
            raise fail("an enrichment is not run locally (only DynamoDB stream -> event bus pipes are)")
        source = _string(properties.get("Source"), "Source", fail)
        if not STREAM_ARN.match(source):
            raise fail(f"source {source} is not a DynamoDB stream; the local runner runs DynamoDB stream sources only")
        target = _string(properties.get("Target"), "Target", fail)
        if not BUS_ARN.match(target):
            raise fail(f"target {target} is not an event bus; the local runner runs event bus targets only")

        source_parameters = dict(properties.get("SourceParameters") or {})
        stream = dict(source_parameters.pop("DynamoDBStreamParameters", None) or {})
        filter_criteria = source_parameters.pop("FilterCriteria", None) or {}
        if source_parameters:
            raise fail(f"source parameters {', '.join(sorted(source_parameters))} do not apply to a DynamoDB stream")
        if set(stream) - _STREAM_KEYS:
            raise fail(f"unknown DynamoDBStreamParameters {', '.join(sorted(set(stream) - _STREAM_KEYS))}")
        if "StartingPosition" not in stream:
            raise fail("DynamoDBStreamParameters.StartingPosition is required (TRIM_HORIZON or LATEST)")
        starting_position = stream["StartingPosition"]
        if starting_position not in ("TRIM_HORIZON", "LATEST"):
            raise fail(f"StartingPosition {starting_position!r} must be TRIM_HORIZON or LATEST for a DynamoDB stream")
        batch_size = _integer(stream, "BatchSize", 1, 1, 10_000, fail)
        if batch_size > BUS_MAX_BATCH:
            raise fail(f"BatchSize {batch_size} is above {BUS_MAX_BATCH}, the most an event bus target takes")
        window = _integer(stream, "MaximumBatchingWindowInSeconds", 0, 0, 300, fail)
        retries = _integer(stream, "MaximumRetryAttempts", -1, -1, 10_000, fail)
        age = _integer(stream, "MaximumRecordAgeInSeconds", -1, -1, 604_800, fail)
        parallelization = _integer(stream, "ParallelizationFactor", 1, 1, 10, fail)
        bisect = stream.get("OnPartialBatchItemFailure")
        if bisect not in (None, "AUTOMATIC_BISECT"):
            raise fail(f"OnPartialBatchItemFailure {bisect!r} must be AUTOMATIC_BISECT")
        dead_letter = (stream.get("DeadLetterConfig") or {}).get("Arn")
        if dead_letter is not None and not QUEUE_ARN.match(str(dead_letter)):
            raise fail(f"DeadLetterConfig.Arn {dead_letter} is not an SQS queue; locally the DLQ must be one")

        filters = _filters(filter_criteria, fail)
        target_parameters = dict(properties.get("TargetParameters") or {})
        template = target_parameters.pop("InputTemplate", None)
        bus = dict(target_parameters.pop("EventBridgeEventBusParameters", None) or {})
        if target_parameters:
            raise fail(f"target parameters {', '.join(sorted(target_parameters))} do not apply to an event bus")
        if set(bus) - _BUS_KEYS:
            raise fail(f"unknown EventBridgeEventBusParameters {', '.join(sorted(set(bus) - _BUS_KEYS))}")
        if bus.get("EndpointId"):
            raise fail("EventBridgeEventBusParameters.EndpointId (a global endpoint) is not run locally")
        if template is not None:
            if not isinstance(template, str) or len(template) > MAX_TEMPLATE_LENGTH:
                raise fail(f"InputTemplate must be a string of at most {MAX_TEMPLATE_LENGTH} characters")
            try:
                check_template(template)
            except JsonPathError as error:
                raise fail(f"InputTemplate: {error}") from error
        event_source = _parameter(bus, "Source", 256, fail)
        detail_type = _parameter(bus, "DetailType", 128, fail)
        time = _parameter(bus, "Time", 256, fail)
        resources = bus.get("Resources") or []
        if not isinstance(resources, list) or len(resources) > 10:
            raise fail("EventBridgeEventBusParameters.Resources must be a list of at most 10 ARNs")
        for resource in resources:
            _check_dynamic(str(resource), "Resources", fail)
        desired_state = properties.get("DesiredState", "RUNNING")
        if desired_state not in ("RUNNING", "STOPPED"):
            raise fail(f"DesiredState {desired_state!r} must be RUNNING or STOPPED")
        return cls(
            name=name,
            source_arn=source,
            target_arn=target,
            starting_position=starting_position,
            batch_size=batch_size,
            batching_window=window,
            maximum_retry_attempts=retries,
            maximum_record_age=age,
            bisect_on_failure=bisect == "AUTOMATIC_BISECT",
            parallelization_factor=parallelization,
            dead_letter_arn=dead_letter,
            filters=filters,
            input_template=template,
            event_source=event_source,
            detail_type=detail_type,
            resources=tuple(str(resource) for resource in resources),
            time=time,
            role_arn=properties.get("RoleArn"),
            desired_state=desired_state,
        )

    @property
    def region(self) -> str:
        return STREAM_ARN.match(self.source_arn).group(1)  # type: ignore[union-attr]  # checked on creation

    @property
    def account(self) -> str:
        return STREAM_ARN.match(self.source_arn).group(2)  # type: ignore[union-attr]

    @property
    def arn(self) -> str:
        return f"arn:aws:pipes:{self.region}:{self.account}:pipe/{self.name}"

    @property
    def dead_letter_queue_name(self) -> str | None:
        match = QUEUE_ARN.match(self.dead_letter_arn) if self.dead_letter_arn else None
        return match.group(3) if match else None


def _string(value: Any, key: str, fail: Any) -> str:
    if not isinstance(value, str) or not value:
        raise fail(f"{key} is required and must be an ARN (resolved, not an intrinsic)")
    return value


def _integer(parameters: dict[str, Any], key: str, default: int, low: int, high: int, fail: Any) -> int:
    value = parameters.get(key, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise fail(f"{key} {value!r} is not an integer") from None
    if isinstance(value, bool) or str(number) != str(value).strip() or not low <= number <= high:
        raise fail(f"{key} {value!r} is out of range ({low} to {high})")
    return number


def _filters(criteria: Any, fail: Any) -> tuple[str, ...]:
    filters = criteria.get("Filters") or [] if isinstance(criteria, dict) else None
    if not isinstance(filters, list):
        raise fail("FilterCriteria.Filters must be a list")
    if len(filters) > MAX_FILTERS:
        raise fail(f"FilterCriteria has {len(filters)} filters; a pipe takes at most {MAX_FILTERS}")
    patterns = []
    for entry in filters:
        pattern = entry.get("Pattern") if isinstance(entry, dict) else None
        if not isinstance(pattern, str) or len(pattern) > MAX_PATTERN_LENGTH:
            raise fail(f"each filter needs a Pattern string of at most {MAX_PATTERN_LENGTH} characters")
        try:
            check_pattern(pattern)
        except ValueError as error:
            raise fail(str(error)) from error
        patterns.append(pattern)
    return tuple(patterns)


def _parameter(parameters: dict[str, Any], key: str, limit: int, fail: Any) -> str | None:
    value = parameters.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        raise fail(f"EventBridgeEventBusParameters.{key} must be a string of 1 to {limit} characters")
    _check_dynamic(value, key, fail)
    return value


def _check_dynamic(value: str, key: str, fail: Any) -> None:
    if value.startswith("$"):
        try:
            parse_path(value)
        except JsonPathError as error:
            raise fail(f"EventBridgeEventBusParameters.{key}: {error}") from error
