"""No dead code ships: every function of the function's asset has a caller outside the tests,
and no module keeps a private global nothing reads."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).parents[2] / "src"
#: The function's asset (what Lambda runs) is this package.
ASSET = SRC / "orderflow"
#: Called by Lambda, not by our code.
ENTRY_POINTS = {"lambda_handler"}


def _modules(root: Path) -> dict[Path, str]:
    return {path: path.read_text(encoding="utf-8") for path in sorted(root.rglob("*.py"))}


def test_every_function_the_asset_ships_is_called_outside_the_tests() -> None:
    """A helper only tests call is test code: it belongs under tests/, not in what Lambda loads.
    (A caller in the CLI or the emulator counts: they share the domain's rules.)"""
    # re-exports in a package's __init__ are not callers
    code = "\n".join(text for path, text in _modules(SRC).items() if path.name != "__init__.py")
    uncalled = []
    for path, text in _modules(ASSET).items():
        for node in ast.parse(text).body:
            if not isinstance(node, ast.FunctionDef) or node.name in ENTRY_POINTS:
                continue
            if len(re.findall(rf"\b{re.escape(node.name)}\b", code)) < 2:  # its definition only
                uncalled.append(f"{path.relative_to(SRC)}: {node.name}")
    assert uncalled == []


def test_no_module_keeps_a_private_global_nothing_reads() -> None:
    unread = []
    for path, text in _modules(SRC).items():
        tree = ast.parse(text)
        assigned = [
            target.id
            for node in tree.body
            if isinstance(node, ast.Assign | ast.AnnAssign)
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(target, ast.Name) and target.id.startswith("_") and not target.id.startswith("__")
        ]
        read = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
        unread += [f"{path.relative_to(SRC)}: {name}" for name in assigned if name not in read]
    assert unread == []
