"""What an EventBridge Pipe does to one source record: its filter, input template and dynamic paths.

The rules, each with its AWS source, are in ``docs/event-source-mapping.md`` ("EventBridge Pipes:
the rules our runner reproduces"). In short:

- A filter is an EventBridge event pattern matched against the record (:class:`RecordFilter`); a
  pipe with several filters passes a record that matches any of them.
- An ``InputTemplate`` is text with ``<$.json.path>`` and ``<aws.pipes.*>`` placeholders
  (:func:`render_template`). Inside a JSON string a value goes in as string content, JSON-escaped;
  outside one it goes in as its JSON value: a string *with* its quotes, a number bare, an object
  as JSON. DynamoDB writes numbers as strings (``{"N": "2"}``), so ``<$...version.N>`` outside
  quotes gives ``"2"``, not ``2``, on AWS as here.
- A target parameter whose whole value starts with ``$.`` is a JSON path into the source record
  (:func:`resolve_dynamic`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from moto.events.models import EventPatternParser

from orderflow_local.event_patterns import matches

#: A placeholder: a JSON path (``$`` or ``$.a.b[0]``) or a reserved ``aws.pipes.*`` variable.
PLACEHOLDER = re.compile(r"<(\$(?:[.\[][^<>\s]*)?|aws\.pipes\.[A-Za-z.-]+)>")
_SEGMENT = re.compile(r"\.([^.\[\]]+)|\[(\d+|\*)\]")
MISSING: Any = object()


class JsonPathError(ValueError):
    """A path the pipe cannot evaluate (AWS refuses it when the pipe is created)."""


def parse_path(path: str) -> list[str | int]:
    """``$.a.b[0].c`` as ``["a", "b", 0, "c"]``; ``*`` is a wildcard (``.*`` or ``[*]``).

    AWS supports dot notation, dashes, underscores, alphanumerics, array indices, wildcards
    and forward slashes; a number after a dot is an index into an array too (``$.L.0.S``).
    """
    if not path.startswith("$"):
        raise JsonPathError(f"{path!r} is not a JSON path: it must start with '$'")
    segments: list[str | int] = []
    position = 1
    while position < len(path):
        match = _SEGMENT.match(path, position)
        if not match:
            raise JsonPathError(f"{path!r} is not a JSON path EventBridge Pipes supports (at {path[position:]!r})")
        name, index = match.groups()
        token = name if name is not None else index
        if not re.fullmatch(r"[A-Za-z0-9_\-/*]+", token):
            raise JsonPathError(f"{path!r} has a segment EventBridge Pipes does not support: {token!r}")
        segments.append(int(token) if index is not None and token.isdigit() else token)
        position = match.end()
    return segments


def evaluate_path(document: Any, path: str) -> Any:
    """The value at ``path`` in ``document``, :data:`MISSING` if there is none.

    A wildcard makes the result the list of every value it reaches.
    """
    values = [document]
    wildcard = False
    for segment in parse_path(path):
        found: list[Any] = []
        for value in values:
            if segment == "*":
                wildcard = True
                found.extend(value.values() if isinstance(value, dict) else value if isinstance(value, list) else [])
            elif isinstance(value, dict) and str(segment) in value:
                found.append(value[str(segment)])
            elif isinstance(value, list) and (isinstance(segment, int) or segment.isdigit()):
                index = int(segment)
                if 0 <= index < len(value):
                    found.append(value[index])
        values = found
    if wildcard:
        return values
    return values[0] if values else MISSING


def resolve_dynamic(value: str, record: dict[str, Any]) -> str | None:
    """A target parameter: static text, or (a value starting with ``$.``) the record's value there.

    The whole value must be the path; a path that leads nowhere gives ``None`` (the parameter is
    then left out, and the bus refuses an entry without its required ones).
    """
    if not is_dynamic(value):
        return value
    found = evaluate_path(record, value)
    if found is MISSING or found is None:
        return None
    return found if isinstance(found, str) else json.dumps(found, separators=(",", ":"))


def is_dynamic(value: str) -> bool:
    return value == "$" or value.startswith("$.") or value.startswith("$[")


@dataclass(frozen=True)
class TemplateContext:
    """The reserved variables of an input template."""

    pipe_arn: str
    pipe_name: str
    source_arn: str
    target_arn: str
    ingestion_time: str
    enrichment_arn: str | None = None

    def reserved(self, name: str, record: dict[str, Any]) -> Any:
        values: dict[str, Any] = {
            "aws.pipes.pipe-arn": self.pipe_arn,
            "aws.pipes.pipe-name": self.pipe_name,
            "aws.pipes.source-arn": self.source_arn,
            "aws.pipes.target-arn": self.target_arn,
            "aws.pipes.enrichment-arn": self.enrichment_arn,
            "aws.pipes.event.ingestion-time": self.ingestion_time,
            "aws.pipes.event": record,
            "aws.pipes.event.json": record,
        }
        return values.get(name, MISSING)


RESERVED = (
    "aws.pipes.pipe-arn",
    "aws.pipes.pipe-name",
    "aws.pipes.source-arn",
    "aws.pipes.target-arn",
    "aws.pipes.enrichment-arn",
    "aws.pipes.event.ingestion-time",
    "aws.pipes.event",
    "aws.pipes.event.json",
)


def check_template(template: str) -> None:
    """Raise :class:`JsonPathError` for a placeholder AWS would refuse."""
    for match in PLACEHOLDER.finditer(template):
        name = match.group(1)
        if name.startswith("$"):
            parse_path(name)
        elif name not in RESERVED:
            raise JsonPathError(f"<{name}> is not a reserved variable of EventBridge Pipes ({', '.join(RESERVED)})")


def render_template(template: str, record: dict[str, Any], context: TemplateContext) -> str:
    """The target's input: ``template`` with every placeholder replaced from ``record``.

    Whether a placeholder sits inside a JSON string is read from the template's own quotes (a
    backslash escapes the next character inside a string). Inside a string the value is string
    content: a string as its JSON-escaped characters, any other value as its JSON text, escaped;
    a missing value as nothing. Outside a string the value is its JSON text (a missing one is
    ``null``).
    """
    out: list[str] = []
    in_string = False
    position = 0
    while position < len(template):
        char = template[position]
        if char == "<":
            match = PLACEHOLDER.match(template, position)
            if match:
                out.append(_insert(_value(match.group(1), record, context), in_string=in_string))
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


def _value(name: str, record: dict[str, Any], context: TemplateContext) -> Any:
    if name.startswith("$"):
        return evaluate_path(record, name)
    return context.reserved(name, record)


def _insert(value: Any, *, in_string: bool) -> str:
    if in_string:
        if value is MISSING or value is None:
            return ""
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        return json.dumps(text)[1:-1]
    if value is MISSING:
        return "null"
    return json.dumps(value, separators=(",", ":"))


class RecordFilter:
    """A pipe's ``FilterCriteria``: a record passes when any filter matches (or there are none).

    Each filter is an EventBridge event pattern, matched by the emulator's own matcher
    (:mod:`orderflow_local.event_patterns`): a pipe filters as a rule matches.
    """

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self._patterns = [json.loads(raw) for raw in patterns]

    def matches(self, record: dict[str, Any]) -> bool:
        return not self._patterns or any(matches(pattern, record) for pattern in self._patterns)


def check_pattern(raw: str) -> None:
    """Raise ``ValueError`` for a pattern EventBridge would refuse (not JSON, not an object, ...)."""
    try:
        parsed = json.loads(raw)
    except ValueError as error:
        raise ValueError(f"filter pattern is not JSON: {error}") from error
    if not isinstance(parsed, dict):
        raise ValueError("filter pattern must be a JSON object")
    try:
        EventPatternParser(raw).parse()
    except Exception as error:  # moto's InvalidEventPatternException
        raise ValueError(f"filter pattern is invalid: {getattr(error, 'message', error)}") from error
