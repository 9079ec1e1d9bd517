"""Narrow fixes to moto's models, applied by the local stack to its in-process server.

Each patch names the moto behaviour it corrects and why local runs need it. They are
written against one moto version (``PATCHED_VERSION``): on any other version the local
stack refuses to start rather than run on a model these patches no longer fit. To
upgrade moto, re-read each patched function against the new source, adjust, and bump
``PATCHED_VERSION`` (tests/integration/test_moto_patches.py shows each fix at work).
"""

from __future__ import annotations

import threading
from typing import Any

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
            "reinstall with `make setup` (pyproject pins it), or re-check orderflow_local/moto_patches.py "
            "against the new moto before bumping PATCHED_VERSION"
        )
    with _lock:
        if _applied:
            return
        _fifo_visibility_expiry_keeps_group_order()
        _applied = True


def _fifo_visibility_expiry_keeps_group_order() -> None:
    """A FIFO message whose visibility expired no longer holds its message group.

    moto 5.2.5 counts a message as in flight until ``receive_message`` happens to walk past
    it, so after a failed batch's visibility expires, the *later* messages of a group can
    be delivered before the earlier one (``receive_message`` drops the first expired
    message from the pending set, sees the group still held by the second, skips the
    first, then delivers the second). SQS delivers a group strictly in order.
    """
    from moto.sqs.models import Queue

    def pending_message_groups(self: Any) -> set[str]:
        return {
            message.group_id
            for message in self._pending_messages
            if message.group_id is not None and not message.visible
        }

    Queue.pending_message_groups = property(pending_message_groups)  # type: ignore[assignment,method-assign]
