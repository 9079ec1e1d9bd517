"""The provider's API without HTTP: authenticate, route, apply the idempotency contract, run the endpoint.

One lock guards the books and the keys together: a request looks its key up and marks it in
flight in one step, so a second request with the key sees the first (409) however close they
come; an endpoint's change to the books is one step too, so concurrent refunds of a charge can
never refund more than it took. The endpoint's own work runs outside the lock only in
:attr:`PaymentApi.before_execute`, the hook that lets a test hold a request in flight.

https://docs.stripe.com/api/idempotent_requests and https://docs.stripe.com/error-low-level#idempotency
give the contract; docs/payment-provider.md says where this differs from Stripe.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orderflow_local.payments.idempotency import (
    DEFAULT_TTL_SECONDS,
    MAX_KEY_LENGTH,
    IdempotencyKeys,
    KeyState,
    SavedResult,
)
from orderflow_local.payments.ledger import Books, Ledger
from orderflow_local.payments.params import ApiError, invalid, parse_charge, parse_json_object, parse_refund

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger(__name__)

CHARGES = "/v1/charges"
REFUNDS = "/v1/refunds"
_CHARGE_PATH = re.compile(r"^/v1/charges/(?P<id>[^/]+)$")
#: The header a replayed answer carries, as Stripe's do.
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class Request:
    """What the API needs of an HTTP request."""

    method: str
    path: str  # without the query string
    authorization: str | None = None  # the Authorization header
    idempotency_key: str | None = None  # the Idempotency-Key header
    body: bytes = b""


@dataclass(frozen=True)
class Answer:
    """What the API answers: status, JSON body, extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def error(cls, error: ApiError, headers: dict[str, str] | None = None) -> Answer:
        return cls(error.status, error.body(), headers or {})


class PaymentApi:
    """Charges, refunds and their idempotency keys for one API key.

    ``clock`` times the keys' expiry (monotonic by default; a test passes its own to move a day
    ahead); ``wall_clock`` stamps the objects' ``created`` (unix seconds).
    """

    def __init__(
        self,
        api_key: str,
        *,
        key_ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not api_key:
            raise ValueError("the payment provider needs an API key")
        self._api_key = api_key.encode()
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._books = Books()
        self._keys = IdempotencyKeys(key_ttl_seconds, clock=clock)
        #: Called with each request whose endpoint is about to run (a new key, or none), outside the
        #: lock: a test blocks in it to hold a request in flight, or to line concurrent ones up.
        self.before_execute: Callable[[Request], None] | None = None

    def ledger(self) -> Ledger:
        with self._lock:
            return self._books.snapshot()

    def handle(self, request: Request) -> Answer:
        """Answer one ``/v1/`` request."""
        if not self._authorized(request.authorization):
            return Answer.error(
                ApiError(
                    401,
                    "invalid_request_error",
                    "Invalid API Key provided: send Authorization: Bearer <the provider's API key>.",
                    code="api_key_invalid",
                )
            )
        try:
            if request.method == "GET":
                match = _CHARGE_PATH.match(request.path)
                if match:
                    with self._lock:
                        return Answer(200, self._books.charge_object(match["id"]))
            elif request.method == "POST" and request.path in (CHARGES, REFUNDS):
                return self._post(request)
        except ApiError as error:
            return Answer.error(error)
        return Answer.error(
            ApiError(
                404,
                "invalid_request_error",
                f"Unrecognized request URL ({request.method}: {request.path}).",
            )
        )

    def _authorized(self, header: str | None) -> bool:
        scheme, _, given = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self._api_key)

    def _post(self, request: Request) -> Answer:
        key = request.idempotency_key
        if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise invalid("Idempotency-Key", f"An idempotency key is 1 to {MAX_KEY_LENGTH} characters long.")
        # Parameters are checked before the key is looked up: a request that fails validation never
        # began executing, and Stripe saves nothing for its key.
        body = parse_json_object(request.body)
        run: Callable[[int], dict[str, Any]]
        if request.path == CHARGES:
            charge = parse_charge(body)
            run = lambda now: self._books.charge(charge, key, now)  # noqa: E731
        else:
            refund = parse_refund(body)
            run = lambda now: self._books.refund(refund, key, now)  # noqa: E731
        if key is None:
            return self._execute(request, run)

        fingerprint = json.dumps([request.method, request.path, body], sort_keys=True, separators=(",", ":"))
        with self._lock:
            lookup = self._keys.begin(key, fingerprint)
        echo = {"Idempotency-Key": key}
        if lookup.state is KeyState.REPLAY:
            assert lookup.saved is not None  # noqa: S101 - a REPLAY always carries it
            return Answer(lookup.saved.status, lookup.saved.body, {**echo, REPLAYED_HEADER: "true"})
        if lookup.state is KeyState.MISMATCH:
            return Answer.error(
                ApiError(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters they were first used "
                    f"with (method, path and body). Try using a key other than '{key}' if you meant to execute a "
                    "different request.",
                ),
                echo,
            )
        if lookup.state is KeyState.IN_USE:
            return Answer.error(
                ApiError(
                    409,
                    "idempotency_error",
                    f"There is currently another in-progress request using this idempotency key ('{key}'): "
                    "retry after it completes.",
                    code="idempotency_key_in_use",
                ),
                echo,
            )
        try:
            answer = self._execute(request, run, key)
        except BaseException:
            with self._lock:
                self._keys.abandon(key)  # the endpoint never finished: nothing to replay, a retry runs it
            raise
        return Answer(answer.status, answer.body, echo)

    def _execute(self, request: Request, run: Callable[[int], dict[str, Any]], key: str | None = None) -> Answer:
        """Run the endpoint: its change to the books, and saving its result for ``key``, in one locked step."""
        if self.before_execute is not None:
            self.before_execute(request)
        with self._lock:
            try:
                answer = Answer(200, run(int(self._wall_clock())))
            except ApiError as error:  # a decline, an unknown charge, too much to refund: saved like a success
                answer = Answer.error(error)
            if key is not None:
                self._keys.save(key, SavedResult(answer.status, answer.body))
        return answer
