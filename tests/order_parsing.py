"""An ``OrderCreated`` body parsed in one call, for the tests of validation.

The handler parses in two steps (``load_json_object``, then ``validate`` with the model its
``eventType`` names); this helper takes both for an order, so it lives with the tests and is not
shipped in the function's asset.
"""

from __future__ import annotations

from orderflow.domain.models import OrderCreated
from orderflow.domain.parsing import load_json_object, validate


def parse_order(body: str) -> OrderCreated:
    """Parse and validate ``body`` as an ``OrderCreated`` event (MalformedMessageError, OrderValidationError)."""
    return validate(OrderCreated, load_json_object(body))
