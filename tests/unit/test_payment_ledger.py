"""The embedded payment provider's logic without HTTP: parameters, idempotency keys, the books, the ledger's
sums per order, fault draws, and the API that puts them together (docs/payment-provider.md).

What goes over a socket (replay headers, the dropped connection, 401 through HTTP) is in
tests/functional/test_payment_provider.py.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import pytest

from orderflow_local.payments.api import PaymentApi, Request
from orderflow_local.payments.faults import ALL, FaultDraws, ProviderFaults
from orderflow_local.payments.idempotency import IdempotencyKeys, KeyState, SavedResult
from orderflow_local.payments.ledger import Books, Ledger, decline_code
from orderflow_local.payments.params import (
    ApiError,
    ChargeParams,
    RefundParams,
    parse_charge,
    parse_json_object,
    parse_refund,
)

API_KEY = "sk_test_unit"
AUTH = f"Bearer {API_KEY}"


class FakeClock:
    """Seconds that move only when a test moves them."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def charge_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "amount": 2599,
        "currency": "USD",
        "customer": "cust-1",
        "metadata": {"order_id": "ord-1", "created_at": "2026-01-01T00:00:00Z"},
    }
    return {key: value for key, value in {**body, **overrides}.items() if value is not None}


def post(api: PaymentApi, path: str, body: Any, key: str | None = None, auth: str | None = AUTH) -> tuple[int, Any]:
    answer = api.handle(Request("POST", path, auth, key, json.dumps(body).encode()))
    return answer.status, answer.body


# --- parameters --------------------------------------------------------------------------------------


def test_a_charge_s_parameters_are_read_and_its_currency_lowered() -> None:
    params = parse_charge(charge_body(description="two books"))
    assert params == ChargeParams(
        amount=2599,
        currency="usd",
        customer="cust-1",
        description="two books",
        metadata={"order_id": "ord-1", "created_at": "2026-01-01T00:00:00Z"},
    )


@pytest.mark.parametrize(
    ("overrides", "param", "code"),
    [
        ({"amount": None}, "amount", "parameter_missing"),
        ({"amount": 0}, "amount", "parameter_invalid"),
        ({"amount": -5}, "amount", "parameter_invalid"),
        ({"amount": 10.5}, "amount", "parameter_invalid"),
        ({"amount": "100"}, "amount", "parameter_invalid"),
        ({"amount": True}, "amount", "parameter_invalid"),
        ({"currency": None}, "currency", "parameter_missing"),
        ({"currency": "us"}, "currency", "parameter_invalid"),
        ({"currency": "us1"}, "currency", "parameter_invalid"),
        ({"currency": "éur"}, "currency", "parameter_invalid"),
        ({"customer": None}, "customer", "parameter_missing"),
        ({"customer": ""}, "customer", "parameter_invalid"),
        ({"customer": "c" * 129}, "customer", "parameter_invalid"),
        ({"customer": 7}, "customer", "parameter_invalid"),
        ({"description": 3}, "description", "parameter_invalid"),
        ({"metadata": {"order_id": 1}}, "metadata", "parameter_invalid"),
        ({"metadata": ["order_id"]}, "metadata", "parameter_invalid"),
        ({"metadata": {"k" * 41: "v"}}, "metadata", "parameter_invalid"),
        ({"metadata": {str(n): "v" for n in range(51)}}, "metadata", "parameter_invalid"),
        ({"capture": False}, "capture", "parameter_unknown"),
    ],
)
def test_a_bad_charge_parameter_is_named_with_stripe_s_code(overrides: dict[str, Any], param: str, code: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse_charge(charge_body(**overrides))
    assert raised.value.status == 400
    assert raised.value.error["type"] == "invalid_request_error"
    assert (raised.value.error["param"], raised.value.error["code"]) == (param, code)


def test_any_positive_amount_and_the_longest_customer_are_accepted() -> None:
    params = parse_charge(charge_body(amount=10**15, customer="c" * 128))  # above Stripe's eight digits
    assert (params.amount, len(params.customer)) == (10**15, 128)


@pytest.mark.parametrize("raw", [b"[1, 2]", b"not json", b'"a string"', b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_refused(raw: bytes) -> None:
    with pytest.raises(ApiError) as raised:
        parse_json_object(raw)
    assert raised.value.status == 400
    assert raised.value.error["code"] == "parameter_invalid"
    assert "param" not in raised.value.error


def test_a_refund_s_parameters() -> None:
    assert parse_refund({"charge": "ch_1"}) == RefundParams(charge="ch_1")
    assert parse_refund({"charge": "ch_1", "amount": 5, "metadata": {"order_id": "o"}}) == RefundParams(
        "ch_1", 5, {"order_id": "o"}
    )
    with pytest.raises(ApiError, match="Missing required param: charge"):
        parse_refund({"amount": 5})
    with pytest.raises(ApiError) as raised:
        parse_refund({"charge": "ch_1", "amount": 0})
    assert raised.value.error["param"] == "amount"


# --- idempotency keys ----------------------------------------------------------------------------------


def test_a_key_is_new_then_in_use_then_replayed() -> None:
    keys = IdempotencyKeys(60, clock=FakeClock())
    assert keys.begin("k", "params").state is KeyState.NEW
    assert keys.begin("k", "params").state is KeyState.IN_USE
    keys.save("k", SavedResult(200, {"id": "ch_1"}))
    lookup = keys.begin("k", "params")
    assert lookup.state is KeyState.REPLAY
    assert lookup.saved == SavedResult(200, {"id": "ch_1"})


def test_a_key_used_with_other_parameters_is_a_mismatch_in_flight_or_done() -> None:
    keys = IdempotencyKeys(60, clock=FakeClock())
    keys.begin("k", "params")
    assert keys.begin("k", "other").state is KeyState.MISMATCH
    keys.save("k", SavedResult(402, {"error": {}}))
    assert keys.begin("k", "other").state is KeyState.MISMATCH
    assert keys.begin("k", "params").saved == SavedResult(402, {"error": {}})  # the mismatch changed nothing


def test_an_abandoned_key_runs_anew() -> None:
    keys = IdempotencyKeys(60, clock=FakeClock())
    keys.begin("k", "params")
    keys.abandon("k")
    assert len(keys) == 0
    assert keys.begin("k", "other").state is KeyState.NEW


def test_a_saved_result_is_forgotten_once_the_ttl_has_passed() -> None:
    clock = FakeClock()
    keys = IdempotencyKeys(86_400, clock=clock)
    keys.begin("k", "params")
    keys.save("k", SavedResult(200, {"id": "ch_1"}))
    clock.now += 86_399.9
    assert keys.begin("k", "params").state is KeyState.REPLAY
    clock.now += 0.1
    assert keys.begin("k", "params").state is KeyState.NEW  # a day old: the same key runs again


def test_expired_keys_are_pruned_but_a_request_still_in_flight_keeps_its_key() -> None:
    clock = FakeClock()
    keys = IdempotencyKeys(10, clock=clock)
    keys.begin("slow", "p")  # never finishes within the ttl
    for n in range(5):
        keys.begin(f"k{n}", "p")
        keys.save(f"k{n}", SavedResult(200, {}))
    clock.now += 10
    keys.begin("fresh", "p")
    assert len(keys) == 2  # "slow" and "fresh": the five expired results are gone
    assert keys.begin("slow", "p").state is KeyState.IN_USE


def test_a_key_ttl_must_be_positive() -> None:
    with pytest.raises(ValueError, match="key_ttl_seconds must be positive"):
        IdempotencyKeys(0, clock=FakeClock())


# --- the books --------------------------------------------------------------------------------------


def test_a_charge_is_recorded_and_returned_as_stripe_s_charge_object() -> None:
    books = Books()
    charge = books.charge(parse_charge(charge_body(description="d")), "key-1", 1_700_000_000)
    assert charge["id"].startswith("ch_")
    assert len(charge["id"]) == 3 + 24
    assert int(charge["id"][3:], 16) >= 0
    assert {key: value for key, value in charge.items() if key != "id"} == {
        "object": "charge",
        "amount": 2599,
        "amount_refunded": 0,
        "currency": "usd",
        "customer": "cust-1",
        "description": "d",
        "metadata": {"order_id": "ord-1", "created_at": "2026-01-01T00:00:00Z"},
        "status": "succeeded",
        "paid": True,
        "refunded": False,
        "failure_code": None,
        "created": 1_700_000_000,
    }
    entry = books.snapshot().charges[0]
    assert (entry.id, entry.idempotency_key, entry.order_id) == (charge["id"], "key-1", "ord-1")
    assert books.charge_object(charge["id"]) == charge


@pytest.mark.parametrize(
    ("customer", "code", "message"),
    [
        ("decline-cust-1", "generic_decline", "Your card was declined."),
        ("insufficient-funds-cust-1", "insufficient_funds", "Your card has insufficient funds."),
    ],
)
def test_a_declining_test_customer_is_a_402_and_a_decline_in_the_ledger_never_a_charge(
    customer: str, code: str, message: str
) -> None:
    books = Books()
    with pytest.raises(ApiError) as raised:
        books.charge(parse_charge(charge_body(customer=customer)), "key-1", 1)
    error = raised.value
    assert error.status == 402
    assert error.error["type"] == "card_error"
    assert (error.error["code"], error.error["decline_code"], error.error["message"]) == (
        "card_declined",
        code,
        message,
    )
    ledger = books.snapshot()
    assert ledger.charges == ()
    assert [(d.id, d.decline_code, d.customer, d.idempotency_key) for d in ledger.declines] == [
        (error.error["charge"], code, customer, "key-1")
    ]
    failed = books.charge_object(error.error["charge"])
    assert (failed["status"], failed["paid"], failed["failure_code"]) == ("failed", False, "card_declined")


def test_only_the_documented_prefixes_decline() -> None:
    assert decline_code("decline-x") == "generic_decline"
    assert decline_code("insufficient-funds-x") == "insufficient_funds"
    assert decline_code("x-decline-") is None
    assert decline_code("declined") is None


def test_refunds_full_partial_too_much_and_again() -> None:
    books = Books()
    charge_id = books.charge(parse_charge(charge_body(amount=1000)), None, 1)["id"]

    partial = books.refund(RefundParams(charge_id, 300, {"reason": "one item"}), "r1", 2)
    assert {key: partial[key] for key in ("object", "amount", "charge", "currency", "status", "metadata")} == {
        "object": "refund",
        "amount": 300,
        "charge": charge_id,
        "currency": "usd",
        "status": "succeeded",
        "metadata": {"reason": "one item"},
    }
    assert partial["id"].startswith("re_")
    after_partial = books.charge_object(charge_id)
    assert (after_partial["amount_refunded"], after_partial["refunded"]) == (300, False)

    with pytest.raises(ApiError) as too_much:
        books.refund(RefundParams(charge_id, 701), None, 3)
    assert (too_much.value.status, too_much.value.error["code"]) == (400, "amount_too_large")

    rest = books.refund(RefundParams(charge_id), None, 4)  # no amount: what is left
    assert rest["amount"] == 700
    after_full = books.charge_object(charge_id)
    assert (after_full["amount_refunded"], after_full["refunded"]) == (1000, True)

    with pytest.raises(ApiError) as again:
        books.refund(RefundParams(charge_id), None, 5)
    assert (again.value.status, again.value.error["code"]) == (400, "charge_already_refunded")
    assert [refund.amount for refund in books.snapshot().refunds] == [300, 700]


def test_a_refund_of_an_unknown_or_declined_charge_is_refused() -> None:
    books = Books()
    with pytest.raises(ApiError) as missing:
        books.refund(RefundParams("ch_nope"), None, 1)
    assert missing.value.status == 404
    assert (missing.value.error["code"], missing.value.error["param"]) == ("resource_missing", "charge")
    with pytest.raises(ApiError) as declined:
        books.charge(parse_charge(charge_body(customer="decline-x")), None, 1)
    with pytest.raises(ApiError) as refused:
        books.refund(RefundParams(declined.value.error["charge"]), None, 2)
    assert (refused.value.status, refused.value.error["param"]) == (400, "charge")
    assert books.snapshot().refunds == ()


def test_an_unknown_charge_is_a_404() -> None:
    with pytest.raises(ApiError) as raised:
        Books().charge_object("ch_nope")
    assert (raised.value.status, raised.value.error["code"]) == (404, "resource_missing")


# --- the ledger --------------------------------------------------------------------------------------


def _ledger_with_three_orders() -> Ledger:
    books = Books()
    paid = books.charge(parse_charge(charge_body(amount=1000, metadata={"order_id": "o-paid"})), "o-paid:charge", 1)
    refunded = books.charge(
        parse_charge(charge_body(amount=500, currency="eur", metadata={"order_id": "o-refunded"})),
        "o-refunded:charge",
        2,
    )
    books.refund(RefundParams(refunded["id"], 200), "o-refunded:refund-1", 3)
    books.refund(RefundParams(refunded["id"]), "o-refunded:refund-2", 4)
    with pytest.raises(ApiError):
        books.charge(parse_charge(charge_body(customer="decline-x", metadata={"order_id": "o-declined"})), "d:1", 5)
    books.charge(parse_charge(charge_body(amount=7, metadata={})), None, 6)  # no order id
    assert paid["amount"] == 1000
    return books.snapshot()


def test_the_ledger_sums_each_order() -> None:
    orders = _ledger_with_three_orders().by_order()
    assert list(orders) == ["o-paid", "o-refunded", "", "o-declined"]
    paid, refunded, anonymous, declined = orders.values()
    assert (paid.charged, paid.refunded, paid.net, paid.charges, paid.refunds, paid.declined) == (
        1000,
        0,
        1000,
        1,
        0,
        0,
    )
    assert paid.keys == ("o-paid:charge",)
    assert (refunded.charged, refunded.refunded, refunded.net, refunded.refunds, refunded.currency) == (
        500,
        500,
        0,
        2,
        "eur",
    )
    assert refunded.keys == ("o-refunded:charge", "o-refunded:refund-1", "o-refunded:refund-2")
    assert (anonymous.charged, anonymous.keys) == (7, ())
    assert (declined.charged, declined.net, declined.declined, declined.keys) == (0, 0, 1, ("d:1",))


def test_a_refund_counts_for_its_charge_s_order_whatever_its_own_metadata_says() -> None:
    books = Books()
    charge_id = books.charge(parse_charge(charge_body(metadata={"order_id": "mine"})), None, 1)["id"]
    books.refund(RefundParams(charge_id, 1, {"order_id": "someone-else"}), None, 2)
    ledger = books.snapshot()
    assert ledger.by_order()["mine"].refunded == 1
    assert "someone-else" not in ledger.by_order()
    assert len(ledger.for_order("mine").refunds) == 1
    assert ledger.for_order("someone-else") == Ledger()


def test_one_order_s_entries() -> None:
    ledger = _ledger_with_three_orders()
    refunded = ledger.for_order("o-refunded")
    assert [charge.amount for charge in refunded.charges] == [500]
    assert [refund.amount for refund in refunded.refunds] == [200, 300]
    assert refunded.declines == ()
    assert [d.decline_code for d in ledger.for_order("o-declined").declines] == ["generic_decline"]


def test_the_ledger_goes_through_json_unchanged() -> None:
    ledger = _ledger_with_three_orders()
    data = json.loads(json.dumps(ledger.to_json()))
    assert set(data) == {"charges", "refunds", "declines"}
    for entry in [*data["charges"], *data["refunds"], *data["declines"]]:
        assert {"id", "amount", "currency", "customer", "metadata", "idempotency_key", "created"} <= set(entry)
    assert all("charge" in refund for refund in data["refunds"])
    assert Ledger.from_json(data) == ledger


@pytest.mark.parametrize(
    "data", [[], {"charges": []}, {"charges": [], "refunds": [], "declines": [{"id": "x"}]}, {"charges": [1]}]
)
def test_what_is_not_a_ledger_is_refused(data: Any) -> None:
    with pytest.raises(ValueError, match="not a payment ledger"):
        Ledger.from_json(data)


# --- fault draws -------------------------------------------------------------------------------------


def test_fault_draws_follow_the_seed_and_are_counted() -> None:
    faults = ProviderFaults(rate=0.3, seed=7)
    first, second = FaultDraws(faults), FaultDraws(faults)
    drawn = [first.draw() for _ in range(400)]
    assert drawn == [second.draw() for _ in range(400)]
    injected = [kind for kind in drawn if kind is not None]
    assert 60 < len(injected) < 180  # about 0.3 of 400
    assert set(injected) == set(ALL)
    assert first.injected() == Counter(injected)


def test_fault_draws_only_of_the_kinds_asked_and_none_at_rate_zero() -> None:
    only = FaultDraws(ProviderFaults(rate=1.0, seed=1, kinds=("server_error",)))
    assert [only.draw() for _ in range(5)] == ["server_error"] * 5
    never = FaultDraws(ProviderFaults(rate=0.0, seed=1))
    assert [never.draw() for _ in range(50)] == [None] * 50
    assert never.injected() == Counter()
    assert FaultDraws(None).draw() is None


def test_changing_the_faults_keeps_the_counts() -> None:
    draws = FaultDraws(ProviderFaults(rate=1.0, seed=1, kinds=("latency",)))
    draws.draw()
    draws.set(ProviderFaults(rate=1.0, seed=1, kinds=("rate_limited",)))
    draws.draw()
    draws.set(None)
    assert draws.draw() is None
    assert draws.injected() == Counter({"latency": 1, "rate_limited": 1})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rate": 1.5}, "between 0 and 1"),
        ({"rate": -0.1}, "between 0 and 1"),
        ({"kinds": ("teapot",)}, "fault kinds must be some of"),
        ({"kinds": ()}, "fault kinds must be some of"),
        ({"latency_ms": -1}, "latency_ms must not be negative"),
    ],
)
def test_bad_fault_settings_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ProviderFaults(**{"rate": 0.5, "seed": 1, **options})


# --- the API, without HTTP ---------------------------------------------------------------------------


def test_every_request_needs_the_api_key_and_the_answer_never_echoes_the_one_given() -> None:
    api = PaymentApi(API_KEY)
    for auth in (None, "", "Bearer", "Bearer wrong-key", f"Basic {API_KEY}", f"Bearer {API_KEY}x"):
        status, body = post(api, "/v1/charges", charge_body(), auth=auth)
        assert status == 401
        assert (body["error"]["type"], body["error"]["code"]) == ("invalid_request_error", "api_key_invalid")
        assert "wrong-key" not in json.dumps(body)
    assert api.handle(Request("GET", "/v1/charges/ch_x", "Bearer wrong-key")).status == 401
    assert api.ledger() == Ledger()


def test_a_repeat_with_the_key_is_replayed_and_charges_once() -> None:
    api = PaymentApi(API_KEY)
    first = api.handle(Request("POST", "/v1/charges", AUTH, "k1", json.dumps(charge_body()).encode()))
    # the same parameters, written otherwise (key order, spacing): still the same request
    again = api.handle(
        Request("POST", "/v1/charges", AUTH, "k1", json.dumps(charge_body(), indent=2, sort_keys=True).encode())
    )
    assert (first.status, again.status) == (200, 200)
    assert again.body == first.body
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(api.ledger().charges) == 1


def test_a_decline_is_saved_for_its_key_and_replayed() -> None:
    api = PaymentApi(API_KEY)
    first = post(api, "/v1/charges", charge_body(customer="decline-c"), key="k")
    second = post(api, "/v1/charges", charge_body(customer="decline-c"), key="k")
    assert first == second
    assert first[0] == 402
    assert len(api.ledger().declines) == 1


def test_a_request_that_fails_validation_saves_nothing_for_its_key() -> None:
    api = PaymentApi(API_KEY)
    assert post(api, "/v1/charges", charge_body(amount=0), key="k")[0] == 400
    status, body = post(api, "/v1/charges", charge_body(), key="k")  # the same key, now valid: it runs
    assert (status, body["object"]) == (200, "charge")


def test_the_same_key_with_other_parameters_or_another_endpoint_is_an_idempotency_error() -> None:
    api = PaymentApi(API_KEY)
    charged = post(api, "/v1/charges", charge_body(), key="k")[1]
    status, body = post(api, "/v1/charges", charge_body(amount=1), key="k")
    assert status == 400
    assert body["error"]["type"] == "idempotency_error"
    assert body["error"]["message"].startswith(
        "Keys for idempotent requests can only be used with the same parameters they were first used with"
    )
    status, body = post(api, "/v1/refunds", {"charge": charged["id"]}, key="k")
    assert (status, body["error"]["type"]) == (400, "idempotency_error")
    assert api.ledger().refunds == ()
    assert post(api, "/v1/charges", charge_body(), key="k")[1] == charged  # still the first result


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_an_idempotency_key_is_1_to_255_characters(key: str) -> None:
    api = PaymentApi(API_KEY)
    status, body = post(api, "/v1/charges", charge_body(), key=key)
    assert (status, body["error"]["param"]) == (400, "Idempotency-Key")
    assert post(api, "/v1/charges", charge_body(), key="k" * 255)[0] == 200


def test_a_request_while_the_first_with_its_key_runs_is_a_409_and_saves_nothing() -> None:
    api = PaymentApi(API_KEY)
    entered, release = threading.Event(), threading.Event()

    def hold(request: Request) -> None:
        if request.idempotency_key == "slow":
            entered.set()
            assert release.wait(10)

    api.before_execute = hold
    results: list[tuple[int, Any]] = []
    first = threading.Thread(target=lambda: results.append(post(api, "/v1/charges", charge_body(), key="slow")))
    first.start()
    assert entered.wait(10)
    status, body = post(api, "/v1/charges", charge_body(), key="slow")
    assert status == 409
    assert (body["error"]["type"], body["error"]["code"]) == ("idempotency_error", "idempotency_key_in_use")
    assert api.ledger().charges == ()  # the first is still in flight
    release.set()
    first.join(10)
    assert results[0][0] == 200
    replay = post(api, "/v1/charges", charge_body(), key="slow")
    assert replay == results[0]  # the 409 saved nothing: the first result is what is replayed
    assert len(api.ledger().charges) == 1


def test_an_endpoint_that_fails_unexpectedly_leaves_its_key_free_for_a_retry() -> None:
    api = PaymentApi(API_KEY)
    calls = []

    def fail_once(request: Request) -> None:
        calls.append(request)
        if len(calls) == 1:
            raise RuntimeError("boom")

    api.before_execute = fail_once
    with pytest.raises(RuntimeError, match="boom"):
        post(api, "/v1/charges", charge_body(), key="k")
    assert post(api, "/v1/charges", charge_body(), key="k")[0] == 200
    assert len(api.ledger().charges) == 1


def test_the_key_is_forgotten_after_its_ttl_and_the_same_key_charges_again() -> None:
    clock = FakeClock()
    api = PaymentApi(API_KEY, key_ttl_seconds=86_400, clock=clock)
    first = post(api, "/v1/charges", charge_body(), key="order-1:charge")[1]
    clock.now += 86_399
    assert post(api, "/v1/charges", charge_body(), key="order-1:charge")[1] == first
    clock.now += 1
    second = post(api, "/v1/charges", charge_body(), key="order-1:charge")[1]
    assert second["id"] != first["id"]
    assert [charge.id for charge in api.ledger().charges] == [first["id"], second["id"]]


def test_concurrent_refunds_never_refund_more_than_was_charged() -> None:
    api = PaymentApi(API_KEY)
    charge_id = post(api, "/v1/charges", charge_body(amount=100))[1]["id"]
    racers = 12
    lined_up = threading.Barrier(racers)

    def line_up(request: Request) -> None:  # every refund has passed its checks of the request, then all run at once
        lined_up.wait(10)

    api.before_execute = line_up
    statuses: list[int] = []

    def refund(n: int) -> None:
        statuses.append(post(api, "/v1/refunds", {"charge": charge_id, "amount": 30}, key=f"refund-{n}")[0])

    threads = [threading.Thread(target=refund, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(statuses) == [200] * 3 + [400] * 9  # 3 x 30 fit in 100; a fourth would make 120
    ledger = api.ledger()
    assert sum(refund.amount for refund in ledger.refunds) == 90
    assert ledger.charges[0].amount_refunded == 90


def test_get_a_charge_and_unknown_urls() -> None:
    api = PaymentApi(API_KEY)
    charge = post(api, "/v1/charges", charge_body())[1]
    got = api.handle(Request("GET", f"/v1/charges/{charge['id']}", AUTH))
    assert (got.status, got.body) == (200, charge)
    missing = api.handle(Request("GET", "/v1/charges/ch_nope", AUTH))
    assert (missing.status, missing.body["error"]["code"]) == (404, "resource_missing")
    for method, path in [("POST", "/v1/customers"), ("DELETE", "/v1/charges"), ("GET", "/v1/charges")]:
        answer = api.handle(Request(method, path, AUTH))
        assert answer.status == 404
        assert "Unrecognized request URL" in answer.body["error"]["message"]
