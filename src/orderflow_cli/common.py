"""What every command group shares: the consoles, the options several commands take, the one-line error,
and starting the local stack (`up` and `demo`)."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console, ConsoleDimensions

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from rich.table import Table

#: The width given to output that is not a terminal (a pipe, a file, a test's capture): wide
#: enough that nothing is wrapped or cut, so every line can be copied or grepped whole.
UNWRAPPED_WIDTH = 100_000


class OutputConsole(Console):
    """A rich console that wraps only for a terminal: elsewhere each line is printed whole.

    Rich gives a console that is not a terminal 80 columns, which wrapped the export lines
    that people copy and cut identifiers in tables. Tables still fit a terminal's width:
    see :func:`identifier_column`.
    """

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        return size if self.is_terminal else ConsoleDimensions(UNWRAPPED_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


console = OutputConsole(highlight=False)
errors = OutputConsole(stderr=True, highlight=False)


def identifier_column(table: Table, header: str, **options: Any) -> None:
    """Add a column for something people copy (an id, a name, a timestamp): never cut with an
    ellipsis; on a narrow terminal it folds onto the next line whole."""
    table.add_column(header, overflow="fold", **options)


def fitted_table(
    headers: list[str],
    rows: list[list[str]],
    *,
    folding: Collection[str],
    drop: Sequence[str],
    fold_min: int,
    width: int,
) -> tuple[Table, list[str]]:
    """A table of ``rows`` that fits ``width`` columns with nothing cut; and the headers it left out.

    Off a terminal every column is whole (the console's width is unbounded). On one, the ``drop``
    columns go, in that order, until the others fit whole beside each ``folding`` column (the
    long texts, at least ``fold_min`` wide, which fold onto more lines). When even that does not
    fit, every column folds: an identifier takes two lines, and is still never cut.
    """
    from rich.cells import cell_len
    from rich.table import Table
    from rich.text import Text

    natural = {
        header: max([cell_len(header)] + [cell_len(line) for row in rows for line in row[index].splitlines() or [""]])
        for index, header in enumerate(headers)
    }
    kept = list(headers)

    def needed() -> int:  # each column's text and padding (2), and the borders between and around them
        return sum(fold_min if header in folding else natural[header] for header in kept) + 3 * len(kept) + 1

    dropped = []
    for header in drop:
        if needed() <= width:
            break
        kept.remove(header)
        dropped.append(header)
    fits = needed() <= width
    table = Table()
    for header in kept:
        fixed = fits and header not in folding
        identifier_column(table, header, **({"width": natural[header]} if fixed else {}))
    for row in rows:  # as Text: a cell is shown as it is, never read as console markup ("[b]")
        table.add_row(*(Text(row[headers.index(header)]) for header in kept))
    return table, dropped


def print_fitted_table(
    out: Console,
    headers: list[str],
    rows: list[list[str]],
    *,
    folding: Collection[str],
    drop: Sequence[str],
    fold_min: int,
) -> list[str]:
    """Print :func:`fitted_table` on ``out`` at its width, then which columns it left out, if any; those."""
    table, dropped = fitted_table(headers, rows, folding=folding, drop=drop, fold_min=fold_min, width=out.width)
    out.print(table)
    if dropped:
        out.print(f"Not shown at this width: {', '.join(dropped)} (widen the terminal, or pass --json).")
    return dropped


EndpointOption = Annotated[
    str,
    typer.Option(
        "--endpoint-url",
        envvar="AWS_ENDPOINT_URL",
        help="Where the stack runs: the local stack's endpoint, or 'aws' for real AWS.",
        show_default=True,
    ),
]
ChaosOption = Annotated[
    float,
    typer.Option(
        "--chaos",
        min=0.0,
        max=1.0,
        help="Inject faults at this rate per AWS call: DynamoDB throttling/5xx, DLQ send failures, "
        "killed workers (before/after writes), handler timeouts, slow calls, SES refusals; and per request "
        "at the embedded payment provider: latency, 429, 500, a response lost after the charge.",
    ),
]
ChaosSeedOption = Annotated[int, typer.Option(help="Seed of the fault injection.")]
ContextOption = Annotated[
    list[str] | None,
    typer.Option(
        "--context",
        "-c",
        metavar="KEY=VALUE",
        help="CDK context, as the CDK CLI takes it (repeatable): -c fifo=true, -c fanout=true, -c stage=prod. "
        "The stack is synthesized with it.",
    ),
]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr; raise the returned exit (``raise fail(...) from None``)."""
    errors.print(f"error: {message}")
    return typer.Exit(code)


def parse_context(items: list[str] | None) -> dict[str, str]:
    """The -c KEY=VALUE options as a dict; exit 2 on one that is not KEY=VALUE."""
    context = {}
    for item in items or []:
        key, separator, value = item.partition("=")
        if not separator or not key.strip():
            raise fail(f"-c {item!r} is not KEY=VALUE: for example -c fifo=true", 2)
        context[key.strip()] = value.strip()
    return context


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt: what stops on Ctrl-C stops on it too."""


def handle_sigterm() -> None:
    """SIGTERM stops as Ctrl-C does (it raises :class:`Terminated`, a KeyboardInterrupt)."""

    def raise_interrupt(_signum: int, _frame: Any) -> None:
        raise Terminated

    signal.signal(signal.SIGTERM, raise_interrupt)


def interrupted_status(interrupt: KeyboardInterrupt) -> int:
    """The exit status after a stop by a signal, as a shell reports a process the signal ended
    (128 + its number): 130 after Ctrl-C (SIGINT), 143 after SIGTERM."""
    return 128 + (signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT)


def start_stack(stack: Any) -> Any:
    """Start a LocalStack; what keeps it from starting is one `error:` line and exit 1."""
    from orderflow_local.emulator import EmulatorError
    from orderflow_local.lambda_runtime.esm import MappingConfigurationError
    from orderflow_local.stack.template import TemplateError

    try:
        return stack.start()
    except (EmulatorError, TemplateError, MappingConfigurationError) as exc:
        raise fail(str(exc)) from None
