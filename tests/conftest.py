"""Run-wide test settings: Hypothesis profiles, and a folder shared by pytest-xdist's workers."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

# `make test` runs the full profile (each property's own example count); `make check`, the
# inner loop, runs a tenth of it (`--hypothesis-profile=check`). See tests/support.examples.
# Neither fails a property because generating its inputs was slow: on 2 cores shared with the
# integration tests' stacks, that measures the machine's load, not the code (too_slow failed
# a run once, generating 8 inputs in 1 s).
settings.register_profile("full", max_examples=100, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("check", max_examples=10, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("full")


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A folder of this pytest run's, shared by all its xdist workers (each worker's own
    base temp sits inside it), for what is built once per run: the synthesized templates."""
    base = tmp_path_factory.getbasetemp()
    return base if worker_id == "master" else base.parent


@pytest.fixture(scope="session")
def synthesized(run_dir: Path) -> Callable[[dict[str, str]], Path]:
    """``synthesized({"fifo": "true"})``: the app's template for that CDK context, synthesized
    once per run and shared with the infra tests and the other workers (tests/synth.py)."""
    from tests.synth import synthesized_template

    return functools.partial(synthesized_template, run_dir)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--cpu-report",
        metavar="FILE",
        help="append each test's CPU seconds (its process and the children it waited for) to FILE, "
        "to see where the suite's CPU goes (docs/performance.md, 'The test suite')",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> object:
    report = item.config.getoption("--cpu-report")
    if not report:
        return (yield)
    import resource

    def used() -> float:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    before = used()
    try:
        return (yield)
    finally:
        with open(report, "a") as out:
            out.write(f"{used() - before:.2f}\t{item.nodeid}\n")
