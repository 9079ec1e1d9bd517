"""How the notification service fails: transient failures are retried by SQS (batch item failures),
permanent ones go to the notification DLQ with their code and reason (docs/services.md)."""

from __future__ import annotations

from orderflow.domain.errors import PermanentError, TransientError


class MailUnavailableError(TransientError):
    """SES refused the request for now (throttled, a 5xx): the e-mail was not sent, so it is sent on retry."""

    summary = "SES did not take the e-mail, SQS will retry"
    metric = "EmailServiceErrors"


class MailOutcomeUnknownError(Exception):
    """SES was asked and did not answer (a timeout, a broken connection): it may have sent the e-mail."""


class MailRejectedError(PermanentError):
    """SES refused the e-mail for good (an unverified sender or, in SES's sandbox, recipient; a bad address)."""

    code = "EMAIL_REJECTED"


class NotifiedOrderNotFoundError(PermanentError):
    """The event's order is not in the Orders table (expired by its TTL, or the event names another stack's)."""

    code = "ORDER_NOT_FOUND"


class InvalidDomainEventError(PermanentError):
    """The message is not a domain event the notification service handles."""

    code = "INVALID_DOMAIN_EVENT"
