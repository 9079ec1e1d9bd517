"""The provider's injected faults: what a real payment API does to its clients now and then.

Each ``/v1/`` request draws once from a seeded random generator: with probability ``rate`` it
gets one of ``kinds``, chosen uniformly. The sequence of draws is fixed by the seed (requests
made concurrently may take them in either order). What each kind does is the server's
(orderflow_local.payments.server); this module only decides and counts.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass

LATENCY = "latency"
RATE_LIMITED = "rate_limited"
SERVER_ERROR = "server_error"
RESPONSE_LOST = "response_lost"
#: Every kind, in the order the docs list them.
ALL: tuple[str, ...] = (LATENCY, RATE_LIMITED, SERVER_ERROR, RESPONSE_LOST)


@dataclass(frozen=True)
class ProviderFaults:
    """How often the provider misbehaves, how, and from which seed.

    ``latency`` sleeps ``latency_ms`` and then answers normally; ``rate_limited`` (429) and
    ``server_error`` (500) answer before the endpoint runs, so nothing is saved for an
    idempotency key; ``response_lost`` runs the endpoint, saves its result for the key, then
    closes the connection without a byte of response.
    """

    rate: float
    seed: int
    kinds: tuple[str, ...] = ALL
    latency_ms: int = 300

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, not {self.rate}")
        unknown = [kind for kind in self.kinds if kind not in ALL]
        if unknown or not self.kinds:
            raise ValueError(f"fault kinds must be some of {', '.join(ALL)}; got {', '.join(self.kinds) or 'none'}")
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must not be negative, not {self.latency_ms}")


class FaultDraws:
    """The draws of one :class:`ProviderFaults` (or none: no fault, ever), and how many of each were injected."""

    def __init__(self, faults: ProviderFaults | None) -> None:
        self._lock = threading.Lock()
        self._injected: Counter[str] = Counter()
        self.faults: ProviderFaults | None = None
        self._random = random.Random(0)  # noqa: S311 - fault injection, not security
        self.set(faults)

    def set(self, faults: ProviderFaults | None) -> None:
        """Draw from ``faults`` from now on (its seed starts the sequence again); the counts are kept."""
        with self._lock:
            self.faults = faults
            self._random = random.Random(faults.seed if faults else 0)  # noqa: S311

    def draw(self) -> str | None:
        """The fault for the next request (counted), or None."""
        with self._lock:
            faults = self.faults
            if faults is None or faults.rate == 0.0 or self._random.random() >= faults.rate:
                return None
            kind = self._random.choice(faults.kinds)
            self._injected[kind] += 1
            return kind

    def injected(self) -> Counter[str]:
        """How many faults of each kind were injected so far (a copy)."""
        with self._lock:
            return Counter(self._injected)
