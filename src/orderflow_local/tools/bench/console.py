"""``console``: what the console costs, measured in one run against the same stack without it.

1. Idle: the stack's CPU over ``idle_seconds`` with no page open (the baseline), then with a page
   open on the map (a live update every 2 s); the browser's own CPU apart.
2. First load: from navigation to the map drawn with its first live numbers, over several loads.
3. Throughput: batches of orders through the order service with no page open and with one open on
   the map, alternated (none, page, none, page) so drift falls on both alike; orders per second and
   the stack's CPU per order, each against the batches without a page.
"""

from __future__ import annotations

import functools
import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

#: The page's view while measured: the map takes every live update.
VIEW = "map"


@dataclass
class ConsoleBenchResult:
    idle_seconds: float
    #: CPU seconds per second of the stack's processes (runner, emulator, functions) while idle.
    idle_cpu_without_page: float
    idle_cpu_with_page: float
    #: The browser's own processes, per second, while the page is open and the stack idle.
    browser_cpu: float
    #: Navigation to the map drawn with its first live numbers, each load (ms).
    first_load_ms: list[float] = field(default_factory=list)
    orders_per_batch: int = 0
    #: Orders per second, each batch, without and with a page open.
    throughput_without: list[float] = field(default_factory=list)
    throughput_with: list[float] = field(default_factory=list)
    #: The stack's CPU per order (ms), each batch, without and with a page open.
    cpu_ms_without: list[float] = field(default_factory=list)
    cpu_ms_with: list[float] = field(default_factory=list)

    @property
    def idle_ratio(self) -> float:
        """Idle CPU with a page open over without (1.0: the page costs nothing)."""
        return self.idle_cpu_with_page / self.idle_cpu_without_page if self.idle_cpu_without_page else 0.0

    @property
    def throughput_ratio(self) -> float:
        """Median throughput with a page open over without (1.0: no slower)."""
        return statistics.median(self.throughput_with) / statistics.median(self.throughput_without)

    @property
    def cpu_ratio(self) -> float:
        """Median CPU per order with a page open over without."""
        return statistics.median(self.cpu_ms_with) / statistics.median(self.cpu_ms_without)

    @property
    def first_load_p50(self) -> float:
        return statistics.median(self.first_load_ms)


def console(
    *,
    orders: int = 500,
    rounds: int = 2,
    idle_seconds: float = 20.0,
    loads: int = 5,
    progress: Callable[[str], None] = lambda _: None,
) -> ConsoleBenchResult:
    from orderflow_local.console import Console
    from orderflow_local.ops.traffic import plan_traffic, send
    from orderflow_local.stack import LocalStack, StackOptions
    from orderflow_local.tools.bench.throughput import _pipeline_cpu, wait_for

    options = StackOptions(port=0, functions=("OrderProcessor",))
    with LocalStack(options, progress=progress) as stack, Console(stack, port=0) as web, _browser() as browser:
        sqs, dynamodb = stack.emulator.sqs(), stack.emulator.dynamodb()
        queue_url, table = stack.outputs["QueueUrl"], stack.outputs["TableName"]

        def stored() -> int:
            return int(dynamodb.describe_table(TableName=table)["Table"]["ItemCount"])

        def stack_cpu() -> float:
            return sum(_pipeline_cpu(stack).values())

        progress("warming up (one order, so cold starts are not in the measurement)")
        send(sqs, queue_url, plan_traffic(1, seed=2, duplicate_rate=0, malformed_rate=0, invalid_rate=0,
                                          run="warmup").messages)  # fmt: skip
        wait_for(lambda: stored() >= 1, 120)

        def idle(seconds: float) -> float:
            before, started = stack_cpu(), time.monotonic()
            time.sleep(seconds)
            return (stack_cpu() - before) / (time.monotonic() - started)

        progress(f"idle {idle_seconds:g} s with no page open")
        without = idle(idle_seconds)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        loaded = [_first_load(page, web.url) for _ in range(loads)]
        progress(f"idle {idle_seconds:g} s with the page open on the {VIEW}")
        browser_before = _browser_cpu()
        with_page = idle(idle_seconds)
        browser_cpu = (_browser_cpu() - browser_before) / idle_seconds
        page.close()
        result = ConsoleBenchResult(
            idle_seconds, without, with_page, browser_cpu, first_load_ms=loaded, orders_per_batch=orders
        )
        for index in range(rounds * 2):
            open_page = index % 2 == 1
            page = browser.new_page(viewport={"width": 1280, "height": 800}) if open_page else None
            if page is not None:
                _first_load(page, web.url)
            progress(f"{orders} orders {'with the page open' if open_page else 'with no page open'}")
            plan = plan_traffic(orders, seed=10 + index, duplicate_rate=0, malformed_rate=0, invalid_rate=0,
                                run=uuid.uuid4().hex[:6])  # fmt: skip
            before_items, before_cpu, started = stored(), stack_cpu(), time.monotonic()
            send(sqs, queue_url, plan.messages)
            wait_for(functools.partial(_all_stored, stored, before_items + orders), 600)
            seconds, cpu = time.monotonic() - started, stack_cpu() - before_cpu
            (result.throughput_with if open_page else result.throughput_without).append(orders / seconds)
            (result.cpu_ms_with if open_page else result.cpu_ms_without).append(cpu / orders * 1000)
            if page is not None:
                page.close()
        return result


def _all_stored(stored: Callable[[], int], wanted: int) -> bool:
    return stored() >= wanted


def _browser() -> Any:
    import contextlib

    @contextlib.contextmanager
    def launched() -> Iterator[Any]:
        from playwright.sync_api import sync_playwright

        from orderflow_local.tools.browser import CHROMIUM_ARGS, chromium

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium(), args=list(CHROMIUM_ARGS))
            try:
                yield browser
            finally:
                browser.close()

    return launched()


def _first_load(page: Any, url: str) -> float:
    """Milliseconds from navigation to the map drawn with a live number in it."""
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_selector('.node [data-field="invocations"]', timeout=30_000)
    return (time.perf_counter() - started) * 1000


def _browser_cpu() -> float:
    """CPU seconds of every Chromium process under the Playwright driver (the browser's tree)."""
    import psutil

    total = 0.0
    for process in psutil.Process().children(recursive=True):
        try:
            if "chrom" in process.name().lower():
                times = process.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            continue
    return total
