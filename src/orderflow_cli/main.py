"""The `orderflow` command: run the pipeline locally, send and cancel orders, inspect orders and the DLQ.

Every command but `up` and `demo` talks to the local stack (`orderflow up`) by default,
to any endpoint with --endpoint-url (or AWS_ENDPOINT_URL), or to real AWS with
--endpoint-url aws.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from orderflow_cli.aws import CliError
from orderflow_cli.bench import bench_app
from orderflow_cli.common import console, fail
from orderflow_cli.cost import cost_command
from orderflow_cli.demo import demo
from orderflow_cli.dlq import dlq_app
from orderflow_cli.events import events_app
from orderflow_cli.invoke import invoke
from orderflow_cli.mail import mail_app
from orderflow_cli.observe import logs, status
from orderflow_cli.orders import orders_app
from orderflow_cli.payments import payments_app
from orderflow_cli.send import cancel, send
from orderflow_cli.up import up

#: How `orderflow` and `orderflow --help` list the commands: run the stack, use it, look into it,
#: then measure it. (Typer would list the command groups after all the plain commands.)
COMMAND_ORDER = (
    "up",
    "demo",
    "send",
    "cancel",
    "invoke",
    "orders",
    "payments",
    "mail",
    "dlq",
    "logs",
    "events",
    "status",
    "bench",
    "cost",
)


class _Orderflow(TyperGroup):
    # (ctx: Any: typer's Context is its own copy of click's, under a private module)
    def list_commands(self, ctx: Any) -> list[str]:
        def rank(name: str) -> int:
            return COMMAND_ORDER.index(name) if name in COMMAND_ORDER else len(COMMAND_ORDER)

        return sorted(super().list_commands(ctx), key=rank)  # stable: a new command comes last, as added

    def invoke(self, ctx: Any) -> Any:
        """Run the command; a CliError it lets through (one raised where it makes its clients, say)
        is its one `error:` line, not a traceback."""
        try:
            return super().invoke(ctx)
        except CliError as exc:
            raise fail(str(exc)) from None


app = typer.Typer(
    cls=_Orderflow,
    help=__doc__,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command()(up)
app.command()(demo)
app.command()(send)
app.command()(cancel)
app.command()(invoke)
app.add_typer(orders_app, name="orders")
app.add_typer(payments_app, name="payments")
app.add_typer(mail_app, name="mail")
app.add_typer(dlq_app, name="dlq")
app.command()(logs)
app.add_typer(events_app, name="events")
app.command()(status)
app.add_typer(bench_app, name="bench")
app.command("cost")(cost_command)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.print(f"orderflow {version('orderflow')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Run the pipeline locally, send and cancel orders, inspect orders and the DLQ."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
