"""The shape of src/: orderflow_local's packages and orderflow_cli's modules import one way, and the function
imports neither of the others.

Read from the source with ``ast`` (nothing is imported), every import counts: at the top of a
module or inside a function. Imports under ``if TYPE_CHECKING:`` count too, but may also use
:data:`TYPE_ONLY` (a type named in an annotation, not a dependency when the code runs).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parents[2] / "src"
LOCAL = SRC / "orderflow_local"

#: What each part of orderflow_local may import from the others (itself always). The shared
#: helpers (processes, periodic, event_patterns) stay top-level modules; the embedded payment provider
#: (payments) stands alone; tools may import anything.
ALLOWED: dict[str, set[str]] = {
    "processes": set(),
    "periodic": set(),
    "event_patterns": set(),
    "payments": set(),
    "emulator": {"processes", "event_patterns"},
    "cloudwatch": {"periodic"},
    "lambda_runtime": {"cloudwatch", "processes", "event_patterns"},
    "stack": {"emulator", "lambda_runtime", "cloudwatch", "periodic", "processes", "payments"},
    "ops": {"stack", "emulator", "lambda_runtime", "cloudwatch", "periodic", "processes", "payments"},
    "tools": {
        "emulator",
        "cloudwatch",
        "lambda_runtime",
        "stack",
        "ops",
        "periodic",
        "processes",
        "payments",
        "console",
    },
    # the console reads a running stack and acts through ops, as the CLI does
    "console": {"emulator", "cloudwatch", "lambda_runtime", "stack", "ops", "payments"},
}
#: Imports allowed only under TYPE_CHECKING: cloudwatch's metrics and logs name the invocation
#: they record (lambda_runtime.environment.Invocation).
TYPE_ONLY: dict[str, set[str]] = {"cloudwatch": {"lambda_runtime"}}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _under_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> list[tuple[str, bool]]:
    """Every module ``path`` imports (absolute; ``from P import name`` counts as ``P.name``), and
    whether the import is under ``if TYPE_CHECKING:``."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, typing_only: bool) -> None:
        if isinstance(node, ast.If) and _under_type_checking(node):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, typing_only)
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, typing_only) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.extend((f"{base}.{alias.name}", typing_only) for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child, typing_only)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def _part(dotted: str) -> str | None:
    """The part of orderflow_local a dotted name belongs to (None: outside orderflow_local)."""
    parts = dotted.split(".")
    return parts[1] if parts[0] == "orderflow_local" and len(parts) > 1 else None


def test_orderflow_local_holds_only_its_packages_and_shared_helpers() -> None:
    found = {path.stem if path.is_file() else path.name for path in LOCAL.iterdir() if path.name != "__pycache__"}
    assert found == {"__init__", *ALLOWED}


def test_orderflow_local_packages_import_one_way() -> None:
    wrong = []
    for path in sorted(LOCAL.rglob("*.py")):
        own = _part(_module_name(path))  # None: orderflow_local/__init__.py, which imports none of them
        assert own is None or own in ALLOWED, f"{path.relative_to(SRC)} is in no known part of orderflow_local"
        for imported, typing_only in _imports(path):
            other = _part(imported)
            if other is None or other == own or other in ALLOWED.get(own or "", set()):
                continue
            if typing_only and other in TYPE_ONLY.get(own, set()):
                continue
            wrong.append(f"{path.relative_to(SRC)} imports {imported}")
    assert wrong == []


def test_the_function_and_the_emulator_do_not_import_the_cli_or_each_other() -> None:
    forbidden = {"orderflow": ("orderflow_local", "orderflow_cli"), "orderflow_local": ("orderflow_cli",)}
    wrong = [
        f"{path.relative_to(SRC)} imports {imported}"
        for package, banned in forbidden.items()
        for path in sorted((SRC / package).rglob("*.py"))
        for imported, _ in _imports(path)
        if imported.split(".")[0] in banned
    ]
    assert wrong == []


CLI = SRC / "orderflow_cli"
#: The command's modules: main assembles the command groups, each group imports only the shared
#: helpers (common: options, consoles, fail; aws: endpoints and clients), and those import no other.
CLI_SHARED = {"common", "aws"}
CLI_ENTRY = {"__init__", "__main__", "main"}


def test_the_cli_imports_one_way_main_then_command_groups_then_common_and_aws() -> None:
    wrong = []
    for path in sorted(CLI.glob("*.py")):
        for imported, _ in _imports(path):
            parts = imported.split(".")
            if parts[0] != "orderflow_cli" or len(parts) < 2 or parts[1] == path.stem:
                continue
            other = parts[1]
            if path.stem == "__main__":
                ok = other == "main"
            elif path.stem == "main":
                ok = other not in CLI_ENTRY
            elif path.stem in CLI_SHARED:
                ok = False
            else:  # a command group
                ok = other in CLI_SHARED
            if not ok:
                wrong.append(f"{path.relative_to(SRC)} imports {imported}")
    assert wrong == []
