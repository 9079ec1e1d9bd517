"""What `orderflow up`'s banner tells people to export, exported as a shell does from the banner's own
lines: then the AWS CLI that `make setup` installs (v1), the SDK and `orderflow` reach the local stack,
for every service it has."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support import EVENTS, free_port, wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

# One worker runs this module's tests, so its module-scoped stack starts once (make test: --dist loadgroup).
pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("test_cli_endpoint")]

BIN = Path(sys.executable).parent


@dataclass
class Shell:
    """Another shell, as the banner sets it up: `orderflow up`'s output, and the environment its
    export lines leave."""

    banner: str
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=60, check=False)

    def aws(self, *args: str) -> Any:
        result = self.run("aws", "--output", "json", *args)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else None


def _exported(export_lines: list[str], home: Path) -> dict[str, str]:
    """The environment a shell has after running ``export_lines``, from a clean one: no AWS_*
    variable, a HOME without ~/.aws, and this venv's bin/ on PATH (where `make setup` puts the CLI)."""
    clean = {"HOME": str(home), "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "/usr/bin:/bin")])}
    script = "\n".join([*export_lines, "env -0"])
    shell = subprocess.run(["bash", "-c", script], env=clean, capture_output=True, text=True, timeout=30, check=True)
    return dict(entry.split("=", 1) for entry in shell.stdout.split("\0") if "=" in entry)


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shell]:
    workdir = tmp_path_factory.mktemp("up")
    # `orderflow up` as a person starts it, in a pipe 80 columns wide, with no AWS settings of its own
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    log = workdir / "up.out"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(BIN / "orderflow"), "up", "--port", str(free_port()), "--log-file", str(workdir / "fn.log"),
             "--batching-window", "1"],
            stdout=out, stderr=subprocess.STDOUT, text=True, env={**env, "COLUMNS": "80"}, cwd=workdir,
        )  # fmt: skip
    try:
        wait_until(lambda: "Press Ctrl-C to stop" in log.read_text() or process.poll() is not None, "startup", 120)
        assert process.poll() is None, log.read_text()
        banner = log.read_text()
        _, _, for_another_shell = banner.partition("\nIn another shell:\n")
        lines = [line.strip() for line in for_another_shell.split("\n\n", 1)[0].splitlines()]
        home = workdir / "home"
        home.mkdir()
        yield Shell(banner, _exported([line for line in lines if line.startswith("export ")], home))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def test_the_banner_exports_the_endpoint_the_region_a_key_pair_and_its_aws(shell: Shell) -> None:
    endpoint = shell.env["AWS_ENDPOINT_URL"]
    assert endpoint.startswith("http://127.0.0.1:")
    assert f"AWS endpoint {endpoint}" in shell.banner
    assert (shell.env["AWS_DEFAULT_REGION"], shell.env["AWS_ACCESS_KEY_ID"], shell.env["AWS_SECRET_ACCESS_KEY"]) == (
        "us-east-1", "local", "local",
    )  # fmt: skip
    # `aws` is the banner's wrapper, and behind it the AWS CLI v1 that `make setup` installs
    found = shutil.which("aws", path=shell.env["PATH"])
    assert found is not None
    assert found.endswith("/.orderflow/bin/aws")
    version = shell.run("aws", "--version")
    assert (version.stdout + version.stderr).startswith("aws-cli/1."), version


def test_the_aws_cli_reaches_every_service_of_the_stack_with_only_the_exports(shell: Shell) -> None:
    # SQS: AWS CLI v1 sends `aws sqs` in us-east-1 to https://queue.amazonaws.com/ without --endpoint-url
    queue_url = shell.aws("sqs", "get-queue-url", "--queue-name", "OrderCreatedQueue")["QueueUrl"]
    assert queue_url.startswith(shell.env["AWS_ENDPOINT_URL"])
    attributes = shell.aws("sqs", "get-queue-attributes", "--queue-url", queue_url, "--attribute-names", "All")
    assert attributes["Attributes"]["QueueArn"].endswith(":OrderCreatedQueue")
    own = shell.aws("sqs", "create-queue", "--queue-name", f"cli-endpoint-{time.monotonic_ns()}")["QueueUrl"]
    shell.aws("sqs", "send-message", "--queue-url", own, "--message-body", "hello from the AWS CLI")
    received = shell.aws("sqs", "receive-message", "--queue-url", own, "--wait-time-seconds", "5")
    assert [message["Body"] for message in received["Messages"]] == ["hello from the AWS CLI"]
    # DynamoDB, CloudWatch Logs, CloudWatch, SNS: the stack's own resources
    assert "Items" in shell.aws("dynamodb", "scan", "--table-name", "Orders")
    groups = shell.aws("logs", "describe-log-groups")["logGroups"]
    assert "/aws/lambda/OrderProcessor" in [group["logGroupName"] for group in groups]
    alarms = [alarm["AlarmName"] for alarm in shell.aws("cloudwatch", "describe-alarms")["MetricAlarms"]]
    assert alarms
    assert all(name.startswith("orderflow-") for name in alarms)
    assert shell.aws("sns", "list-topics")["Topics"]


def test_an_order_sent_with_the_aws_cli_is_read_back_by_orderflow_and_the_sdk(shell: Shell) -> None:
    import boto3

    queue_url = shell.aws("sqs", "get-queue-url", "--queue-name", "OrderCreatedQueue")["QueueUrl"]
    shell.aws(
        "sqs", "send-message", "--queue-url", queue_url, "--message-body", (EVENTS / "seed_order.json").read_text()
    )
    # the SDK, given what the banner exported
    dynamodb = boto3.client(
        "dynamodb", endpoint_url=shell.env["AWS_ENDPOINT_URL"], region_name=shell.env["AWS_DEFAULT_REGION"],
        aws_access_key_id=shell.env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=shell.env["AWS_SECRET_ACCESS_KEY"],
    )  # fmt: skip
    key = {"orderId": {"S": "ORD-20260420-001"}, "createdAt": {"S": "2026-04-20T14:30:00Z"}}
    wait_until(lambda: "Item" in dynamodb.get_item(TableName="Orders", Key=key), "the order stored", 60)
    # `orderflow`, as the banner suggests next
    got = shell.run("orderflow", "orders", "get", "ORD-20260420-001")
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)[0]["status"] == "CONFIRMED"
