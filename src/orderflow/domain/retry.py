"""How long a transiently failed message waits before SQS delivers it again.

Without this, a failed message waits out the queue's whole visibility timeout, which AWS's
6x rule makes long (185 s here). The handler shortens it, growing with each receive.
"""

from __future__ import annotations

#: Seconds before the next attempt, by the attempt that just failed (1st, 2nd, 3rd and later).
RETRY_DELAYS = (2, 8, 30)


def retry_delay(receive_count: int) -> int:
    """The backoff after the ``receive_count``-th receive failed: 2 s, 8 s, then 30 s."""
    index = min(max(receive_count, 1), len(RETRY_DELAYS)) - 1
    return RETRY_DELAYS[index]
