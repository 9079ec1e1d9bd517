"""moto's WSGI application, as the emulator's HTTP servers serve it: behind a loopback guard.

granian calls ``orderflow_local.emulator.app:create_app`` in the process that serves requests,
so that process applies our moto patches and IAM enforcement itself. The emulator's process
passes its choices in the environment (:data:`ENFORCE_IAM`, :data:`INSTANCE_TOKEN`), since
granian's worker is a process of its own. The in-process emulator serves :func:`application`
with werkzeug.

Every request passes :class:`LoopbackGuard` first: the emulator listens on 127.0.0.1, which
any web page the developer's browser opens can reach too (a form POST to an SQS action, or to
``/moto-api/reset``), and moto answers every origin (it enables CORS for all). Only requests
addressed to a loopback name, and not sent by a web page elsewhere, get through.

Behind the guard, two paths of our own answer before moto: :data:`IDENTITY_PATH` (which
emulator this is) and :data:`SES_MESSAGES_PATH` (what SES has sent, as LocalStack's
``/_aws/ses`` lists it: AWS keeps no such list).
"""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from orderflow_local.emulator import patches as moto_patches
from orderflow_local.emulator.clients import ACCOUNT_ID, REGION
from orderflow_local.emulator.patches import iam as moto_iam

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    StartResponse = Callable[..., Any]
    WSGIApplication = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

#: Set to "1" by the emulator's process when requests signed by an assumed role are authorized.
ENFORCE_IAM = "ORDERFLOW_EMULATOR_ENFORCE_IAM"
#: Set by the emulator's process: what :data:`IDENTITY_PATH` answers, new for every start.
INSTANCE_TOKEN = "ORDERFLOW_EMULATOR_TOKEN"  # noqa: S105 - an identity, not a secret
#: A GET here answers the instance's token and changes nothing: the readiness probe asks it, to
#: know that what answers on the port is the emulator it started (not another one's).
IDENTITY_PATH = "/_orderflow/instance"
#: A GET here answers what SES (v1 or v2: they share moto's store) has sent in the emulator's account
#: and region, oldest first, as JSON: ``{"messages": [{"id", "source", "destinations", "raw", ...}]}``
#: (see :func:`sent_messages`); ``?start=N`` skips the first N. It changes nothing; `orderflow mail` reads it.
SES_MESSAGES_PATH = "/_orderflow/ses/messages"
#: The names a request may be addressed to (the Host header, any port): this machine's.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def create_app() -> object:
    """moto's server application (every service on one endpoint), patched and guarded."""
    moto_patches.apply()
    moto_iam.enforce(os.environ.get(ENFORCE_IAM) == "1")
    return application(os.environ.get(INSTANCE_TOKEN, ""))


def application(token: str) -> WSGIApplication:
    """moto's application behind the loopback guard; ``token`` is what :data:`IDENTITY_PATH` answers."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    return LoopbackGuard(DomainDispatcherApplication(create_backend_app), token)


class LoopbackGuard:
    """Refuses (403) what a web page could send: another Host name, another page's Origin.

    - Host must be 127.0.0.1, localhost or [::1] (any port): a page on a name of its own that
      resolves to 127.0.0.1 (DNS rebinding) sends its own name.
    - Origin, when there is one, must be a loopback page (a local console is served from
      127.0.0.1): browsers send it with every POST and every script's request. SDKs and the
      AWS CLI send none.
    - Without Origin (a browser's GET, from an image or a link), ``Sec-Fetch-Site: cross-site``
      says a page elsewhere sent it.
    """

    def __init__(self, app: WSGIApplication, token: str) -> None:
        self.app = app
        self.token = token

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        reason = refusal(environ)
        if reason is not None:
            return _refuse(environ, start_response, reason)
        if environ.get("PATH_INFO") == IDENTITY_PATH and environ.get("REQUEST_METHOD") == "GET":
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(self.token)))])
            return [self.token.encode()]
        if environ.get("PATH_INFO") == SES_MESSAGES_PATH and environ.get("REQUEST_METHOD") == "GET":
            start = _start(environ.get("QUERY_STRING", ""))
            body = json.dumps({"messages": sent_messages(start=start)}, ensure_ascii=False).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        return self.app(environ, start_response)


def _start(query: str) -> int:
    """``start=N`` of the query (0 when absent or not a count): the list from its Nth message on."""
    from urllib.parse import parse_qs

    value = parse_qs(query).get("start", ["0"])[0]
    return int(value) if value.isdigit() else 0


def sent_messages(account_id: str = ACCOUNT_ID, region: str = REGION, *, start: int = 0) -> list[dict[str, Any]]:
    """What moto's SES has sent in ``account_id`` and ``region``, oldest first, from the ``start``th on
    (moto only appends to its list: a reader that has the first N asks for the rest with ``start=N``).

    Each message has ``id``, ``source``, ``destinations`` (the addresses, To then Cc then Bcc)
    and ``raw``: the MIME message as sent (SES v2 ``Content.Raw``, v1 SendRawEmail), else None.
    A message sent with ``Content.Simple`` (v1 SendEmail) has ``subject`` and ``body`` instead
    (moto keeps one body: the HTML one when both were given); a templated one ``template`` and
    ``templateData``.
    """
    from moto.ses.models import Message, RawMessage, TemplateMessage, ses_backends

    found: list[dict[str, Any]] = []
    for message in list(ses_backends[account_id][region].sent_messages)[start:]:  # a copy: sends go on meanwhile
        entry: dict[str, Any] = {
            "id": str(message.id),
            "source": message.source,
            "destinations": _addresses(message.destinations),
            "raw": None,
        }
        if isinstance(message, RawMessage):
            entry["raw"] = message.raw_data
        elif isinstance(message, Message):
            entry.update(subject=message.subject, body=message.body)
        elif isinstance(message, TemplateMessage):
            entry.update(template=message.template, templateData=message.template_data)
        found.append(entry)
    return found


def _addresses(destinations: Any) -> list[str]:
    """The addresses of a destination: a list as it is, SES's {ToAddresses, CcAddresses, BccAddresses} in that order."""
    if isinstance(destinations, dict):
        kinds = ("ToAddresses", "CcAddresses", "BccAddresses")
        return [str(address) for kind in kinds for address in destinations.get(kind) or []]
    return [str(address) for address in destinations or []]


def refusal(environ: dict[str, Any]) -> str | None:
    """Why the request is refused, in one line; None when it may reach moto."""
    host = environ.get("HTTP_HOST", "")
    if _hostname(host) not in LOOPBACK_HOSTS:
        return (
            f"Host {host!r} is not a loopback name: the local AWS endpoint answers only requests "
            "addressed to 127.0.0.1, localhost or [::1] (another name can be a web page's DNS rebinding)"
        )
    origin = environ.get("HTTP_ORIGIN")
    if origin is not None:
        page = urlsplit(origin)
        if _hostname(page.netloc) not in LOOPBACK_HOSTS or page.scheme not in {"http", "https"}:
            return (
                f"a web page at {origin} may not call the local AWS endpoint: only pages on 127.0.0.1, "
                "localhost or [::1] may (SDKs and the AWS CLI send no Origin)"
            )
    elif environ.get("HTTP_SEC_FETCH_SITE") == "cross-site":
        return "a web page on another site may not call the local AWS endpoint (Sec-Fetch-Site: cross-site)"
    return None


def _hostname(netloc: str) -> str | None:
    """The host of ``host[:port]`` (lowercase, an IPv6 address without its brackets)."""
    try:
        return urlsplit(f"//{netloc}").hostname
    except ValueError:  # an unclosed bracket
        return None


def _refuse(environ: dict[str, Any], start_response: StartResponse, reason: str) -> Iterable[bytes]:
    """A 403 in the protocol the request speaks, so that an SDK shows the reason as the error's message."""
    message = f"orderflow emulator refused the request: {reason}"
    code = "AccessDenied"
    content_type = environ.get("CONTENT_TYPE", "")
    if "cbor" in content_type or "HTTP_SMITHY_PROTOCOL" in environ:  # CloudWatch's rpc-v2-cbor
        body, content_type = _cbor_map({"__type": code, "message": message}), "application/cbor"
    elif "json" in content_type or "HTTP_X_AMZ_TARGET" in environ:  # SQS, DynamoDB, Logs
        body, content_type = json.dumps({"__type": code, "message": message}).encode(), "application/x-amz-json-1.0"
    else:  # the query protocol (SNS, IAM, STS), a browser, curl
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code}</Code><Message>{escape(message)}</Message>"
            "</Error><RequestId>refused</RequestId></ErrorResponse>"
        ).encode()
        content_type = "text/xml"
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), ("x-amzn-ErrorType", code)]
    start_response("403 Forbidden", headers)
    return [body]


def _cbor_map(items: dict[str, str]) -> bytes:
    """A CBOR map of text strings (RFC 8949), all that an error body needs."""

    def head(major: int, length: int) -> bytes:
        if length < 24:
            return bytes([major << 5 | length])
        if length < 0x100:
            return bytes([major << 5 | 24, length])
        return bytes([major << 5 | 25]) + length.to_bytes(2, "big")

    def text(value: str) -> bytes:
        encoded = value.encode()
        return head(3, len(encoded)) + encoded

    return head(5, len(items)) + b"".join(text(key) + text(value) for key, value in items.items())
