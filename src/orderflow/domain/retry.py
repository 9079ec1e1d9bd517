"""How long a transiently failed message waits before SQS delivers it again.

Without this, a failed message waits out the queue's whole visibility timeout, which AWS's
6x rule makes long (185 s here). The handler shortens it, growing with each receive.
"""

from __future__ import annotations

#: Seconds before the next attempt, by the attempt that just failed (1st, 2nd, 3rd and later).
RETRY_DELAYS = (2, 8, 30)


#: ChangeMessageVisibility's limit: a message can be hidden for at most 12 hours.
MAX_RETRY_DELAY = 43_200


def retry_delay(receive_count: int, delays: tuple[int, ...] = RETRY_DELAYS) -> int:
    """The backoff after the ``receive_count``-th receive failed: 2 s, 8 s, then 30 s (by default)."""
    index = min(max(receive_count, 1), len(delays)) - 1
    return delays[index]


def parse_retry_delays(text: str) -> tuple[int, ...]:
    """``"2,8,30"`` as delays (whole seconds, 0 to 12 hours, at least one), or ValueError saying why."""
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() and int(part) <= MAX_RETRY_DELAY for part in parts):
        raise ValueError(
            f"RETRY_DELAYS must be comma-separated whole seconds from 0 to {MAX_RETRY_DELAY} (like 2,8,30), "
            f"not {text!r}"
        )
    return tuple(int(part) for part in parts)
