"""Test-and-iteration knobs of the local stack: they replace the template's values only where it has one."""

from __future__ import annotations

from typer.testing import CliRunner

from orderflow_cli.main import app
from orderflow_local.stack import LocalStack, StackOptions


def test_a_batching_window_override_replaces_the_templates_window_but_never_adds_one() -> None:
    overridden = LocalStack(StackOptions(batching_window=1))
    assert overridden._batching_window(5) == 1
    assert overridden._batching_window(0) == 0  # a FIFO mapping (AWS allows no window there) keeps none
    assert LocalStack(StackOptions())._batching_window(5) == 5  # by default, the template's


def test_up_takes_a_batching_window_only_in_aws_range() -> None:
    for bad in ("-1", "301", "1.5"):
        result = CliRunner().invoke(app, ["up", "--batching-window", bad], prog_name="orderflow")
        assert result.exit_code == 2, result.output
        assert "--batching-window" in result.stderr
