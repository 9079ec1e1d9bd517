"""The gates on the template: cdk-nag (at synthesis), cfn-lint and checkov, every stage and topology."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aws_cdk import aws_iam as iam
from infra.app import build_app

if TYPE_CHECKING:
    from tests.infra.conftest import Synthesized

CHECKOV = Path(sys.prefix) / "checkov" / "bin" / "checkov"


def _report(stack: Synthesized) -> dict[str, object]:
    return json.loads((stack.path.parent / "validation-report.json").read_text())  # type: ignore[no-any-return]


def test_cdk_nag_packs_ran_and_found_nothing_unacknowledged(any_stack: Synthesized) -> None:
    reports = {report["pluginName"]: report for report in _report(any_stack)["pluginReports"]}  # type: ignore[attr-defined]
    assert set(reports) == {"AwsSolutions", "Serverless"}
    for report in reports.values():
        assert report["conclusion"] == "success"
        assert report["violations"] == []


def test_every_acknowledgement_names_its_rule_and_a_specific_reason(any_stack: Synthesized) -> None:
    for report in _report(any_stack)["pluginReports"]:  # type: ignore[attr-defined]
        for suppressed in report["suppressedViolations"]:
            assert suppressed["acknowledgedId"].endswith(suppressed["ruleName"])
            assert len(suppressed["reason"]) >= 40


def test_cdk_nag_fails_synthesis_on_an_unacknowledged_finding(tmp_path: Path) -> None:
    # Given the stack plus a role with an AWS-managed policy (AwsSolutions-IAM4)
    app, stack = build_app(context={"stage": "dev"}, outdir=str(tmp_path))
    iam.Role(
        stack,
        "CarelessRole",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("AdministratorAccess")],
    )
    # Then synthesis refuses it
    with pytest.raises(RuntimeError, match=r"(?s)ValidationFailed: ERROR .*AwsSolutions-IAM4"):
        app.synth()


def test_cfn_lint_finds_no_error_or_warning(any_stack: Synthesized) -> None:
    cfn_lint = shutil.which("cfn-lint", path=str(Path(sys.executable).parent))
    assert cfn_lint, "cfn-lint is missing: run `make setup`"
    result = subprocess.run([cfn_lint, str(any_stack.path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_finds_no_failed_check_without_a_written_reason(any_stack: Synthesized) -> None:
    assert CHECKOV.exists(), f"{CHECKOV} is missing: run `make setup` (checkov has a venv of its own)"
    result = subprocess.run(
        [str(CHECKOV), "-f", str(any_stack.path), "--framework", "cloudformation", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(result.stdout)
    failed = [(check["check_id"], check["resource"]) for check in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 30
    for skipped in report["results"]["skipped_checks"]:
        assert len(skipped["check_result"]["suppress_comment"]) >= 40
