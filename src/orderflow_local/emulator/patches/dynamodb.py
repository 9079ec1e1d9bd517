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


_updating = threading.local()


def _updates_are_copied_then_swapped_in() -> None:
    """A reader never sees an ``UpdateItem`` half applied.

    On AWS a read returns an item as it was before a write or after it, never between.
    moto 5.2.5 applies an update's actions one by one to the stored ``Item`` itself, and a
    ``Scan``, ``Query`` or ``GetItem`` on another thread holds references to stored items
    that it serializes after the backend call returns: it can read a status already changed
    beside a version not yet changed (the reliability tests caught it). The write lock does
    not help, as reads do not take it. Here the update runs on a copy of the stored item
    (``Table.get_item`` answers the copy inside this thread's update), and the copy replaces
    the stored item only once the update has succeeded: a failed condition changes nothing.
    """
    import copy

    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    update = DynamoDBBackend.update_item  # already serialised by _dynamodb_writes_are_atomic
    get_item = Table.get_item
    ORIGINALS["DynamoDBBackend.update_item (copy-on-write)"] = update
    ORIGINALS["Table.get_item"] = get_item

    def copied(self: Any, hash_key: Any, range_key: Any = None, projection_expression: Any = None) -> Any:
        found = get_item(self, hash_key, range_key, projection_expression)
        copies = getattr(_updating, "copies", None)
        if copies is None or found is None or projection_expression:
            return found
        private = copy.deepcopy(found)
        copies.append((self, hash_key, range_key, private))
        return private

    def update_on_a_copy(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _dynamodb_write_lock:  # the swap too: the next write must see this one's result
            return _swapped_in(self, *args, **kwargs)

    def _swapped_in(self: Any, *args: Any, **kwargs: Any) -> Any:
        _updating.copies = []
        try:
            result = update(self, *args, **kwargs)
            for table, hash_key, range_key, private in _updating.copies:
                if range_key:
                    table.items[hash_key][range_key] = private
                else:
                    table.items[hash_key] = private
            return result
        finally:
            _updating.copies = None

    Table.get_item = copied  # type: ignore[method-assign]
    DynamoDBBackend.update_item = update_on_a_copy  # type: ignore[method-assign]


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
