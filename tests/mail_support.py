"""E-mail as the Notifier sends it (the contract of issue #25), for the tests of `orderflow mail`.

A MIME message built with Python's ``email`` package: From, To, Subject, Date, Message-ID and
the three ``X-Orderflow-*`` headers, the body ``multipart/alternative`` (``text/plain`` first,
then ``text/html``, UTF-8), sent through SES v2 ``SendEmail`` with ``Content.Raw``.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from typing import Any

SENDER = "orders@shop.example"
CUSTOMER = "ana@example.com"
#: A fixed Date, so a test can compare what is printed.
DATE = "Mon, 20 Apr 2026 14:30:00 +0000"


def notification(
    *,
    event_id: str,
    order_id: str,
    kind: str = "confirmation",
    to: str = CUSTOMER,
    subject: str | None = None,
    text: str | None = None,
    html: str | None = None,
    sender: str = SENDER,
    date: str = DATE,
    cte: str | None = None,
    smtp: bool = False,
) -> bytes:
    """The raw message the Notifier would send for ``event_id`` (``cte``: force a transfer encoding;
    ``smtp``: lines ending in CRLF, as the Notifier writes it with ``email.policy.SMTP``)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject if subject is not None else f"Your order {order_id}: {kind}"
    message["Date"] = date or formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain="shop.example")
    message["X-Orderflow-Event-Id"] = event_id
    message["X-Orderflow-Order-Id"] = order_id
    message["X-Orderflow-Notification"] = kind
    message.set_content(text if text is not None else f"Order {order_id}: {kind}.\n", charset="utf-8", cte=cte)
    message.add_alternative(
        html if html is not None else f"<p>Order {order_id}: {kind}.</p>\n", subtype="html", charset="utf-8", cte=cte
    )
    return message.as_bytes(policy=SMTP) if smtp else message.as_bytes()


def send_raw(sesv2: Any, raw: bytes, *, sender: str = SENDER, to: str | None = CUSTOMER) -> str:
    """Send ``raw`` as the Notifier does (SES v2 SendEmail, Content.Raw); its SES message id. Without
    ``to``, no Destination: SES sends to the message's own To (what the Notifier does)."""
    destination = {"Destination": {"ToAddresses": [to]}} if to else {}
    sent = sesv2.send_email(FromEmailAddress=sender, Content={"Raw": {"Data": raw}}, **destination)
    return str(sent["MessageId"])
