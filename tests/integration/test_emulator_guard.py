"""The emulator answers its own clients only, not the web pages the developer's browser opens.

A page can send requests to 127.0.0.1 (a form POST to /moto-api/reset; a script's fetch() to any
action, as moto allows every origin and checks no signature; a name of its own resolving there,
DNS rebinding): those are refused and change nothing. SDKs and the AWS CLI keep working.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from orderflow_local.emulator import HOST, Emulator

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.timeout(120)

EVIL = "https://evil.example"


@pytest.fixture(scope="module", params=[False, True], ids=["in-process", "own-process"])
def aws(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """Both servers: werkzeug in this process, granian in the emulator's own process."""
    with Emulator(port=0, own_process=request.param) as running:
        yield running


@pytest.fixture
def queue_url(aws: Emulator) -> Iterator[str]:
    sqs = aws.sqs()
    url = sqs.create_queue(QueueName="guarded")["QueueUrl"]
    yield url
    sqs.delete_queue(QueueUrl=url)


def _send(aws: Emulator, method: str, path: str, headers: dict[str, str], body: str = "") -> tuple[int, str]:
    """One raw HTTP request, as a browser would send it (http.client leaves a given Host alone)."""
    connection = http.client.HTTPConnection(HOST, aws.port, timeout=10)
    try:
        connection.request(method, path, body=body.encode(), headers={"Host": f"{HOST}:{aws.port}", **headers})
        answer = connection.getresponse()
        return answer.status, answer.read().decode()
    finally:
        connection.close()


def _queues(aws: Emulator) -> list[str]:
    return aws.sqs().list_queues().get("QueueUrls", [])


def test_a_reset_from_another_sites_page_is_refused_and_changes_nothing(aws: Emulator, queue_url: str) -> None:
    status, body = _send(aws, "POST", "/moto-api/reset", {"Origin": EVIL})
    assert status == 403
    assert f"a web page at {EVIL} may not call the local AWS endpoint" in body
    assert queue_url in _queues(aws)


def test_a_script_on_another_sites_page_cannot_call_sqs(aws: Emulator, queue_url: str) -> None:
    """moto allows every origin (CORS) and checks no signature: a page's fetch() with a made-up
    Authorization header reaches any action. Its Origin gives it away."""
    sqs = aws.sqs()
    sqs.meta.events.register("before-send", _with_origin(EVIL))
    with pytest.raises(ClientError, match="AccessDenied"):
        sqs.delete_queue(QueueUrl=queue_url)
    assert queue_url in _queues(aws)


def test_a_request_addressed_to_another_name_is_refused_dns_rebinding(aws: Emulator, queue_url: str) -> None:
    """A page at evil.example, resolved to 127.0.0.1, is same-origin with itself: only its Host tells."""
    status, body = _send(aws, "POST", "/moto-api/reset", {"Host": f"evil.example:{aws.port}"})
    assert status == 403
    assert "Host 'evil.example:" in body
    assert queue_url in _queues(aws)


def test_a_cross_site_get_without_origin_is_refused(aws: Emulator, queue_url: str) -> None:
    """An <img>, a link or a frame sends a GET with no Origin; the browser marks it cross-site."""
    status, _ = _send(aws, "GET", "/moto-api/data.json", {"Sec-Fetch-Site": "cross-site"})
    assert status == 403


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_loopback_names_and_a_loopback_pages_origin_are_answered(aws: Emulator, queue_url: str, host: str) -> None:
    """A local console is served from 127.0.0.1: its requests carry that Origin, and go through."""
    headers = {
        "Host": f"{host}:{aws.port}",
        "Origin": f"http://{host}:{aws.port}",
        "Sec-Fetch-Site": "same-origin",
    }
    status, body = _send(aws, "GET", "/moto-api/data.json", headers)
    assert status == 200, body
    assert '"guarded"' in body


def _with_origin(origin: str) -> Any:
    def add(request: Any, **_: Any) -> None:
        request.headers["Origin"] = origin

    return add


@pytest.mark.parametrize("service", ["sqs", "sns", "cloudwatch", "dynamodb"])
def test_an_sdk_shows_why_a_request_was_refused(aws: Emulator, service: str) -> None:
    """Each protocol's error body (JSON, query XML, CBOR) carries the reason as the error's message."""
    client = getattr(aws, service)()
    client.meta.events.register("before-send", _with_origin(EVIL))
    operation = {"sqs": "list_queues", "sns": "list_topics", "cloudwatch": "list_metrics", "dynamodb": "list_tables"}
    with pytest.raises(ClientError) as refused:
        getattr(client, operation[service])()
    error = refused.value.response["Error"]
    assert error["Code"] == "AccessDenied"
    assert error["Message"].startswith(f"orderflow emulator refused the request: a web page at {EVIL}")


def test_boto3_and_the_aws_cli_still_work(aws: Emulator, queue_url: str) -> None:
    assert queue_url in _queues(aws)
    assert aws.dynamodb().list_tables()["TableNames"] == []
    result = subprocess.run(
        [str(Path(sys.executable).parent / "aws"), "--endpoint-url", aws.endpoint, "--output", "json",
         "sqs", "list-queues"],
        env={**os.environ, **aws.environment()}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert queue_url in json.loads(result.stdout)["QueueUrls"]
