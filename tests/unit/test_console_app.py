"""The console's app when the stack fails it: an AWS error, a dashboard it cannot draw, NaN in a
metric. Each is one line for the page, never a traceback or invalid JSON."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from botocore.exceptions import EndpointConnectionError
from starlette.testclient import TestClient

from orderflow_local.console.app import create_app
from orderflow_local.console.state import _dashboards_of

PORT = 43211
BASE = f"http://127.0.0.1:{PORT}"


class _State:
    """What the app calls on the console's state: each answer chosen by the test."""

    deployed = SimpleNamespace(spec=SimpleNamespace(stack_name="Shop"))
    stack = SimpleNamespace(endpoint="http://127.0.0.1:4566")

    def overview(self) -> dict[str, Any]:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:4566/\nsecond line")

    def live(self) -> dict[str, Any]:
        return {"at": 1, "nodes": {"Fn": {"duration": float("nan"), "max": float("inf")}}, "alarms": {}}

    dashboard = alarm_list = dead_letters = live


def client() -> TestClient:
    app = create_app(_State(), SimpleNamespace(), token="t", port=lambda: PORT)  # type: ignore[arg-type]
    return TestClient(app, base_url=BASE)


def test_an_aws_error_is_a_502_with_one_line() -> None:
    answer = client().get("/api/overview")
    assert answer.status_code == 502
    assert answer.json()["error"].startswith("Could not connect to the endpoint URL")
    assert "second line" not in answer.json()["error"]


def test_a_metric_that_is_not_a_number_is_sent_as_null() -> None:
    answer = client().get("/api/live")
    assert answer.status_code == 200
    assert answer.json()["nodes"]["Fn"] == {"duration": None, "max": None}


def test_a_dashboard_the_local_resolver_cannot_read_is_said_not_fatal() -> None:
    body = {"Fn::Join": ["", ['{"widgets": [', {"Fn::ImportValue": "OtherStack-Widgets"}, "]}"]]}
    resources = {"Board": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {"DashboardBody": body}}}
    deployed = SimpleNamespace(
        spec=SimpleNamespace(resources=resources), alarms=[], pseudo={"AWS::Region": "us-east-1"},
        lookup=lambda logical_id, attribute: logical_id,
    )  # fmt: skip
    boards, problem = _dashboards_of(deployed)  # type: ignore[arg-type]
    assert boards == []
    assert problem is not None
    assert problem.startswith("the template's dashboard cannot be drawn locally")
