"""Backoff on SQS: shorten a failed message's visibility so it is retried sooner."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger(__name__)


def queue_url_from_arn(queue_arn: str, endpoint_url: str) -> str:
    """``arn:aws:sqs:REGION:ACCOUNT:NAME`` -> ``ENDPOINT/ACCOUNT/NAME`` (valid on AWS and locally)."""
    parts = queue_arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise ValueError(f"not an SQS queue ARN: {queue_arn!r}")
    return f"{endpoint_url.rstrip('/')}/{parts[4]}/{parts[5]}"


class SqsRetryScheduler:
    """Changes a message's visibility timeout; failure to do so only means a slower retry."""

    def __init__(self, *, client: SQSClient) -> None:
        self._client = client

    def postpone(self, *, queue_arn: str, receipt_handle: str, seconds: int) -> bool:
        """Make the message visible again in ``seconds``; return whether SQS accepted it."""
        try:
            self._client.change_message_visibility(
                QueueUrl=queue_url_from_arn(queue_arn, self._client.meta.endpoint_url),
                ReceiptHandle=receipt_handle,
                VisibilityTimeout=seconds,
            )
        except (ClientError, BotoCoreError, ValueError) as exc:
            # The message is not lost: it comes back when its full visibility timeout ends.
            log.warning("could not shorten the retry delay: %s", exc)
            return False
        return True
