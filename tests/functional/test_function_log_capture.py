"""Each function's lines stay its own: the pools of a stack share one capture directory and each
counts its execution environments from 0, so two functions' first environments run side by side, and
each invocation must carry only what its own function wrote (its logs, its CloudWatch group, the
reasons `dlq list` finds there)."""

from __future__ import annotations

import sys
import textwrap
import uuid
from typing import TYPE_CHECKING

from orderflow_local.lambda_runtime.environment import EnvironmentPool, FunctionConfig

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

SOURCE = """\
import time

def handle(event, context):
    for number in range(5):
        print(f"{NAME} line {number}", flush=True)
        time.sleep(0.01)
    return None
"""


def test_two_functions_first_environments_keep_their_own_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    capture = tmp_path / "capture"
    capture.mkdir()
    pools, modules = [], []
    for name in ("PaymentProcessor", "Notifier"):
        module = f"fn_{uuid.uuid4().hex[:10]}"
        (tmp_path / f"{module}.py").write_text(f"NAME = {name!r}\n" + textwrap.dedent(SOURCE))
        modules.append(module)
        config = FunctionConfig(
            name=name, handler=f"{module}.handle", timeout=5, memory_size=128, environment={},
            capture_dir=str(capture),
        )  # fmt: skip
        pools.append(EnvironmentPool(config))
    try:
        for _ in range(3):  # each pool's environment 0, reused: what one wrote must never reach the other
            for pool in pools:
                invocation = pool.invoke({"Records": []})
                assert invocation.status == "ok", invocation.error
                written = [text for _, text in invocation.lines]
                assert written == [f"{pool.config.name} line {number}" for number in range(5)], written
    finally:
        for pool in pools:
            pool.shutdown()
        for module in modules:
            sys.modules.pop(module, None)
    assert len(list(capture.iterdir())) <= 2
