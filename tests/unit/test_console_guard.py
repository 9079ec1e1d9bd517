"""The console's guards: its own Host only (DNS rebinding), its own Origin only, a token for any
request that changes state, no CORS header, and the security headers on every answer."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from orderflow_local.console.app import Guard

PORT = 43210
TOKEN = "the-run-token"
BASE = f"http://127.0.0.1:{PORT}"


async def ok(request: object) -> JSONResponse:
    return JSONResponse({"ok": True})


@pytest.fixture
def client() -> TestClient:
    app = Starlette(routes=[Route("/api/read", ok), Route("/api/act", ok, methods=["POST"])])
    return TestClient(Guard(app, token=TOKEN, port=lambda: PORT), base_url=BASE)


def test_a_read_from_the_page_or_a_tool_is_answered_with_the_security_headers(client: TestClient) -> None:
    answer = client.get("/api/read")
    assert answer.status_code == 200
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"  # the URL carries the token
    assert "access-control-allow-origin" not in answer.headers
    assert client.get("/api/read", headers={"Origin": BASE}).status_code == 200
    assert client.get("/api/read", headers={"Host": f"localhost:{PORT}"}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example:43210", "127.0.0.1:1", "127.0.0.1", "attacker.localhost:43210"])
def test_another_host_is_refused_even_for_a_read(client: TestClient, host: str) -> None:
    answer = client.get("/api/read", headers={"Host": host})
    assert answer.status_code == 403
    assert "answers only as 127.0.0.1:43210" in answer.json()["error"]


def test_a_read_from_another_sites_page_is_refused(client: TestClient) -> None:
    answer = client.get("/api/read", headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403
    assert "access-control-allow-origin" not in answer.headers


def test_an_action_needs_the_pages_origin_and_the_runs_token(client: TestClient) -> None:
    assert client.post("/api/act", headers={"X-Orderflow-Token": TOKEN}).status_code == 403  # no Origin
    refused = client.post("/api/act", headers={"Origin": BASE})
    assert refused.status_code == 403
    assert "token" in refused.json()["error"]
    assert client.post("/api/act", headers={"Origin": BASE, "X-Orderflow-Token": "guess"}).status_code == 403
    other = client.post("/api/act", headers={"Origin": "http://127.0.0.1:9", "X-Orderflow-Token": TOKEN})
    assert other.status_code == 403
    done = client.post("/api/act", headers={"Origin": BASE, "X-Orderflow-Token": TOKEN})
    assert done.status_code == 200
    assert done.json() == {"ok": True}


def test_a_browsers_request_from_another_site_is_refused_even_without_an_origin(client: TestClient) -> None:
    # an <img> or a <script> on another site sends no Origin, but a browser says where it comes from
    answer = client.get("/api/read", headers={"Sec-Fetch-Site": "cross-site"})
    assert answer.status_code == 403
    assert "another site" in answer.json()["error"]
    assert client.get("/api/read", headers={"Sec-Fetch-Site": "same-site"}).status_code == 403
    assert client.get("/api/read", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert client.get("/api/read", headers={"Sec-Fetch-Site": "none"}).status_code == 200  # typed in the bar


@pytest.mark.parametrize("method", ["OPTIONS", "PUT", "DELETE"])
def test_a_preflight_or_another_method_gets_no_cors_answer(client: TestClient, method: str) -> None:
    answer = client.request(method, "/api/act", headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403
    assert not [name for name in answer.headers if name.startswith("access-control-")]


def test_an_opaque_origin_and_a_token_that_is_not_ascii_are_refused_cleanly(client: TestClient) -> None:
    assert client.post("/api/act", headers={"Origin": "null", "X-Orderflow-Token": TOKEN}).status_code == 403
    odd = client.post("/api/act", headers={"Origin": BASE, "X-Orderflow-Token": "tökén".encode()})
    assert odd.status_code == 403  # refused, not a server error
    assert client.head("/api/read").status_code == 200
