"""Hot reload: editing the function's code while the local stack runs."""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from orderflow_local.lambda_runtime.reload import Watcher, handler_sources
from orderflow_local.stack import LocalStack, StackOptions
from tests.support import wait_until

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.timeout(300)

HANDLER = """
import json, os, time
VERSION = {version}

def handle(event, context):
    for record in event["Records"]:
        body = json.loads(record["body"])
        if body.get("sleep"):
            with open(body["marker"], "a"):
                pass
            time.sleep(body["sleep"])
        with open(os.environ["RELOAD_JOURNAL"], "a") as journal:
            journal.write(json.dumps({{"id": body["id"], "version": VERSION, "pid": os.getpid()}}) + "\\n")
    return {{"batchItemFailures": []}}
"""


def _write(path: Path, version: int) -> None:
    path.write_text(HANDLER.format(version=version))


def _entries(journal: Path) -> list[dict[str, Any]]:
    if not journal.exists():
        return []
    return [json.loads(line) for line in journal.read_text().splitlines() if line.endswith("}")]


def test_an_edit_takes_effect_without_a_restart_and_no_batch_is_lost_or_run_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = f"reload_handler_{uuid.uuid4().hex[:8]}"
    source = tmp_path / f"{module}.py"
    _write(source, 1)
    monkeypatch.syspath_prepend(str(tmp_path))  # spawned environments inherit sys.path
    journal = tmp_path / "journal.jsonl"
    messages: list[str] = []
    options = StackOptions(
        port=0, handler=f"{module}:handle", reload=True, function_timeout=20, visibility_timeout=130, batching_window=1,
        function_environment={"RELOAD_JOURNAL": str(journal)}, stack_sources=(tmp_path / "infra",),
    )  # fmt: skip
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "stack.py").write_text("# the stack\n")
    with LocalStack(options, progress=messages.append) as stack:
        # --handler's module is the order processor's code; PaymentProcessor and Notifier keep the stack's
        # (one package, watched once)
        payment_code = handler_sources("orderflow.payment_handler.lambda_handler")
        assert handler_sources("orderflow.notifier_handler.lambda_handler") == payment_code
        assert stack.watched == sorted([source, *payment_code])
        sqs, url = stack.emulator.sqs(), stack.outputs["QueueUrl"]
        [orders] = [mapping for mapping in stack.mappings if mapping.config.queue_url == url]
        [pool] = [pool for pool in stack.pools if pool.config.name == "OrderProcessor"]
        [payments] = [pool for pool in stack.pools if pool.config.name == "PaymentProcessor"]
        [notifier] = [pool for pool in stack.pools if pool.config.name == "Notifier"]
        payments_generation, notifier_generation = payments.generation, notifier.generation
        # Given a warm environment running version 1, busy with a slow batch
        marker = tmp_path / "in-flight"
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"id": "slow", "sleep": 4, "marker": str(marker)}))
        wait_until(marker.exists, "the slow batch to start")
        # When the code is edited while that batch runs
        _write(source, 2)
        wait_until(lambda: stack.reloads == 1, "the edit to be noticed", timeout=10)
        # Then the batch in flight finishes once, on the code it started with
        [slow] = wait_until(lambda: _entries(journal), "the slow batch to finish")
        assert slow == {"id": "slow", "version": 1, "pid": slow["pid"]}
        # and the next message runs the new code, in a new environment (a cold start)
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"id": "after"}))
        after = wait_until(lambda: [e for e in _entries(journal) if e["id"] == "after"], "the next batch")
        assert after[0]["version"] == 2
        assert after[0]["pid"] != slow["pid"]
        stats = orders.stats
        wait_until(lambda: stats.deleted == 2, "both messages deleted")
        assert stats.cold_starts == 2
        assert pool.size() == 1  # the old environment is gone
        # and the functions whose code did not change keep their environments
        assert payments.generation == payments_generation
        assert notifier.generation == notifier_generation
        # A change to the stack is reported, not applied
        (tmp_path / "infra" / "stack.py").write_text("# the stack, changed\n")
        wait_until(lambda: any("the stack changed" in m for m in messages), "the stack change to be reported", 10)
        time.sleep(2)
        entries = _entries(journal)
    assert sorted(entry["id"] for entry in entries) == ["after", "slow"]  # each exactly once
    assert any("code changed" in message and "cold starts" in message for message in messages)
    assert any("restart `orderflow up` to apply it" in message for message in messages)
    assert stack.reloads == 1  # the stack change did not retire the environments


def test_without_reload_nothing_is_watched(tmp_path: Path) -> None:
    with LocalStack(StackOptions(port=0, reload=False)) as stack:
        assert stack.watched == []


def test_the_stacks_function_code_is_its_package() -> None:
    from pathlib import Path

    import orderflow

    assert handler_sources("orderflow.handler.lambda_handler") == [Path(orderflow.__file__).parent]
    assert [path.name for path in handler_sources("tests.integration.handlers:scripted")] == ["tests"]


def test_the_watcher_sees_added_changed_and_removed_files(tmp_path: Path) -> None:
    seen: list[list[Path]] = []
    (tmp_path / "a.py").write_text("a = 1\n")
    watcher = Watcher([tmp_path], seen.append, interval=0.05).start()
    try:
        (tmp_path / "b.py").write_text("b = 1\n")
        wait_until(lambda: seen, "an added file")
        (tmp_path / "a.py").write_text("a = 22\n")
        wait_until(lambda: len(seen) >= 2, "a changed file")
        (tmp_path / "b.py").unlink()
        wait_until(lambda: len(seen) >= 3, "a removed file")
        (tmp_path / "notes.txt").write_text("not code\n")
        time.sleep(0.3)
    finally:
        watcher.stop()
    assert [[path.name for path in change] for change in seen] == [["b.py"], ["a.py"], ["b.py"]]


def test_a_save_seen_half_way_is_one_change_not_two(tmp_path: Path) -> None:
    """An editor's save is often two writes (truncate, then write): a scan that falls between them
    must not make two reloads (the second retiring environments the first just started)."""
    source = tmp_path / "handler.py"
    source.write_text("version = 1\n")
    before = source.stat()
    half_way = {source: (before.st_mtime_ns + 1, 0)}  # truncated, not yet written
    saved = {source: (before.st_mtime_ns + 2, 12)}

    class Scripted(Watcher):
        scans = iter([half_way, saved, saved])

        def _scan(self) -> dict[Path, tuple[int, int]]:
            if not hasattr(self, "_seen"):  # the first scan, in __init__: the file as it was
                return {source: (before.st_mtime_ns, before.st_size)}
            return next(self.scans, saved)

    seen: list[list[Path]] = []
    watcher = Scripted([source], seen.append, interval=0.02).start()
    try:
        wait_until(lambda: seen, "the save")
        time.sleep(0.2)
    finally:
        watcher.stop()
    assert seen == [[source]]
