"""The HTTP gateway against a provider that answers what each test scripts: how each answer of the
provider's contract (docs/payment-provider.md) becomes a result or one of the service's errors, and
what every request carries. The embedded provider's own answers are covered in
test_payment_handler.py; here the answers it seldom gives (401, 409, 404, 400 ``idempotency_error``)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest
from urllib3.util import Retry, Timeout

from orderflow.adapters.payment_gateway import HttpPaymentGateway
from orderflow.domain.errors import PermanentError, TransientError
from orderflow.domain.payments.errors import (
    PaymentProviderAuthError,
    PaymentProviderUnavailableError,
    PaymentRejectedError,
    ProviderKeyConflictError,
    ProviderKeyInUseError,
)
from orderflow.domain.payments.models import ChargeRequest, RefundRequest

if TYPE_CHECKING:
    from collections.abc import Iterator

#: One scripted answer: status, JSON body (or raw bytes), extra headers.
Answer = tuple[int, Any, dict[str, str]]

CHARGE = ChargeRequest(
    idempotency_key="orderflow:ord-1#2026-12-07T09:00:00Z:charge", amount_minor=14999, currency="USD",
    customer_id="cust-1", metadata={"order_id": "ord-1", "created_at": "2026-12-07T09:00:00Z"},
)  # fmt: skip
REFUND = RefundRequest(
    idempotency_key="orderflow:ord-1#2026-12-07T09:00:00Z:refund", charge_id="ch_1", amount_minor=14999,
    metadata={"order_id": "ord-1", "created_at": "2026-12-07T09:00:00Z"},
)  # fmt: skip


class ScriptedProvider:
    """Answers each POST with the next scripted answer, and keeps what each request carried."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []
        self.requests: list[dict[str, Any]] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                provider.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(self.rfile.read(length))}
                )
                status, body, headers = provider.answers.pop(0)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def provider() -> Iterator[ScriptedProvider]:
    scripted = ScriptedProvider()
    thread = threading.Thread(target=scripted.server.serve_forever, daemon=True)
    thread.start()
    yield scripted
    scripted.server.shutdown()
    scripted.server.server_close()


class Keys:
    """The API key's source: the cached key first, a fresh one when asked past the cache."""

    def __init__(self) -> None:
        self.asked: list[bool] = []

    def __call__(self, refresh: bool) -> str:
        self.asked.append(refresh)
        return "sk_rotated" if refresh else "sk_cached"


def _gateway(provider: ScriptedProvider, keys: Keys | None = None, *, retries: int = 0) -> HttpPaymentGateway:
    # no retries unless a test is about them; 429 and 5xx retry at once (no backoff) when it is
    retry = Retry(total=retries, backoff_factor=0, status_forcelist=(429, 500, 502, 503, 504),
                  allowed_methods=frozenset({"POST"}), raise_on_status=False)  # fmt: skip
    return HttpPaymentGateway(provider.url, api_key=keys or Keys(), timeout=Timeout(connect=2, read=5), retries=retry)


def _error(kind: str, code: str = "", message: str = "") -> dict[str, Any]:
    return {"error": {"type": kind, "code": code, "message": message}}


def test_a_charge_carries_its_idempotency_key_the_key_and_the_amount_in_minor_units(
    provider: ScriptedProvider,
) -> None:
    provider.answers = [(200, {"id": "ch_1", "status": "succeeded"}, {})]

    result = _gateway(provider).charge(CHARGE)

    assert (result.captured, result.charge_id, result.replayed) == (True, "ch_1", False)
    [request] = provider.requests
    assert request["path"] == "/v1/charges"
    assert request["headers"]["Idempotency-Key"] == CHARGE.idempotency_key
    assert request["headers"]["Authorization"] == "Bearer sk_cached"
    assert request["body"] == {"amount": 14999, "currency": "usd", "customer": "cust-1", "metadata": CHARGE.metadata}


def test_a_replayed_answer_is_marked_replayed(provider: ScriptedProvider) -> None:
    provider.answers = [(200, {"id": "ch_1"}, {"Idempotent-Replayed": "true"})]

    assert _gateway(provider).charge(CHARGE).replayed


def test_a_decline_is_an_answer_with_its_code_not_an_error(provider: ScriptedProvider) -> None:
    provider.answers = [
        (402, {"error": {"type": "card_error", "decline_code": "insufficient_funds", "charge": "ch_9"}}, {})
    ]

    result = _gateway(provider).charge(CHARGE)

    assert (result.captured, result.charge_id, result.decline_code) == (False, "ch_9", "insufficient_funds")


def test_a_401_asks_for_the_key_past_the_cache_once_and_uses_the_rotated_one(provider: ScriptedProvider) -> None:
    keys = Keys()
    provider.answers = [(401, _error("authentication_error"), {}), (200, {"id": "ch_1"}, {})]

    assert _gateway(provider, keys).charge(CHARGE).captured

    assert keys.asked == [False, True]
    assert [request["headers"]["Authorization"] for request in provider.requests] == [
        "Bearer sk_cached",
        "Bearer sk_rotated",
    ]
    # the same key both times: the provider cannot have charged for the first
    assert {request["headers"]["Idempotency-Key"] for request in provider.requests} == {CHARGE.idempotency_key}


def test_a_key_refused_even_fresh_is_a_transient_auth_error_retried_by_sqs(provider: ScriptedProvider) -> None:
    keys = Keys()
    provider.answers = [(401, _error("authentication_error"), {}), (401, _error("authentication_error"), {})]

    with pytest.raises(PaymentProviderAuthError) as raised:
        _gateway(provider, keys).charge(CHARGE)

    assert isinstance(raised.value, TransientError)
    assert "401" in str(raised.value)
    assert keys.asked == [False, True]  # asked past the cache once, not in a loop


@pytest.mark.parametrize(
    ("status", "body", "error", "transient"),
    [
        (403, _error("authentication_error"), PaymentProviderAuthError, True),
        (409, _error("idempotency_error", "request_in_progress"), ProviderKeyInUseError, True),
        (429, _error("rate_limit_error"), PaymentProviderUnavailableError, True),
        (503, b"<html>Service Unavailable</html>", PaymentProviderUnavailableError, True),
        (
            400,
            _error("idempotency_error", "idempotency_key_in_use", "other parameters"),
            ProviderKeyConflictError,
            False,
        ),
        (404, _error("invalid_request_error", "resource_missing", "No such charge"), PaymentRejectedError, False),
        (400, _error("invalid_request_error", "amount_too_small"), PaymentRejectedError, False),
    ],
)
def test_each_refusal_is_the_error_that_says_whether_a_retry_can_help(
    provider: ScriptedProvider, status: int, body: Any, error: type[Exception], transient: bool
) -> None:
    provider.answers = [(status, body, {})]

    with pytest.raises(error) as raised:
        _gateway(provider).charge(CHARGE)

    assert isinstance(raised.value, TransientError if transient else PermanentError)
    assert str(status) in str(raised.value)


def test_429_and_5xx_are_retried_by_the_client_with_the_same_key_before_sqs_is_asked(
    provider: ScriptedProvider,
) -> None:
    provider.answers = [
        (429, _error("rate_limit_error"), {}),
        (500, _error("api_error"), {}),
        (200, {"id": "ch_1"}, {}),
    ]

    assert _gateway(provider, retries=2).charge(CHARGE).charge_id == "ch_1"

    assert [request["headers"]["Idempotency-Key"] for request in provider.requests] == [CHARGE.idempotency_key] * 3


def test_a_refund_of_a_charge_refunded_in_full_already_is_the_end_wanted_not_an_error(
    provider: ScriptedProvider,
) -> None:
    provider.answers = [(400, _error("invalid_request_error", "charge_already_refunded"), {})]

    result = _gateway(provider).refund(REFUND)

    assert result.refund_id is None
    assert provider.requests[0]["path"] == "/v1/refunds"
    assert provider.requests[0]["body"] == {"charge": "ch_1", "amount": 14999, "metadata": REFUND.metadata}


def test_a_provider_that_does_not_answer_is_unavailable(provider: ScriptedProvider) -> None:
    provider.server.shutdown()
    provider.server.server_close()  # nothing listens on the port any more

    with pytest.raises(PaymentProviderUnavailableError, match="failed"):
        _gateway(provider).charge(CHARGE)
