"""The payment provider over HTTP: Stripe's idempotency contract, JSON bodies.

- Every charge and refund carries the payment's own ``Idempotency-Key``
  (https://docs.stripe.com/api/idempotent_requests): a retry, by this client or by SQS, of a
  request whose answer was lost is answered again, never executed again.
- Timeouts: a connect timeout and a read timeout whose retries all fit well inside the
  function's 30 s (``TIMEOUT``, ``RETRIES``).
- urllib3 retries connection failures, lost responses, 429 and 5xx with exponential backoff,
  honouring ``Retry-After`` (https://urllib3.readthedocs.io/en/stable/reference/urllib3.util.html).
  POST is retried only because the key makes it safe. A decline (402) is an answer, never
  retried; other 4xx are permanent; 401/403 are retried by SQS (the secret may be fixed).
- The API key comes from a callable (Powertools Parameters, cached); a 401 asks it again,
  uncached, once: the secret may have been rotated.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import urllib3
from urllib3.exceptions import HTTPError
from urllib3.util import Retry, Timeout

from orderflow.domain.payments.errors import (
    PaymentProviderAuthError,
    PaymentProviderUnavailableError,
    PaymentRejectedError,
    ProviderKeyConflictError,
    ProviderKeyInUseError,
)
from orderflow.domain.payments.models import ChargeRequest, ChargeResult, RefundRequest, RefundResult

if TYPE_CHECKING:
    from collections.abc import Callable

#: 2 s to connect, 5 s to read each response: 3 attempts and their backoff stay under 25 s.
TIMEOUT = Timeout(connect=2.0, read=5.0)
#: Two retries after the first attempt, backing off 0.5 then 1 s (or as Retry-After says, up to 4 s).
RETRIES = Retry(
    total=2,
    backoff_factor=0.5,
    backoff_max=4,
    status_forcelist=(429, 500, 502, 503, 504),
    allowed_methods=frozenset({"GET", "POST"}),
    respect_retry_after_header=True,
    raise_on_status=False,
)


class HttpPaymentGateway:
    """Charges and refunds at ``base_url`` (the stage's provider; locally the embedded one)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: Callable[[bool], str],
        pool: urllib3.PoolManager | None = None,
        timeout: Timeout = TIMEOUT,
        retries: Retry = RETRIES,
    ) -> None:
        """``api_key(refresh)`` returns the key; ``refresh=True`` asks past any cache."""
        self._base = base_url.rstrip("/")
        self._api_key = api_key
        self._pool = pool or urllib3.PoolManager(maxsize=10, block=False)
        self._timeout = timeout
        self._retries = retries

    def charge(self, request: ChargeRequest) -> ChargeResult:
        body = {
            "amount": request.amount_minor,
            "currency": request.currency.lower(),
            "customer": request.customer_id,
            "metadata": request.metadata,
        }
        status, answer, replayed = self._post("/v1/charges", body, request.idempotency_key)
        if status == 200:
            return ChargeResult(captured=True, charge_id=str(answer["id"]), replayed=replayed)
        error = answer.get("error") or {}
        if status == 402 and error.get("type") == "card_error":
            code = str(error.get("decline_code") or error.get("code") or "card_declined")
            charge = error.get("charge")
            return ChargeResult(captured=False, charge_id=str(charge) if charge else None, decline_code=code,
                                replayed=replayed)  # fmt: skip
        raise self._failure("charge", status, error)

    def refund(self, request: RefundRequest) -> RefundResult:
        body = {"charge": request.charge_id, "amount": request.amount_minor, "metadata": request.metadata}
        status, answer, replayed = self._post("/v1/refunds", body, request.idempotency_key)
        if status == 200:
            return RefundResult(refund_id=str(answer["id"]), replayed=replayed)
        error = answer.get("error") or {}
        if status == 400 and error.get("code") == "charge_already_refunded":
            return RefundResult(refund_id=None, replayed=replayed)  # refunded in full already: the end we want
        raise self._failure("refund", status, error)

    def _post(self, path: str, body: dict[str, Any], key: str) -> tuple[int, dict[str, Any], bool]:
        payload = json.dumps(body).encode()
        status, answer, replayed = self._send(path, payload, key, refresh=False)
        if status == 401:  # perhaps a rotated secret: ask for it past the cache, once
            status, answer, replayed = self._send(path, payload, key, refresh=True)
        return status, answer, replayed

    def _send(self, path: str, payload: bytes, key: str, *, refresh: bool) -> tuple[int, dict[str, Any], bool]:
        headers = {
            "Authorization": f"Bearer {self._api_key(refresh)}",
            "Content-Type": "application/json",
            "Idempotency-Key": key,
        }
        try:
            response = self._pool.request(
                "POST", self._base + path, body=payload, headers=headers, timeout=self._timeout, retries=self._retries
            )
        except HTTPError as exc:  # timeouts, refused or dropped connections, after the retries
            raise PaymentProviderUnavailableError(
                f"payment provider POST {path} failed: {type(exc).__name__}: {_reason(exc)}"
            ) from exc
        try:
            answer = json.loads(response.data or b"{}")
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        return response.status, answer, response.headers.get("Idempotent-Replayed") == "true"

    @staticmethod
    def _failure(operation: str, status: int, error: dict[str, Any]) -> Exception:
        what = f"payment provider refused the {operation}: {status} {error.get('type', '')}".rstrip()
        detail = f"{what} {error.get('code', '')}: {error.get('message', '')}".strip(": ")
        if status in {401, 403}:
            return PaymentProviderAuthError(detail)
        if status == 409:
            return ProviderKeyInUseError(detail)
        if status == 429 or status >= 500:
            return PaymentProviderUnavailableError(detail)
        if error.get("type") == "idempotency_error":
            return ProviderKeyConflictError(detail)
        return PaymentRejectedError(detail)


def _reason(exc: HTTPError) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc)
