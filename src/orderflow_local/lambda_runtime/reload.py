"""Hot reload for `orderflow up`: the function's code is picked up while the stack runs.

A :class:`Watcher` polls the modification times of files under some paths. On a change to
the function's code the local stack retires its execution environments (see
``EnvironmentPool.retire``): idle ones stop at once, busy ones finish their batch first,
so no batch is lost or run twice, and the next invocation starts a new environment that
imports the new code (a cold start, as after a deployment on AWS). A change to the stack
itself (``infra/``, ``cdk.json``, ``app.py``) is only reported: a restart applies it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.5
#: What a change to the stack means: files under these (relative to the project root).
STACK_SOURCES = ("infra", "cdk.json", "app.py")
_WATCHED_SUFFIXES = {".py", ".json"}


def handler_sources(handler: str) -> list[Path]:
    """Where the code of ``MODULE:FUNCTION`` (or ``MODULE.FUNCTION``) lives: its top-level package, or its file."""
    module = handler.partition(":")[0] if ":" in handler else handler.rpartition(".")[0]
    top = module.split(".")[0]
    spec = importlib.util.find_spec(top)
    if spec is None or (spec.origin is None and not spec.submodule_search_locations):
        return []
    if spec.submodule_search_locations:  # a package: every file under it
        return [Path(location) for location in spec.submodule_search_locations]
    return [Path(str(spec.origin))]


class Watcher:
    """Calls ``on_change`` with the changed files whenever a watched file is added, changed or removed."""

    def __init__(
        self, paths: Iterable[Path], on_change: Callable[[list[Path]], None], *, interval: float = POLL_INTERVAL
    ) -> None:
        self.paths = [path for path in paths if path.exists()]
        self._on_change = on_change
        self._interval = interval
        self._stop = threading.Event()
        self._seen = self._scan()
        self._thread = threading.Thread(target=self._run, name="reload-watcher", daemon=True)

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _scan(self) -> dict[Path, tuple[int, int]]:
        found: dict[Path, tuple[int, int]] = {}
        for root in self.paths:
            files = [root] if root.is_file() else root.rglob("*")
            for path in files:
                if path.suffix in _WATCHED_SUFFIXES and "__pycache__" not in path.parts:
                    try:
                        stat = path.stat()
                    except OSError:
                        continue  # removed while scanning
                    found[path] = (stat.st_mtime_ns, stat.st_size)
        return found

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            current = self._scan()
            if current == self._seen:
                continue
            # A save can take more than one write (an editor truncates, then writes): report the
            # change once two scans agree, as one change, not once per write seen half-way.
            while not self._stop.wait(self._interval):
                settled = self._scan()
                if settled == current:
                    break
                current = settled
            changed = sorted(
                path for path in set(current) | set(self._seen) if current.get(path) != self._seen.get(path)
            )
            self._seen = current
            if changed:
                try:
                    self._on_change(changed)
                except Exception:
                    log.exception("reacting to a change of %s failed", changed)


def forget_bytecode(paths: Iterable[Path]) -> None:
    """Remove the cached bytecode of changed sources, so a quick edit of the same size within the same
    second (invisible to the .pyc's mtime check) cannot be served from the stale cache."""
    for path in paths:
        if path.suffix == ".py":
            with contextlib.suppress(OSError, ValueError, NotImplementedError):
                Path(importlib.util.cache_from_source(str(path))).unlink(missing_ok=True)
