"""A background task run every few seconds until stopped: the TTL sweeper, the log sender, the alarm monitor."""

from __future__ import annotations

import logging
import threading
from typing import Self

log = logging.getLogger(__name__)


class Periodic:
    """Calls :meth:`tick` every ``interval`` seconds on a daemon thread, from :meth:`start` to :meth:`stop`.

    A failing tick is logged and the next one runs: the emulator may be stopping, or answer
    an error once. Subclasses name the thread with ``name`` and implement ``tick``.
    """

    name = "periodic"

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def tick(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:
                if not self._stop.is_set():
                    log.warning("%s failed; trying again in %g s", self.name, self.interval, exc_info=True)
