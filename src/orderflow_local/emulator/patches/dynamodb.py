"""Patches to moto's DynamoDB: atomic writes, and what a write costs."""

from __future__ import annotations

import threading
from typing import Any

from orderflow_local.emulator.patches.core import ORIGINALS

#: DynamoDB's write operations in moto's backend, each evaluated and applied under one lock.
DYNAMODB_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
_dynamodb_write_lock = threading.RLock()


def _dynamodb_writes_are_atomic() -> None:
    """A DynamoDB write evaluates its condition and applies itself as one step.

    On AWS a conditional write is atomic: of two ``PutItem`` calls with
    ``attribute_not_exists`` on one key, exactly one succeeds. moto 5.2.5 reads the item,
    parses and evaluates the condition, then writes, with nothing held in between; the
    server runs each request on its own thread, so two requests can both pass the
    condition and the second silently overwrites the first (the lost update conditions
    exist to prevent). Each write now runs under one lock; reads are not serialised.
    """
    from moto.dynamodb.models import DynamoDBBackend

    for name in DYNAMODB_WRITES:
        original = getattr(DynamoDBBackend, name)
        ORIGINALS[f"DynamoDBBackend.{name}"] = original
        setattr(DynamoDBBackend, name, _serialised(original))


def _serialised(method: Any) -> Any:
    import functools

    @functools.wraps(method)
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _dynamodb_write_lock:
            return method(self, *args, **kwargs)

    return locked


# --- what every request costs (docs/performance.md, "A faster emulator") -----------------


def _dynamodb_items_sized_once() -> None:
    """An item's size is summed once as moto builds it, not again for every attribute.

    moto 5.2.5 builds an ``Item`` by setting its attributes one by one on a
    ``LimitedSizeDict``, whose ``__setitem__`` re-computes the size of every attribute already
    set (walking nested maps and lists) to refuse items over DynamoDB's limit: quadratic in
    the attributes, a fifth of a stored order's ``PutItem``. This keeps the running sum
    instead, checking the same total at the same step in the same order, so the same item
    raises the same ``ItemSizeTooLarge`` (or conversion error) as before.
    """
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    ORIGINALS["Item.__init__"] = Item.__init__

    def built_once(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        self.attrs = LimitedSizeDict()
        size = 0
        for key, value in attrs.items():
            converted = DynamoType(value)
            added = bytesize(key) + converted.size()
            if size + added > ITEM_SIZE_LIMIT:  # LimitedSizeDict's own check, on the sum so far
                raise ItemSizeTooLarge
            dict.__setitem__(self.attrs, key, converted)
            size += added

    Item.__init__ = built_once  # type: ignore[method-assign]


#: moto's LimitedSizeDict limit (DynamoDB's 400 KB, as moto measures it).
ITEM_SIZE_LIMIT = 405000

#: Distinct (expression, names, values) parses kept; a stack uses a handful.
PARSED_EXPRESSIONS = 1024


def _condition_expressions_parsed_once() -> None:
    """A condition or filter expression is parsed once for the same names and values.

    moto 5.2.5 parses a ``PutItem``'s ``ConditionExpression`` twice per request (once to check
    the names it uses, then again to evaluate it), and again on every request that repeats
    it: a seventh of a conditional ``PutItem``. The parse depends only on the expression, the
    names and the values, so its result (the operation tree, and the names and values it
    found) is kept per content. A miss parses private copies of the names and values (built
    from the key), so a caller changing its own dicts later changes nothing kept. Errors are
    not kept: an invalid expression raises as before, on every request. Values JSON cannot
    hold (bytes) are parsed as before, without the cache.
    """
    import functools
    import json

    from moto.dynamodb.comparisons import ConditionExpressionParser

    original = ConditionExpressionParser.parse
    ORIGINALS["ConditionExpressionParser.parse"] = original

    @functools.lru_cache(maxsize=PARSED_EXPRESSIONS)
    def parsed(
        expression: str, names: tuple[tuple[str, str], ...] | None, values: str
    ) -> tuple[Any, list[str], list[str]]:
        parser = ConditionExpressionParser(expression, None if names is None else dict(names), json.loads(values))
        op = original(parser)
        return op, parser.expr_attr_names_found, parser.expr_attr_values_found

    def parse(self: Any) -> Any:
        if not self.condition_expression:
            return original(self)
        try:
            key = (
                self.condition_expression,
                None if self.expression_attribute_names is None else tuple(self.expression_attribute_names.items()),
                json.dumps(self.expression_attribute_values),
            )
            hash(key)
        except TypeError:  # bytes among the values, or an unhashable name
            return original(self)
        op, names_found, values_found = parsed(*key)
        self.expr_attr_names_found.extend(names_found)
        self.expr_attr_values_found.extend(values_found)
        return op

    ConditionExpressionParser.parse = parse  # type: ignore[method-assign]
