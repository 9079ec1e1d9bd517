"""A template that is not ours (issue #24): its stack's name in the names CloudFormation would generate,
its Python functions' code in their asset folders, a function that cannot run here (another runtime,
a missing asset) refused in one line naming it, what is skipped counted by type, and `orderflow up`'s
live line showing what such a stack has (tests/integration/test_foreign_template.py runs one)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from orderflow_cli.main import app
from orderflow_cli.up import _status_line
from orderflow_local.stack.deploy import DeployedStack
from orderflow_local.stack.local_stack import StackOptions, function_config
from orderflow_local.stack.template import (
    STACK_ID,
    TemplateError,
    load_template,
    skipped_summary,
    stack_name_of,
)

if TYPE_CHECKING:
    from pathlib import Path


def _function(handler: str = "intake.handler", runtime: str = "python3.12", asset: str | None = "asset.1") -> Any:
    resource: dict[str, Any] = {
        "Type": "AWS::Lambda::Function",
        "Properties": {"Handler": handler, "Runtime": runtime, "Role": {"Fn::GetAtt": ["IntakeRole", "Arn"]}},
    }
    if asset is not None:
        resource["Metadata"] = {"aws:cdk:path": "Shop/Intake/Resource", "aws:asset:path": asset}
    return resource


def _assembly(folder: Path, resources: dict[str, Any], *, stack: str = "Shop", **artifact: Any) -> Path:
    """A cloud assembly as `cdk synth` leaves it: the template, its manifest and the assets named."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stack}.template.json"
    path.write_text(json.dumps({"Resources": resources, "Outputs": {"Stack": {"Value": {"Ref": "AWS::StackName"}}}}))
    properties = {"templateFile": path.name, **artifact}
    manifest = {"artifacts": {stack: {"type": "aws:cloudformation:stack", "properties": properties}}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    for resource in resources.values():
        asset = resource.get("Metadata", {}).get("aws:asset:path")
        if asset:
            (folder / asset).mkdir(exist_ok=True)
    return path


SHOP = {
    "Orders": {"Type": "AWS::SQS::Queue", "Properties": {}},
    "OrdersFifo": {"Type": "AWS::SQS::Queue", "Properties": {"FifoQueue": True}},
    "Named": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "given"}},
    "Shipments": {
        "Type": "AWS::DynamoDB::Table",
        "Properties": {"KeySchema": [], "AttributeDefinitions": [], "BillingMode": "PAY_PER_REQUEST"},
    },
    "Alerts": {"Type": "AWS::SNS::Topic", "Properties": {}},
    "Routed": {"Type": "AWS::Events::Rule", "Properties": {}},
    "IntakeRole": {"Type": "AWS::IAM::Role", "Properties": {}},
    "Intake": _function(),
    "KeyA": {"Type": "AWS::KMS::Key", "Properties": {}},
    "KeyB": {"Type": "AWS::KMS::Key", "Properties": {}},
    "Board": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {}},
    "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {}},
}


def test_generated_names_are_the_templates_stacks(tmp_path: Path) -> None:
    spec = load_template(_assembly(tmp_path / "cdk.out", SHOP))
    assert spec.stack_name == "Shop"
    assert {key: queue.name for key, queue in spec.queues.items()} == {
        "Orders": "Shop-Orders",
        "OrdersFifo": "Shop-OrdersFifo.fifo",  # a FIFO queue's name ends in .fifo
        "Named": "given",
    }
    assert spec.tables["Shipments"].name == "Shop-Shipments"
    assert spec.topics["Alerts"].name == "Shop-Alerts"
    assert spec.rules["Routed"].name == "Shop-Routed"
    assert spec.roles["IntakeRole"].name == "Shop-IntakeRole"
    function = spec.functions["Intake"]
    assert (function.name, function.log_group) == ("Shop-Intake", "/aws/lambda/Shop-Intake")
    # AWS::StackName is the template's stack's too
    assert DeployedStack(spec).outputs() == {"Stack": "Shop"}


def test_the_manifests_stack_name_wins_over_the_artifact_id(tmp_path: Path) -> None:
    path = _assembly(tmp_path, {"Orders": SHOP["Orders"]}, stack="ShopDev", stackName="shop-dev")
    assert load_template(path).queues["Orders"].name == "shop-dev-Orders"


def test_a_template_out_of_its_assembly_is_named_by_its_construct_paths_else_as_ours(tmp_path: Path) -> None:
    moved = tmp_path / "mine.json"
    moved.write_text(
        json.dumps(
            {"Resources": {"Intake": _function(asset=None) | {"Metadata": {"aws:cdk:path": "Shop/Intake/Resource"}}}}
        )
    )
    assert stack_name_of(moved, json.loads(moved.read_text())) == "Shop"
    # a hand-written template, even one named <x>.template.json, keeps our stack's names
    written = tmp_path / "rules.template.json"
    written.write_text(json.dumps({"Resources": {"Orders": SHOP["Orders"]}}))
    spec = load_template(written)
    assert (spec.stack_name, spec.queues["Orders"].name) == (STACK_ID, f"{STACK_ID}-Orders")


def test_a_functions_code_is_its_asset_folder_on_its_environments_path(tmp_path: Path) -> None:
    path = _assembly(tmp_path / "cdk.out", {"IntakeRole": SHOP["IntakeRole"], "Intake": _function()})
    function = load_template(path).functions["Intake"]
    assert function.code_path == (tmp_path / "cdk.out" / "asset.1").resolve()
    deployed = DeployedStack(load_template(path))
    config = function_config(function, deployed, StackOptions(), emulator_environment={})
    assert config.environment["LAMBDA_TASK_ROOT"] == str(function.code_path)
    # --handler runs another module, found as our own stack's is: not from the asset
    other = function_config(function, deployed, StackOptions(handler="mine:handler"), emulator_environment={})
    assert "LAMBDA_TASK_ROOT" not in other.environment


def test_a_function_without_asset_metadata_is_found_as_ours_is(tmp_path: Path) -> None:
    path = _assembly(tmp_path, {"IntakeRole": SHOP["IntakeRole"], "Intake": _function(asset=None)})
    function = load_template(path).functions["Intake"]
    assert function.code_path is None
    config = function_config(function, DeployedStack(load_template(path)), StackOptions(), emulator_environment={})
    assert "LAMBDA_TASK_ROOT" not in config.environment


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (_function(runtime="nodejs20.x"), "Intake: runtime nodejs20.x cannot run locally: only python3.x"),
        (_function(runtime="python2.7"), "Intake: runtime python2.7 cannot run locally"),
        ({"Type": "AWS::Lambda::Function", "Properties": {"PackageType": "Image"}}, "Intake: runtime none (Pack"),
    ],
    ids=["node", "python2", "image"],
)
def test_a_function_that_is_not_python_3_is_refused_in_one_line_saying_docker(
    tmp_path: Path, function: dict[str, Any], expected: str
) -> None:
    path = _assembly(tmp_path, {"Intake": function})
    with pytest.raises(TemplateError) as raised:
        load_template(path)
    message = str(raised.value)
    assert message.startswith(expected)
    assert "Docker" in message
    assert "\n" not in message


def test_a_missing_asset_is_refused_in_one_line_naming_the_function_and_the_folder(tmp_path: Path) -> None:
    path = _assembly(tmp_path, {"Intake": _function(asset="asset.gone")})
    (tmp_path / "asset.gone").rmdir()
    with pytest.raises(TemplateError) as raised:
        load_template(path)
    message = str(raised.value)
    assert message.startswith(f"Intake: its code asset {(tmp_path / 'asset.gone').resolve()} is not there")
    assert "\n" not in message


def test_what_is_skipped_is_counted_by_type_with_why(tmp_path: Path) -> None:
    spec = load_template(_assembly(tmp_path, SHOP))
    assert skipped_summary(spec.not_emulated) == (
        "1 AWS::CloudWatch::Dashboard (nothing to draw locally), 2 AWS::KMS::Key (no local effect), "
        "1 AWS::S3::Bucket (not emulated)"
    )
    assert skipped_summary([]) == ""


def test_up_refuses_a_template_it_cannot_run_in_one_line_before_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _assembly(tmp_path / "cdk.out", {"Intake": _function(runtime="java21")})
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["up", "--template", str(path), "--port", "0"], prog_name="orderflow")
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: Intake: runtime java21 cannot run locally")


def test_a_missing_or_broken_foreign_template_says_cdk_synth_not_ours(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"Shop.template.json does not exist: run `cdk synth`$"):
        load_template(tmp_path / "Shop.template.json")
    (tmp_path / "Shop.template.json").write_text("{")
    with pytest.raises(TemplateError, match=r"is not valid JSON \(.*\)$"):
        load_template(tmp_path / "Shop.template.json")
    result = CliRunner().invoke(app, ["up", "--template", str(tmp_path / "gone.json")], prog_name="orderflow")
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_up_refuses_context_with_a_template(tmp_path: Path) -> None:
    (tmp_path / "x.template.json").write_text("{}")
    result = CliRunner().invoke(
        app, ["up", "--template", str(tmp_path / "x.template.json"), "-c", "fifo=true"], prog_name="orderflow"
    )
    assert result.exit_code == 2
    assert "--template runs a template as it is" in result.output


class _Clients:
    """SQS and DynamoDB as the live line reads them: each queue's counts, each table's items."""

    def __init__(self, queues: dict[str, tuple[int, int]], tables: dict[str, int]) -> None:
        self.queues, self.tables = queues, tables

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> Any:  # noqa: N803 - boto3's names
        waiting, in_flight = self.queues[QueueUrl]
        return {
            "Attributes": {
                "ApproximateNumberOfMessages": str(waiting),
                "ApproximateNumberOfMessagesNotVisible": str(in_flight),
            }
        }

    def describe_table(self, TableName: str) -> Any:  # noqa: N803
        return {"Table": {"ItemCount": self.tables[TableName]}}


def test_the_live_line_of_a_stack_without_our_outputs_counts_its_queues_and_tables() -> None:
    queues = {"A": SimpleNamespace(url="url-a"), "B": SimpleNamespace(url="url-b")}
    clients = _Clients({"url-a": (3, 1), "url-b": (2, 0)}, {"Shop-Shipments": 7})
    stats = SimpleNamespace(invocations=4, cold_starts=2, failed=1)
    stack = SimpleNamespace(
        outputs={"Stack": "Shop"},  # none of QueueUrl, DLQUrl, TableName
        deployed=SimpleNamespace(queues=queues, tables={"Shipments": "Shop-Shipments"}),
        mappings=[SimpleNamespace(stats=stats)],
        pipes=[],
        alarm_monitor=None,
        options=SimpleNamespace(chaos_rate=0.0),
    )
    line = _status_line(stack, clients, clients)
    assert line == "queued 5 in 2 queues | in flight 1 | stored 7 | invocations 4 | cold starts 2 | errors 1"
    stack.deployed.tables = {}
    assert _status_line(stack, clients, clients).startswith("queued 5 in 2 queues | in flight 1 | invocations 4")
