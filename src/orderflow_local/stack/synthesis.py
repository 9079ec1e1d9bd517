"""Synthesize the CDK app into the template the local stack runs, when it is missing or stale.

One caller at a time per output folder (a lock beside it), into a staging folder of its own,
the template renamed into place last: two `orderflow up`, or pytest-xdist's workers, synthesize
once and never read half a template.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from orderflow_local.stack.template import STACK_ID, TemplateError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "cdk.out" / f"{STACK_ID}.template.json"
SYNTH_INPUTS = ("app.py", "cdk.json", "infra", "pyproject.toml")


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` across processes, held while the block runs (POSIX ``flock``)."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def template_for(context: dict[str, str] | None = None) -> Path:
    """Where the template for this CDK context is synthesized (``make synth``'s for no context).

    Each variant (``-c fifo=true -c fanout=true``, any stage) has a directory of its own
    under ``cdk.out/variants/``, so switching between them does not re-synthesize.
    """
    if not context:
        return TEMPLATE
    slug = "_".join(f"{key}-{value}" for key, value in sorted(context.items()))
    safe = "".join(char if char.isalnum() or char in "-_." else "-" for char in slug)
    return ROOT / "cdk.out" / "variants" / safe / f"{STACK_ID}.template.json"


def ensure_template(
    path: Path = TEMPLATE,
    *,
    root: Path = ROOT,
    context: dict[str, str] | None = None,
    progress: Callable[[str], None] = print,
) -> Path:
    """Return ``path``, synthesizing it (with ``context``) first when it is missing or older than its sources.

    Two callers at once (two `orderflow up`, or test workers) synthesize once: the first
    takes a lock beside the output folder and the other waits for it. The synthesis writes
    into a folder of its own, and the template is renamed into place last, so no reader
    ever sees a half-written one.
    """
    if path.exists() and not _stale(path, root):
        return path
    if not (root / "app.py").exists():
        raise TemplateError(f"{path} is missing and there is no app.py in {root} to synthesize it from")
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path.parent / ".synth.lock"):
        if path.exists() and not _stale(path, root):
            return path  # another caller synthesized it while this one waited
        _synthesize(path, root=root, context=context or {}, progress=progress)
    return path


def _synthesize(path: Path, *, root: Path, context: dict[str, str], progress: Callable[[str], None]) -> None:
    shown = "".join(f" -c {key}={value}" for key, value in sorted(context.items()))
    progress(f"Synthesizing the CDK app{shown} (the template is missing or older than infra/)...")
    staging = Path(tempfile.mkdtemp(prefix=".synth-", dir=path.parent))
    try:
        env = {**os.environ, "CDK_OUTDIR": str(staging)}
        env.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20,22")
        env.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
        arguments = [item for key, value in sorted(context.items()) for item in ("-c", f"{key}={value}")]
        result = subprocess.run(  # noqa: S603 - our interpreter, our app.py
            [sys.executable, "app.py", *arguments], cwd=root, env=env, capture_output=True, text=True, check=False
        )
        built = staging / path.name
        if result.returncode != 0 or not built.exists():
            tail = "\n".join(result.stderr.strip().splitlines()[-15:])
            raise TemplateError(
                f"synthesizing the stack{shown} failed (try `python app.py{shown}` to see everything):\n{tail}"
            )
        for item in sorted(staging.iterdir(), key=lambda entry: entry.name == path.name):  # the template last
            target = path.parent / item.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(item, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _stale(path: Path, root: Path) -> bool:
    built = path.stat().st_mtime
    for name in SYNTH_INPUTS:
        source = root / name
        files = [source] if source.is_file() else list(source.rglob("*.py")) if source.is_dir() else []
        if any(file.stat().st_mtime > built for file in files):
            return True
    return False
