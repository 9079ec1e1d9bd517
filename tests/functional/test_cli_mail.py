"""`orderflow mail` and `orderflow mail show`, in-process (typer's CliRunner) against an in-process emulator fed
as the Notifier feeds it: raw MIME through SES v2 (tests/mail_support.py). The table, --order and --json, a
message printed as its addressee reads it (hostile and non-ASCII text shown as text, never obeyed), and the
one line each says when there is nothing to show or no stack to ask."""

from __future__ import annotations

import http.server
import json
import threading
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from orderflow_cli import mail as mail_cli
from orderflow_cli.common import OutputConsole
from orderflow_cli.main import app
from orderflow_local.emulator import Emulator
from tests.mail_support import CUSTOMER, DATE, SENDER, notification, send_raw
from tests.support import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

# One worker runs this module's tests, so its emulator starts once.
pytestmark = [pytest.mark.timeout(120), pytest.mark.xdist_group("test_cli_mail")]

HOSTILE_SUBJECT = "Bestätigung <script>alert('x')</script> [bold]ORD[/bold] \x1b[31mred"
HOSTILE_TEXT = "Grüße, Ana 👋\n<script>alert(1)</script>\n[red]not markup[/red] \x1b]0;pwned\x07\nTotal: 42,00 €\n"
HOSTILE_HTML = "<p>Grüße <b>Ana</b></p><script>alert(1)</script>\n"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(port=0) as running:
        running.client("sesv2").create_email_identity(EmailIdentity=SENDER)
        yield running


@pytest.fixture
def sesv2(emulator: Emulator) -> Any:
    return emulator.client("sesv2")


def _run(emulator: Emulator | None, *args: str, endpoint: str | None = None) -> Any:
    env = {"COLUMNS": "200", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": None}
    env["AWS_ENDPOINT_URL"] = endpoint or (emulator.endpoint if emulator else None)
    return CliRunner().invoke(app, ["mail", *args], env=env, prog_name="orderflow")


def _rows(output: str) -> list[list[str]]:
    """The table's rows (its header first), as cells."""
    return [
        [cell.strip() for cell in line[1:-1].replace("┃", "│").split("│")]
        for line in output.splitlines()
        if line[:1] in ("│", "┃")
    ]


def _one_line_error(result: Any, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    return str(result.stderr)


def test_the_table_lists_each_message_newest_last(emulator: Emulator, sesv2: Any) -> None:
    first = send_raw(sesv2, notification(event_id="evt-t1", order_id="ORD-table", kind="confirmation"))
    second = send_raw(
        sesv2, notification(event_id="evt-t2", order_id="ORD-table", kind="refund", to="Bo <bo@x.example>")
    )
    send_raw(sesv2, notification(event_id="evt-t3", order_id="ORD-other"))
    result = _run(emulator, "--order", "ORD-table")
    assert result.exit_code == 0, result.output
    assert _rows(result.stdout) == [
        ["id", "to", "kind", "order", "subject"],
        [first, CUSTOMER, "confirmation", "ORD-table", "Your order ORD-table: confirmation"],
        [second, "Bo <bo@x.example>", "refund", "ORD-table", "Your order ORD-table: refund"],
    ]
    assert f"2 message(s) at {emulator.endpoint}; `orderflow mail show ID` prints one." in result.stdout
    assert "more than once" not in result.stdout
    everything = _run(emulator)
    assert everything.exit_code == 0, everything.output
    assert {first, second} <= {row[0] for row in _rows(everything.stdout)}


def test_an_event_emailed_twice_is_named_below_the_table(emulator: Emulator, sesv2: Any) -> None:
    for _ in range(2):
        send_raw(sesv2, notification(event_id="evt-twice", order_id="ORD-twice"))
    result = _run(emulator, "--order", "ORD-twice")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "1 event(s) e-mailed more than once: evt-twice (2 times)"


def test_json_is_every_message_with_its_headers_and_parts(emulator: Emulator, sesv2: Any) -> None:
    raw = notification(
        event_id="evt-json",
        order_id="ORD-json",
        kind="cancellation",
        to=f"Ana Ruíz <{CUSTOMER}>",
        subject=HOSTILE_SUBJECT,
        text=HOSTILE_TEXT,
        html=HOSTILE_HTML,
    )
    message_id = send_raw(sesv2, raw)
    result = _run(emulator, "--json", "--order", "ORD-json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {
            "id": message_id,
            "from": SENDER,
            "to": [f"Ana Ruíz <{CUSTOMER}>"],
            "subject": HOSTILE_SUBJECT,
            "date": DATE,
            "eventId": "evt-json",
            "orderId": "ORD-json",
            "kind": "cancellation",
            "text": HOSTILE_TEXT,
            "html": HOSTILE_HTML,
        }
    ]
    assert "Grüße" in result.stdout  # UTF-8 as it is, not \u escapes
    assert "\x1b" not in result.stdout  # JSON escapes control characters
    none = _run(emulator, "--json", "--order", "ORD-none")
    assert (none.exit_code, json.loads(none.stdout)) == (0, [])


def test_hostile_text_is_shown_as_text_in_the_table(emulator: Emulator, sesv2: Any) -> None:
    message_id = send_raw(
        sesv2, notification(event_id="evt-hostile", order_id="ORD-hostile", subject=HOSTILE_SUBJECT, text=HOSTILE_TEXT)
    )
    result = _run(emulator, "--order", "ORD-hostile")
    assert result.exit_code == 0, result.output
    [_, row] = _rows(result.stdout)
    shown = HOSTILE_SUBJECT.replace("\x1b", "\\x1b")
    assert row == [message_id, CUSTOMER, "confirmation", "ORD-hostile", shown]  # [bold] not read as markup
    assert "\x1b" not in result.stdout


def test_show_prints_the_message_as_its_addressee_reads_it(emulator: Emulator, sesv2: Any) -> None:
    message_id = send_raw(
        sesv2,
        notification(
            event_id="evt-show",
            order_id="ORD-show",
            to=f"Ana Ruíz <{CUSTOMER}>",
            subject=HOSTILE_SUBJECT,
            text=HOSTILE_TEXT,
            html=HOSTILE_HTML,
            cte="quoted-printable",
            smtp=True,  # CRLF, sent without a Destination: as the Notifier sends
        ),
        to=None,
    )
    result = _run(emulator, "show", message_id)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"From: {SENDER}\n"
        f"To: Ana Ruíz <{CUSTOMER}>\n"
        "Subject: Bestätigung <script>alert('x')</script> [bold]ORD[/bold] \\x1b[31mred\n"
        f"Date: {DATE}\n"
        "\n"
        "Grüße, Ana 👋\n<script>alert(1)</script>\n[red]not markup[/red] \\x1b]0;pwned\\x07\nTotal: 42,00 €\n"
    )
    html = _run(emulator, "show", message_id, "--html")
    assert html.exit_code == 0, html.output
    assert html.stdout == HOSTILE_HTML


def test_a_message_with_only_one_part_says_how_to_see_the_other(emulator: Emulator, sesv2: Any) -> None:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SENDER, CUSTOMER, "html only"
    message.set_content("<p>only html</p>", subtype="html")
    html_only = send_raw(sesv2, message.as_bytes())
    result = _run(emulator, "show", html_only)
    assert result.exit_code == 0, result.output
    assert (
        result.stdout.splitlines()[-1]
        == f"(no text/plain part: `orderflow mail show {html_only} --html` prints its HTML)"
    )
    assert _run(emulator, "show", html_only, "--html").stdout == "<p>only html</p>\n"

    simple = sesv2.send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": [CUSTOMER]},
        Content={"Simple": {"Subject": {"Data": "plain"}, "Body": {"Text": {"Data": "just text"}}}},
    )["MessageId"]
    assert _run(emulator, "show", simple).stdout.endswith("Subject: plain\nDate: \n\njust text\n")
    error = _one_line_error(_run(emulator, "show", simple, "--html"))
    assert error == f"error: e-mail {simple} has no HTML part: `orderflow mail show {simple}` prints its text\n"


def test_show_of_an_unknown_id_says_to_list_them(emulator: Emulator) -> None:
    error = _one_line_error(_run(emulator, "show", "no-such-message"), code=2)
    assert error == (
        f"error: no e-mail 'no-such-message' was sent at {emulator.endpoint}: "
        "run `orderflow mail` to list the ones sent\n"
    )


def test_no_mail_about_an_order_is_one_line(emulator: Emulator) -> None:
    result = _run(emulator, "--order", "ORD-never")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"no e-mail sent about order ORD-never at {emulator.endpoint}\n"


def test_no_stack_says_to_run_orderflow_up() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    for args in ([], ["show", "some-id"]):
        error = _one_line_error(_run(None, *args, endpoint=endpoint))
        assert error == f"error: cannot reach {endpoint}. Is `orderflow up` running? Or pass --endpoint-url.\n"


def test_real_aws_keeps_no_list_of_what_ses_sent() -> None:
    error = _one_line_error(_run(None, endpoint="aws"))
    assert error.startswith("error: SES keeps no list of the e-mail it sent on AWS: see the Notifications table")


class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_error(404)

    def log_message(self, *_: object) -> None:
        pass


def test_something_else_answering_is_not_taken_for_the_stack() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        error = _one_line_error(_run(None, endpoint=endpoint))
    finally:
        server.shutdown()
        server.server_close()
    assert error == (
        f"error: {endpoint} answers HTTP 404 for the sent e-mail: is it orderflow's local stack? "
        "start the local stack with `orderflow up` (or pass --endpoint-url)\n"
    )


def test_on_a_narrow_terminal_nothing_is_cut(emulator: Emulator, sesv2: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    long_subject = "Your order ORD-narrow was confirmed and will ship from our warehouse in Zaragoza tomorrow"
    message_id = send_raw(sesv2, notification(event_id="evt-narrow", order_id="ORD-narrow", subject=long_subject))
    monkeypatch.setattr(mail_cli, "console", OutputConsole(force_terminal=True, width=80, color_system=None))
    result = _run(emulator, "--order", "ORD-narrow")
    assert result.exit_code == 0, result.output
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    assert "…" not in result.stdout
    # each column's cells, its folded lines joined: the id and the subject are there whole
    [header, *body] = _rows(result.stdout)
    columns = {name: "".join(row[index] for row in body) for index, name in enumerate(header)}
    assert columns["id"] == message_id
    assert columns["subject"].replace(" ", "") == long_subject.replace(" ", "")
    assert "Not shown at this width: kind, to" in " ".join(result.stdout.split())
