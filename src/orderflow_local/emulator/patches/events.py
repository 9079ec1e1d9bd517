"""Patches to moto's EventBridge: event patterns, what a rule's SQS targets receive, and PutEvents' refusals.

Each difference from AWS is named where it is fixed, with AWS's source; docs/local-vs-aws.md
("EventBridge locally") lists them. moto 5.2.5's matcher is right for most operators (exact
values, arrays, prefix, suffix, equals-ignore-case, anything-but, numeric, exists, null and
empty string, wildcard, ``$or``, nesting); :func:`matches` keeps its structure and fixes the
four places it is not. The matcher has no dependency on moto: the pipe runner's filters are
the same EventBridge patterns (docs/event-source-mapping.md).
"""

from __future__ import annotations

import copy
import json
import logging
import re
import warnings
from typing import TYPE_CHECKING, Any

from orderflow_local.emulator.patches.core import ORIGINALS
from orderflow_local.event_patterns import UNDEFINED, is_number, matches

if TYPE_CHECKING:
    from collections.abc import Mapping

logger = logging.getLogger(__name__)


def _event_patterns_match_as_eventbridge_does() -> None:
    from moto.events.models import EventPattern

    ORIGINALS["EventPattern.matches_event"] = EventPattern.matches_event

    def matches_event(self: Any, event: Any) -> bool:
        return matches(self._pattern, event)

    EventPattern.matches_event = matches_event  # type: ignore[method-assign]


# --- what a rule delivers ----------------------------------------------------------------------
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-targets.html ("Input, InputPath,
# and InputTransformer are ... mutually exclusive"), eb-transform-target-input.html, eb-rules.html.


def _rules_deliver_as_eventbridge_does() -> None:
    """A rule fires only when enabled, and an SQS target receives what the target says.

    moto 5.2.5 differs in four ways, fixed here:

    - a ``DISABLED`` rule still fired (moto never reads ``State`` when delivering);
    - ``Input`` and ``InputPath`` were ignored: the target got the whole event. AWS: ``Input``
      (constant JSON) replaces the event, ``InputPath`` (a JSON path, such as ``$.detail``)
      passes only that part of it;
    - ``InputTransformer``: moto pasted a string value outside quotes without them (AWS's own
      example ``{"state": <state>}`` gives ``{"state": "RUNNING"}``; moto failed the whole
      PutEvents call on the invalid JSON), and knew neither ``aws.events.rule-arn``,
      ``aws.events.rule-name`` nor ``aws.events.event``; ``aws.events.event.ingestion-time``
      was a Unix time, not ISO 8601. A template that is not JSON (plain text) is delivered as text;
    - one target's failure (a queue deleted, a body SQS refuses, a target type moto cannot
      deliver to) failed the whole PutEvents call, and the entries after it were never put.
      On AWS the call succeeds and the failure is the target's (a failed invocation, retried,
      then dropped or sent to the target's dead-letter queue); here it is logged and the
      other targets and entries are delivered.

    The whole event a target receives now carries ``account`` too (moto left it out). Targets
    other than SQS queues are delivered by moto, as before, one at a time.
    """
    from moto.events.models import Rule

    send_to_targets = Rule.send_to_targets
    ORIGINALS["Rule.send_to_targets"] = send_to_targets

    def deliver(self: Any, original_event: Any, transform_input: bool = True) -> None:
        if str(self.state).upper() == "DISABLED":
            return
        if not self.event_pattern.matches_event(original_event):
            return
        for target in list(self.targets):
            try:
                if _service(target) == "sqs":
                    _send_to_sqs(self, target, original_event, transform_input=transform_input)
                else:
                    alone = copy.copy(self)
                    alone.targets = [target]
                    send_to_targets(alone, original_event, transform_input)
            except Exception as error:  # noqa: BLE001 - on AWS a target's failure never fails PutEvents
                logger.warning(
                    "EventBridge rule %s could not deliver event %s to target %s (%s): %s",
                    self.name,
                    original_event.get("id"),
                    target.get("Id"),
                    target.get("Arn"),
                    error,
                )

    Rule.send_to_targets = deliver  # type: ignore[method-assign]


def _service(target: Mapping[str, Any]) -> str:
    parts = str(target.get("Arn", "")).split(":")
    return parts[2] if len(parts) > 5 and parts[0] == "arn" else ""


def _send_to_sqs(rule: Any, target: Mapping[str, Any], event: dict[str, Any], *, transform_input: bool) -> None:
    """moto's delivery to a queue (the rule's account and region; FIFO needs content-based deduplication)."""
    from moto.sqs.models import sqs_backends

    body = target_input(rule, target, event) if transform_input else json.dumps(delivered_event(rule, event))
    backend = sqs_backends[rule.account_id][rule.region_name]
    queue_name = str(target["Arn"]).split(":", 5)[5]
    group_id = (target.get("SqsParameters") or {}).get("MessageGroupId")
    if group_id:
        attributes = backend.get_queue_attributes(queue_name=queue_name, attribute_names=["ContentBasedDeduplication"])
        if attributes["ContentBasedDeduplication"] == "false":
            # moto's warning and behaviour, kept: AWS requires content-based deduplication here
            # (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_SqsParameters.html).
            warnings.warn(
                "To let EventBridge send messages to your SQS FIFO queue, you must enable content-based deduplication.",
                stacklevel=2,
            )
            return
    backend.send_message(queue_name=queue_name, message_body=body, group_id=group_id)


#: The fields of an event as EventBridge delivers it, in its order (eb-events.html).
EVENT_FIELDS = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")


def delivered_event(rule: Any, event: Mapping[str, Any]) -> dict[str, Any]:
    """The event a target receives: EventBridge's fields, ``time`` in ISO 8601 (moto keeps a Unix time)."""
    delivered = {name: event[name] for name in EVENT_FIELDS if name in event}
    delivered.setdefault("version", "0")
    delivered.setdefault("account", rule.account_id)
    delivered["time"] = iso_time(event.get("time"))
    if "replay-name" in event:
        delivered["replay-name"] = event["replay-name"]
    return delivered


def iso_time(value: Any) -> Any:
    """A Unix time as EventBridge writes times (``2015-11-11T21:29:54Z``); text is kept as it is."""
    from moto.core.utils import iso_8601_datetime_without_milliseconds, utcfromtimestamp

    if is_number(value):
        return iso_8601_datetime_without_milliseconds(utcfromtimestamp(float(value)))  # type: ignore[arg-type]
    return value


def target_input(rule: Any, target: Mapping[str, Any], event: Mapping[str, Any]) -> str:
    """What the target receives (an SQS message body), from its ``Input``, ``InputPath`` or ``InputTransformer``."""
    delivered = delivered_event(rule, event)
    if "Input" in target:
        return str(target["Input"])
    if "InputPath" in target:
        found = evaluate_path(delivered, str(target["InputPath"]))
        return json.dumps(None if found is UNDEFINED else found)
    transformer = target.get("InputTransformer")
    if transformer:
        reserved = {
            "aws.events.rule-arn": rule.arn,
            "aws.events.rule-name": rule.name,
            "aws.events.event.ingestion-time": iso_time(event.get("ingestion-time")),
            "aws.events.event": {name: value for name, value in delivered.items() if name != "detail"},
            "aws.events.event.json": delivered,
        }
        variables = {
            name: evaluate_path(delivered, str(path)) for name, path in (transformer.get("InputPathsMap") or {}).items()
        }
        return render_template(str(transformer.get("InputTemplate", "")), {**variables, **reserved})
    return json.dumps(delivered)


_SEGMENT = re.compile(r"\.([^.\[\]]+)|\[(\d+|\*)\]")


def evaluate_path(document: Any, path: str) -> Any:
    """The value at a JSON path (``$``, ``$.detail``, ``$.a.b[0]``, ``$.a[*].b``), or :data:`UNDEFINED`.

    EventBridge supports dot notation, dashes, underscores, alphanumerics, array indices and
    wildcards (eb-transform-target-input.html); a wildcard makes the value the list of what it reaches.
    """
    if not path.startswith("$"):
        return UNDEFINED
    values = [document]
    wildcard = False
    position = 1
    while position < len(path):
        match = _SEGMENT.match(path, position)
        if match is None:
            return UNDEFINED
        name, index = match.groups()
        segment = name if name is not None else index
        found: list[Any] = []
        for value in values:
            if segment == "*":
                wildcard = True
                found.extend(value.values() if isinstance(value, dict) else value if isinstance(value, list) else [])
            elif isinstance(value, dict) and segment in value:
                found.append(value[segment])
            elif isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
                found.append(value[int(segment)])
        values = found
        position = match.end()
    if wildcard:
        return values
    return values[0] if values else UNDEFINED


_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def render_template(template: str, values: Mapping[str, Any]) -> str:
    """An input template with its placeholders filled, as eb-transform-target-input.html describes.

    Outside a JSON string a value goes in as JSON: "EventBridge automatically adds quotes to
    string variable values" (``<state>`` gives ``"RUNNING"``), an object or array goes in as
    it is. Inside a string a value goes in as text: a string "not escaped" ("EventBridge
    doesn't escape values extracted by Input Path"), an object or array without its quotes
    ("EventBridge removes any internal quotes to ensure a valid string"), a number as its
    digits. A variable whose path matched nothing "isn't created and won't appear in the
    output": it is replaced by nothing. A placeholder that names no variable stays as it is.
    """
    out: list[str] = []
    in_string = False
    position = 0
    while position < len(template):
        char = template[position]
        if char == "<":
            match = _PLACEHOLDER.match(template, position)
            if match and match.group(1) in values:
                out.append(_inserted(values[match.group(1)], in_string=in_string))
                position = match.end()
                continue
        if in_string and char == "\\" and position + 1 < len(template):
            out.append(template[position : position + 2])
            position += 2
            continue
        if char == '"':
            in_string = not in_string
        out.append(char)
        position += 1
    return "".join(out)


def _inserted(value: Any, *, in_string: bool) -> str:
    if value is UNDEFINED:
        return ""
    if not in_string:
        return json.dumps(value)
    if isinstance(value, str):
        return value
    text = json.dumps(value)
    return text.replace('"', "") if isinstance(value, (dict, list)) else text


# --- PutEvents ---------------------------------------------------------------------------------
# https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html
# https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsResultEntry.html
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html

#: The most a PutEvents call's entries may hold together, measured as AWS documents it. AWS
#: raised it from 256 KB to 1 MB on 2026-01-29
#: (https://aws.amazon.com/blogs/compute/more-room-to-build-serverless-services-now-support-payloads-up-to-1-mb/).
MAX_REQUEST_BYTES = 1_048_576
#: What a ``Time`` counts towards an entry's size, whatever its value.
TIME_BYTES = 14
OVER_THE_LIMIT = "Total size of the entries in the request is over the limit."


def entry_size(entry: Mapping[str, Any]) -> int:
    """A ``PutEventsRequestEntry``'s size, as AWS computes it (eb-putevent-size.html).

    ``Time`` (if given) is 14 bytes; ``Source``, ``DetailType``, ``Detail`` and each of the
    ``Resources`` count the bytes of their UTF-8 encoding. ``EventBusName`` and
    ``TraceHeader`` do not count.
    """
    size = TIME_BYTES if entry.get("Time") is not None else 0
    for name in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(name) or "").encode("utf-8"))
    return size + sum(len(str(resource).encode("utf-8")) for resource in entry.get("Resources") or [] if resource)


class _NotJsonError(ValueError):
    """A constant Python's json reads and JSON does not have (NaN, Infinity, -Infinity)."""


def _not_json(name: str) -> Any:
    raise _NotJsonError(name)


def malformed_detail(entry: Mapping[str, Any]) -> dict[str, str] | None:
    """The per-entry error for a ``Detail`` that is JSON but not a JSON object, or None.

    moto 5.2.5 accepted such an entry (with a Python warning) and put it on the bus.
    EventBridge refuses it in place: ``MalformedDetail``, "Detail is malformed."
    (PutEventsResultEntry: MalformedDetail, "The JSON provided is not valid"). Entries that
    lack ``Source``, ``DetailType`` or ``Detail`` (``InvalidArgument``) or whose ``Detail``
    is not JSON at all (``MalformedDetail``) moto already refuses as AWS does, but for a
    detail with ``NaN`` or ``Infinity``, which Python's json reads and moto then put on the bus.
    """
    if not (entry.get("Source") and entry.get("DetailType") and entry.get("Detail")):
        return None
    try:
        detail = json.loads(entry["Detail"], parse_constant=_not_json)
    except _NotJsonError:  # NaN or Infinity: Python reads them, JSON has no such values (RFC 8259, section 6)
        return {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    except (TypeError, ValueError):
        return None  # moto's own MalformedDetail
    if isinstance(detail, dict):
        return None
    # moto warned here; the warning's start is kept (its own test listens for it), the rest is ours.
    warnings.warn(
        f"EventDetail should be of type dict: EventBridge refuses a {type(detail).__name__} Detail (MalformedDetail)",
        stacklevel=3,
    )
    return {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}


def _put_events_refuses_what_eventbridge_refuses() -> None:
    """PutEvents refuses entries and calls as EventBridge does; the valid entries of a call are still put.

    moto 5.2.5 put an entry whose ``Detail`` is a JSON array, string or number (EventBridge:
    ``MalformedDetail`` for that entry, :func:`malformed_detail`), and had no size limit.
    EventBridge measures every entry (:func:`entry_size`) and refuses the whole call when they
    add up to more than :data:`MAX_REQUEST_BYTES`: ``ValidationException``, "Total size of the
    entries in the request is over the limit.", nothing put. More than 10 entries stays moto's
    ``ValidationException`` (the whole call), as on AWS.
    """
    from moto.events.exceptions import ValidationException
    from moto.events.models import EventsBackend

    put_events = EventsBackend.put_events
    ORIGINALS["EventsBackend.put_events"] = put_events

    def checked_put_events(self: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(events) > 10:
            return put_events(self, events)  # moto's ValidationException for the whole call
        if sum(entry_size(entry) for entry in events) > MAX_REQUEST_BYTES:
            raise ValidationException(OVER_THE_LIMIT)
        refusals = [malformed_detail(entry) for entry in events]
        accepted = [entry for entry, refusal in zip(events, refusals, strict=True) if refusal is None]
        results = iter(put_events(self, accepted) if accepted else [])
        return [refusal if refusal is not None else next(results) for refusal in refusals]

    EventsBackend.put_events = checked_put_events  # type: ignore[method-assign]
