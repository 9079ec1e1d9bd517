"""What the `orderflow` command needs from its package, installed without the repository."""

from __future__ import annotations

import json


def test_the_cli_ships_the_tutorials_sample_order() -> None:
    # `orderflow send` with no argument must work from an installed package, without tests/.
    from pathlib import Path

    from orderflow_cli import send as cli
    from orderflow_cli.send import SEED_ORDER

    assert Path(cli.__file__).parent in SEED_ORDER.parents
    # the tutorial's order, with an address for the Notifier to e-mail (`orderflow mail` after `orderflow send`)
    sample = json.loads(SEED_ORDER.read_text())
    assert sample.pop("customerEmail") == "jane.doe@example.com"
    assert sample == json.loads((Path(__file__).parents[1] / "events" / "seed_order.json").read_text())


# Every module the command imports at start-up must come from a distribution that
# `pip install orderflow` installs: the project's own dependencies and what they require.
_BLOCK_DEV_ONLY = """
import importlib.abc, importlib.metadata, json, sys
allowed = set(json.loads(sys.argv[1]))
owners = importlib.metadata.packages_distributions()

class DevOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in sys.stdlib_module_names or top.startswith("_") or top.startswith("orderflow"):
            return None
        if not {d.lower().replace("_", "-") for d in owners.get(top, [])} & allowed:
            raise ImportError(f"{top} is not installed by `pip install orderflow`")
        return None

sys.meta_path.insert(0, DevOnly())
sys.argv = ["orderflow", *sys.argv[2:]]
from orderflow_cli.main import main
main()
"""


def _installed_closure() -> set[str]:
    """The distributions `pip install orderflow` brings: its dependencies, recursively."""
    import importlib.metadata
    import tomllib
    from pathlib import Path

    from packaging.requirements import Requirement

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    pending = [Requirement(r) for r in pyproject["project"]["dependencies"]]
    seen: set[str] = set()
    while pending:
        requirement = pending.pop()
        current = requirement.name.lower().replace("_", "-")
        if current in seen:
            continue
        seen.add(current)
        for extra in ("", *requirement.extras):
            for text in importlib.metadata.requires(current) or []:
                nested = Requirement(text)
                if nested.marker is None or nested.marker.evaluate({"extra": extra}):
                    pending.append(nested)
    return seen


def test_the_command_runs_with_only_the_packages_pip_install_orderflow_brings() -> None:
    import json
    import subprocess
    import sys

    allowed = _installed_closure()
    assert {"typer", "rich"} <= allowed
    for arguments in (["--help"], ["dlq", "--help"]):
        result = subprocess.run(
            [sys.executable, "-c", _BLOCK_DEV_ONLY, json.dumps(sorted(allowed)), *arguments],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert "Usage" in result.stdout
