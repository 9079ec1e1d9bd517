"""From an SQS message body to a valid event (:class:`OrderCreated`, ...), or a specific reason why not."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from orderflow.domain.errors import MalformedMessageError, OrderValidationError


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def load_json_object(body: str) -> dict[str, Any]:
    """Parse ``body`` as a JSON object with exact numbers (Decimal, never float).

    Raises
    ------
    MalformedMessageError
        If the body is not JSON, contains NaN/Infinity, nests too deeply, or is not an object.
    """
    try:
        data = json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise MalformedMessageError(
            f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError as exc:  # from _reject_constant: NaN, Infinity, -Infinity
        raise MalformedMessageError(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedMessageError("body is not valid JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise MalformedMessageError(f"body must be a JSON object, got a JSON {json_type(data)}")
    return data


M = TypeVar("M", bound=BaseModel)


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type (object, array, string, ...)."""
    names: dict[type, str] = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def validate(model: type[M], data: dict[str, Any]) -> M:
    """Validate a decoded body as an event of ``model``.

    Raises
    ------
    OrderValidationError
        With one human-readable reason per problem, each naming the field's path.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise OrderValidationError([_reason(error) for error in exc.errors(include_url=False)]) from None


def _reason(error: Any) -> str:
    # Reasons never quote the input value: it may be personal data (an address) and
    # reasons travel into logs and DLQ message attributes.
    path = _path(error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "is required"
    if error["type"] == "model_type":
        message = "must be a JSON object"
    return f"{path}: {message}" if path else message


def _path(loc: tuple[str | int, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path
