"""`orderflow demo` as it runs: the DLQ alarm it sets off on purpose is said to be expected, and it
ends with what to try next."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest

from orderflow_cli.common import OutputConsole
from orderflow_cli.demo import EXPECTED_DLQ_ALARM, NEXT_STEPS, run_demo

if TYPE_CHECKING:
    from orderflow_local.stack import LocalStack

pytestmark = pytest.mark.timeout(300)


def test_the_demo_says_its_dlq_alarm_is_expected_and_what_to_try_next() -> None:
    # Given the demo's traffic, malformed messages included (seed 3 has 3 among 40)
    output = io.StringIO()
    stacks: list[LocalStack] = []

    def start(stack: LocalStack) -> LocalStack:
        stacks.append(stack)
        return stack.start()

    # When it runs
    ok = run_demo(OutputConsole(file=output, highlight=False), orders=40, seed=3, port=0, timeout=120, start=start)
    # Then it passes, and says before sending that the rejections and the DLQ alarm are on purpose
    lines = output.getvalue().splitlines()
    assert ok, output.getvalue()
    [explained] = [line for line in lines if line.startswith("The traffic has mistakes on purpose")]
    assert "(3 malformed messages)" in explained
    assert explained.endswith("so the DLQ alarm orderflow-DlqNotEmpty goes to ALARM. That is expected.")
    # and the alarm's OK -> ALARM line, when it comes, is followed by why it is expected
    [stack] = stacks
    assert ("orderflow-DlqNotEmpty", "OK") in {(name, old) for name, old, _ in stack.alarm_changes}
    [alarm] = [n for n, line in enumerate(lines) if line.startswith("alarm orderflow-DlqNotEmpty: OK -> ALARM")]
    assert lines.index(explained) < alarm
    assert lines[alarm + 1].strip() == EXPECTED_DLQ_ALARM
    assert [line.strip() for line in lines].count(EXPECTED_DLQ_ALARM) == 1  # under that line only
    # and it ends with the next steps, each command on a line of its own
    nexts = lines[next(n for n, line in enumerate(lines) if line.startswith("Next: ")) :]
    for command, _ in NEXT_STEPS:
        assert any(line.strip().startswith(command) for line in nexts), command
