"""Idempotency keys as Stripe keeps them: the first result per key, replayed; misuse refused; forgotten after a while.

https://docs.stripe.com/api/idempotent_requests: the status code and body of the first request
with a key are saved once the endpoint began executing, and a repeat gets them back; the same key
with other parameters is an error; a request while the first with its key still executes
conflicts (409, https://docs.stripe.com/error-low-level#idempotency); a key is pruned once it is
at least 24 hours old, and a request with it after that runs again.

Pure bookkeeping: no lock (the API holds one around it and the ledger), and the clock is given,
so a test moves a day forward without waiting one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

#: Stripe's bound on a key's length.
MAX_KEY_LENGTH = 255
#: How long Stripe keeps a key at least (24 hours); the local stack scales it down.
DEFAULT_TTL_SECONDS = 86_400.0


class KeyState(Enum):
    """What a request finds under its key."""

    NEW = "new"  # nothing (or only an expired result): run the endpoint
    REPLAY = "replay"  # a saved result for the same parameters: answer it again
    MISMATCH = "mismatch"  # the key was used with other parameters: 400
    IN_USE = "in_use"  # the first request with the key still runs: 409


@dataclass(frozen=True)
class SavedResult:
    """The first answer given for a key: its status code and body."""

    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Lookup:
    state: KeyState
    #: The result to replay (REPLAY only).
    saved: SavedResult | None = None


@dataclass
class _Entry:
    fingerprint: str
    started: float
    result: SavedResult | None = None  # None while the first request runs


class IdempotencyKeys:
    """The keys of one API key: each one's first request, in flight or done, until ``ttl_seconds`` after it began."""

    def __init__(self, ttl_seconds: float = DEFAULT_TTL_SECONDS, *, clock: Callable[[], float]) -> None:
        if ttl_seconds <= 0:
            raise ValueError(f"key_ttl_seconds must be positive, not {ttl_seconds}")
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: dict[str, _Entry] = {}  # in the order they began: the oldest expire first

    def begin(self, key: str, fingerprint: str) -> Lookup:
        """Look ``key`` up for a request whose parameters are ``fingerprint``; when it is NEW, the key is now
        in flight for it, until :meth:`save` or :meth:`abandon`.

        Other parameters are a MISMATCH whether the first request is done or still running: the
        repeat is misuse either way, and saying so is more useful than "try again later".
        """
        now = self._clock()
        self._prune(now)
        entry = self._entries.get(key)
        if entry is not None and entry.result is not None and self._expired(entry, now):
            del self._entries[key]
            entry = None
        if entry is None:
            self._entries[key] = _Entry(fingerprint, started=now)
            return Lookup(KeyState.NEW)
        if entry.fingerprint != fingerprint:
            return Lookup(KeyState.MISMATCH)
        if entry.result is None:
            return Lookup(KeyState.IN_USE)
        return Lookup(KeyState.REPLAY, entry.result)

    def save(self, key: str, result: SavedResult) -> None:
        """Keep ``result`` as the answer for ``key`` (begun by :meth:`begin`), to replay until it expires."""
        self._entries[key].result = result

    def abandon(self, key: str) -> None:
        """Forget ``key``'s request, which ended before its endpoint ran (nothing to save): a repeat runs anew."""
        entry = self._entries.get(key)
        if entry is not None and entry.result is None:
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)

    def _expired(self, entry: _Entry, now: float) -> bool:
        return now - entry.started >= self.ttl_seconds

    def _prune(self, now: float) -> None:
        """Drop the saved results that are ``ttl_seconds`` old, oldest first, so memory stays bounded by
        a day's keys. A request still in flight keeps its key, however long it runs."""
        expired = []
        for key, entry in self._entries.items():
            if not self._expired(entry, now):
                break
            if entry.result is not None:
                expired.append(key)
        for key in expired:
            del self._entries[key]
