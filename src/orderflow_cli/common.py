"""What every command group shares: the consoles, the endpoint option, the one-line error."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

EndpointOption = Annotated[
    str,
    typer.Option(
        "--endpoint-url",
        envvar="AWS_ENDPOINT_URL",
        help="Where the stack runs: the local stack's endpoint, or 'aws' for real AWS.",
        show_default=True,
    ),
]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr; raise the returned exit (``raise fail(...) from None``)."""
    errors.print(f"error: {message}")
    return typer.Exit(code)
