"""`orderflow demo` as it runs: its summary, the DLQ alarm it sets off on purpose said to be
expected, and what to try next. (`orderflow demo` as a command: tests/unit/test_cli_commands.py.)"""

from __future__ import annotations

import dataclasses
import io
from typing import TYPE_CHECKING

import pytest

from orderflow_cli.common import OutputConsole
from orderflow_cli.demo import CANCEL_RATE, DECLINE_RATE, EXPECTED_DLQ_ALARM, NEXT_STEPS, run_demo
from orderflow_local.ops.traffic import plan_traffic

if TYPE_CHECKING:
    from orderflow_local.stack import LocalStack

pytestmark = pytest.mark.timeout(300)


def test_the_demo_says_its_dlq_alarm_is_expected_and_what_to_try_next() -> None:
    # Given the demo's traffic, malformed messages included (the same plan as the demo's: its run id
    # names the orders, it draws nothing)
    plan = plan_traffic(40, seed=3, cancel_rate=CANCEL_RATE, decline_rate=DECLINE_RATE)
    mistakes = [f"{plan.count(kind)} {kind}" for kind in ("malformed", "invalid") if plan.count(kind)]
    assert plan.count("malformed") > 0
    output = io.StringIO()
    stacks: list[LocalStack] = []

    def start(stack: LocalStack) -> LocalStack:
        # Alarm periods of 1 s, not 10: the DLQ alarm goes off well before a 40-order run drains
        # on any machine (with the template's 300 s / 30, a busy one could drain first).
        stack.options = dataclasses.replace(stack.options, alarm_period_scale=300)
        stacks.append(stack)
        return stack.start()

    # When it runs
    ok = run_demo(OutputConsole(file=output, highlight=False), orders=40, seed=3, port=0, timeout=120, start=start)
    # Then it passes, and says before sending that the rejections and the DLQ alarm are on purpose
    lines = output.getvalue().splitlines()
    assert ok, output.getvalue()
    # and its summary: the verdict, duplicates and cold starts, the pipeline's rate apart from the drain
    summary = output.getvalue()
    assert "nothing lost, nothing stored twice" in summary
    assert "duplicates skipped" in summary
    assert "cold starts" in summary
    [pipeline] = [line for line in lines if line.strip("│ ").startswith("pipeline")]
    assert "orders stored/s" in pipeline
    assert any(line.strip("│ ").startswith("drained") for line in lines)
    # and the payment service's: the provider's ledger checked against the orders, money charged
    assert "nothing lost, nothing stored twice, nothing charged twice" in summary
    [payments] = [line for line in lines if line.strip("│ ").startswith("payments")]
    assert " charged (" in payments
    assert any(line.strip("│ ").startswith("latency sent -> charged") for line in lines)
    # and the Notifier's: what SES sent checked against the ledger and the orders, each e-mail once
    assert "nothing charged twice, nothing e-mailed twice" in summary
    [mails] = [line for line in lines if line.strip("│ ").startswith("e-mails")]
    assert " confirmation" in mails
    assert any(line.strip("│ ").startswith("latency sent -> e-mailed") for line in lines)
    [explained] = [line for line in lines if line.startswith("The traffic has mistakes on purpose")]
    assert f"({' and '.join(mistakes)} messages)" in explained
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
