"""`orderflow up --template` runs a CDK app that is not ours (issue #24): tests/foreign_app, a shop
whose intake function puts each order from its queue on an EventBridge bus, whose rule routes it to
a shipping queue that a second function records shipments from. Synthesized once per run, as `cdk
synth` leaves it (the functions' code in asset folders under cdk.out), and started once, as a
person starts it: the banner lists what is skipped, the names are the shop's stack's, an order
sent goes all the way through, and the stop is clean."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from tests.support import free_port, wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

# One worker runs this module's tests, so its module-scoped stack starts once (make test: --dist loadgroup).
pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("test_foreign_template")]

BIN = Path(sys.executable).parent


@dataclass
class Running:
    """`orderflow up --template` running the shop: its process, its output so far, its endpoint."""

    process: subprocess.Popen[str]
    out: Path
    endpoint: str
    workdir: Path

    @property
    def output(self) -> str:
        return self.out.read_text()

    def client(self, service: str) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )


@pytest.fixture(scope="module")
def shop_template(run_dir: Path) -> Path:
    from tests.foreign_app.app import synthesized_once

    return synthesized_once(run_dir)


@pytest.fixture(scope="module")
def running(shop_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    workdir = tmp_path_factory.mktemp("foreign-up")
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    out = workdir / "up.out"
    port = free_port()
    with out.open("w") as sink:
        process = subprocess.Popen(
            [str(BIN / "orderflow"), "up", "--template", str(shop_template), "--port", str(port),
             "--log-file", str(workdir / "fn.log"), "--batching-window", "1"],
            stdout=sink, stderr=subprocess.STDOUT, text=True, env={**env, "COLUMNS": "200"}, cwd=workdir,
            start_new_session=True,  # its own process group: what it started can be ended with it
        )  # fmt: skip
    try:
        wait_until(lambda: "Press Ctrl-C to stop" in out.read_text() or process.poll() is not None, "startup", 120)
        assert process.poll() is None, out.read_text()
        yield Running(process, out, f"http://127.0.0.1:{port}", workdir)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:  # nothing left behind, and the failure says where it stood
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
                raise AssertionError(f"orderflow up did not stop within 60 s of SIGTERM:\n{out.read_text()}") from None


def _queue_url(running: Running, construct: str) -> str:
    sqs = running.client("sqs")
    [url] = sqs.list_queues(QueueNamePrefix=f"ShopStack-{construct}")["QueueUrls"]
    return str(url)


def test_the_banner_lists_what_is_skipped_by_type_with_counts(running: Running) -> None:
    assert (
        "Skipped (not run locally): 1 AWS::CloudWatch::Dashboard (nothing to draw locally), "
        "1 AWS::KMS::Key (no local effect), 2 AWS::SQS::QueuePolicy (resource policies are not enforced)"
    ) in running.output
    # our stack's commands are not suggested for another stack; no error was printed
    assert "orderflow send" not in running.output
    assert "error:" not in running.output


def test_generated_names_are_the_shops_stacks(running: Running, shop_template: Path) -> None:
    # CloudFormation names what the template does not: "<stack>-<logical id>-<suffix>"; locally, without the suffix
    resources = json.loads(shop_template.read_text())["Resources"]

    def of_type(kind: str) -> list[str]:
        return sorted(f"ShopStack-{key}" for key, value in resources.items() if value["Type"] == kind)

    sqs, events, iam = running.client("sqs"), running.client("events"), running.client("iam")
    queues = sorted(url.rsplit("/", 1)[1] for url in sqs.list_queues()["QueueUrls"])
    assert queues == of_type("AWS::SQS::Queue")
    [bus] = [bus["Name"] for bus in events.list_event_buses()["EventBuses"] if bus["Name"] != "default"]
    assert [rule["Name"] for rule in events.list_rules(EventBusName=bus)["Rules"]] == of_type("AWS::Events::Rule")
    assert sorted(role["RoleName"] for role in iam.list_roles()["Roles"]) == of_type("AWS::IAM::Role")
    assert running.client("dynamodb").list_tables()["TableNames"] == of_type("AWS::DynamoDB::Table")
    assert [pipe["Name"] for pipe in running.client("pipes").list_pipes()["Pipes"]] == of_type("AWS::Pipes::Pipe")
    assert "OrderProcessingStack" not in running.output


def test_an_order_goes_from_the_first_function_over_the_bus_to_the_second(running: Running) -> None:
    sqs, dynamodb = running.client("sqs"), running.client("dynamodb")
    sqs.send_message(
        QueueUrl=_queue_url(running, "OrdersA"), MessageBody=json.dumps({"orderId": "SHOP-1", "items": ["a", "b"]})
    )
    [table] = dynamodb.list_tables()["TableNames"]

    def shipped() -> Any:
        return dynamodb.get_item(TableName=table, Key={"orderId": {"S": "SHOP-1"}}).get("Item")

    item = wait_until(shipped, "the shipper to record SHOP-1", 60)
    # the shipper received the event the intake put on the bus, as the rule's SQS target delivers it
    assert item == {"orderId": {"S": "SHOP-1"}, "items": {"N": "2"}, "source": {"S": "shop.intake"}}
    # each function's lines are in its log group: the shipper's own, the intake's Lambda default
    logs = running.client("logs")

    def logged(group: str, text: str) -> bool:
        events = logs.filter_log_events(logGroupName=group)["events"]
        return any(text in event["message"] for event in events)

    groups = [group["logGroupName"] for group in logs.describe_log_groups()["logGroups"]]
    [intake_group] = [group for group in groups if group.startswith("/aws/lambda/ShopStack-Intake")]
    wait_until(lambda: logged(intake_group, "accepted SHOP-1"), "the intake's log line", 30)
    wait_until(lambda: logged("/shop/shipper", "shipping SHOP-1"), "the shipper's log line", 30)


def test_the_pipe_publishes_each_new_shipment_from_the_tables_stream_to_the_bus(running: Running) -> None:
    sqs, dynamodb = running.client("sqs"), running.client("dynamodb")
    [table] = dynamodb.list_tables()["TableNames"]
    dynamodb.put_item(TableName=table, Item={"orderId": {"S": "SHOP-PIPE"}, "items": {"N": "1"}})
    notifications = _queue_url(running, "Notifications")
    seen: list[dict[str, Any]] = []  # the shipments other tests recorded are published too

    def published() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=notifications, WaitTimeSeconds=1).get("Messages", [])
        seen.extend(json.loads(message["Body"]) for message in messages)
        return [event for event in seen if event["detail"]["dynamodb"]["Keys"] == {"orderId": {"S": "SHOP-PIPE"}}]

    [event] = wait_until(published, "the pipe's event on the notifications queue", 60)
    assert (event["source"], event["detail-type"]) == ("shop.shipments", "ShipmentRecorded")
    assert event["detail"]["eventName"] == "INSERT"
    assert event["detail"]["dynamodb"]["NewImage"] == {"orderId": {"S": "SHOP-PIPE"}, "items": {"N": "1"}}


def test_orderflow_invoke_runs_a_function_from_its_asset_folder(running: Running, shop_template: Path) -> None:
    resources = json.loads(shop_template.read_text())["Resources"]
    [shipper] = [key for key, value in resources.items() if value["Type"] == "AWS::Lambda::Function" and
                 value["Properties"]["Handler"] == "shipper.handler"]  # fmt: skip
    accepted = {"source": "shop.intake", "detail-type": "OrderAccepted", "detail": {"orderId": "SHOP-INVOKED"}}
    event = running.workdir / "event.json"
    event.write_text(json.dumps({"Records": [{"messageId": "m-1", "body": json.dumps(accepted)}]}))
    # in the directory up runs in, where it recorded its functions (.orderflow/stacks/)
    result = subprocess.run(
        [str(BIN / "orderflow"), "invoke", shipper, "--port", running.endpoint.rsplit(":", 1)[1], "-e", str(event)],
        cwd=running.workdir, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "shipping SHOP-INVOKED" in result.stderr
    dynamodb = running.client("dynamodb")
    [table] = dynamodb.list_tables()["TableNames"]
    item = dynamodb.get_item(TableName=table, Key={"orderId": {"S": "SHOP-INVOKED"}})["Item"]
    assert item["source"] == {"S": "shop.intake"}


def test_the_stack_runs_its_live_line_and_stops_cleanly(running: Running) -> None:
    # the live line has run since startup, though the template has none of our outputs (QueueUrl, DLQUrl,
    # TableName): a failure there is an `error:` line and exit status 1 (its text: tests/unit/test_template_foreign.py)
    assert running.process.poll() is None, running.output
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=60) == 143, running.output
    output = running.output
    assert "Stopped." in output
    assert "error:" not in output
