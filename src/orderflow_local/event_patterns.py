"""EventBridge's event pattern matching, as AWS documents it: the one matcher for the emulator's
rules (emulator/patches/events.py) and the pipes' filters (lambda_runtime/pipe_transform.py).

It depends on nothing but the standard library, so both sides share it without importing
each other (tests/unit/test_layout.py).
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

# --- event patterns ----------------------------------------------------------------------------
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html

#: A field the event does not have (``exists: false`` matches it; nothing else does).
UNDEFINED: Any = object()


def matches(pattern: Mapping[str, Any], event: Any) -> bool:
    """Whether an EventBridge event pattern (parsed JSON) matches ``event``, as EventBridge decides.

    moto 5.2.5's rules, with four fixes:

    - a boolean is not a number: Python's ``True == 1`` let ``true`` match ``[1]``, ``numeric``
      ranges and ``anything-but: [1]`` (the other way round too);
    - numbers are compared by their JSON text, not their value: "300, 300.0, and 3.0e2 are not
      considered equal" (eb-event-patterns.html); moto matched 300 with 300.0. The event is
      already parsed, so 3.0e2 and 300.0 cannot be told apart here;
    - an array of objects is matched field by field: ``{"items": {"sku": ["B"]}}`` matches
      ``{"items": [{"sku": "A"}, {"sku": "B"}]}``, as every object's field joins one array
      (moto did not look inside the objects);
    - ``wildcard``'s ``*`` matches any characters, line breaks included (moto's ``.*`` stopped at one).
    """
    if not pattern:
        return True
    flat: dict[str, Any] = {}
    _flatten(json.loads(json.dumps(event)), "", flat)
    return _event_matches(flat, pattern, "")


def _flatten(node: Any, prefix: str, out: dict[str, Any]) -> None:
    """Leaf values by dotted path; an array of objects contributes each object's fields to one array."""
    if isinstance(node, dict) and node:
        for key, value in node.items():
            _flatten(value, f"{prefix}.{key}" if prefix else key, out)
    elif isinstance(node, list) and any(isinstance(item, dict) for item in node):
        for item in node:
            _flatten(item, prefix, out)
    else:
        _add(out, prefix, node)


def _add(out: dict[str, Any], key: str, value: Any) -> None:
    if key not in out:
        out[key] = value
        return
    existing = out[key] if isinstance(out[key], list) else [out[key]]
    out[key] = existing + (value if isinstance(value, list) else [value])


def _event_matches(flat: dict[str, Any], node: Any, prefix: str) -> bool:
    """moto's walk of the pattern: every field must match; ``$or`` needs one of its patterns."""
    if not isinstance(node, dict):
        return False
    for key, value in node.items():
        if key == "$or":
            found = any(_event_matches(flat, alternative, prefix) for alternative in value)
        elif isinstance(value, dict):
            found = _event_matches(flat, value, f"{prefix}.{key}" if prefix else key)
        elif isinstance(value, list):
            found = _item_matches(flat.get(f"{prefix}.{key}" if prefix else key, UNDEFINED), value)
        else:
            found = False
        if not found:
            return False
    return True


def _item_matches(item: Any, filters: list[Any]) -> bool:
    """Any of the field's filters matches; against an array, any of its values does."""
    for wanted in filters:
        if isinstance(wanted, dict):
            if _named_filter_matches(item, wanted):
                return True
        elif item is not UNDEFINED and any(same(value, wanted) for value in _values(item)):
            return True
    return False


def _values(item: Any) -> list[Any]:
    return item if isinstance(item, list) else [item]


def same(value: Any, wanted: Any) -> bool:
    """An event value equals a pattern's value: same JSON type, and numbers with the same JSON text."""
    if isinstance(value, bool) or isinstance(wanted, bool):
        return isinstance(value, bool) and isinstance(wanted, bool) and value is wanted
    if is_number(value) and is_number(wanted):
        return json.dumps(value) == json.dumps(wanted)
    return type(value) is type(wanted) and bool(value == wanted)


def is_number(value: Any) -> bool:
    """A JSON number (a boolean is not one)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "=": lambda a, b: a == b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
}


def _named_filter_matches(item: Any, pattern: Mapping[str, Any]) -> bool:
    name, wanted = next(iter(pattern.items()))
    if name == "exists":
        return bool((item is not UNDEFINED) == wanted)
    if item is UNDEFINED:
        return False
    return any(_value_passes(name, wanted, value) for value in _values(item))


def _value_passes(name: str, wanted: Any, value: Any) -> bool:
    """One event value against one operator (moto's, with booleans, numbers and wildcards fixed)."""
    if name in ("prefix", "suffix"):
        return _affix_matches(name, wanted, value)
    if name == "equals-ignore-case":
        options = wanted if isinstance(wanted, list) else [wanted]
        return isinstance(value, str) and any(value.lower() == option.lower() for option in options)
    if name == "numeric":
        if not is_number(value):
            return False
        return all(_COMPARE[operator](value, bound) for operator, bound in zip(wanted[::2], wanted[1::2], strict=False))
    if name == "anything-but":
        if isinstance(wanted, list):
            return not any(same(value, option) for option in wanted)
        if isinstance(wanted, dict):
            inner, inner_wanted = next(iter(wanted.items()))
            return not _value_passes(inner, inner_wanted, value)
        return not same(value, wanted)
    if name == "cidr":
        try:
            return ipaddress.ip_address(value) in ipaddress.ip_network(wanted)
        except (TypeError, ValueError):
            return False
    if name == "wildcard":
        options = wanted if isinstance(wanted, list) else [wanted]
        return any(_wildcard_matches(value, option) for option in options)
    return True  # moto's answer for an operator it does not know


def _affix_matches(name: str, wanted: Any, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    test = str.startswith if name == "prefix" else str.endswith
    if isinstance(wanted, dict) and "equals-ignore-case" in wanted:
        return test(value.lower(), str(wanted["equals-ignore-case"]).lower())
    options = wanted if isinstance(wanted, list) else [wanted]
    return any(test(value, option) for option in options)


def _wildcard_matches(value: Any, pattern: str) -> bool:
    """``*`` is any run of characters (line breaks too); ``\\*`` and ``\\\\`` are the characters themselves."""
    if not isinstance(value, str):
        return False
    regex = []
    position = 0
    while position < len(pattern):
        char = pattern[position]
        if char == "\\" and pattern[position + 1 : position + 2] in ("*", "\\"):
            regex.append(re.escape(pattern[position + 1]))
            position += 2
            continue
        regex.append(".*" if char == "*" else re.escape(char))
        position += 1
    return re.fullmatch("".join(regex), value, re.DOTALL) is not None
