"""moto's own test suite for the services we patch, run with and without the patches.

`make moto-suite` runs this: it downloads moto's source distribution for the pinned
version (``orderflow_local.emulator.patches.PATCHED_VERSION``), runs its DynamoDB, SQS, SNS, STS, EventBridge
and IAM authorization tests (the services and the core code we patch) twice in
fresh interpreters, once on stock moto and once with :mod:`orderflow_local.emulator.patches`
applied, and compares the outcome of every test. Any test whose outcome differs is
listed and the run fails: a patch may change what moto costs, never what it does.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ElementTree
from collections import Counter
from pathlib import Path

from orderflow_local.emulator.patches import PATCHED_VERSION

#: moto's tests of what we patch: the DynamoDB, SQS, SNS and EventBridge models (and S3's events, which moto
#: delivers through EventBridge's rules), and its IAM authorization (patches/iam.py).
SUITES = (
    "test_dynamodb",
    "test_sqs",
    "test_sns",
    "test_events",
    "test_s3/test_s3_eventbridge_integration.py",
    "test_sts",
    "test_core/test_auth.py",
    "test_core/test_auth_context_manager.py",
)
#: What moto's tests import beyond moto itself (its requirements-tests, for these services).
TEST_DEPENDENCIES = ("freezegun==1.5.5",)
PLUGIN = "orderflow_local.tools.moto_suite_plugin"


def fetch(workdir: Path) -> Path:
    """moto's sdist for the pinned version, unpacked; its tests and our test dependencies ready."""
    source = workdir / f"moto-{PATCHED_VERSION}"
    if not (source / "tests").is_dir():
        workdir.mkdir(parents=True, exist_ok=True)
        print(f"downloading moto {PATCHED_VERSION}'s source distribution (its test suite) from PyPI", flush=True)
        _pip("download", "--no-deps", "--no-binary", ":all:", f"moto=={PATCHED_VERSION}", "-d", str(workdir))
        with tarfile.open(workdir / f"moto-{PATCHED_VERSION}.tar.gz") as archive:
            archive.extractall(workdir, filter="data")
    extra = workdir / "test-dependencies"
    if not extra.is_dir():
        # --no-deps: freezegun's python-dateutil must stay the one botocore pins in our venv.
        _pip("install", "--quiet", "--no-deps", "--target", str(extra), *TEST_DEPENDENCIES)
    return source


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)  # noqa: S603 - fixed arguments


def run(source: Path, workdir: Path, *, patched: bool) -> dict[str, str]:
    """Run moto's tests in :data:`SUITES` (installed moto, not the sdist's copy); outcome by test id."""
    label = "patched" if patched else "stock"
    report = workdir / f"{label}.xml"
    # Run from a copy-free location: only the sdist's tests/ is on the path, moto comes from the venv.
    command = [
        sys.executable, "-m", "pytest", *(f"tests/{suite}" for suite in SUITES),
        "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--timeout", "300", f"--junitxml={report}",
        *(["-p", PLUGIN] if patched else []),
    ]  # fmt: skip
    env_path = f"{workdir / 'test-dependencies'}"
    print(f"running moto's tests ({', '.join(SUITES)}), {label}", flush=True)
    completed = subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
        command, cwd=source, env={**_environment(), "PYTHONPATH": env_path}, capture_output=True, text=True, check=False
    )
    print(completed.stdout.strip().splitlines()[-1] if completed.stdout.strip() else completed.stderr[-2000:])
    return outcomes(report)


def _environment() -> dict[str, str]:
    import os

    # moto's tests expect no real endpoint or credentials in the environment.
    return {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}


def outcomes(report: Path) -> dict[str, str]:
    """Each test's outcome in a JUnit report: passed, failed, error or skipped."""
    tree = ElementTree.parse(report)  # noqa: S314 - written by our own pytest run
    found: dict[str, str] = {}
    for case in tree.iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        outcome = "passed"
        for child in case:
            if child.tag in {"failure", "error", "skipped"}:
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
        found[name] = outcome
    return found


def compare(stock: dict[str, str], patched: dict[str, str]) -> list[str]:
    """Tests whose outcome differs (or that ran in only one of the two runs)."""
    return [
        f"{name}: stock {stock.get(name, 'absent')}, patched {patched.get(name, 'absent')}"
        for name in sorted(set(stock) | set(patched))
        if stock.get(name) != patched.get(name)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("build/moto-suite"))
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    source = fetch(workdir)
    stock = run(source, workdir, patched=False)
    patched = run(source, workdir, patched=True)
    differences = compare(stock, patched)
    counts = dict(sorted(Counter(stock.values()).items()))
    print(f"moto {PATCHED_VERSION} ({', '.join(SUITES)}): {len(stock)} tests, stock outcomes {counts}")
    if differences:
        print(f"{len(differences)} test(s) differ with the patches:")
        for line in differences:
            print(f"  {line}")
        return 1
    print("every test has the same outcome with and without orderflow's patches")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
