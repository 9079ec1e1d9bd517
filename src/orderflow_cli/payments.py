"""`orderflow payments`: the embedded payment provider's ledger, what it charged, refunded and declined per order.

The provider runs inside `orderflow up` (orderflow_local.payments); its ledger is the ground truth
the payment invariants are checked against. It is found at --provider-url, else
$ORDERFLOW_PAYMENTS_URL, else in the record `orderflow up` keeps of its stack
(.orderflow/stacks/PORT.json, for the stack at --endpoint-url): the PAYMENT_API_URL its payment
function is given.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer

from orderflow_cli.aws import LOCAL_ENDPOINT, CliError, Target
from orderflow_cli.common import EndpointOption, console, fail, print_fitted_table

if TYPE_CHECKING:
    from collections.abc import Callable

    from orderflow_local.payments.ledger import Ledger, OrderPayments

payments_app = typer.Typer(
    help="The local payment provider's ledger: charges, refunds and declines per order.", no_args_is_help=True
)

#: The environment variable the payment function reads the provider's URL from (in the stack record).
PAYMENT_API_URL = "PAYMENT_API_URL"
#: What to do when no provider is found or none answers.
_HOW_TO_START = "start the local stack with `orderflow up` (or pass --provider-url)"


@payments_app.command("list")
def payments_list(
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the ledger's entries as JSON: {charges, refunds, declines}, each with its key."
        ),
    ] = False,
    order: Annotated[
        str | None, typer.Option("--order", metavar="ORDER_ID", help="Only this order's charges, refunds and declines.")
    ] = None,
    provider_url: Annotated[
        str | None,
        typer.Option(
            "--provider-url",
            envvar="ORDERFLOW_PAYMENTS_URL",
            metavar="URL",
            help="The payment provider, http://127.0.0.1:PORT. Default: the one of the stack at --endpoint-url.",
        ),
    ] = None,
    endpoint_url: EndpointOption = LOCAL_ENDPOINT,
) -> None:
    """List what the payment provider charged, refunded and declined, per order, with the idempotency keys.

    One row per order (the order_id of a charge's metadata): the amounts charged and refunded and
    what is left (net), in the currency's major units; how many charges, refunds and declines; and
    every idempotency key they came with. An order charged twice shows 2 under charges. --json
    prints the entries themselves.
    """
    try:
        url = provider_url or _url_from_stack(Target(endpoint_url))
        ledger = _read_ledger(url)
    except CliError as exc:
        raise fail(str(exc)) from None
    if order is not None:
        ledger = ledger.for_order(order)
    if as_json:
        sys.stdout.write(json.dumps(ledger.to_json(), indent=2, ensure_ascii=False) + "\n")
        return
    orders = ledger.by_order()
    if not orders:
        console.print(f"no payments{f' for order {order}' if order is not None else ''} at {url}", markup=False)
        return
    print_fitted_table(
        console,
        ["orderId", "charged", "refunded", "net", "currency", "charges", "refunds", "declines", "idempotency keys"],
        [_row(payments) for payments in orders.values()],
        folding={"idempotency keys"},
        drop=["currency", "declines", "refunds", "charges"],
        fold_min=16,
    )
    console.print(
        f"{len(orders)} order(s): {len(ledger.charges)} charge(s), {len(ledger.refunds)} refund(s), "
        f"{len(ledger.declines)} decline(s), at {url}",
        markup=False,
    )


def _row(payments: OrderPayments) -> list[str]:
    money = _money_formatter(payments.currency)
    return [
        payments.order_id or "(none)",
        money(payments.charged),
        money(payments.refunded),
        money(payments.net),
        payments.currency,
        str(payments.charges),
        str(payments.refunds),
        str(payments.declined),
        " ".join(payments.keys),
    ]


def _money_formatter(currency: str) -> Callable[[int], str]:
    """Minor units as the currency's major ones (4200 usd: 42.00; 4200 jpy: 4200); as they are for a
    currency ISO 4217 does not know, or for an order in several (which the ledger shows as "usd,eur")."""
    from decimal import Decimal

    import iso4217

    try:
        places = int(iso4217.Currency(currency.upper()).exponent or 0)
    except (ValueError, KeyError):
        return str
    return lambda minor: str(Decimal(minor).scaleb(-places))


def _url_from_stack(target: Target) -> str:
    """The provider's URL from the record of the stack `orderflow up` runs at ``target``: its payment
    function's PAYMENT_API_URL."""
    from orderflow_local.lambda_runtime.invoke import RecordError, StackRecord, record_path

    where = target.describe()
    if not target.is_loopback:
        raise CliError(f"the payment provider runs only beside `orderflow up`, not at {where}: {_HOW_TO_START}")
    parts = urlsplit(target.endpoint_url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise CliError(f"--endpoint-url {where} has no valid port: {_HOW_TO_START}") from None
    path = record_path(port)
    try:
        record = StackRecord.read(path)
    except RecordError as exc:
        raise CliError(f"cannot read {path} ({exc}): restart `orderflow up`, or pass --provider-url") from None
    if record is None:
        raise CliError(f"no stack runs at {where} from this directory (no {path}): {_HOW_TO_START}")
    found = next(
        (f.config.environment[PAYMENT_API_URL] for f in record.functions if f.config.environment.get(PAYMENT_API_URL)),
        None,
    )
    if found is None:
        raise CliError(
            f"the stack at {where} runs no payment provider (no function has {PAYMENT_API_URL}): {_HOW_TO_START}"
        )
    return found


def _read_ledger(url: str) -> Ledger:
    """The ledger the provider at ``url`` answers (its local ``/_orderflow/ledger``)."""
    import urllib.error
    import urllib.request

    from orderflow_local.payments import LEDGER_PATH, Ledger

    if not url.startswith(("http://", "https://")):
        raise CliError(f"--provider-url {url} is not an http(s) URL, like http://127.0.0.1:PORT")
    try:
        with urllib.request.urlopen(url.rstrip("/") + LEDGER_PATH, timeout=5) as answer:  # noqa: S310 - checked above
            data = json.loads(answer.read())
        return Ledger.from_json(data)
    except urllib.error.HTTPError as exc:
        raise CliError(
            f"{url} answers HTTP {exc.code} for the ledger: is it the payment provider? {_HOW_TO_START}"
        ) from None
    except OSError:  # nothing answers (URLError, a refused connection, a timeout)
        raise CliError(f"no payment provider answers at {url}: {_HOW_TO_START}") from None
    except ValueError:  # not JSON, or not a ledger
        raise CliError(f"{url} answers, but not with a payment ledger: is it the payment provider?") from None
