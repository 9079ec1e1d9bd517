"""Child processes that a terminal's Ctrl-C does not reach: the parent decides when they stop.

Ctrl-C in a terminal signals the whole process group. The execution environments and the
emulator's process must outlive it: the first Ctrl-C lets the batches in flight finish and
counts what the stop discards, which needs both. So they are started with SIGINT blocked
(:func:`start_shielded`) and, once running, ignore it (:func:`ignore_interrupts`).

What they leave for the parent (a function's output, the chaos journal) is appended to a
file, which a kill does not lose; the parent reads what is new with :class:`AppendedLines`.
"""

from __future__ import annotations

import signal
from multiprocessing import resource_tracker
from pathlib import Path
from typing import Any

import psutil


def start_shielded(process: Any) -> None:
    """Start ``process`` (a multiprocessing Process) with SIGINT blocked.

    The child inherits this thread's signal mask, so a Ctrl-C during its start-up stays
    pending until it has chosen to ignore it. multiprocessing's resource tracker *unblocks*
    SIGINT in the calling thread when ``start()`` launches it (Python 3.11), so it is started
    first, outside the window.
    """
    resource_tracker.ensure_running()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        process.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def descendants(pid: int) -> list[int]:
    """The processes ``pid`` started, and theirs (none once it is gone).

    psutil reads the process table on Linux and macOS alike: a hand-written walk of Linux's
    /proc found nothing on macOS, so a stop left granian's worker running there.
    """
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def cpu_seconds(pids: list[int]) -> float | None:
    """CPU time (user + system) the processes ``pids`` have used; None when one is gone (never a partial sum)."""
    total = 0.0
    try:
        for pid in pids:
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    except psutil.Error:
        return None
    return total


def ignore_interrupts() -> None:  # pragma: no cover - runs in the child
    """In a child started by :func:`start_shielded`: ignore SIGINT, then let signals through."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


class AppendedLines:
    """The complete lines appended to a file since the last call (a line still being written waits)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._offset = 0

    def __call__(self) -> list[str]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as file:
            file.seek(self._offset)
            data = file.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        return complete.decode("utf-8", errors="replace").splitlines()
