"""`orderflow dlq`: every dead letter explained, and redriven only when that can help."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from orderflow_cli.aws import LOCAL_ENDPOINT, LOG_GROUP, TABLE_NAME, CliError, Target, translate
from orderflow_cli.common import EndpointOption, console, errors, fail, print_fitted_table
from orderflow_local.ops.producer import DLQ_NAME, QUEUE_NAME

if TYPE_CHECKING:
    from orderflow_local.ops.dlq import FunctionLogReader

dlq_app = typer.Typer(help="Inspect and redrive the dead letter queue.", no_args_is_help=True)

DlqUrlOption = Annotated[str | None, typer.Option(help="The DLQ (default: OrderCreatedDLQ's URL).")]
LogGroupOption = Annotated[str, typer.Option(help="The function's log group, searched for reasons SQS did not keep.")]
TableOption = Annotated[str, typer.Option(help="The orders table, checked for events already stored.")]


@dlq_app.command("list")
def dlq_list(
    endpoint_url: EndpointOption = LOCAL_ENDPOINT,
    dlq_url: DlqUrlOption = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many messages.")] = 100,
    show_body: Annotated[
        bool, typer.Option(help="Print each body, its first 200 characters (it may hold personal data).")
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print a JSON array: sourceMessageId (the id the function's logs carry: pass it to "
            "`orderflow logs --message-id`), messageId (the DLQ copy's own id, for SQS calls on the DLQ), body, "
            "reason, reasonSource, errorCode, alreadyStored, receiveCount, movedBy, redriveCount.",
        ),
    ] = False,
    log_group: LogGroupOption = LOG_GROUP,
    table: TableOption = TABLE_NAME,
) -> None:
    """List the messages in the DLQ, each with why it is there (they stay in the DLQ).

    Each is shown by its source message id: its id on the order queue, which the function's
    logs carry (`orderflow logs --message-id ID` shows what happened to it). A message the
    handler sent to the DLQ has an id of its own there, in --json's messageId.

    The reason is the handler's (errorCode, errorReason) when it rejected the message
    itself; for a message SQS moved when its receives ran out, it is the last failure the
    function logged for that message id in CloudWatch Logs. `alreadyStored` marks a
    message whose event is in the table already: redriving it would change nothing, and
    `dlq redrive` deletes it.
    """
    from orderflow_local.ops.dlq import explain, in_flight, list_dead_letters

    target = Target(endpoint_url)
    try:
        url = dlq_url or target.queue_url(DLQ_NAME)
        hidden = translate(lambda: in_flight(target.sqs(), url), target, "DLQ")  # before we hide any ourselves
        letters = translate(lambda: list_dead_letters(target.sqs(), url, limit=limit), target, "DLQ")
        reader = _log_reader(target, log_group)
        explained = translate(
            lambda: explain(letters, logs=reader, read_item=target.item_reader(table)), target, "the dead letters"
        )
    except CliError as exc:
        raise fail(str(exc)) from None
    if as_json:
        sys.stdout.write(json.dumps([entry.to_json() for entry in explained], indent=2) + "\n")
        return
    hidden_note = (
        f"{hidden} more in flight: received by another reader (a redrive, a consumer) and not deleted; "
        "they are listed once their visibility timeout ends."
    )
    if not explained:
        console.print(f"No message is visible in the DLQ. {hidden_note}" if hidden else "The DLQ is empty.")
        return
    headers = ["sourceMessageId", "moved by", "error", "reason", "stored", "receives", "redrives"]
    rows = [
        [
            entry.letter.source_message_id,
            entry.letter.moved_by,
            entry.error_code,
            entry.reason,
            {True: "yes", False: "no", None: "-"}[entry.already_stored],
            str(entry.letter.receive_count),
            str(entry.letter.redrive_count),
            *([_shown_body(entry.letter.body)] if show_body else []),
        ]
        for entry in explained
    ]
    print_fitted_table(
        console,
        [*headers, *(["body"] if show_body else [])],
        rows,
        folding={"reason", "body"},
        drop=["redrives", "receives", "moved by", "stored"],
        fold_min=16,
    )
    by_sqs = sum(1 for entry in explained if entry.letter.moved_by == "sqs")
    stored_count = sum(1 for entry in explained if entry.already_stored)
    console.print(
        f"{len(explained)} message(s): {len(explained) - by_sqs} rejected by the handler, {by_sqs} moved by SQS "
        f"when their receives ran out; {stored_count} already stored (`dlq redrive` deletes them)."
    )
    if hidden:
        console.print(hidden_note)


#: How much of a body a table shows (--json has it whole).
BODY_SHOWN = 200


def _shown_body(body: str) -> str:
    if len(body) <= BODY_SHOWN:
        return body
    return f"{body[:BODY_SHOWN]} [the first {BODY_SHOWN} of {len(body)} characters: --json has it whole]"


def _log_reader(target: Target, group: str) -> FunctionLogReader | None:
    """A reader of the function's logs, or None (with a warning) when they cannot be read."""
    from botocore.exceptions import BotoCoreError, ClientError

    from orderflow_local.ops.dlq import FunctionLogReader

    logs = target.logs()
    try:
        logs.describe_log_streams(logGroupName=group, limit=1)
    except (ClientError, BotoCoreError) as exc:
        errors.print(f"warning: cannot read the log group {group} ({exc}); reasons SQS did not keep stay unknown")
        return None
    return FunctionLogReader(logs, group)


@dlq_app.command("redrive")
def dlq_redrive(
    endpoint_url: EndpointOption = LOCAL_ENDPOINT,
    include_rejected: Annotated[
        bool, typer.Option(help="Also redrive messages the handler rejected as invalid (after fixing the cause).")
    ] = False,
    rate: Annotated[float, typer.Option(min=0.1, help="Messages per second.")] = 10.0,
    limit: Annotated[int | None, typer.Option(min=1, help="Move at most this many.")] = None,
    dlq_url: DlqUrlOption = None,
    queue_url: Annotated[
        str | None, typer.Option(help="Where to move them (default: OrderCreatedQueue's URL).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be moved and deleted.")] = False,
    table: TableOption = TABLE_NAME,
) -> None:
    """Move DLQ messages back to the order queue, attributes kept, at a limited rate.

    Messages whose event is already stored are deleted from the DLQ, not redriven: sending
    them again would change nothing. Messages SQS moved after their retries ran out are
    redriven. Messages the handler rejected as permanently invalid are skipped unless
    --include-rejected, and none is redriven more than 3 times, so a hopeless message never
    loops forever.
    """
    from orderflow_local.ops.dlq import MAX_REDRIVES, redrive

    target = Target(endpoint_url)
    try:
        source = queue_url or target.queue_url(QUEUE_NAME)
        dlq = dlq_url or target.queue_url(DLQ_NAME)
        report = translate(
            lambda: redrive(
                target.sqs(),
                dlq_url=dlq,
                source_url=source,
                include_rejected=include_rejected,
                rate=rate,
                limit=limit,
                progress=_redrive_progress,
                read_item=target.item_reader(table),
                dry_run=dry_run,
            ),
            target,
            "redrive",
        )
    except CliError as exc:
        raise fail(str(exc)) from None
    if console.is_terminal and report.moved:
        console.print()  # end the line counting up in place
    verb = "Would" if dry_run else ""
    if dry_run:
        console.print(
            f"Dry run: nothing was sent or deleted. Would move {len(report.would_move)} message(s) to {source}."
        )
    else:
        console.print(f"Moved {report.moved} message(s) back to {source}.")
    if report.deleted_stored:
        console.print(
            f"{verb or 'Deleted'}{' delete' if verb else ''} {report.deleted_stored} message(s) whose event is "
            "already stored: sending them again would change nothing."
        )
    if report.skipped_rejected:
        console.print(
            f"Left {report.skipped_rejected} rejected message(s) in the DLQ: they would fail again. "
            "Fix the producer, or pass --include-rejected once the cause is fixed."
        )
    if report.skipped_capped:
        console.print(f"Left {report.skipped_capped} message(s) already redriven {MAX_REDRIVES} times (the cap).")


def _redrive_progress(moved: int) -> None:
    # On a terminal one line counts up in place; in a pipe or a log, whole lines (every 10th).
    if console.is_terminal:
        console.print(f"\rmoved {moved}", end="")
    elif moved % 10 == 0:
        console.print(f"moved {moved}")


@dlq_app.command("purge")
def dlq_purge(
    endpoint_url: EndpointOption = LOCAL_ENDPOINT,
    dlq_url: DlqUrlOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (needed when not run from a terminal).")] = False,
) -> None:
    """Delete every message in the DLQ (SQS PurgeQueue), after asking.

    It says how many messages will go (those in flight too) and asks first; --yes skips the
    question. Purged messages cannot be redriven or explained any more: look first with
    `orderflow dlq list`, and redrive what can still be stored with `orderflow dlq redrive`.
    SQS allows one purge of a queue every 60 seconds; on AWS a purge takes up to 60 seconds
    to finish.
    """
    from orderflow_local.ops.dlq import depth

    target = Target(endpoint_url)
    try:
        url = dlq_url or target.queue_url(DLQ_NAME)
        count, hidden = translate(lambda: depth(target.sqs(), url), target, "DLQ")
    except CliError as exc:
        raise fail(str(exc)) from None
    if count == 0:
        console.print(f"The DLQ is empty: nothing to purge ({url}).")
        return
    what = f"{count} message(s)" + (f", {hidden} of them in flight," if hidden else "")
    if not yes:
        if not _interactive():
            raise fail(f"not purging {what} in {url} without a confirmation: run it in a terminal, or pass --yes")
        if not typer.confirm(f"Delete all {what} in {url}? They cannot be redriven afterwards."):
            console.print("Nothing was purged.")
            raise typer.Exit(1)
    try:
        translate(lambda: _purge(target, url), target, "DLQ")
    except CliError as exc:
        raise fail(str(exc)) from None
    later = " SQS takes up to 60 s to finish deleting them." if target.is_real_aws else ""
    console.print(f"Purged {count} message(s) from {url}.{later}")


def _purge(target: Target, url: str) -> None:
    from botocore.exceptions import ClientError

    try:
        target.sqs().purge_queue(QueueUrl=url)
    except ClientError as exc:
        if "PurgeQueueInProgress" not in exc.response.get("Error", {}).get("Code", ""):
            raise
        raise CliError(
            f"{url} was purged less than 60 s ago (SQS allows one purge of a queue every 60 s): "
            "wait a minute, then run it again"
        ) from None


def _interactive() -> bool:
    """Someone can answer a question: the input is a terminal."""
    return sys.stdin.isatty()
