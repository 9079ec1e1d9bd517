"""The e-mail the stack sent through SES, as the emulator keeps it: fetched, parsed, checked.

The emulator answers what moto's SES has sent at its ``/_orderflow/ses/messages`` (see
:mod:`orderflow_local.emulator.app`): each message as sent, the Notifier's as raw MIME
(``multipart/alternative``: ``text/plain`` then ``text/html``) with our ``X-Orderflow-*``
headers naming the event, the order and the kind of notification. AWS keeps no such list (SES
event publishing or the Notifications table say what was sent there), so this is local only.

Used by `orderflow mail` and by the invariants: every event is e-mailed at most once
(:func:`duplicate_events`, keyed on ``X-Orderflow-Event-Id``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime
    from email.message import EmailMessage

#: The Notifier's own headers (the contract of issue #25).
EVENT_ID_HEADER = "X-Orderflow-Event-Id"
ORDER_ID_HEADER = "X-Orderflow-Order-Id"
KIND_HEADER = "X-Orderflow-Notification"


class MailFetchError(RuntimeError):
    """The emulator's list of sent e-mail could not be read."""


class EmulatorUnreachableError(MailFetchError):
    """Nothing answers at the endpoint (no local stack runs there)."""


@dataclass(frozen=True)
class SentMail:
    """One message SES sent, as a person reads it."""

    id: str
    sender: str
    #: The To header's addresses as written ("Ana <ana@example.com>"); else SES's destinations.
    to: tuple[str, ...]
    subject: str
    #: The Date header as written ("" without one: moto dates nothing itself).
    date: str
    event_id: str | None
    order_id: str | None
    #: ``confirmation``, ``cancellation`` or ``refund`` (the X-Orderflow-Notification header).
    kind: str | None
    #: The text/plain part (None: the message has none).
    text: str | None
    #: The text/html part (None: the message has none).
    html: str | None
    #: The message as sent (raw MIME), None for one SES built itself (Content.Simple, a template).
    raw: str | None = None

    @property
    def sent_at(self) -> datetime | None:
        """The Date header read (None: none, or not a date)."""
        from email.utils import parsedate_to_datetime

        try:
            return parsedate_to_datetime(self.date)
        except (TypeError, ValueError):
            return None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "from": self.sender,
            "to": list(self.to),
            "subject": self.subject,
            "date": self.date,
            "eventId": self.event_id,
            "orderId": self.order_id,
            "kind": self.kind,
            "text": self.text,
            "html": self.html,
        }


def fetch_sent(endpoint_url: str, *, timeout: float = 5.0, start: int = 0) -> list[dict[str, Any]]:
    """What the emulator at ``endpoint_url`` answers at its SES messages path, oldest first (from the
    ``start``th message on: the list only grows)."""
    import urllib.error
    import urllib.request

    from orderflow_local.emulator.app import SES_MESSAGES_PATH

    if not endpoint_url.startswith(("http://", "https://")):
        raise MailFetchError(f"{endpoint_url} is not an http(s) URL, like http://localhost:4566")
    url = endpoint_url.rstrip("/") + SES_MESSAGES_PATH + (f"?start={start}" if start else "")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - checked above
            data = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        raise MailFetchError(f"{endpoint_url} answers HTTP {exc.code} for the sent e-mail") from None
    except OSError:  # nothing answers (URLError, a refused connection, a timeout)
        raise EmulatorUnreachableError(f"nothing answers at {endpoint_url}") from None
    except ValueError:
        raise MailFetchError(f"{endpoint_url} answers, but not with JSON") from None
    messages = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(messages, list) or not all(isinstance(message, dict) for message in messages):
        raise MailFetchError(f"{endpoint_url} answers, but not with a list of sent e-mail")
    return messages


def read_mail(endpoint_url: str, *, timeout: float = 5.0) -> list[SentMail]:
    """Every message SES sent in the emulator at ``endpoint_url``, parsed, oldest first."""
    return [parse_sent(entry) for entry in fetch_sent(endpoint_url, timeout=timeout)]


def parse_sent(entry: dict[str, Any]) -> SentMail:
    """One entry of the emulator's list (``id``, ``source``, ``destinations``, ``raw``; a simple
    message's ``subject`` and ``body``; a templated one's ``template`` and ``templateData``)."""
    destinations = tuple(str(address) for address in entry.get("destinations") or [])
    raw = entry.get("raw")
    if isinstance(raw, str):
        return _parse_raw(str(entry.get("id", "")), str(entry.get("source") or ""), destinations, raw)
    text: str | None
    html: str | None
    if "template" in entry:
        subject, text, html = f"(template {entry['template']})", str(entry.get("templateData") or ""), None
    else:
        body = str(entry.get("body") or "")
        subject = str(entry.get("subject") or "")
        # moto keeps one body of a simple message: the HTML one when there was one
        text, html = (None, body) if _looks_like_html(body) else (body, None)
    return SentMail(
        id=str(entry.get("id", "")),
        sender=str(entry.get("source") or ""),
        to=destinations,
        subject=subject,
        date="",
        event_id=None,
        order_id=None,
        kind=None,
        text=text,
        html=html,
    )


def _parse_raw(message_id: str, source: str, destinations: tuple[str, ...], raw: str) -> SentMail:
    # moto keeps the message as text decoded from UTF-8: its bytes again, for the parser to decode
    # each part with its own charset and transfer encoding
    message: EmailMessage = BytesParser(policy=policy.default).parsebytes(raw.encode("utf-8", "surrogateescape"))
    to_header = message.get("To")
    addresses = getattr(to_header, "addresses", None)
    to = tuple(str(address) for address in addresses) if addresses else destinations
    return SentMail(
        id=message_id,
        sender=_header(message, "From") or source,
        to=to,
        subject=_header(message, "Subject") or "",
        date=_header(message, "Date") or "",
        event_id=_header(message, EVENT_ID_HEADER),
        order_id=_header(message, ORDER_ID_HEADER),
        kind=_header(message, KIND_HEADER),
        text=_part(message, "plain"),
        html=_part(message, "html"),
        raw=raw,
    )


def _header(message: EmailMessage, name: str) -> str | None:
    value = message.get(name)
    return None if value is None else str(value).strip()


def _part(message: EmailMessage, subtype: str) -> str | None:
    """The body part of ``subtype`` (plain, html) as text, decoded, its lines ending in newlines (a
    message sent with SMTP's CRLF, as the Notifier's is, too); None when there is none."""
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    try:
        content = str(part.get_content())
    except (LookupError, ValueError):  # an unknown charset, a broken transfer encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)
    return content.replace("\r\n", "\n")


def _looks_like_html(body: str) -> bool:
    start = body.lstrip()[:15].lower()
    return start.startswith(("<!doctype html", "<html"))


def duplicate_events(mails: Iterable[SentMail]) -> dict[str, list[SentMail]]:
    """The events e-mailed more than once (by ``X-Orderflow-Event-Id``), each with its messages in
    the order sent; empty when every event was e-mailed at most once. Messages without the header
    (not the Notifier's) are not counted."""
    by_event: dict[str, list[SentMail]] = defaultdict(list)
    for mail in mails:
        if mail.event_id:
            by_event[mail.event_id].append(mail)
    return {event_id: sent for event_id, sent in by_event.items() if len(sent) > 1}


def find_mail(mails: Iterable[SentMail], message_id: str) -> SentMail | None:
    """The message with this SES message id, or None."""
    return next((mail for mail in mails if mail.id == message_id), None)
