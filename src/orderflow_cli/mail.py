"""`orderflow mail`: the e-mail the local stack sent through SES (the Notifier's confirmations, cancellations
and refunds), listed and shown as the customer would read them.

The emulator keeps every message SES sent and answers them at its ``/_orderflow/ses/messages``
(orderflow_local.emulator.app), at --endpoint-url (the local stack's by default). AWS keeps no
such list: there, what was sent is in the Notifications table, or in SES event publishing's
CloudWatch metrics and logs (docs/local-vs-aws.md).
"""

from __future__ import annotations

import json
import re
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from orderflow_cli.aws import LOCAL_ENDPOINT, CliError, Target
from orderflow_cli.common import EndpointOption, console, fail, print_fitted_table

if TYPE_CHECKING:
    from orderflow_local.ops.mail import SentMail

mail_app = typer.Typer(invoke_without_command=True)

#: What to do when no local stack answers.
_HOW_TO_START = "start the local stack with `orderflow up` (or pass --endpoint-url)"
#: Control characters but newline and tab: an e-mail's text is shown, never obeyed by the terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@mail_app.callback()
def mail_list(
    ctx: typer.Context,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the messages as a JSON array, oldest first: id, from, to, subject, date, eventId, "
            "orderId, kind, text, html.",
        ),
    ] = False,
    order: Annotated[
        str | None, typer.Option("--order", metavar="ORDER_ID", help="Only the e-mail about this order.")
    ] = None,
    endpoint_url: EndpointOption = LOCAL_ENDPOINT,
) -> None:
    """List the e-mail SES sent in the local stack, newest last; `orderflow mail show ID` prints one.

    One row per message: its id (what `orderflow mail show` takes), the addressee, the kind of
    notification (confirmation, cancellation, refund), the order and the subject, from the
    Notifier's X-Orderflow-* headers. An event e-mailed more than once is named below the table.
    """
    if ctx.invoked_subcommand is not None:
        return
    from orderflow_local.ops.mail import duplicate_events

    target = Target(endpoint_url)
    mails = _read(target)
    if order is not None:
        mails = [mail for mail in mails if mail.order_id == order]
    if as_json:
        sys.stdout.write(json.dumps([mail.to_json() for mail in mails], indent=2, ensure_ascii=False) + "\n")
        return
    where = target.describe()
    if not mails:
        console.print(f"no e-mail sent{f' about order {order}' if order is not None else ''} at {where}", markup=False)
        return
    print_fitted_table(
        console,
        ["id", "to", "kind", "order", "subject"],
        [
            [
                mail.id,
                _shown(", ".join(mail.to)),
                _shown(mail.kind or ""),
                _shown(mail.order_id or ""),
                _shown(mail.subject),
            ]
            for mail in mails
        ],
        folding={"subject"},
        drop=["kind", "to"],
        fold_min=16,
    )
    console.print(f"{len(mails)} message(s) at {where}; `orderflow mail show ID` prints one.", markup=False)
    duplicates = duplicate_events(mails)
    if duplicates:
        named = ", ".join(f"{_shown(event_id)} ({len(sent)} times)" for event_id, sent in duplicates.items())
        console.print(f"{len(duplicates)} event(s) e-mailed more than once: {named}", markup=False)


@mail_app.command("show")
def mail_show(
    message_id: Annotated[str, typer.Argument(help="The message's id, as `orderflow mail` lists it.")],
    html: Annotated[
        bool,
        typer.Option("--html", help="Print the message's HTML part only, as sent (to save and open in a browser)."),
    ] = False,
    endpoint_url: EndpointOption = LOCAL_ENDPOINT,
) -> None:
    """Print one message as its addressee reads it: From, To, Subject and Date, then its plain-text part."""
    from orderflow_local.ops.mail import find_mail

    target = Target(endpoint_url)
    mail = find_mail(_read(target), message_id)
    if mail is None:
        where = target.describe()
        raise fail(
            f"no e-mail {_shown(message_id)!r} was sent at {where}: run `orderflow mail` to list the ones sent", 2
        )
    if html:
        if mail.html is None:
            raise fail(f"e-mail {mail.id} has no HTML part: `orderflow mail show {mail.id}` prints its text")
        sys.stdout.write(_shown(mail.html, keep_newlines=True))
        return
    lines = [
        f"From: {_shown(mail.sender)}",
        f"To: {_shown(', '.join(mail.to))}",
        f"Subject: {_shown(mail.subject)}",
        f"Date: {_shown(mail.date)}",
        "",
    ]
    if mail.text is None:
        lines.append(f"(no text/plain part: `orderflow mail show {mail.id} --html` prints its HTML)")
    else:
        lines.append(_shown(mail.text, keep_newlines=True).rstrip("\n"))
    sys.stdout.write("\n".join(lines) + "\n")


def _read(target: Target) -> list[SentMail]:
    """Every message SES sent at ``target``, oldest first; a CliError that says what to do otherwise."""
    from orderflow_local.ops.mail import EmulatorUnreachableError, MailFetchError, read_mail

    where = target.describe()
    if target.is_real_aws:
        raise CliError(
            "SES keeps no list of the e-mail it sent on AWS: see the Notifications table, or SES event "
            "publishing to CloudWatch (docs/local-vs-aws.md); `orderflow mail` reads the local stack's"
        )
    try:
        return read_mail(target.endpoint_url)
    except EmulatorUnreachableError:
        raise CliError(f"cannot reach {where}. Is `orderflow up` running? Or pass --endpoint-url.") from None
    except MailFetchError as exc:
        raise CliError(f"{exc}: is it orderflow's local stack? {_HOW_TO_START}") from None


def _shown(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` safe for a terminal: each control character as its escape (``\\x1b``), so an e-mail's
    text cannot move the cursor, recolour or retitle the terminal; one line unless ``keep_newlines``."""
    shown = _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text.replace("\r\n", "\n"))
    return shown if keep_newlines else shown.replace("\n", "\\n").replace("\t", " ")
