"""E-mail through Amazon SES v2 (``SendEmail`` with raw MIME content).

The message is built with Python's ``email`` package: a ``multipart/alternative`` with the plain-text
part first and the HTML part last (RFC 2046 5.1.4: the last part is the preferred one), and three
``X-Orderflow-*`` headers that name the event, the order and the kind of notification, so that a
mailbox, or `orderflow mail`, can tell which event an e-mail answers.

SES has no idempotency key, so the client never retries by itself (``total_max_attempts=1``): a
retried request after a read timeout could send the e-mail twice. The notification service decides
what each failure means (orderflow.domain.notifications.service).
SES v2 errors: https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html#API_SendEmail_Errors
"""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
)

from orderflow.domain.notifications.errors import MailOutcomeUnknownError, MailRejectedError, MailUnavailableError

if TYPE_CHECKING:
    from orderflow.domain.notifications.models import Email

#: One attempt, short timeouts: a batch's retry, not the SDK's, asks SES again.
SES_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=2, read_timeout=5)

#: Refusals that will not change however often the e-mail is retried (the DLQ keeps it with the reason;
#: fixed, say by verifying the address, it is redriven).
_PERMANENT = frozenset({"MessageRejected", "BadRequestException", "MailFromDomainNotVerifiedException",
                        "NotFoundException"})  # fmt: skip

EVENT_ID_HEADER = "X-Orderflow-Event-Id"
ORDER_ID_HEADER = "X-Orderflow-Order-Id"
KIND_HEADER = "X-Orderflow-Notification"


def sesv2_client(session: boto3.Session | None = None) -> Any:
    """SES v2: reads ``AWS_ENDPOINT_URL_SESV2`` or ``AWS_ENDPOINT_URL`` as the other clients do."""
    return (session or boto3.Session()).client("sesv2", config=SES_CONFIG)


def mime_message(email: Email, sender: str) -> EmailMessage:
    """``email`` as a MIME message from ``sender``: plain text, then HTML, both UTF-8."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message[EVENT_ID_HEADER] = email.event_id
    message[ORDER_ID_HEADER] = email.order_id
    message[KIND_HEADER] = email.kind.value
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    return message


class SesMailer:
    def __init__(self, *, client: Any) -> None:
        self._client = client

    def send(self, email: Email, sender: str) -> str:
        raw = mime_message(email, sender).as_bytes(policy=SMTP)
        try:
            answer = self._client.send_email(FromEmailAddress=sender, Content={"Raw": {"Data": raw}})
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "Unknown"))
            described = f"{code}: {error['Message']}" if error.get("Message") else code
            if code in _PERMANENT:
                raise MailRejectedError(f"SES refused the e-mail to {email.to}: {described}") from exc
            # Throttling, 5xx, a paused or suspended account: SES answered, so nothing was sent.
            raise MailUnavailableError(f"SES SendEmail failed: {described}") from exc
        except (EndpointConnectionError, ConnectTimeoutError) as exc:  # never connected: nothing was sent
            raise MailUnavailableError(f"SES SendEmail failed: {type(exc).__name__}") from exc
        except BotoCoreError as exc:  # a read timeout, a dropped connection: SES may have sent it
            raise MailOutcomeUnknownError(f"{type(exc).__name__}: {exc}") from exc
        return str(answer["MessageId"])
