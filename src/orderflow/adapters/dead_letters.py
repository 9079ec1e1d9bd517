"""Dead letters on SQS: the original body, byte for byte, with the reason as attributes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from orderflow.domain.errors import DeadLetterPublishError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

#: Message attribute counting redrives from the DLQ (set by `orderflow dlq redrive`).
REDRIVE_COUNT = "redriveCount"
#: Reasons can list many problems; keep the attribute readable and well under SQS limits.
MAX_REASON_CHARS = 1024
#: A count attribute longer than this is not one we wrote (int() refuses very long ones anyway).
MAX_COUNT_DIGITS = 9


def read_count(raw: str | None) -> int | None:
    """A count attribute (``redriveCount``, ``receiveCount``) as an int; None when it is not one.

    Any producer can set message attributes, so they are not trusted: ``"-1"``, ``"1.5"``,
    ``"abc"``, whitespace and a thousand digits are not counts. Missing (None or "") is 0.
    """
    if not raw:
        return 0
    text = raw.strip()
    if text.isascii() and text.isdigit() and len(text) <= MAX_COUNT_DIGITS:
        return int(text)
    return None


class SqsDeadLetterPublisher:
    """Sends permanently failed messages to the dead letter queue.

    Message attributes: ``errorCode``, ``errorReason``, ``sourceMessageId`` and
    ``receiveCount`` (and ``redriveCount`` once redriven), so an operator (or
    ``orderflow dlq list``) sees why without the logs.
    """

    def __init__(self, queue_url: str, *, client: SQSClient) -> None:
        self._queue_url = queue_url
        self._client = client

    def publish(
        self,
        body: str,
        *,
        code: str,
        reason: str,
        source_message_id: str,
        receive_count: int,
        redrive_count: int,
        group_id: str | None = None,
    ) -> None:
        if len(reason) > MAX_REASON_CHARS:
            reason = reason[: MAX_REASON_CHARS - 1] + "…"
        attributes: dict[str, MessageAttributeValueTypeDef] = {
            "errorCode": {"DataType": "String", "StringValue": code},
            "errorReason": {"DataType": "String", "StringValue": reason},
            "sourceMessageId": {"DataType": "String", "StringValue": source_message_id},
            "receiveCount": {"DataType": "Number", "StringValue": str(receive_count)},
        }
        if redrive_count:
            attributes[REDRIVE_COUNT] = {"DataType": "Number", "StringValue": str(redrive_count)}
        fifo: dict[str, str] = {}
        if self._queue_url.endswith(".fifo"):
            # The message's own group; deduplicated by its id, so two rejected messages with
            # the same body are both kept, and one message rejected twice is kept once.
            fifo = {"MessageGroupId": group_id or source_message_id, "MessageDeduplicationId": source_message_id}
        try:
            self._client.send_message(
                QueueUrl=self._queue_url,
                MessageBody=body,
                MessageAttributes=attributes,
                **fifo,  # type: ignore[arg-type]
            )
        except ClientError as exc:
            code_ = exc.response.get("Error", {}).get("Code", "Unknown")
            raise DeadLetterPublishError(f"SQS SendMessage to the DLQ failed: {code_}") from exc
        except BotoCoreError as exc:
            raise DeadLetterPublishError(f"SQS SendMessage to the DLQ failed: {type(exc).__name__}") from exc
