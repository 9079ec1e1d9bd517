"""Patches to moto's SNS: FIFO topics deduplicate."""

from __future__ import annotations

import threading
from typing import Any

from orderflow_local.emulator.patches.core import ORIGINALS

#: SNS FIFO topics drop a message whose deduplication id was seen in the last 5 minutes.
SNS_DEDUPLICATION_WINDOW = 300.0


def _sns_fifo_topics_deduplicate() -> None:
    """A FIFO topic delivers a message once per deduplication id within 5 minutes, as SNS does.

    moto 5.2.5 delivers every publish to a FIFO topic: the same event published twice
    reaches every subscribed queue twice (a queue deduplicating by content hides it; one
    that does not either receives it twice or refuses the delivery, since moto passes no
    deduplication id). SNS accepts the duplicate, answers with the first message's id, and
    delivers nothing; with ``ContentBasedDeduplication`` the id is the SHA-256 of the body,
    and SNS passes the id on to the subscribed FIFO queues. moto also reads the attribute's
    text, so ``"false"`` counted as on; here only ``true`` is.
    """
    import hashlib
    import time

    from moto.sns.models import Topic

    publish = Topic.publish
    ORIGINALS["Topic.publish"] = publish

    def deduplicated_publish(
        self: Any,
        message: str,
        subject: str | None = None,
        message_attributes: dict[str, Any] | None = None,
        group_id: str | None = None,
        deduplication_id: str | None = None,
        message_structure: str | None = None,
    ) -> str:
        if not self.fifo_topic:
            return publish(self, message, subject, message_attributes, group_id, deduplication_id, message_structure)
        if deduplication_id is None and str(self.content_based_deduplication).lower() == "true":
            deduplication_id = hashlib.sha256(message.encode("utf-8")).hexdigest()
        seen: dict[str, tuple[str, float]] = self.__dict__.setdefault("_orderflow_deduplication", {})
        now = time.monotonic()
        with _sns_lock:
            for key in [key for key, (_, expiry) in seen.items() if expiry <= now]:
                del seen[key]
            if deduplication_id is not None and deduplication_id in seen:
                return seen[deduplication_id][0]
            message_id: str = publish(
                self, message, subject, message_attributes, group_id, deduplication_id, message_structure
            )
            if deduplication_id is not None:
                seen[deduplication_id] = (message_id, now + SNS_DEDUPLICATION_WINDOW)
        return message_id

    Topic.publish = deduplicated_publish  # type: ignore[method-assign]


_sns_lock = threading.Lock()
