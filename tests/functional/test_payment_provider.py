"""The embedded payment provider over real HTTP (urllib3), started in the test: each clause of its contract
(docs/payment-provider.md), and each injected fault as a client sees it.

The logic behind it, without sockets, is in tests/unit/test_payment_ledger.py.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
import urllib3
from urllib3.exceptions import ProtocolError

from orderflow_local.payments import PaymentProvider, ProviderFaults
from tests.support import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

    from orderflow_local.payments.api import Request

API_KEY = "sk_test_functional"


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


class Client:
    """A client of the provider: JSON in, (status, headers, JSON) out; no retries, so each call is one request."""

    def __init__(self, url: str, api_key: str = API_KEY) -> None:
        self.url = url
        self.api_key = api_key
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=10))

    def request(
        self, method: str, path: str, body: Any = None, *, key: str | None = None, auth: str | None = None
    ) -> tuple[int, urllib3.HTTPHeaderDict, Any]:
        headers = {"Authorization": auth if auth is not None else f"Bearer {self.api_key}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        encoded = None if body is None else json.dumps(body).encode()
        if encoded is not None:
            headers["Content-Type"] = "application/json"
        response = self.http.request(method, self.url + path, body=encoded, headers=headers)
        return response.status, response.headers, json.loads(response.data)

    def charge(self, key: str | None = None, **overrides: Any) -> tuple[int, urllib3.HTTPHeaderDict, Any]:
        body = {
            "amount": 4200,
            "currency": "usd",
            "customer": "cust-7",
            "description": "order ord-7",
            "metadata": {"order_id": "ord-7", "created_at": "2026-01-01T00:00:00Z"},
            **overrides,
        }
        return self.request("POST", "/v1/charges", body, key=key)

    def refund(self, charge: str, key: str | None = None, **fields: Any) -> tuple[int, urllib3.HTTPHeaderDict, Any]:
        return self.request("POST", "/v1/refunds", {"charge": charge, **fields}, key=key)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def provider(clock: FakeClock) -> Iterator[PaymentProvider]:
    with PaymentProvider(API_KEY, key_ttl_seconds=86_400, clock=clock) as started:
        yield started


@pytest.fixture
def client(provider: PaymentProvider) -> Client:
    return Client(provider.url)


def test_it_listens_on_the_loopback_on_the_port_asked_or_any_free_one() -> None:
    port = free_port()
    with PaymentProvider(API_KEY, port=port) as provider:
        assert provider.url == f"http://127.0.0.1:{port}"
        assert Client(provider.url).request("GET", "/_orderflow/health")[2] == {"ok": True}
    with PaymentProvider(API_KEY) as provider:
        assert provider.port != 0
        assert provider.url == f"http://127.0.0.1:{provider.port}"


def test_a_charge_is_answered_with_stripe_s_charge_object(client: Client, provider: PaymentProvider) -> None:
    status, headers, charge = client.charge(key="ord-7:charge")
    assert status == 200
    assert int(headers["Content-Length"]) == len(json.dumps(charge).encode())
    assert headers["Content-Type"] == "application/json"
    assert charge["id"].startswith("ch_")
    assert len(charge["id"]) == 27
    assert {key: charge[key] for key in ("object", "amount", "amount_refunded", "currency", "customer")} == {
        "object": "charge",
        "amount": 4200,
        "amount_refunded": 0,
        "currency": "usd",
        "customer": "cust-7",
    }
    assert (charge["status"], charge["paid"], charge["refunded"]) == ("succeeded", True, False)
    assert charge["metadata"] == {"order_id": "ord-7", "created_at": "2026-01-01T00:00:00Z"}
    assert abs(charge["created"] - time.time()) < 60
    assert client.request("GET", f"/v1/charges/{charge['id']}")[2] == charge
    [entry] = provider.ledger().charges
    assert (entry.id, entry.idempotency_key, entry.amount) == (charge["id"], "ord-7:charge", 4200)


def test_a_repeat_with_the_key_gets_the_first_answer_replayed_and_nothing_more_is_charged(client: Client) -> None:
    first = client.charge(key="ord-7:charge")
    again = client.charge(key="ord-7:charge")
    assert again[0] == first[0] == 200
    assert again[2] == first[2]
    assert again[1]["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first[1]
    ledger = client.request("GET", "/_orderflow/ledger")[2]
    assert [charge["id"] for charge in ledger["charges"]] == [first[2]["id"]]


def test_without_a_key_each_request_charges(client: Client, provider: PaymentProvider) -> None:
    assert client.charge()[2]["id"] != client.charge()[2]["id"]
    assert len(provider.ledger().charges) == 2


def test_the_same_key_with_other_parameters_is_a_400_idempotency_error(
    client: Client, provider: PaymentProvider
) -> None:
    client.charge(key="k")
    status, headers, body = client.charge(key="k", amount=1)
    assert status == 400
    assert body["error"]["type"] == "idempotency_error"
    assert "same parameters they were first used with" in body["error"]["message"]
    assert "Idempotent-Replayed" not in headers
    assert [charge.amount for charge in provider.ledger().charges] == [4200]
    assert client.charge(key="k")[1]["Idempotent-Replayed"] == "true"  # the first result is still the one kept


def test_a_request_while_the_first_with_its_key_is_in_flight_is_a_409(
    client: Client, provider: PaymentProvider
) -> None:
    entered, release = threading.Event(), threading.Event()

    def hold(request: Request) -> None:
        if request.idempotency_key == "held":
            entered.set()
            assert release.wait(10)

    provider.api.before_execute = hold
    first: list[tuple[int, Any, Any]] = []
    thread = threading.Thread(target=lambda: first.append(client.charge(key="held")))
    thread.start()
    try:
        assert entered.wait(10)
        status, _, body = client.charge(key="held")
        assert status == 409
        assert body["error"] == {
            "type": "idempotency_error",
            "code": "idempotency_key_in_use",
            "message": body["error"]["message"],
        }
        assert provider.ledger().charges == ()
    finally:
        release.set()
        thread.join(10)
    assert first[0][0] == 200
    replay = client.charge(key="held")
    assert (replay[0], replay[2]) == (200, first[0][2])
    assert len(provider.ledger().charges) == 1


def test_after_the_ttl_the_key_is_forgotten_and_the_same_key_charges_again(
    client: Client, provider: PaymentProvider, clock: FakeClock
) -> None:
    first = client.charge(key="ord-7:charge")[2]
    clock.now += 86_400 - 1
    assert client.charge(key="ord-7:charge")[1]["Idempotent-Replayed"] == "true"
    clock.now += 1  # a day after the first request: Stripe has pruned the key
    status, headers, second = client.charge(key="ord-7:charge")
    assert status == 200
    assert "Idempotent-Replayed" not in headers
    assert second["id"] != first["id"]
    assert provider.ledger().by_order()["ord-7"].charges == 2  # what the payment service's own state must prevent


@pytest.mark.parametrize(
    ("customer", "decline_code"),
    [("decline-cust-7", "generic_decline"), ("insufficient-funds-cust-7", "insufficient_funds")],
)
def test_a_declining_test_customer_gets_a_402_card_error(
    client: Client, provider: PaymentProvider, customer: str, decline_code: str
) -> None:
    status, _, body = client.charge(key="k", customer=customer)
    assert status == 402
    error = body["error"]
    assert (error["type"], error["code"], error["decline_code"]) == ("card_error", "card_declined", decline_code)
    assert error["charge"].startswith("ch_")
    assert client.charge(key="k", customer=customer)[2] == body  # replayed: one decline
    ledger = provider.ledger()
    assert ledger.charges == ()
    assert [decline.id for decline in ledger.declines] == [error["charge"]]
    assert ledger.by_order()["ord-7"].net == 0
    failed = client.request("GET", f"/v1/charges/{error['charge']}")[2]
    assert (failed["status"], failed["paid"]) == ("failed", False)


def test_refunds_partial_then_full_then_no_more(client: Client, provider: PaymentProvider) -> None:
    charge = client.charge(key="c")[2]
    status, _, partial = client.refund(charge["id"], key="r1", amount=1200, metadata={"reason": "one item"})
    assert status == 200
    assert {key: partial[key] for key in ("object", "amount", "charge", "currency", "status", "metadata")} == {
        "object": "refund",
        "amount": 1200,
        "charge": charge["id"],
        "currency": "usd",
        "status": "succeeded",
        "metadata": {"reason": "one item"},
    }
    assert partial["id"].startswith("re_")
    assert len(partial["id"]) == 27
    got = client.request("GET", f"/v1/charges/{charge['id']}")[2]
    assert (got["amount_refunded"], got["refunded"]) == (1200, False)

    status, _, too_much = client.refund(charge["id"], key="r2", amount=3001)
    assert (status, too_much["error"]["code"]) == (400, "amount_too_large")

    status, _, rest = client.refund(charge["id"], key="r3")  # no amount: all that is left
    assert (status, rest["amount"]) == (200, 3000)
    got = client.request("GET", f"/v1/charges/{charge['id']}")[2]
    assert (got["amount_refunded"], got["refunded"]) == (4200, True)

    status, _, again = client.refund(charge["id"], key="r4")
    assert (status, again["error"]["type"], again["error"]["code"]) == (
        400,
        "invalid_request_error",
        "charge_already_refunded",
    )
    orders = provider.ledger().by_order()
    assert (orders["ord-7"].charged, orders["ord-7"].refunded, orders["ord-7"].net) == (4200, 4200, 0)
    assert orders["ord-7"].keys == ("c", "r1", "r3")


def test_a_refund_of_an_unknown_charge_is_a_404_resource_missing(client: Client) -> None:
    status, _, body = client.refund("ch_000000000000000000000000", key="r")
    assert status == 404
    assert (body["error"]["type"], body["error"]["code"], body["error"]["param"]) == (
        "invalid_request_error",
        "resource_missing",
        "charge",
    )
    assert client.request("GET", "/v1/charges/ch_nope")[0] == 404


def test_concurrent_refunds_over_http_never_refund_more_than_was_charged(
    client: Client, provider: PaymentProvider
) -> None:
    charge = client.charge(amount=1000)[2]
    racers = 8
    lined_up = threading.Barrier(racers)

    def line_up(request: Request) -> None:
        lined_up.wait(10)

    provider.api.before_execute = line_up
    statuses: list[int] = []

    def refund(n: int) -> None:
        statuses.append(Client(provider.url).refund(charge["id"], key=f"refund-{n}", amount=300)[0])

    threads = [threading.Thread(target=refund, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(statuses) == [200] * 3 + [400] * 5
    assert sum(refund.amount for refund in provider.ledger().refunds) == 900
    assert client.request("GET", f"/v1/charges/{charge['id']}")[2]["amount_refunded"] == 900


@pytest.mark.parametrize("auth", ["", "Bearer sk_test_wrong", f"Basic {API_KEY}", "Bearer"])
def test_a_request_without_the_api_key_is_a_401_that_does_not_echo_the_key(
    client: Client, provider: PaymentProvider, auth: str
) -> None:
    for method, path, body in [("POST", "/v1/charges", {"amount": 1}), ("GET", "/v1/charges/ch_x", None)]:
        status, _, answer = client.request(method, path, body, key="k", auth=auth)
        assert status == 401
        assert (answer["error"]["type"], answer["error"]["code"]) == ("invalid_request_error", "api_key_invalid")
        assert "sk_test_wrong" not in json.dumps(answer)
    assert provider.ledger().charges == ()


def test_a_bad_body_is_a_400_that_names_the_parameter(client: Client, provider: PaymentProvider) -> None:
    status, _, body = client.charge(key="k", amount=0)
    assert status == 400
    assert (body["error"]["type"], body["error"]["code"], body["error"]["param"]) == (
        "invalid_request_error",
        "parameter_invalid",
        "amount",
    )
    status, _, body = client.request("POST", "/v1/charges", {"currency": "usd", "customer": "c"}, key="k2")
    assert (status, body["error"]["code"], body["error"]["param"]) == (400, "parameter_missing", "amount")
    raw = client.http.request(
        "POST",
        client.url + "/v1/charges",
        body=b"amount=100&currency=usd",  # Stripe's form encoding: this provider takes JSON
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert raw.status == 400
    assert json.loads(raw.data)["error"]["code"] == "parameter_invalid"
    assert client.charge(key="k")[0] == 200  # the invalid request saved nothing for its key
    assert len(provider.ledger().charges) == 1


def test_the_ledger_and_health_endpoints_need_no_key_and_are_never_faulted() -> None:
    faults = ProviderFaults(rate=1.0, seed=1, kinds=("server_error",))
    with PaymentProvider(API_KEY, faults=faults) as provider:
        client = Client(provider.url, api_key="not-the-key")
        for _ in range(3):
            assert client.request("GET", "/_orderflow/health", auth="")[0:3:2] == (200, {"ok": True})
            assert client.request("GET", "/_orderflow/ledger", auth="")[2] == {
                "charges": [],
                "refunds": [],
                "declines": [],
            }
        assert client.request("GET", "/_orderflow/nothing", auth="")[0] == 404
        assert provider.faults() == Counter()


def test_the_ledger_endpoint_lists_each_entry_with_its_key(client: Client) -> None:
    charge = client.charge(key="ord-7:charge")[2]
    client.refund(charge["id"], key="ord-7:refund", amount=200)
    client.charge(key="ord-8:charge", customer="decline-8", metadata={"order_id": "ord-8"})
    ledger = client.request("GET", "/_orderflow/ledger", auth="")[2]
    [charged], [refunded], [declined] = ledger["charges"], ledger["refunds"], ledger["declines"]
    assert {key: charged[key] for key in ("id", "amount", "currency", "customer", "idempotency_key")} == {
        "id": charge["id"],
        "amount": 4200,
        "currency": "usd",
        "customer": "cust-7",
        "idempotency_key": "ord-7:charge",
    }
    assert charged["metadata"]["order_id"] == "ord-7"
    assert isinstance(charged["created"], int)
    assert (refunded["charge"], refunded["amount"], refunded["idempotency_key"]) == (charge["id"], 200, "ord-7:refund")
    assert (declined["customer"], declined["idempotency_key"], declined["metadata"]) == (
        "decline-8",
        "ord-8:charge",
        {"order_id": "ord-8"},
    )


def test_a_kept_alive_connection_serves_several_requests_and_stop_closes_it() -> None:
    provider = PaymentProvider(API_KEY).start()
    try:
        pool = urllib3.HTTPConnectionPool("127.0.0.1", provider.port, maxsize=1, retries=False, timeout=5)
        headers = {"Authorization": f"Bearer {API_KEY}"}
        for _ in range(3):
            assert pool.request("GET", "/v1/charges/ch_x", headers=headers).status == 404
        assert pool.num_connections == 1  # one connection, kept alive
    finally:
        provider.stop()
    with pytest.raises((ProtocolError, urllib3.exceptions.NewConnectionError, urllib3.exceptions.MaxRetryError)):
        pool.request("GET", "/v1/charges/ch_x", headers=headers)


# --- faults ------------------------------------------------------------------------------------------


def test_latency_delays_the_answer_and_is_counted() -> None:
    faults = ProviderFaults(rate=1.0, seed=1, kinds=("latency",), latency_ms=200)
    with PaymentProvider(API_KEY, faults=faults) as provider:
        client = Client(provider.url)
        started = time.monotonic()
        status, _, charge = client.charge(key="k")
        assert time.monotonic() - started >= 0.2
        assert (status, charge["object"]) == (200, "charge")
        assert provider.faults() == Counter({"latency": 1})


@pytest.mark.parametrize(
    ("kind", "status", "error_type"), [("rate_limited", 429, "rate_limit_error"), ("server_error", 500, "api_error")]
)
def test_429_and_500_answer_before_the_endpoint_so_nothing_is_saved_for_the_key(
    kind: str, status: int, error_type: str
) -> None:
    with PaymentProvider(API_KEY, faults=ProviderFaults(rate=1.0, seed=1, kinds=(kind,))) as provider:
        client = Client(provider.url)
        answered, headers, body = client.charge(key="ord-7:charge")
        assert (answered, body["error"]["type"]) == (status, error_type)
        if kind == "rate_limited":
            assert headers["Retry-After"] == "1"
        assert provider.ledger().charges == ()
        provider.set_faults(None)
        retried, headers, _ = client.charge(key="ord-7:charge")
        assert retried == 200
        assert "Idempotent-Replayed" not in headers  # the faulted attempt left no result to replay
        assert len(provider.ledger().charges) == 1
        assert provider.faults() == Counter({kind: 1})


def test_a_lost_response_charges_and_drops_the_connection_and_a_retry_with_the_key_gets_the_replay() -> None:
    with PaymentProvider(API_KEY, faults=ProviderFaults(rate=1.0, seed=1, kinds=("response_lost",))) as provider:
        client = Client(provider.url)
        with pytest.raises(ProtocolError, match="Remote end closed connection without response"):
            client.charge(key="ord-7:charge")
        [charge] = provider.ledger().charges  # charged, though the client never heard
        with pytest.raises(ProtocolError):
            client.charge(key="ord-7:charge")  # lost again: still one charge
        assert [entry.id for entry in provider.ledger().charges] == [charge.id]

        provider.set_faults(None)
        status, headers, replayed = client.charge(key="ord-7:charge")
        assert (status, replayed["id"]) == (200, charge.id)
        assert headers["Idempotent-Replayed"] == "true"
        assert len(provider.ledger().charges) == 1
        assert provider.faults() == Counter({"response_lost": 2})


def test_a_lost_refund_response_refunds_once() -> None:
    with PaymentProvider(API_KEY) as provider:
        client = Client(provider.url)
        charge = client.charge(key="c")[2]
        provider.set_faults(ProviderFaults(rate=1.0, seed=1, kinds=("response_lost",)))
        with pytest.raises(ProtocolError):
            client.refund(charge["id"], key="ord-7:refund")
        provider.set_faults(None)
        status, headers, refund = client.refund(charge["id"], key="ord-7:refund")
        assert (status, headers["Idempotent-Replayed"]) == (200, "true")
        assert [entry.id for entry in provider.ledger().refunds] == [refund["id"]]


def test_each_request_draws_once_and_every_injected_fault_is_counted() -> None:
    faults = ProviderFaults(rate=0.5, seed=11, kinds=("rate_limited", "server_error", "response_lost"))
    with PaymentProvider(API_KEY, faults=faults) as provider:
        client = Client(provider.url)
        seen: Counter[str] = Counter()
        for n in range(60):
            try:
                status = client.charge(key=f"k{n}", amount=100 + n)[0]
            except ProtocolError:
                seen["response_lost"] += 1
                continue
            seen[{200: "none", 429: "rate_limited", 500: "server_error"}[status]] += 1
        injected = provider.faults()
        assert injected == Counter({kind: count for kind, count in seen.items() if kind != "none"})
        assert sum(injected.values()) + seen["none"] == 60
        assert all(injected[kind] > 0 for kind in faults.kinds)
        # every request that reached the endpoint charged once: answered or lost
        assert len(provider.ledger().charges) == seen["none"] + seen["response_lost"]
