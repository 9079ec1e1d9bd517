"""The demo's last words: what to try next, each `orderflow` command one that the CLI takes as written."""

from __future__ import annotations

import io
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orderflow_cli.common import OutputConsole
from orderflow_cli.demo import NEXT_STEPS, _next_steps
from orderflow_cli.main import app


def _printed(monkeypatch: pytest.MonkeyPatch, path: str) -> list[str]:
    monkeypatch.setenv("PATH", path)
    output = io.StringIO()
    _next_steps(OutputConsole(file=output, highlight=False))
    return output.getvalue().splitlines()


@pytest.mark.parametrize("command", [command for command, _ in NEXT_STEPS if "orderflow " in command])
def test_each_orderflow_command_it_suggests_is_one_the_cli_takes(command: str) -> None:
    words = shlex.split(command.rpartition("| ")[2])  # the command a pipe feeds, if any
    assert words[0] == "orderflow"
    # --help after the arguments: the command's options and arguments are parsed first, and refused if unknown
    result = CliRunner().invoke(app, [*words[1:], "--help"], prog_name="orderflow")
    assert result.exit_code == 0, result.output


def test_it_says_how_to_put_orderflow_on_path_when_it_is_not(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # `make demo` runs .venv/bin/orderflow, and .venv/bin is not on PATH
    lines = _printed(monkeypatch, str(tmp_path))
    assert lines[1] == "Next: keep the stack running and drive it yourself."
    source = lines[2].split("#")[0].split()
    assert source[0] == "source"
    assert Path(source[1]).name == "activate"
    assert Path(source[1]).is_file()
    assert "on PATH, in each shell" in lines[2]
    assert lines[3].strip().startswith("orderflow up ")


def test_it_needs_no_source_line_when_orderflow_is_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    found = tmp_path / "orderflow"
    found.write_text("#!/bin/sh\n")
    found.chmod(0o755)
    lines = _printed(monkeypatch, str(tmp_path))
    assert not [line for line in lines if line.strip().startswith("source ")]
    # each command in turn, its comment aligned after it
    assert [line.strip()[: len(command)] for line, (command, _) in zip(lines[2:], NEXT_STEPS, strict=True)] == [
        command for command, _ in NEXT_STEPS
    ]
    assert len({line.index("# ") for line, (_, comment) in zip(lines[2:], NEXT_STEPS, strict=True) if comment}) == 1
