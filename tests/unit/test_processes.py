"""Process trees and CPU time, as the emulator's stop and the benchmarks read them, on Linux and macOS alike."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest

from orderflow_local.processes import cpu_seconds, descendants
from tests.support import wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Starts a process running ``child`` (its output shared), then says its pid and waits.
_PARENT = "import os, subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}]); print(os.getpid(), flush=True); time.sleep(60)"  # noqa: E501
_LEAF = "import os, time; print(os.getpid(), flush=True); time.sleep(60)"


@pytest.fixture(params=["this system", "no /proc to walk by hand"])
def system(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test runs here, then as on macOS, which has no /proc: reading a process's /proc entry by hand finds nothing.

    (On Linux psutil still reads /proc in its own way, so this shows code that does not
    depend on walking /proc itself, which is what leaves macOS without a process tree.)
    """
    if request.param == "no /proc to walk by hand":

        def missing(path: Any) -> None:
            raise FileNotFoundError(f"no such file: {path}")

        real_listdir, real_read_text = os.listdir, Path.read_text

        def listdir(path: Any = ".") -> list[str]:
            if str(path).startswith("/proc/"):
                missing(path)
            return real_listdir(path)

        def read_text(self: Path, *args: Any, **kwargs: Any) -> str:
            if str(self).startswith("/proc/"):
                missing(self)
            return real_read_text(self, *args, **kwargs)

        monkeypatch.setattr(os, "listdir", listdir)
        monkeypatch.setattr(Path, "read_text", read_text)
    return str(request.param)


@pytest.fixture
def tree() -> Iterator[tuple[subprocess.Popen[str], list[int]]]:
    """A process, its child and that child's child: (the process, the three pids, once all are running)."""
    top = subprocess.Popen(
        [sys.executable, "-c", _PARENT.format(child=_PARENT.format(child=_LEAF))], stdout=subprocess.PIPE, text=True
    )
    assert top.stdout is not None
    pids = [int(top.stdout.readline()) for _ in range(3)]  # each says its pid once it is running
    yield top, pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    top.wait()


def _gone(pid: int) -> bool:
    """Ended: no such process, or one nobody reaped yet (a container's init may never reap it)."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def _cpu(*pids: int) -> float:
    seconds = cpu_seconds(list(pids))
    assert seconds is not None, "every process is running"
    return seconds


def test_a_child_of_a_child_is_found_and_stopped(system: str, tree: tuple[subprocess.Popen[str], list[int]]) -> None:
    top, pids = tree
    found = descendants(top.pid)
    assert sorted(found) == sorted(pid for pid in pids if pid != top.pid)  # its child, and that child's
    # As the emulator stops its process: the process, then what it had started.
    top.kill()
    top.wait()
    for pid in found:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in found) and time.monotonic() < deadline:
        time.sleep(0.01)  # another process's end has no event to wait on here: poll, bounded
    assert all(_gone(pid) for pid in found)
    assert descendants(top.pid) == []  # gone: nothing to find


def test_a_busy_process_cpu_time_grows_and_an_idle_one_stays_put(system: str) -> None:
    # The idle one has started (it says so) before its figure is read; the busy one spins
    ready = "import sys, time; print('ready', flush=True); time.sleep(60)"
    idle = subprocess.Popen([sys.executable, "-c", ready], stdout=subprocess.PIPE, text=True)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        assert idle.stdout is not None
        assert idle.stdout.readline() == "ready\n"
        busy_before, idle_before = _cpu(busy.pid), _cpu(idle.pid)
        # Waits on the figure itself, not on a time: a busy machine only makes it slower to come
        grown = wait_until(lambda: (now := _cpu(busy.pid)) - busy_before >= 0.2 and now, "0.2 s of CPU", 30, 0.05)
        idle_after, both = _cpu(idle.pid), _cpu(busy.pid, idle.pid)
    finally:
        busy.kill()
        idle.kill()
        busy.wait()
        idle.wait()
    assert grown - busy_before >= 0.2
    assert idle_after - idle_before < 0.05  # asleep the whole time the other spun
    assert both >= grown + idle_after  # read last, it sums both


def test_a_process_that_is_gone_gives_no_figure_rather_than_a_partial_one(system: str) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    assert cpu_seconds([ended.pid]) is None
    assert cpu_seconds([]) == 0.0
