"""Narrow fixes to moto's models, applied by the local stack to its in-process server.

Each patch names the moto behaviour it corrects and why local runs need it. They are
written against one moto version (``PATCHED_VERSION``): on any other version the local
stack refuses to start rather than run on a model these patches no longer fit. To
upgrade moto, re-read each patched function against the new source, adjust, and bump
``PATCHED_VERSION`` (tests/integration/test_moto_patches.py shows each fix at work).

One module per service (:mod:`.sqs`, :mod:`.dynamodb`, :mod:`.sns`, :mod:`.events`, :mod:`.iam`), and
:mod:`.core` for moto's request dispatch; :func:`apply` applies them all.
"""

from __future__ import annotations

import threading

from orderflow_local.emulator.patches import core, dynamodb, events, iam, sns, sqs
from orderflow_local.emulator.patches.core import ORIGINALS

PATCHED_VERSION = "5.2.5"
_applied = False
_lock = threading.Lock()


class MotoVersionError(RuntimeError):
    """moto is not the version the patches were written for."""


def apply(version: str | None = None) -> None:
    """Apply every patch once per process (idempotent)."""
    global _applied
    import moto

    found = version or moto.__version__
    if found != PATCHED_VERSION:
        raise MotoVersionError(
            f"orderflow_local patches moto {PATCHED_VERSION}, but moto {found} is installed: "
            "reinstall with `make setup` (pyproject pins it), or re-check orderflow_local/emulator/patches/ "
            "against the new moto before bumping PATCHED_VERSION"
        )
    with _lock:
        if _applied:
            return
        sqs._fifo_visibility_expiry_keeps_group_order()
        sqs._queue_attributes_computed_on_demand()
        sqs._visible_messages_scanned_lazily()
        sqs._delete_finds_the_message_without_two_full_scans()
        dynamodb._dynamodb_writes_are_atomic()
        dynamodb._updates_are_copied_then_swapped_in()
        sqs._sqs_refuses_what_sqs_refuses()
        sqs._sqs_errors_carry_the_plain_message()
        sns._sns_fifo_topics_deduplicate()
        sqs._sqs_fifo_deduplication_remembers_five_minutes()
        dynamodb._dynamodb_items_sized_once()
        core._backend_modules_listed_once()
        core._action_names_found_once_per_class()
        dynamodb._condition_expressions_parsed_once()
        sqs._a_receive_takes_its_messages_in_one_step()
        events._event_patterns_match_as_eventbridge_does()
        events._rules_deliver_as_eventbridge_does()
        events._put_events_refuses_what_eventbridge_refuses()
        iam.install(ORIGINALS)  # enforced only after iam.enforce(True)
        _applied = True


__all__ = ["ORIGINALS", "PATCHED_VERSION", "MotoVersionError", "apply"]
