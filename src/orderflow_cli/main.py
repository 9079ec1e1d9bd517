"""The `orderflow` command: run the pipeline locally, send and cancel orders, inspect orders and the DLQ.

Every command but `up` and `demo` talks to the local stack (`orderflow up`) by default,
to any endpoint with --endpoint-url (or AWS_ENDPOINT_URL), or to real AWS with
--endpoint-url aws.
"""

from __future__ import annotations

from typing import Annotated

import typer

from orderflow_cli.bench import bench_app
from orderflow_cli.common import console
from orderflow_cli.cost import cost_command
from orderflow_cli.demo import demo
from orderflow_cli.dlq import dlq_app
from orderflow_cli.observe import logs, status
from orderflow_cli.orders import orders_app
from orderflow_cli.send import cancel, send
from orderflow_cli.up import up

app = typer.Typer(
    help=__doc__,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(orders_app, name="orders")
app.add_typer(dlq_app, name="dlq")
app.add_typer(bench_app, name="bench")
app.command()(logs)
app.command()(status)
app.command()(up)
app.command()(demo)
app.command()(send)
app.command()(cancel)
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
