"""`orderflow events`: the order service's domain events on its event bus, locally or on AWS."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from orderflow_cli.aws import LOCAL_ENDPOINT, CliError, Target, translate
from orderflow_cli.common import EndpointOption, errors, fail, handle_sigterm, interrupted_status
from orderflow_local.ops.events import DEFAULT_BUS, SOURCE

if TYPE_CHECKING:
    from collections.abc import Callable

    from orderflow_local.ops.events import Leftover, Subscription

events_app = typer.Typer(help="Watch the order service's domain events on its event bus.", no_args_is_help=True)


@events_app.command("tail")
def events_tail(
    endpoint_url: EndpointOption = LOCAL_ENDPOINT,
    bus: Annotated[str, typer.Option(help="The event bus: its name or ARN.")] = DEFAULT_BUS,
    detail_types: Annotated[
        list[str] | None,
        typer.Option(
            "--detail-type",
            metavar="TYPE",
            help="Only events of this detail-type, say OrderCancelled (repeatable: any of them).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print each whole event (EventBridge's envelope) as one JSON line, for jq.")
    ] = False,
    max_events: Annotated[int | None, typer.Option(min=1, help="Stop after this many events.")] = None,
    timeout: Annotated[float | None, typer.Option(min=0.0, help="Stop after this many seconds.")] = None,
) -> None:
    """Print the domain events as they are published on the bus, until Ctrl-C (as `sam logs --tail` does for logs).

    One line per event: when it happened, its detail-type, orderId, version, status and
    eventId; --json prints each whole event instead.

    EventBridge keeps no events to read back, so the tail subscribes: it creates a temporary
    SQS queue (orderflow-tail-<random>, encrypted) and a rule on the bus for source
    orderflow.orders (and the --detail-type ones) that sends to it, and reads the queue. Only
    events published after it starts are shown: there is no --since. Past events are in the
    bus's archive: replay them (docs/operations.md). On AWS a new rule takes a few seconds to
    match events. Events arrive in no guaranteed order: compare an order's versions.

    When it stops (Ctrl-C, SIGTERM, --max-events, --timeout, an error) it deletes the rule, its
    target and the queue; if one cannot be deleted, it says which, and the command that deletes
    it. It needs events:DescribeEventBus, PutRule, PutTargets, RemoveTargets, DeleteRule and
    sqs:CreateQueue, GetQueueAttributes, SetQueueAttributes, ReceiveMessage, DeleteMessage, DeleteQueue.
    """
    from orderflow_local.ops.events import BusNotFoundError, TargetRefusedError, tail

    target = Target(endpoint_url)
    kinds = [kind.strip() for kind in detail_types or []]
    if any(not kind for kind in kinds):
        raise fail("--detail-type needs a name, like OrderConfirmed", 2)

    def show(event: dict[str, Any]) -> None:
        sys.stdout.write((json.dumps(event) if as_json else summary(event)) + "\n")
        sys.stdout.flush()

    def ready(subscription: Subscription) -> None:
        only = f", detail-type {' or '.join(kinds)}" if kinds else ""
        errors.print(
            f"Tailing {subscription.bus} (source {SOURCE}{only}) through the temporary queue {subscription.name}; "
            "Ctrl-C to stop.",
            markup=False,
        )

    handle_sigterm()
    try:
        shown = translate(
            lambda: tail(
                target.events(),
                target.sqs(),
                on_event=show,
                bus=bus,
                detail_types=kinds,
                max_events=max_events,
                timeout=timeout,
                on_ready=ready,
                on_leftovers=_leftover_reporter(target),
            ),
            target,
            f"event bus {bus}",
        )
    except BusNotFoundError:
        raise fail(_missing_bus(bus, target)) from None
    except (CliError, TargetRefusedError) as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt as interrupt:  # Ctrl-C or SIGTERM: the tail has removed what it created
        raise typer.Exit(interrupted_status(interrupt)) from None
    except BrokenPipeError:  # the reader went away (`| head -1`): a normal end for a tail
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so exiting flushes nowhere, quietly
        return
    errors.print(f"Stopped after {shown} event(s); the temporary rule and queue are deleted.", markup=False)


def summary(event: dict[str, Any]) -> str:
    """An event as one line: when (the detail's occurredAt, else the envelope's time), detail-type, orderId,
    version, status, eventId; "-" for what it lacks."""
    found = event.get("detail")
    detail: dict[str, Any] = found if isinstance(found, dict) else {}

    def field(value: Any) -> str:
        return "-" if value in (None, "") else str(value)

    version = detail.get("version")
    return "  ".join(
        [
            field(detail.get("occurredAt") or event.get("time")),
            field(event.get("detail-type")).ljust(14),
            field(detail.get("orderId")),
            "-" if version is None else f"v{version}",
            field(detail.get("status")),
            field(detail.get("eventId")),
        ]
    )


def _missing_bus(bus: str, target: Target) -> str:
    where = target.describe()
    if target.is_real_aws:
        return f"event bus {bus} does not exist on AWS: deploy the stack (docs/deploy.md), or pass --bus"
    return (
        f"event bus {bus} does not exist at {where}: start the local stack with `orderflow up` "
        "(or deploy the stack there), or pass --bus"
    )


def _leftover_reporter(target: Target) -> Callable[[list[Leftover]], None]:
    """Says, in one line, what the tail could not delete and the AWS CLI commands that delete it
    (with the endpoint, off AWS)."""
    endpoint = "" if target.is_real_aws else f" --endpoint-url {target.endpoint_url}"

    def report(left: list[Leftover]) -> None:
        commands = [leftover.command.replace("aws ", f"aws{endpoint} ", 1) for leftover in left]
        errors.print(
            "warning: could not delete "
            + "; ".join(
                f"{leftover.what} (delete it: {command})" for leftover, command in zip(left, commands, strict=True)
            ),
            markup=False,
            soft_wrap=True,
        )

    return report
