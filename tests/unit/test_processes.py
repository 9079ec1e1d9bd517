"""Reading a process's CPU time from /proc, as the benchmarks account for it."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from orderflow_local.processes import cpu_seconds

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's /proc")


def _cpu(*pids: int) -> float:
    seconds = cpu_seconds(list(pids))
    assert seconds is not None, "every process is running"
    return seconds


def test_a_busy_process_cpu_time_grows_and_an_idle_one_stays_put() -> None:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.3)  # both have started and imported
        busy_before, idle_before = _cpu(busy.pid), _cpu(idle.pid)
        time.sleep(0.5)
        busy_after, idle_after, both = _cpu(busy.pid), _cpu(idle.pid), _cpu(busy.pid, idle.pid)
    finally:
        busy.kill()
        idle.kill()
        busy.wait()
        idle.wait()
    assert busy_after - busy_before >= 0.2  # it spun for 0.5 s (on a shared core, at least 40% of that)
    assert idle_after - idle_before < 0.05
    assert both >= busy_after + idle_after  # read last, it sums both


def test_a_process_that_is_gone_gives_no_figure_rather_than_a_partial_one() -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    assert cpu_seconds([ended.pid]) is None
    assert cpu_seconds([]) == 0.0
