"""The template is synthesized once however many callers ask at once, and never seen half-written."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest

from orderflow_local.stack.synthesis import ensure_template
from orderflow_local.stack.template import TemplateError

if TYPE_CHECKING:
    from pathlib import Path

# Stands in for the CDK app: counts its runs, and writes its template in two halves.
SLOW_APP = """
import os, pathlib, time
out = pathlib.Path(os.environ["CDK_OUTDIR"])
with open("runs.log", "a") as runs:
    runs.write("run\\n")
(out / "manifest.json").write_text("{}")
template = out / "Stack.template.json"
template.write_text('{"Resources": ')
time.sleep(0.5)
with template.open("a") as rest:
    rest.write("{}}")
"""


def _app(root: Path, source: str) -> Path:
    (root / "app.py").write_text(source)
    return root / "cdk.out" / "Stack.template.json"


def test_callers_at_once_synthesize_once_and_each_gets_the_whole_template(tmp_path: Path) -> None:
    path = _app(tmp_path, SLOW_APP)
    seen: list[str] = []
    results: list[Path] = []
    done = threading.Event()

    def watch() -> None:  # whatever appears at the path is already whole
        while not done.wait(0.01):
            if path.exists():
                seen.append(path.read_text())

    def call() -> None:
        results.append(ensure_template(path, root=tmp_path, progress=lambda _: None))

    watcher = threading.Thread(target=watch)
    callers = [threading.Thread(target=call) for _ in range(3)]
    for thread in (watcher, *callers):
        thread.start()
    for thread in callers:
        thread.join(timeout=60)
    done.set()
    watcher.join(timeout=5)
    assert results == [path] * 3
    assert (tmp_path / "runs.log").read_text() == "run\n"
    assert path.read_text() == '{"Resources": {}}'
    assert (path.parent / "manifest.json").exists()
    assert set(seen) <= {'{"Resources": {}}'}
    assert not list(path.parent.glob(".synth-*"))  # no staging folder left behind


def test_a_failed_synthesis_leaves_no_template_and_says_how_to_see_more(tmp_path: Path) -> None:
    path = _app(tmp_path, "import sys; sys.exit('boom: a construct failed')")
    with pytest.raises(TemplateError, match=r"python app.py.*\n.*boom"):
        ensure_template(path, root=tmp_path, progress=lambda _: None)
    assert not path.exists()
    assert not list(path.parent.glob(".synth-*"))
