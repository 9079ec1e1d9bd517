"""What every command group shares: the consoles, the options several commands take, the one-line error,
and starting the local stack (`up` and `demo`)."""

from __future__ import annotations

import signal
from typing import Annotated, Any

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
ChaosOption = Annotated[
    float,
    typer.Option(
        "--chaos",
        min=0.0,
        max=1.0,
        help="Inject faults at this rate per AWS call: DynamoDB throttling/5xx, DLQ send failures, "
        "killed workers (before/after writes), handler timeouts, slow calls.",
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


def handle_sigterm() -> None:
    """SIGTERM stops as Ctrl-C does."""

    def raise_interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, raise_interrupt)


def start_stack(stack: Any) -> Any:
    """Start a LocalStack; what keeps it from starting is one `error:` line and exit 1."""
    from orderflow_local.emulator import EmulatorError
    from orderflow_local.lambda_runtime.esm import MappingConfigurationError
    from orderflow_local.stack.template import TemplateError

    try:
        return stack.start()
    except (EmulatorError, TemplateError, MappingConfigurationError) as exc:
        raise fail(str(exc)) from None
