"""What SES sent, as the emulator lists it and orderflow_local.ops.mail reads it: the Notifier's raw MIME
(its headers, the plain and html parts in any transfer encoding, non-ASCII, hostile text kept as text),
the shapes SES builds itself (Content.Simple, a template), and the duplicate check of the invariants.

The list is taken from moto in-process here (``sent_messages``, what the emulator's endpoint answers);
tests/functional/test_cli_mail.py reads it over HTTP."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from orderflow_local.emulator import REGION
from orderflow_local.emulator.app import sent_messages
from orderflow_local.ops.mail import SentMail, duplicate_events, find_mail, parse_sent
from tests.mail_support import CUSTOMER, DATE, SENDER, notification, send_raw

if TYPE_CHECKING:
    from collections.abc import Iterator

HOSTILE_SUBJECT = "Ihre Bestellung <script>alert('x')</script> — größer ✓ [b]bold[/b]"
HOSTILE_TEXT = "Grüße, Ana 👋\n<script>alert(1)</script>\n[red]not markup[/red]\n"
HOSTILE_HTML = "<p>Grüße <b>Ana</b></p><script>alert(1)</script>\n"


@pytest.fixture
def sesv2(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("sesv2", region_name=REGION)
        client.create_email_identity(EmailIdentity=SENDER)
        yield client


def _mail() -> list[SentMail]:
    # through JSON, as the endpoint answers it
    return [parse_sent(entry) for entry in json.loads(json.dumps(sent_messages()))]


@pytest.mark.parametrize(
    ("cte", "smtp"),
    [(None, False), ("base64", False), ("quoted-printable", False), (None, True)],
    ids=["8bit", "base64", "quoted-printable", "smtp-crlf"],
)
def test_the_notifiers_message_is_read_as_a_person_reads_it(sesv2: Any, cte: str | None, smtp: bool) -> None:
    raw = notification(
        event_id="evt-1",
        order_id="ORD-1",
        kind="refund",
        to=f"Ana Ruíz <{CUSTOMER}>",
        subject=HOSTILE_SUBJECT,
        text=HOSTILE_TEXT,
        html=HOSTILE_HTML,
        cte=cte,
        smtp=smtp,
    )
    message_id = send_raw(sesv2, raw, to=None if smtp else CUSTOMER)
    [mail] = _mail()
    assert mail == SentMail(
        id=message_id,
        sender=SENDER,
        to=(f"Ana Ruíz <{CUSTOMER}>",),
        subject=HOSTILE_SUBJECT,
        date=DATE,
        event_id="evt-1",
        order_id="ORD-1",
        kind="refund",
        text=HOSTILE_TEXT,
        html=HOSTILE_HTML,
        raw=raw.decode(),
    )
    assert mail.to_json() == {
        "id": message_id,
        "from": SENDER,
        "to": [f"Ana Ruíz <{CUSTOMER}>"],
        "subject": HOSTILE_SUBJECT,
        "date": DATE,
        "eventId": "evt-1",
        "orderId": "ORD-1",
        "kind": "refund",
        "text": HOSTILE_TEXT,
        "html": HOSTILE_HTML,
    }


def test_the_list_is_oldest_first_with_each_messages_envelope(sesv2: Any) -> None:
    ids = [send_raw(sesv2, notification(event_id=f"evt-{n}", order_id=f"ORD-{n}")) for n in range(3)]
    listed = sent_messages()
    assert [entry["id"] for entry in listed] == ids
    assert listed[0]["source"] == SENDER
    assert CUSTOMER in listed[0]["destinations"]
    assert listed[0]["raw"].startswith("From: orders@shop.example")
    assert [mail.order_id for mail in _mail()] == ["ORD-0", "ORD-1", "ORD-2"]


def test_a_message_ses_built_itself_has_its_subject_and_body(sesv2: Any) -> None:
    destination = {"ToAddresses": [CUSTOMER], "CcAddresses": ["cc@example.com"]}
    text_only = sesv2.send_email(
        FromEmailAddress=SENDER,
        Destination=destination,
        Content={"Simple": {"Subject": {"Data": "Plain"}, "Body": {"Text": {"Data": "just text"}}}},
    )["MessageId"]
    both = {"Text": {"Data": "text"}, "Html": {"Data": "<html><body><p>html</p></body></html>"}}
    sesv2.send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": [CUSTOMER]},
        Content={"Simple": {"Subject": {"Data": "Both"}, "Body": both}},
    )
    first, _ = sent_messages()
    assert first == {
        "id": text_only,
        "source": SENDER,
        "destinations": [CUSTOMER, "cc@example.com"],
        "raw": None,
        "subject": "Plain",
        "body": "just text",
    }
    plain, html = _mail()
    assert (plain.subject, plain.to, plain.text, plain.html) == (
        "Plain",
        (CUSTOMER, "cc@example.com"),
        "just text",
        None,
    )
    assert (plain.event_id, plain.order_id, plain.kind, plain.date) == (None, None, None, "")
    # moto keeps the HTML body only, when both are given
    assert (html.text, html.html) == (None, "<html><body><p>html</p></body></html>")


def test_a_templated_message_names_its_template() -> None:
    mail = parse_sent(
        {"id": "m-1", "source": SENDER, "destinations": [CUSTOMER], "raw": None, "template": "T", "templateData": "{}"}
    )
    assert (mail.subject, mail.text, mail.to) == ("(template T)", "{}", (CUSTOMER,))


def test_a_message_with_only_an_html_part_has_no_text() -> None:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["Subject"] = SENDER, "html only"
    message.set_content("<p>hi</p>", subtype="html")
    mail = parse_sent({"id": "m-1", "source": SENDER, "destinations": [CUSTOMER], "raw": message.as_string()})
    assert (mail.text, mail.html, mail.to) == (None, "<p>hi</p>\n", (CUSTOMER,))  # no To header: the envelope's


def test_events_emailed_more_than_once_are_the_duplicates(sesv2: Any) -> None:
    for event_id in ("evt-a", "evt-b", "evt-a", "evt-c", "evt-a", "evt-b"):
        send_raw(sesv2, notification(event_id=event_id, order_id="ORD-1"))
    sesv2.send_email(  # not the Notifier's: no event id, never a duplicate
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": [CUSTOMER]},
        Content={"Simple": {"Subject": {"Data": "x"}, "Body": {"Text": {"Data": "x"}}}},
    )
    sesv2.send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": [CUSTOMER]},
        Content={"Simple": {"Subject": {"Data": "x"}, "Body": {"Text": {"Data": "x"}}}},
    )
    mail = _mail()
    duplicates = duplicate_events(mail)
    assert list(duplicates) == ["evt-a", "evt-b"]
    assert [sent.id for sent in duplicates["evt-a"]] == [mail[0].id, mail[2].id, mail[4].id]
    assert duplicate_events(mail[:2]) == {}
    assert find_mail(mail, mail[3].id) is mail[3]
    assert find_mail(mail, "no-such-id") is None
