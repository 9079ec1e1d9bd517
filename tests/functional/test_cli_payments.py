"""`orderflow payments list` in-process (typer's CliRunner) against a payment provider the test starts: the table
per order, --json and --order, how it finds the provider (--provider-url, $ORDERFLOW_PAYMENTS_URL, the record
`orderflow up` keeps of its stack), and the one line it says when none answers."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
import urllib3
from typer.testing import CliRunner

from orderflow_cli import payments
from orderflow_cli.common import OutputConsole
from orderflow_cli.main import app
from orderflow_local.lambda_runtime.environment import FunctionConfig
from orderflow_local.lambda_runtime.invoke import FunctionRecord, StackRecord, record_path
from orderflow_local.payments import PaymentProvider
from tests.support import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

API_KEY = "sk_test_cli"
ENV = {"COLUMNS": "200", "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


def _run(*args: str, **env: str) -> Any:
    # No $ORDERFLOW_PAYMENTS_URL from the environment the tests run in, unless a test sets it
    return CliRunner().invoke(
        app, ["payments", "list", *args], env={"ORDERFLOW_PAYMENTS_URL": None, **ENV, **env}, prog_name="orderflow"
    )


def _post(provider: PaymentProvider, path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
    response = urllib3.request(
        "POST",
        provider.url + path,
        body=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": key},
        retries=False,
    )
    return json.loads(response.data)  # type: ignore[no-any-return]


def _charge(
    provider: PaymentProvider, order_id: str, amount: int, customer: str = "cust-1", currency: str = "usd"
) -> Any:
    metadata = {"order_id": order_id, "created_at": "2026-01-01T00:00:00Z"}
    body = {"amount": amount, "currency": currency, "customer": customer, "metadata": metadata}
    return _post(provider, "/v1/charges", body, f"{order_id}:charge")


@pytest.fixture
def provider() -> Iterator[PaymentProvider]:
    """A provider with a charged order, a refunded one (in two parts), a declined one and one in yen."""
    with PaymentProvider(API_KEY) as started:
        _charge(started, "ord-paid", 4200)
        refunded = _charge(started, "ord-refunded", 1999)
        _post(started, "/v1/refunds", {"charge": refunded["id"], "amount": 999}, "ord-refunded:refund-1")
        _post(started, "/v1/refunds", {"charge": refunded["id"]}, "ord-refunded:refund-2")
        _charge(started, "ord-declined", 500, customer="decline-cust-2")
        _charge(started, "ord-yen", 1500, currency="JPY")
        yield started


def _rows(output: str) -> dict[str, list[str]]:
    """The table's rows (the header's too) by their first cell, the order id."""
    rows = {}
    for line in output.splitlines():
        if line[:1] in ("│", "┃"):
            cells = [cell.strip() for cell in line[1:-1].replace("┃", "│").split("│")]
            rows[cells[0]] = cells[1:]
    return rows


def test_the_table_shows_each_order_s_money_counts_and_keys(provider: PaymentProvider) -> None:
    result = _run("--provider-url", provider.url)
    assert result.exit_code == 0, result.output
    rows = _rows(result.stdout)
    assert rows["orderId"] == [
        "charged",
        "refunded",
        "net",
        "currency",
        "charges",
        "refunds",
        "declines",
        "idempotency keys",
    ]
    assert rows["ord-paid"] == ["42.00", "0.00", "42.00", "usd", "1", "0", "0", "ord-paid:charge"]
    assert rows["ord-refunded"] == [
        "19.99",
        "19.99",
        "0.00",
        "usd",
        "1",
        "2",
        "0",
        "ord-refunded:charge ord-refunded:refund-1 ord-refunded:refund-2",
    ]
    assert rows["ord-declined"] == ["0.00", "0.00", "0.00", "usd", "0", "0", "1", "ord-declined:charge"]
    assert rows["ord-yen"][:4] == ["1500", "0", "1500", "jpy"]  # yen has no minor units
    assert f"4 order(s): 3 charge(s), 2 refund(s), 1 decline(s), at {provider.url}" in result.stdout


def test_an_order_charged_twice_shows_two_charges(provider: PaymentProvider) -> None:
    body = {"amount": 4200, "currency": "usd", "customer": "cust-1", "metadata": {"order_id": "ord-paid"}}
    _post(provider, "/v1/charges", body, "another-key")
    row = _rows(_run("--provider-url", provider.url).stdout)["ord-paid"]
    assert row[:5] == ["84.00", "0.00", "84.00", "usd", "2"]
    assert row[-1] == "another-key ord-paid:charge"


def test_json_prints_the_ledger_s_entries_and_order_keeps_one_order(provider: PaymentProvider) -> None:
    everything = _run("--provider-url", provider.url, "--json")
    assert everything.exit_code == 0, everything.output
    assert json.loads(everything.stdout) == provider.ledger().to_json()

    one = _run("--provider-url", provider.url, "--json", "--order", "ord-refunded")
    ledger = json.loads(one.stdout)
    assert [charge["metadata"]["order_id"] for charge in ledger["charges"]] == ["ord-refunded"]
    assert [(refund["amount"], refund["idempotency_key"]) for refund in ledger["refunds"]] == [
        (999, "ord-refunded:refund-1"),
        (1000, "ord-refunded:refund-2"),
    ]
    assert ledger["declines"] == []

    table = _run("--provider-url", provider.url, "--order", "ord-declined")
    assert set(_rows(table.stdout)) == {"orderId", "ord-declined"}
    none = _run("--provider-url", provider.url, "--order", "ord-unknown")
    assert none.exit_code == 0
    assert none.stdout.strip() == f"no payments for order ord-unknown at {provider.url}"


def test_the_url_may_come_from_the_environment(provider: PaymentProvider) -> None:
    result = _run("--json", ORDERFLOW_PAYMENTS_URL=provider.url)
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["charges"]) == 3


def _record(tmp_path: Path, port: int, environment: dict[str, str]) -> None:
    config = FunctionConfig(name="PaymentProcessor", handler="h.handler", timeout=30, memory_size=256, environment={})
    functions = (
        FunctionRecord("OrderProcessorFn", FunctionConfig("OrderProcessor", "h.handler", 30, 256, {"TABLE": "Orders"})),
        FunctionRecord("PaymentProcessorFn", FunctionConfig(**{**config.__dict__, "environment": environment})),
    )
    StackRecord(endpoint=f"http://127.0.0.1:{port}", instance="i-1", functions=functions).write(
        tmp_path / record_path(port)
    )


def test_the_url_comes_from_the_running_stack_s_record(
    provider: PaymentProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    port = free_port()
    _record(tmp_path, port, {"PAYMENT_API_URL": provider.url})
    result = _run("--endpoint-url", f"http://127.0.0.1:{port}", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == provider.ledger().to_json()
    from_env = _run("--json", AWS_ENDPOINT_URL=f"http://localhost:{port}")  # as the other commands take it
    assert from_env.exit_code == 0, from_env.output


def _one_line_error(result: Any) -> str:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    return str(result.stderr)


def test_a_provider_that_does_not_answer_says_to_run_orderflow_up() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    error = _one_line_error(_run("--provider-url", url))
    assert error == f"error: no payment provider answers at {url}: {payments._HOW_TO_START}\n"
    assert "`orderflow up`" in error
    assert "--provider-url" in error


def test_no_stack_record_says_to_run_orderflow_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    port = free_port()
    error = _one_line_error(_run("--endpoint-url", f"http://127.0.0.1:{port}"))
    assert error.startswith(f"error: no stack runs at http://127.0.0.1:{port} from this directory")
    assert error.endswith("start the local stack with `orderflow up` (or pass --provider-url)\n")


def test_a_stack_without_a_payment_provider_or_whose_provider_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    port = free_port()
    _record(tmp_path, port, {"TABLE": "Orders"})
    error = _one_line_error(_run("--endpoint-url", f"http://127.0.0.1:{port}"))
    assert "runs no payment provider (no function has PAYMENT_API_URL)" in error
    stopped = f"http://127.0.0.1:{free_port()}"
    _record(tmp_path, port, {"PAYMENT_API_URL": stopped})
    error = _one_line_error(_run("--endpoint-url", f"http://127.0.0.1:{port}"))
    assert error.startswith(f"error: no payment provider answers at {stopped}: start the local stack with")


def test_real_aws_has_no_provider_to_list() -> None:
    error = _one_line_error(_run("--endpoint-url", "aws"))
    assert "the payment provider runs only beside `orderflow up`, not at AWS" in error


def test_something_else_answering_is_not_taken_for_the_provider(provider: PaymentProvider) -> None:
    error = _one_line_error(_run("--provider-url", provider.url + "/v1"))  # the API, which wants a key
    assert f"{provider.url}/v1 answers HTTP 401 for the ledger" in error
    assert "not an http(s) URL" in _one_line_error(_run("--provider-url", "127.0.0.1:80"))


def test_on_a_narrow_terminal_the_keys_fold_and_nothing_is_cut(
    provider: PaymentProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(payments, "console", OutputConsole(force_terminal=True, width=80, color_system=None))
    result = _run("--provider-url", provider.url)
    assert result.exit_code == 0, result.output
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    assert "…" not in result.stdout
    assert "ord-refunded" in result.stdout
    shown = " ".join(result.stdout.split())
    assert "Not shown at this width: currency, declines" in shown
    assert "idempotency keys" in shown  # kept, folded onto more lines
